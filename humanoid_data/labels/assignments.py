"""Who labels which episodes: assignments, blind passes, random audits, the review queue.

An assignment file (YAML) says who the annotators are, how many of them label each
episode, whether they work blind (without seeing each other's or the pre-labels), and what
fraction of already-labelled episodes goes back for a second, audit pass::

    annotators: [ann, bob, cat]
    per_episode: 2
    blind: true
    show_prelabels: true
    audit_fraction: 0.1
    seed: 7

``plan`` spreads episodes over annotators evenly and deterministically (the seed), in
the order of the review queue: episodes whose pre-labels are least certain first.
``assign --save`` writes each session's share of the plan to
``<session>/labels/assignments.yaml``; from then on only its annotators may save labels
for that session.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

import yaml

from humanoid_data.core.atomic_file import replace_file
from humanoid_data.core.checks import check_int, check_mapping, check_number
from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import ConfigError

_KEYS = {'annotators', 'per_episode', 'blind', 'show_prelabels', 'audit_fraction', 'seed'}


@dataclass(frozen=True)
class AssignmentConfig:
    """How episodes are handed out."""

    annotators: tuple[str, ...]
    per_episode: int = 1
    blind: bool = True
    show_prelabels: bool = True
    audit_fraction: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        """At least as many annotators as each episode needs; a fraction in 0..1."""
        if not self.annotators or len(set(self.annotators)) != len(self.annotators):
            raise ConfigError('annotators: expected a list of unique names')
        if not 1 <= self.per_episode <= len(self.annotators):
            raise ConfigError(f'per_episode: expected 1..{len(self.annotators)} (the number '
                              f'of annotators), got {self.per_episode}')
        if not 0.0 <= self.audit_fraction <= 1.0:
            raise ConfigError(f'audit_fraction: expected 0..1, got {self.audit_fraction}')


def parse_assignments(data: object, source: str = '<memory>') -> AssignmentConfig:
    """An assignment config from parsed YAML.

    Raises:
        ConfigError: A key is unknown, missing or of the wrong type (file and key named).

    """
    raw = check_mapping(data, _KEYS, source)
    names = raw.get('annotators')
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f'{source}: annotators: expected a list of names')
    try:
        return AssignmentConfig(
            tuple(names), check_int(raw.get('per_episode', 1), f'{source}: per_episode',
                                    minimum=1),
            _flag(raw, 'blind', True, source), _flag(raw, 'show_prelabels', True, source),
            check_number(raw.get('audit_fraction', 0.0), f'{source}: audit_fraction'),
            check_int(raw.get('seed', 0), f'{source}: seed'))
    except ConfigError as err:
        message = str(err)
        raise ConfigError(message if message.startswith(source) else
                          f'{source}: {message}') from None


def _flag(raw: Mapping[str, object], key: str, default: bool, source: str) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f'{source}: {key}: expected true or false, got {value!r}')
    return value


def load_assignments(path: str | Path) -> AssignmentConfig:
    """Read an assignment file.

    Raises:
        ConfigError: As ``parse_assignments``, or the file cannot be read.

    """
    return parse_assignments(read_yaml(path, 'assignment config'), str(path))


class Assignment(NamedTuple):
    """One episode for one annotator."""

    episode: str
    annotator: str
    audit: bool       # a second pass over an episode already labelled


def review_queue(uncertainty: Mapping[str, float]) -> list[str]:
    """Episodes by pre-label uncertainty, most uncertain first (ties by name)."""
    return sorted(uncertainty, key=lambda e: (-uncertainty[e], e))


def plan(config: AssignmentConfig, queue: Sequence[str],
         labelled: Mapping[str, Sequence[str]]) -> list[Assignment]:
    """Who labels what next.

    Args:
        config: The assignment config.
        queue: Episodes in review order (``review_queue``).
        labelled: Episode -> annotators who have labelled it already.

    Returns:
        For each episode lacking labels, annotators up to ``per_episode``, spread evenly
        (the least loaded first, ties broken by the seed); then a random
        ``audit_fraction`` of the fully labelled episodes, each for one more annotator.

    """
    rng = random.Random(config.seed)
    load = {a: 0 for a in config.annotators}
    order = list(config.annotators)
    rng.shuffle(order)
    out: list[Assignment] = []
    done = []
    for episode in queue:
        have = set(labelled.get(episode, ()))
        need = config.per_episode - len(have & set(config.annotators))
        if need <= 0:
            done.append(episode)
            continue
        for annotator in _least_loaded(order, load, have)[:need]:
            load[annotator] += 1
            out.append(Assignment(episode, annotator, False))
    audits = rng.sample(done, round(config.audit_fraction * len(done))) if done else []
    for episode in sorted(audits, key=queue.index):
        have = set(labelled.get(episode, ()))
        free = _least_loaded(order, load, have)
        if free:
            load[free[0]] += 1
            out.append(Assignment(episode, free[0], True))
    return out


def save_plan(labels_dir: Path, config: AssignmentConfig,
              assignments: Sequence[Assignment]) -> Path:
    """Write a session's plan to ``labels_dir/assignments.yaml``, atomically.

    The file names the session's annotators: once it exists, the label store refuses
    labels from anyone else (a typo in a name would otherwise start a new, unseen set).

    Returns:
        The file written.

    Raises:
        OSError: The file cannot be written (nothing is left half-written).

    """
    path = labels_dir / 'assignments.yaml'
    body = {'annotators': list(config.annotators), 'per_episode': config.per_episode,
            'blind': config.blind, 'show_prelabels': config.show_prelabels,
            'assignments': [a._asdict() for a in assignments]}
    labels_dir.mkdir(parents=True, exist_ok=True)
    replace_file(path, yaml.safe_dump(body, sort_keys=False))
    return path


def _least_loaded(order: Sequence[str], load: Mapping[str, int],
                  exclude: set[str]) -> list[str]:
    return sorted((a for a in order if a not in exclude),
                  key=lambda a: (load[a], order.index(a)))
