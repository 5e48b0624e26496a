"""Annotation QA: how well annotators (and the pre-labels) agree, and how they score on gold.

ROS-free; reads only ``<session>/labels/``, never a bag::

    sessions --LabelStore.load_all--> label sets of every episode, keyed session/episode
        humans (annotator, reviewer) + ``prelabel`` (+ the reference, when one is named)
      --> one taxonomy version kept (the majority); sets of another are reported, left out
      --> agreement_report(sets, reference)                  QaResult.agreement
      --> agreement_report(sets + gold@VERSION, reference=gold) QaResult.gold   (--gold)

``summarize`` turns a pair's report into its headline figures; ``report_html.py`` makes
the tables the terminal and the HTML report show, and draws the plots.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from humanoid_data.core.phases import Taxonomy
from humanoid_data.errors import ConfigError, LabelError
from humanoid_data.labels.agreement import (
    AgreementReport, AgreementSettings, CategoricalField, PairReport, agreement_report)
from humanoid_data.labels.codec import taxonomy_mismatch
from humanoid_data.labels.gold import gold_for
from humanoid_data.labels.model import EpisodeRef, LabelSet, Role
from humanoid_data.labels.prelabel import PRELABEL
from humanoid_data.labels.store import LabelStore

#: Annotator name of a gold set in a report: ``@`` is never in a stored annotator's name.
GOLD_PREFIX = 'gold@'
_PEOPLE = (Role.ANNOTATOR, Role.REVIEWER)
_DISCARDED = 'discarded'


class ExcludedSet(NamedTuple):
    """A label set left out: made under another taxonomy version than the majority."""

    episode: str        # session/episode
    annotator: str
    taxonomy: str
    reason: str


class Note(NamedTuple):
    """An annotator's note on an episode, shown in the report."""

    episode: str
    annotator: str
    text: str
    stamp_ns: int | None


@dataclass(frozen=True)
class PairSummary:
    """The headline figures of one pair (or of one annotator against gold)."""

    reference: str
    other: str
    episodes: int
    boundary_f1: tuple[tuple[float, float], ...]     # (tolerance ms, F1)
    segmental_f1: tuple[tuple[float, float], ...]    # (overlap, F1)
    edit: float | None
    frame_accuracy: float | None
    mean_offset_ms: float | None                     # positive: ``other`` is late
    contact_f1: float                                # at the first IoU threshold
    onset_error_p50_ms: float | None                 # median |onset error| of matches
    kappa: tuple[tuple[str, float | None], ...]      # (field, Cohen's kappa)
    language_rate: float | None

    def to_json(self) -> dict[str, Any]:
        """The figures as JSON-ready values (null where undefined)."""
        return {'reference': self.reference, 'other': self.other, 'episodes': self.episodes,
                'boundary_f1': {f'{t:g}ms': f for t, f in self.boundary_f1},
                'segmental_f1': {f'{k * 100:g}': f for k, f in self.segmental_f1},
                'edit': self.edit, 'frame_accuracy': self.frame_accuracy,
                'mean_offset_ms': self.mean_offset_ms, 'contact_f1': self.contact_f1,
                'onset_error_p50_ms': self.onset_error_p50_ms, 'kappa': dict(self.kappa),
                'language_exact_match': self.language_rate}


def summarize(pair: PairReport) -> PairSummary:
    """The headline figures of one pair's report."""
    contacts = pair.contacts[0]
    onsets = [abs(e) for c in contacts.channels for e in c.onset_errors_ms]
    return PairSummary(
        pair.reference, pair.other, len(pair.episodes),
        tuple((s.tolerance_ms, s.counts.f1) for s in pair.phases.boundaries),
        tuple((s.overlap, s.counts.f1) for s in pair.phases.segmental),
        pair.phases.edit, pair.phases.frames.accuracy, pair.phases.mean_offset_ms,
        contacts.counts.f1, float(np.median(onsets)) if onsets else None,
        tuple((f.value, pair.kappa(f).kappa) for f in CategoricalField), pair.language.rate)


