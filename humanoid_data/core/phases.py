"""The phase taxonomy: tasks, their phases and sub-phases, failure modes, a version.

``config/phases.yaml`` is the labelling guideline. Its ``version`` travels with every
event (``taxonomy`` field) and into ``episode.yaml``, so labels made under different
guidelines never mix silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from humanoid_data.core.checks import check_mapping, short_repr
from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import ConfigError


@dataclass(frozen=True)
class PhaseDef:
    """One phase of a task."""

    name: str
    description: str = ''
    subphases: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskDef:
    """A task: its default language instruction and its phases in order."""

    name: str
    instruction: str
    phases: tuple[PhaseDef, ...]

    @property
    def phase_names(self) -> tuple[str, ...]:
        """Phase names in order (sub-phases not included)."""
        return tuple(p.name for p in self.phases)

    def label_names(self) -> tuple[str, ...]:
        """Every label this task allows: phases and ``phase/subphase`` names."""
        names = []
        for phase in self.phases:
            names.append(phase.name)
            names.extend(f'{phase.name}/{sub}' for sub in phase.subphases)
        return tuple(names)


@dataclass(frozen=True)
class FailureMode:
    """One entry of the closed failure-mode list."""

    name: str
    description: str = ''


@dataclass(frozen=True)
class Taxonomy:
    """The labelling guideline in force."""

    version: str
    tasks: tuple[TaskDef, ...]
    failure_modes: tuple[FailureMode, ...]
    default_task: str
    source: str = '<memory>'

    def task(self, name: str = '') -> TaskDef:
        """Return the task called ``name`` (the default task when empty).

        Raises:
            ConfigError: No such task; the message lists the known ones.

        """
        name = name or self.default_task
        for task in self.tasks:
            if task.name == name:
                return task
        raise ConfigError(f'{self.source}: unknown task {name!r}; known: '
                          f'{", ".join(t.name for t in self.tasks)}')

    @property
    def failure_names(self) -> tuple[str, ...]:
        """Failure-mode names in order."""
        return tuple(f.name for f in self.failure_modes)

    def check_failure_mode(self, name: str) -> str:
        """Return ``name`` if it is a known failure mode (empty is allowed).

        Raises:
            ConfigError: Unknown failure mode; the message lists the known ones.

        """
        if name and name not in self.failure_names:
            raise ConfigError(f'unknown failure mode {name!r} (taxonomy {self.version}); '
                              f'known: {", ".join(self.failure_names)}')
        return name


_TOP_KEYS = {'version', 'default_task', 'tasks', 'failure_modes'}


def _names(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise ConfigError(f'{where}: expected a list of names, got {short_repr(raw)}')
    if len(set(raw)) != len(raw):
        raise ConfigError(f'{where}: names must be unique')
    return tuple(raw)


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    """An optional free-text entry (a description, an instruction)."""
    value = raw.get(key, '')
    if not isinstance(value, str):
        raise ConfigError(f'{where}.{key}: expected text, got {short_repr(value)}')
    return value


def _entry(raw: Any, allowed: set[str], where: str) -> tuple[Mapping[str, Any], str]:
    """A list entry is a bare name or a mapping with ``name``; returns it and its location."""
    if isinstance(raw, str) and raw:
        return {'name': raw}, f'{where} ({raw})'
    if not isinstance(raw, dict) or not isinstance(raw.get('name'), str) or not raw['name']:
        raise ConfigError(f'{where}: expected a name or a mapping with "name", '
                          f'got {short_repr(raw)}')
    where = f'{where} ({raw["name"]})'
    return check_mapping(raw, allowed, where), where


def _parse_phase(raw: Any, where: str) -> PhaseDef:
    entry, where = _entry(raw, {'name', 'description', 'subphases'}, where)
    return PhaseDef(entry['name'], _text(entry, 'description', where),
                    _names(entry.get('subphases', []), f'{where}.subphases'))


def _parse_task(name: str, raw: Any, where: str) -> TaskDef:
    raw = check_mapping(raw, {'instruction', 'phases'}, where)
    phases_raw = raw.get('phases')
    if not isinstance(phases_raw, list) or not phases_raw:
        raise ConfigError(f'{where}.phases: expected a non-empty list of phases')
    phases = tuple(_parse_phase(p, f'{where}.phases[{i}]') for i, p in enumerate(phases_raw))
    if len({p.name for p in phases}) != len(phases):
        raise ConfigError(f'{where}.phases: phase names must be unique')
    return TaskDef(name, _text(raw, 'instruction', where), phases)


def _parse_tasks(raw: Any, source: str) -> tuple[TaskDef, ...]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f'{source}: tasks: expected a mapping of task name to task')
    for name in raw:
        if not isinstance(name, str) or not name:
            raise ConfigError(f'{source}: tasks: task names are text, got {short_repr(name)}')
    return tuple(_parse_task(name, task, f'{source}: tasks.{name}')
                 for name, task in raw.items())


def _parse_failure_modes(raw: Any, source: str) -> tuple[FailureMode, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f'{source}: failure_modes: expected a non-empty list')
    modes = []
    for i, item in enumerate(raw):
        entry, where = _entry(item, {'name', 'description'}, f'{source}: failure_modes[{i}]')
        modes.append(FailureMode(entry['name'], _text(entry, 'description', where)))
    if len({m.name for m in modes}) != len(modes):
        raise ConfigError(f'{source}: failure_modes: names must be unique')
    return tuple(modes)


def parse_taxonomy(data: object, source: str = '<memory>') -> Taxonomy:
    """Build a ``Taxonomy`` from already-parsed YAML.

    Raises:
        ConfigError: A key is unknown, missing or malformed; the message names file and key.

    """
    data = check_mapping(data, _TOP_KEYS, source)
    version = data.get('version')
    if not isinstance(version, str) or not version:
        raise ConfigError(f'{source}: version: expected a non-empty string, '
                          f'got {short_repr(version)}')
    tasks = _parse_tasks(data.get('tasks'), source)
    modes = _parse_failure_modes(data.get('failure_modes'), source)
    default_task = data.get('default_task', tasks[0].name)
    if not isinstance(default_task, str):
        raise ConfigError(f'{source}: default_task: expected a task name, '
                          f'got {short_repr(default_task)}')
    taxonomy = Taxonomy(version, tasks, modes, default_task, source)
    taxonomy.task(taxonomy.default_task)   # must exist
    return taxonomy


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Read and validate a phase-taxonomy YAML file.

    Raises:
        ConfigError: The file is unreadable, too large, not YAML, or not a valid taxonomy.

    """
    return parse_taxonomy(read_yaml(path, 'phase taxonomy'), str(path))
