"""Phase segments of a label set, the boundaries between them, and boundary matching.

Only top-level phases take part (sub-phases, named ``phase/sub``, are left out), and two
touching phases of the same name are one segment, as a frame-wise labelling would make
them. A boundary is the transition from one segment to the next, stamped where the later
one begins. Boundaries of two annotators are matched one to one within a tolerance,
greedily by smallest distance, each reference boundary used once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

from humanoid_data.core.labels import Segment
from humanoid_data.errors import LabelError
from humanoid_data.labels.agreement.counts import MatchCounts, ns
from humanoid_data.labels.model import LabelSet


def top_level_segments(labels: LabelSet) -> tuple[Segment, ...]:
    """Top-level phases in time order, touching phases of one name merged.

    Args:
        labels: One annotator's label set.

    Returns:
        Segments with the phase's source as ``source``.

    """
    out: list[Segment] = []
    for phase in sorted((p for p in labels.phases if '/' not in p.name),
                        key=lambda p: (p.begin_ns, p.end_ns)):
        if out and out[-1].name == phase.name and out[-1].end_ns == phase.begin_ns:
            out[-1] = out[-1]._replace(end_ns=phase.end_ns)
        else:
            out.append(Segment(phase.name, phase.begin_ns, phase.end_ns, phase.source.value))
    return tuple(out)


class PhaseBoundary(NamedTuple):
    """The transition from phase ``before`` to phase ``after``."""

    stamp_ns: int
    before: str
    after: str


def phase_boundaries(segments: Sequence[Segment]) -> tuple[PhaseBoundary, ...]:
    """Transitions between consecutive segments, stamped at the later segment's begin."""
    return tuple(PhaseBoundary(after.begin_ns, before.name, after.name)
                 for before, after in zip(segments, segments[1:]))


class BoundaryPair(NamedTuple):
    """A reference boundary and the other annotator's boundary matched to it."""

    reference: PhaseBoundary
    other: PhaseBoundary

    @property
    def offset_ns(self) -> int:
        """Other minus reference: positive when the other annotator is late."""
        return self.other.stamp_ns - self.reference.stamp_ns


@dataclass(frozen=True)
class BoundaryMatch:
    """The one-to-one matching of two boundary lists at one tolerance."""

    tolerance_ms: float
    pairs: tuple[BoundaryPair, ...]
    unmatched_reference: tuple[PhaseBoundary, ...]
    unmatched_other: tuple[PhaseBoundary, ...]

    @property
    def counts(self) -> MatchCounts:
        """Reference, other and matched boundary counts."""
        matched = len(self.pairs)
        return MatchCounts(matched + len(self.unmatched_reference),
                           matched + len(self.unmatched_other), matched)


def match_boundaries(reference: Sequence[PhaseBoundary], other: Sequence[PhaseBoundary],
                     tolerance_ms: float) -> BoundaryMatch:
    """Match boundaries one to one within ``tolerance_ms``, closest pairs first.

    Every pair within the tolerance (inclusive) is a candidate; candidates are taken in
    order of distance (ties by reference, then other order) while both ends are unused.
    Boundary names do not take part: a boundary is a moment, whatever phases it joins.

    Args:
        reference: The reference annotator's boundaries.
        other: The other annotator's boundaries.
        tolerance_ms: Largest distance of a match, in milliseconds.

    Returns:
        Matched pairs in reference time order and the unmatched boundaries of each side.

    Raises:
        LabelError: A negative tolerance.

    """
    if not tolerance_ms >= 0:
        raise LabelError(f'boundary tolerance must be >= 0 ms, got {tolerance_ms!r}')
    limit = ns(tolerance_ms)
    candidates = sorted(
        (abs(o.stamp_ns - r.stamp_ns), i, j)
        for i, r in enumerate(reference) for j, o in enumerate(other)
        if abs(o.stamp_ns - r.stamp_ns) <= limit)
    used_reference: dict[int, int] = {}
    used_other: set[int] = set()
    for _, i, j in candidates:
        if i not in used_reference and j not in used_other:
            used_reference[i] = j
            used_other.add(j)
    pairs = tuple(BoundaryPair(reference[i], other[used_reference[i]])
                  for i in sorted(used_reference, key=lambda i: reference[i].stamp_ns))
    return BoundaryMatch(
        tolerance_ms, pairs,
        tuple(b for i, b in enumerate(reference) if i not in used_reference),
        tuple(b for j, b in enumerate(other) if j not in used_other))
