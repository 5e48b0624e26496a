"""The best label set of an episode for a dataset, and where its labels came from.

ROS-free. For ``<session>/labels/<episode_id>/`` the order is::

    the adjudicated set (adjudicated.json, role adjudicator)
      > one human's set (role annotator or reviewer); with several and no adjudication,
        the latest saved (ties: the name last in order), recorded as not adjudicated
      > the pre-labels (role machine; several: the latest saved)
      > the bag's own events (operator markers, automatic segmentation, contacts)

A set made under another taxonomy version than the one in force is never used, even
when it is the only one: it is skipped with a note and the next best is taken (mixing
guidelines silently is what the taxonomy version exists to prevent). A set whose
``episode_uuid`` names another bag, and a damaged label file, are skipped the same way.
When two or more humans labelled the episode under the taxonomy in force, their
agreement (boundary F1 at 100 ms, outcome and failure-mode agreement, pair by pair) is
recorded whichever set is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from itertools import combinations
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from humanoid_data.core.phases import Taxonomy
from humanoid_data.errors import LabelError
from humanoid_data.labels.agreement.categorical import CategoricalField, choice_value
from humanoid_data.labels.agreement.phases import PhaseSettings, compare_phases
from humanoid_data.labels.codec import check_against_taxonomy, taxonomy_mismatch
from humanoid_data.labels.model import LabelSet, Role
from humanoid_data.labels.store import LabelStore

#: Roles whose sets are one person's labels (the adjudicator's set ranks above them).
HUMAN_ROLES = (Role.ANNOTATOR, Role.REVIEWER)
#: Tolerance of the boundary F1 recorded as the annotators' agreement.
AGREEMENT_TOLERANCE_MS = 100.0


class LabelOrigin(str, Enum):
    """Where a converted episode's labels came from, best first."""

    ADJUDICATED = 'adjudicated'
    ANNOTATOR = 'annotator'
    PRELABEL = 'prelabel'
    BAG_EVENTS = 'bag_events'


class Candidate(NamedTuple):
    """The latest revision of one annotator's label set."""

    label_set: LabelSet
    revision: int
    saved_at: str


class PairAgreement(NamedTuple):
    """How two annotators agree on one episode; None where one of them set no value."""

    reference: str
    other: str
    boundary_f1: float
    outcome_agreed: bool | None
    failure_mode_agreed: bool | None


