"""Phase agreement of two label sets, and its sum over many episodes.

For one episode: boundary precision, recall and F1 at each tolerance; segmental F1@k and
the edit score; frame-wise accuracy; the signed offsets (other minus reference) of the
boundaries matched at the offset tolerance, overall and per phase, so an annotator who is
systematically late shows up as a positive mean offset. ``combine_phases`` sums counts
over episodes (micro averages) and averages the edit score over episodes, as MS-TCN does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

import numpy as np

from humanoid_data.errors import LabelError
from humanoid_data.labels.agreement.boundaries import (
    BoundaryMatch, match_boundaries, phase_boundaries, top_level_segments)
from humanoid_data.labels.agreement.counts import MatchCounts, mean_or_none, ms, sum_counts
from humanoid_data.labels.agreement.segmental import (
    FrameCounts, edit_score, frame_agreement, segmental_counts)
from humanoid_data.labels.model import LabelSet

DEFAULT_TOLERANCES_MS = (50.0, 100.0, 250.0)
DEFAULT_OVERLAPS = (0.10, 0.25, 0.50)


@dataclass(frozen=True)
class PhaseSettings:
    """How phases are compared: tolerances, overlaps, frame grid, offset tolerance."""

    tolerances_ms: tuple[float, ...] = DEFAULT_TOLERANCES_MS
    overlaps: tuple[float, ...] = DEFAULT_OVERLAPS
    frame_step_ms: float = 10.0
    offset_tolerance_ms: float | None = None     # None: the largest of tolerances_ms

    def __post_init__(self) -> None:
        """Tolerances not negative, overlaps within (0, 1], a positive frame step."""
        if not self.tolerances_ms or any(not t >= 0 for t in self.tolerances_ms):
            raise LabelError(f'tolerances_ms must be one or more values >= 0, got '
                             f'{self.tolerances_ms!r}')
        if any(not 0 < k <= 1 for k in self.overlaps):
            raise LabelError(f'overlaps must be within (0, 1], got {self.overlaps!r}')
        if not self.frame_step_ms > 0:
            raise LabelError(f'frame_step_ms must be > 0, got {self.frame_step_ms!r}')
        if self.offset_tolerance_ms is not None and not self.offset_tolerance_ms >= 0:
            raise LabelError(f'offset_tolerance_ms must be >= 0, got '
                             f'{self.offset_tolerance_ms!r}')

    @property
    def offset_tolerance(self) -> float:
        """Tolerance (ms) of the matching that signed offsets are measured on."""
        if self.offset_tolerance_ms is not None:
            return self.offset_tolerance_ms
        return max(self.tolerances_ms)


class BoundaryScore(NamedTuple):
    """Boundary matches at one tolerance."""

    tolerance_ms: float
    counts: MatchCounts


class SegmentalScore(NamedTuple):
    """Segmental matches at one IoU overlap (F1@k with k = 100 * overlap)."""

    overlap: float
    counts: MatchCounts


class PhaseOffsets(NamedTuple):
    """Signed offsets (ms, other minus reference) of the boundaries where a phase begins."""

    phase: str
    offsets_ms: tuple[float, ...]

    @property
    def mean_ms(self) -> float | None:
        """Mean signed offset; positive: the other annotator is late."""
        return mean_or_none(self.offsets_ms)

    @property
    def max_abs_ms(self) -> float | None:
        """Largest absolute offset."""
        return max((abs(o) for o in self.offsets_ms), default=None)


@dataclass(frozen=True)
class PhaseAgreement:
    """Phase agreement of one pair of annotators over one or more episodes."""

    episodes: int
    boundaries: tuple[BoundaryScore, ...]
    segmental: tuple[SegmentalScore, ...]
    edit_scores: tuple[float, ...]           # one per episode, 0..100
    frames: FrameCounts
    offset_tolerance_ms: float
    offsets_ms: tuple[float, ...]            # signed, every matched boundary
    per_phase: tuple[PhaseOffsets, ...]

    @property
    def edit(self) -> float | None:
        """Edit score averaged over episodes, 0..100."""
        return mean_or_none(self.edit_scores)

    @property
    def mean_offset_ms(self) -> float | None:
        """Mean signed boundary offset; positive: the other annotator is late."""
        return mean_or_none(self.offsets_ms)

    @property
    def median_abs_offset_ms(self) -> float | None:
        """Median absolute boundary offset."""
        return float(np.median(np.abs(self.offsets_ms))) if self.offsets_ms else None

    def boundary(self, tolerance_ms: float) -> MatchCounts:
        """Boundary counts at one of the tolerances.

        Raises:
            LabelError: Not one of the tolerances scored.

        """
        for score in self.boundaries:
            if score.tolerance_ms == tolerance_ms:
                return score.counts
        raise LabelError(f'no boundary score at {tolerance_ms} ms; scored: '
                         f'{", ".join(str(s.tolerance_ms) for s in self.boundaries)}')

    def segmental_f1(self, overlap: float) -> float:
        """Segmental F1 (0..1) at one of the overlaps.

        Raises:
            LabelError: Not one of the overlaps scored.

        """
        for score in self.segmental:
            if score.overlap == overlap:
                return score.counts.f1
        raise LabelError(f'no segmental score at overlap {overlap}; scored: '
                         f'{", ".join(str(s.overlap) for s in self.segmental)}')

    def to_json(self) -> dict[str, Any]:
        """Figures for a report (null where undefined)."""
        return {
            'episodes': self.episodes,
            'boundaries': {f'{s.tolerance_ms:g}ms': s.counts.to_json()
                           for s in self.boundaries},
            'segmental_f1': {f'{s.overlap * 100:g}': s.counts.f1 for s in self.segmental},
            'edit': self.edit,
            'frame_accuracy': self.frames.accuracy,
            'offset_tolerance_ms': self.offset_tolerance_ms,
            'mean_offset_ms': self.mean_offset_ms,
            'median_abs_offset_ms': self.median_abs_offset_ms,
            'per_phase': {p.phase: {'matched': len(p.offsets_ms), 'mean_ms': p.mean_ms,
                                    'max_abs_ms': p.max_abs_ms} for p in self.per_phase},
        }


def _per_phase(match: BoundaryMatch) -> tuple[PhaseOffsets, ...]:
    grouped: dict[str, list[float]] = {}
    for pair in match.pairs:
        grouped.setdefault(pair.reference.after, []).append(ms(pair.offset_ns))
    return tuple(PhaseOffsets(name, tuple(values)) for name, values in grouped.items())


def compare_phases(reference: LabelSet, other: LabelSet,
                   settings: PhaseSettings = PhaseSettings()) -> PhaseAgreement:
    """Phase agreement of ``other`` against ``reference`` on one episode.

    Args:
        reference: The reference label set (truth, adjudicated, or the first annotator).
        other: The label set compared with it.
        settings: Tolerances, overlaps, frame step, offset tolerance.

    Returns:
        The episode's phase agreement.

    """
    ref_segments, other_segments = top_level_segments(reference), top_level_segments(other)
    ref_bounds, other_bounds = phase_boundaries(ref_segments), phase_boundaries(other_segments)
    offsets = match_boundaries(ref_bounds, other_bounds, settings.offset_tolerance)
    return PhaseAgreement(
        episodes=1,
        boundaries=tuple(BoundaryScore(t, match_boundaries(ref_bounds, other_bounds, t).counts)
                         for t in settings.tolerances_ms),
        segmental=tuple(SegmentalScore(k, segmental_counts(ref_segments, other_segments, k))
                        for k in settings.overlaps),
        edit_scores=(edit_score(ref_segments, other_segments),),
        frames=frame_agreement(ref_segments, other_segments, step_ms=settings.frame_step_ms),
        offset_tolerance_ms=settings.offset_tolerance,
        offsets_ms=tuple(ms(p.offset_ns) for p in offsets.pairs),
        per_phase=_per_phase(offsets))


def combine_phases(results: Sequence[PhaseAgreement]) -> PhaseAgreement:
    """Sum phase agreements of many episodes (micro averages; edit averaged per episode).

    Raises:
        LabelError: No results, or results scored with different settings.

    """
    if not results:
        raise LabelError('no phase agreements to combine')
    first = results[0]
    shape = ([s.tolerance_ms for s in first.boundaries], [s.overlap for s in first.segmental],
             first.offset_tolerance_ms)
    for result in results[1:]:
        if ([s.tolerance_ms for s in result.boundaries], [s.overlap for s in result.segmental],
                result.offset_tolerance_ms) != shape:
            raise LabelError('phase agreements scored with different settings cannot be '
                             'combined')
    per_phase: dict[str, list[float]] = {}
    for result in results:
        for phase in result.per_phase:
            per_phase.setdefault(phase.phase, []).extend(phase.offsets_ms)
    return PhaseAgreement(
        episodes=sum(r.episodes for r in results),
        boundaries=tuple(BoundaryScore(s.tolerance_ms, sum_counts(r.boundaries[i].counts
                                                                  for r in results))
                         for i, s in enumerate(first.boundaries)),
        segmental=tuple(SegmentalScore(s.overlap, sum_counts(r.segmental[i].counts
                                                             for r in results))
                        for i, s in enumerate(first.segmental)),
        edit_scores=tuple(e for r in results for e in r.edit_scores),
        frames=FrameCounts(sum(r.frames.agreed for r in results),
                           sum(r.frames.total for r in results)),
        offset_tolerance_ms=first.offset_tolerance_ms,
        offsets_ms=tuple(o for r in results for o in r.offsets_ms),
        per_phase=tuple(PhaseOffsets(n, tuple(v)) for n, v in per_phase.items()))
