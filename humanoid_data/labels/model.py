"""A label set: everything one annotator says about one episode, on the robot's clock.

One document per (episode, annotator). Every label keeps where it came from (the
operator live, the contact monitor, the offline detector, automatic segmentation, a human
edit) and, for pre-labels, how far it can be trusted (``confidence`` in 0..1). The
document names the taxonomy version it was made under, so labels of different
guidelines are never mixed silently. ``labels/codec.py`` turns documents into JSON and
back, rejecting bad ones with the field named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from humanoid_data.core.events import Outcome
from humanoid_data.errors import LabelError

SCHEMA = 'humanoid_data.labels/1'
INT64_MAX = 2 ** 63 - 1
#: The outcomes an episode can have (the events' vocabulary).
OUTCOMES = tuple(o.value for o in Outcome)


class LabelSource(str, Enum):
    """Where a label came from."""

    OPERATOR = 'operator'               # marked live by the operator
    CONTACT_MONITOR = 'contact_monitor'  # detected live
    OFFLINE = 'offline'                 # re-detected offline from the bag
    AUTO = 'auto'                       # automatic segmentation
    HUMAN = 'human'                     # set or corrected by a person
    SIM_TRUTH = 'sim_truth'             # the simulator's ground truth
    CONSENSUS = 'consensus'             # merged from several annotators by adjudication


class Role(str, Enum):
    """Who made a label set."""

    MACHINE = 'machine'           # pre-labels
    ANNOTATOR = 'annotator'
    REVIEWER = 'reviewer'
    ADJUDICATOR = 'adjudicator'


class Verdict(str, Enum):
    """Whether the episode belongs in a dataset."""

    KEEP = 'keep'
    FLAG = 'flag'
    REJECT = 'reject'


def _check_stamp(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise LabelError(f'{what}: expected nanoseconds 0..2**63-1, got {value!r:.40}')


def _check_confidence(value: float | None, what: str) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise LabelError(f'{what}: confidence must be within 0..1, got {value!r}')


@dataclass(frozen=True)
class PhaseLabel:
    """A phase segment ``[begin_ns, end_ns)`` of the task."""

    name: str
    begin_ns: int
    end_ns: int
    source: LabelSource = LabelSource.HUMAN
    confidence: float | None = None

    def __post_init__(self) -> None:
        """Stamps in range, the end not before the begin."""
        _check_stamp(self.begin_ns, f'phase {self.name!r} begin_ns')
        _check_stamp(self.end_ns, f'phase {self.name!r} end_ns')
        if self.end_ns < self.begin_ns:
            raise LabelError(f'phase {self.name!r}: end_ns {self.end_ns} is before '
                             f'begin_ns {self.begin_ns}')
        _check_confidence(self.confidence, f'phase {self.name!r}')


@dataclass(frozen=True)
class ContactLabel:
    """A contact interval of one channel; ``offset_ns`` None when it never ended."""

    channel: str
    onset_ns: int
    offset_ns: int | None
    slips_ns: tuple[int, ...] = ()
    source: LabelSource = LabelSource.HUMAN
    confidence: float | None = None

    def __post_init__(self) -> None:
        """Stamps in range and in order, slips inside the interval."""
        what = f'contact {self.channel!r} at {self.onset_ns}'
        _check_stamp(self.onset_ns, f'{what}: onset_ns')
        if self.offset_ns is not None:
            _check_stamp(self.offset_ns, f'{what}: offset_ns')
            if self.offset_ns < self.onset_ns:
                raise LabelError(f'{what}: offset_ns {self.offset_ns} is before the onset')
        end = INT64_MAX if self.offset_ns is None else self.offset_ns
        for slip in self.slips_ns:
            _check_stamp(slip, f'{what}: slip')
            if not self.onset_ns <= slip <= end:
                raise LabelError(f'{what}: slip at {slip} is outside the interval')
        _check_confidence(self.confidence, what)


@dataclass(frozen=True)
class Choice:
    """A categorical label (outcome, failure mode, verdict) with its source."""

    value: str
    source: LabelSource = LabelSource.HUMAN
    confidence: float | None = None
    reason: str = ''

    def __post_init__(self) -> None:
        """Confidence in range."""
        _check_confidence(self.confidence, f'label {self.value!r}')


@dataclass(frozen=True)
class TextLabel:
    """A language instruction or a note; a note may point at a moment."""

    text: str
    source: LabelSource = LabelSource.HUMAN
    stamp_ns: int | None = None

    def __post_init__(self) -> None:
        """A stamp, when given, in range."""
        if self.stamp_ns is not None:
            _check_stamp(self.stamp_ns, f'text {self.text[:30]!r} stamp_ns')


@dataclass(frozen=True)
class EpisodeRef:
    """Which episode a label set is about."""

    episode_id: str
    session: str = ''
    episode_uuid: str = ''

    def __post_init__(self) -> None:
        """An episode id is required."""
        if not self.episode_id:
            raise LabelError('episode.episode_id must not be empty')


@dataclass(frozen=True)
class LabelSet:
    """Everything one annotator says about one episode."""

    episode: EpisodeRef
    annotator: str
    role: Role
    taxonomy: str
    task: str = ''
    phases: tuple[PhaseLabel, ...] = ()
    contacts: tuple[ContactLabel, ...] = ()
    outcome: Choice | None = None
    failure_mode: Choice | None = None
    verdict: Choice | None = None
    instructions: tuple[TextLabel, ...] = ()
    notes: tuple[TextLabel, ...] = ()
    time_spent_s: float = 0.0
    decisions: tuple[TextLabel, ...] = field(default=())   # an adjudicator's: who and why

    def __post_init__(self) -> None:
        """Names present, time spent not negative, a known verdict, phases in order."""
        if not self.annotator:
            raise LabelError('annotator must not be empty')
        if not self.taxonomy:
            raise LabelError('taxonomy (the version labels were made under) is required')
        if not 0 <= self.time_spent_s < float('inf'):
            raise LabelError(f'time_spent_s must be finite and >= 0, got {self.time_spent_s!r}')
        if self.outcome is not None and self.outcome.value not in OUTCOMES:
            raise LabelError(f'outcome {self.outcome.value!r} is not one of: '
                             f'{", ".join(OUTCOMES)}')
        if self.verdict is not None and self.verdict.value not in {v.value for v in Verdict}:
            raise LabelError(f'verdict {self.verdict.value!r} is not one of: '
                             f'{", ".join(v.value for v in Verdict)}')
        if self.verdict is not None and self.verdict.value != Verdict.KEEP.value \
                and not self.verdict.reason:
            raise LabelError(f'verdict {self.verdict.value!r} needs a reason')
        ordered = sorted(self.phases, key=lambda p: (p.begin_ns, p.end_ns))
        for before, after in zip(ordered, ordered[1:]):
            if after.begin_ns < before.end_ns and '/' not in after.name + before.name:
                raise LabelError(f'phases {before.name!r} and {after.name!r} overlap '
                                 f'({after.begin_ns} < {before.end_ns})')

    def phase_names(self) -> tuple[str, ...]:
        """Names of the top-level phases in time order (sub-phases left out)."""
        return tuple(p.name for p in sorted(self.phases, key=lambda p: p.begin_ns)
                     if '/' not in p.name)