def _share(values: Sequence[bool | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


@dataclass(frozen=True)
class LabelAgreement:
    """Agreement of the humans who labelled one episode, every unordered pair."""

    annotators: tuple[str, ...]
    pairs: tuple[PairAgreement, ...]
    tolerance_ms: float = AGREEMENT_TOLERANCE_MS

    @property
    def boundary_f1(self) -> float | None:
        """Phase boundary F1 at ``tolerance_ms``, the mean over pairs."""
        return sum(p.boundary_f1 for p in self.pairs) / len(self.pairs) if self.pairs else None

    @property
    def outcome_agreement(self) -> float | None:
        """Share of the pairs (both set an outcome) that gave the same outcome."""
        return _share([p.outcome_agreed for p in self.pairs])

    def to_json(self) -> dict[str, Any]:
        """Figures for the dataset's provenance."""
        return {'annotators': list(self.annotators), 'tolerance_ms': self.tolerance_ms,
                'boundary_f1': self.boundary_f1, 'outcome_agreement': self.outcome_agreement,
                'failure_mode_agreement': _share([p.failure_mode_agreed for p in self.pairs]),
                'pairs': [p._asdict() for p in self.pairs]}


@dataclass(frozen=True)
class LabelProvenance:
    """Where one converted episode's labels came from."""

    source: LabelOrigin
    taxonomy: str                       # the version the labels used were made under
    annotator: str = ''                 # whose set is used ('' for the bag's events)
    annotators: tuple[str, ...] = ()    # every human who labelled it (taxonomy in force)
    adjudicated: bool = False
    revision: int = 0                   # of the set used; 0: no label set
    saved_at: str = ''
    replaced: tuple[str, ...] = ()      # what the set replaced: phases, contacts, ...
    agreement: LabelAgreement | None = None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain values for the staged summary and the dataset."""
        return {'source': self.source.value, 'taxonomy': self.taxonomy,
                'annotator': self.annotator, 'annotators': list(self.annotators),
                'adjudicated': self.adjudicated, 'revision': self.revision,
                'saved_at': self.saved_at, 'replaced': list(self.replaced),
                'agreement': self.agreement.to_json() if self.agreement else None,
                'notes': list(self.notes)}


class ChosenLabels(NamedTuple):
    """The label set to use (None: the bag's events) and its provenance."""

    label_set: LabelSet | None
    provenance: LabelProvenance


def _same(a: LabelSet, b: LabelSet, field: CategoricalField) -> bool | None:
    left, right = choice_value(a, field), choice_value(b, field)
    return None if left is None or right is None else left == right


def episode_agreement(humans: Sequence[LabelSet]) -> LabelAgreement | None:
    """Agreement of two or more humans' label sets of one episode (None for fewer)."""
    if len(humans) < 2:
        return None
    ordered = sorted(humans, key=lambda s: s.annotator)
    settings = PhaseSettings(tolerances_ms=(AGREEMENT_TOLERANCE_MS,))
    pairs = tuple(
        PairAgreement(ref.annotator, other.annotator,
                      compare_phases(ref, other, settings).boundary(AGREEMENT_TOLERANCE_MS).f1,
                      _same(ref, other, CategoricalField.OUTCOME),
                      _same(ref, other, CategoricalField.FAILURE_MODE))
        for ref, other in combinations(ordered, 2))
    return LabelAgreement(tuple(s.annotator for s in ordered), pairs)


def _candidates(store: LabelStore, episode_id: str, notes: list[str]) -> list[Candidate]:
    """The latest revision of every label file of the episode; damaged ones noted."""
    try:
        names = store.annotators(episode_id)
    except LabelError:          # an id that cannot name a labels folder has no label sets
        return []
    out = []
    for name in names:
        try:
            last = store.history(episode_id, name)[-1]
            out.append(Candidate(store.load(episode_id, name, last.revision), last.revision,
                                 last.saved_at))
        except LabelError as err:
            notes.append(f'label set skipped: {err}')
    return out


def _usable(candidates: list[Candidate], taxonomy: Taxonomy, episode_uuid: str,
            notes: list[str]) -> list[Candidate]:
    """The sets made under the taxonomy in force for this very bag; the others noted."""
    kept = []
    for candidate in candidates:
        labels = candidate.label_set
        mismatch = taxonomy_mismatch(labels, taxonomy)
        other_uuid = labels.episode.episode_uuid
        if mismatch:
            notes.append(f'label set skipped: {mismatch}')
        elif episode_uuid and other_uuid and other_uuid != episode_uuid:
            notes.append(f'label set skipped: labels of {labels.annotator!r} are for the bag '
                         f'with episode_uuid {other_uuid}, not {episode_uuid}')
        else:
            kept.append(candidate)
    return kept


def _latest(candidates: list[Candidate]) -> Candidate:
    return max(candidates, key=lambda c: (datetime.fromisoformat(c.saved_at),
                                          c.label_set.annotator))


def _pick(kept: list[Candidate], notes: list[str]) -> tuple[Candidate, LabelOrigin] | None:
    """The best set and its origin; None when only the bag's events are left."""
    for candidate in kept:
        if candidate.label_set.role is Role.ADJUDICATOR:
            return candidate, LabelOrigin.ADJUDICATED
    humans = [c for c in kept if c.label_set.role in HUMAN_ROLES]
    if humans:
        chosen = _latest(humans)
        if len(humans) > 1:
            names = ', '.join(sorted(c.label_set.annotator for c in humans))
            notes.append(f'{len(humans)} annotators ({names}) and no adjudication: the labels '
                         f'of {chosen.label_set.annotator!r} (latest saved) are used')
        return chosen, LabelOrigin.ANNOTATOR
    machines = [c for c in kept if c.label_set.role is Role.MACHINE]
    return (_latest(machines), LabelOrigin.PRELABEL) if machines else None


def choose_labels(session_dir: str | Path, episode_id: str, taxonomy: Taxonomy, *,
                  episode_uuid: str = '', events_taxonomy: str = '') -> ChosenLabels:
    """The best label set saved for an episode, and the provenance of the labels to use.

    Args:
        session_dir: The session folder (its ``labels/`` holds the label sets).
        episode_id: The episode's id (its labels folder).
        taxonomy: The guideline in force; sets of another version are skipped.
        episode_uuid: The bag's uuid; a set naming another one is skipped.
        events_taxonomy: The version the bag's own labels were made under (empty: the
            one in force), the provenance's taxonomy when no set is used.

    Returns:
        The set (None: keep the labels from the bag's events) and its provenance, whose
        notes say what was skipped and why. Never raises for a damaged label file.

    """
    notes: list[str] = []
    kept = _usable(_candidates(LabelStore(session_dir), episode_id, notes), taxonomy,
                   episode_uuid, notes)
    humans = [c.label_set for c in kept if c.label_set.role in HUMAN_ROLES]
    agreement = episode_agreement(humans)
    annotators = tuple(sorted(s.annotator for s in humans))
    picked = _pick(kept, notes)
    if picked is None:
        return ChosenLabels(None, LabelProvenance(
            LabelOrigin.BAG_EVENTS, events_taxonomy or taxonomy.version, notes=tuple(notes)))
    candidate, origin = picked
    labels = candidate.label_set
    notes.extend(f'labels of {labels.annotator!r}: {problem}'
                 for problem in check_against_taxonomy(labels, taxonomy))
    return ChosenLabels(labels, LabelProvenance(
        origin, labels.taxonomy, labels.annotator, annotators,
        origin is LabelOrigin.ADJUDICATED, candidate.revision, candidate.saved_at,
        agreement=agreement, notes=tuple(notes)))


def label_files(session_dir: Path, episode_id: str) -> list[Path]:
    """The label files of an episode, sorted (for the staging key); none for an odd id."""
    try:
        folder = LabelStore(session_dir).folder(episode_id)
    except LabelError:
        return []
    return sorted(p for p in folder.glob('*.json') if p.is_file()) if folder.is_dir() else []