def _report_json(report: AgreementReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {**report.to_json(), 'summary': [summarize(p).to_json() for p in report.pairs],
            'audit': report.audit.to_json()}


@dataclass(frozen=True)
class QaResult:
    """Agreement of the annotators of some sessions, and their scores on a gold set."""

    sessions: tuple[str, ...]
    taxonomy: str | None                 # the version compared: the majority's
    reference: str | None
    gold_version: str | None
    label_sets: int                      # label sets compared (gold copies included)
    excluded: tuple[ExcludedSet, ...]
    notes: tuple[Note, ...]
    agreement: AgreementReport | None    # between annotators, or against the reference
    gold: AgreementReport | None         # every annotator against the gold set

    @property
    def gold_name(self) -> str | None:
        """The gold set's annotator name in the reports, when a gold version was given."""
        return None if self.gold_version is None else f'{GOLD_PREFIX}{self.gold_version}'

    @property
    def nothing_to_compare(self) -> str:
        """Why nothing could be compared; empty when something was."""
        if self.gold_version is not None:
            if self.gold is None or not self.gold.pairs:
                return (f'nothing to compare: no annotator labelled an episode of gold set '
                        f'{self.gold_version} (under taxonomy {self.taxonomy})')
        elif self.agreement is None or not self.agreement.pairs:
            if self.reference:
                return (f'nothing to compare: no episode has a label set of reference '
                        f'{self.reference!r} and of another annotator')
            return 'nothing to compare: no episode has two label sets'
        return ''

    def sections(self) -> list[tuple[str, AgreementReport]]:
        """(title, report) of each comparison that holds a pair, as the reports show them."""
        out = []
        if self.agreement is not None and self.agreement.pairs:
            out.append((f'against {self.reference}' if self.reference
                        else 'between annotators', self.agreement))
        if self.gold is not None and self.gold.pairs:
            out.append((f'against gold {self.gold_version}', self.gold))
        return out

    def to_json(self) -> dict[str, Any]:
        """The whole result as JSON-ready values."""
        return {'sessions': list(self.sessions), 'taxonomy': self.taxonomy,
                'reference': self.reference, 'gold_version': self.gold_version,
                'label_sets': self.label_sets, 'nothing_to_compare': self.nothing_to_compare,
                'excluded': [e._asdict() for e in self.excluded],
                'agreement': _report_json(self.agreement), 'gold': _report_json(self.gold),
                'notes': [n._asdict() for n in self.notes]}

    def to_json_text(self) -> str:
        """``to_json`` serialized, indented."""
        return json.dumps(self.to_json(), indent=2, allow_nan=False)


def label_sessions(sources: Sequence[str | Path]) -> list[Path]:
    """Session folders with a ``labels/`` folder: each source is one, or a tree of them.

    Raises:
        ConfigError: A source does not exist.
        LabelError: Two sessions share a name (their episodes could not be told apart).

    """
    found: dict[Path, None] = {}
    for source in map(Path, sources):
        if not source.exists():
            raise ConfigError(f'{source}: no such file or folder')
        if (source / 'labels').is_dir():
            found[source] = None
            continue
        for folder in sorted(source.rglob('labels')):
            parts = folder.relative_to(source).parts[:-1]
            if folder.is_dir() and 'labels' not in parts and _DISCARDED not in parts \
                    and not any(p.startswith('.') for p in parts):
                found[folder.parent] = None
    names = Counter(s.name for s in found)
    twice = sorted(n for n, count in names.items() if count > 1)
    if twice:
        raise LabelError(f'two sessions are named {twice[0]!r} '
                         f'({", ".join(str(s) for s in found if s.name == twice[0])}): '
                         'compare them in separate runs')
    return list(found)


def _keyed(ls: LabelSet, session: str, annotator: str | None = None) -> LabelSet:
    """The label set with its episode id made ``session/episode``, unique over sessions."""
    ref = EpisodeRef(f'{session}/{ls.episode.episode_id}', ls.episode.session or session,
                     ls.episode.episode_uuid)
    return replace(ls, episode=ref, annotator=annotator or ls.annotator)


def _wanted(ls: LabelSet, reference: str | None, annotators: Sequence[str]) -> bool:
    """Humans, the pre-labels and the reference; ``annotators`` narrows all but the last."""
    if ls.annotator == reference:
        return True
    if ls.role not in _PEOPLE and ls.annotator != PRELABEL:
        return False
    return not annotators or ls.annotator in annotators


def _collect(sessions: Sequence[Path], reference: str | None,
             annotators: Sequence[str]) -> list[LabelSet]:
    out = []
    for session in sessions:
        store = LabelStore(session)
        for episode in store.episodes():
            if (session / _DISCARDED / episode).exists():
                continue       # the operator threw the episode away
            out += [_keyed(ls, session.name) for ls in store.load_all(episode).values()
                    if _wanted(ls, reference, annotators)]
    return out


def _one_taxonomy(sets: Sequence[LabelSet]
                  ) -> tuple[str | None, list[LabelSet], tuple[ExcludedSet, ...]]:
    """The majority version (ties: the one sorting last), its sets, the others reported."""
    counts = Counter(ls.taxonomy for ls in sets)
    if not counts:
        return None, [], ()
    version = max(counts.items(), key=lambda item: (item[1], item[0]))[0]
    in_force = Taxonomy(version, (), (), '')
    excluded = tuple(ExcludedSet(ls.episode.episode_id, ls.annotator, ls.taxonomy,
                                 taxonomy_mismatch(ls, in_force))
                     for ls in sets if ls.taxonomy != version)
    return version, [ls for ls in sets if ls.taxonomy == version], excluded


def _agreement(sets: Sequence[LabelSet], reference: str | None,
               settings: AgreementSettings) -> AgreementReport | None:
    if not sets or (reference is not None and reference not in {s.annotator for s in sets}):
        return None
    return agreement_report(sets, reference=reference, settings=settings)


def qa_sessions(sources: Sequence[str | Path], *, gold: str | None = None,
                reference: str | None = None, annotators: Sequence[str] = (),
                settings: AgreementSettings = AgreementSettings()) -> QaResult:
    """Agreement of every episode's label sets under ``sources``, and scores on gold.

    Args:
        sources: Session folders, or folders holding sessions.
        gold: Also score every annotator and the pre-labels against this gold version.
        reference: Compare everyone with this annotator (``adjudicated`` for the
            adjudicated sets); None: every pair of annotators.
        annotators: Only these annotators (``prelabel`` for the pre-labels); empty: all.
            The reference is always kept.
        settings: Tolerances, overlaps, IoU thresholds, missing-label policy.

    Returns:
        The result; ``nothing_to_compare`` says when it holds no comparison.

    Raises:
        ConfigError: A source does not exist.
        LabelError: A damaged label file, two sessions of one name, or no session holds
            gold version ``gold``.

    """
    sessions = label_sessions(sources)
    sets = _collect(sessions, reference, annotators)
    gold_name = None if gold is None else f'{GOLD_PREFIX}{gold}'
    gold_sets = [] if gold is None else [
        _keyed(ls, session, gold_name) for (session, _), ls in gold_for(sessions, gold).items()]
    version, kept, excluded = _one_taxonomy(sets + gold_sets)
    compared = [s for s in kept if s.annotator != gold_name]
    gold_report = None
    if gold_name is not None:
        episodes = {s.episode.episode_id for s in kept if s.annotator == gold_name}
        scored = [s for s in kept if s.episode.episode_id in episodes
                  and (s.annotator == gold_name or _wanted(s, None, annotators))]
        if any(s.annotator != gold_name for s in scored):
            gold_report = agreement_report(scored, reference=gold_name, settings=settings)
    return QaResult(
        tuple(s.name for s in sessions), version, reference, gold, len(kept), excluded,
        tuple(Note(s.episode.episode_id, s.annotator, n.text, n.stamp_ns)
              for s in compared for n in s.notes),
        _agreement(compared, reference, settings), gold_report)


__all__ = ['GOLD_PREFIX', 'ExcludedSet', 'Note', 'PairSummary', 'QaResult', 'label_sessions',
           'qa_sessions', 'summarize']
