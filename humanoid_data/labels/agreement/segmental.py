"""Segment-level scores of the action-segmentation literature, and frame-wise accuracy.

Definitions follow Lea et al. 2017 ("Temporal Convolutional Networks for Action
Segmentation and Detection", CVPR) and the evaluation code of MS-TCN (Farha and Gall,
CVPR 2019), on segments in continuous time instead of frames:

- segmental F1@k: predicted segments are visited in time order; each takes the
  same-label reference segment of highest IoU; it is a true positive when that IoU is at
  least k and that reference segment is not yet matched, else a false positive.
  Unmatched reference segments are false negatives.
- edit score: ``(1 - levenshtein(labels_other, labels_reference) / max(len)) * 100`` over
  the sequences of segment labels (100 when both are empty).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from humanoid_data.core.labels import Segment, phase_index
from humanoid_data.errors import LabelError
from humanoid_data.labels.agreement.counts import MatchCounts, ns


def segment_iou(a: Segment, b: Segment) -> float:
    """Intersection over union of two segments' spans (0 when they do not overlap)."""
    inter = min(a.end_ns, b.end_ns) - max(a.begin_ns, b.begin_ns)
    union = max(a.end_ns, b.end_ns) - min(a.begin_ns, b.begin_ns)
    if union <= 0:
        return 1.0 if (a.begin_ns, a.end_ns) == (b.begin_ns, b.end_ns) else 0.0
    return max(inter, 0) / union


def segmental_counts(reference: Sequence[Segment], other: Sequence[Segment],
                     overlap: float) -> MatchCounts:
    """Segmental true positives at IoU ``overlap`` (MS-TCN's ``f_score``), as counts.

    Args:
        reference: Reference segments in time order.
        other: The other annotator's segments in time order.
        overlap: The k of F1@k as a fraction (0.10, 0.25, 0.50).

    Returns:
        ``MatchCounts(len(reference), len(other), true positives)``.

    Raises:
        LabelError: ``overlap`` outside (0, 1].

    """
    if not 0.0 < overlap <= 1.0:
        raise LabelError(f'segmental overlap must be within (0, 1], got {overlap!r}')
    hits = [False] * len(reference)
    true_positives = 0
    for found in other:
        ious = [segment_iou(found, ref) if ref.name == found.name else 0.0
                for ref in reference]
        if not ious:
            continue
        best = int(np.argmax(ious))     # the first of equal bests, as numpy's argmax
        if ious[best] >= overlap and not hits[best]:
            hits[best] = True
            true_positives += 1
    return MatchCounts(len(reference), len(other), true_positives)


def levenshtein(a: Sequence[str], b: Sequence[str]) -> int:
    """Edit distance (insertions, deletions, substitutions) between two label sequences."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def edit_score(reference: Sequence[Segment], other: Sequence[Segment]) -> float:
    """Lea et al.'s edit score of the segment label sequences, 0..100 (100 when equal)."""
    longest = max(len(reference), len(other))
    if not longest:
        return 100.0
    distance = levenshtein([s.name for s in other], [s.name for s in reference])
    return (1.0 - distance / longest) * 100.0


class FrameCounts(NamedTuple):
    """Instants sampled and instants where both annotators name the same phase."""

    agreed: int
    total: int

    @property
    def accuracy(self) -> float | None:
        """Agreed over sampled instants; None when nothing was sampled."""
        return self.agreed / self.total if self.total else None


def frame_instants(reference: Sequence[Segment], other: Sequence[Segment],
                   step_ms: float) -> np.ndarray:
    """A grid every ``step_ms`` over the span both annotators' segments cover."""
    spans = [*reference, *other]
    if not spans:
        return np.zeros(0, dtype=np.int64)
    if not step_ms > 0:
        raise LabelError(f'frame step must be > 0 ms, got {step_ms!r}')
    begin = min(s.begin_ns for s in spans)
    end = max(s.end_ns for s in spans)
    return np.arange(begin, end, max(ns(step_ms), 1), dtype=np.int64)


def frame_agreement(reference: Sequence[Segment], other: Sequence[Segment], *,
                    step_ms: float = 10.0,
                    instants_ns: np.ndarray | None = None) -> FrameCounts:
    """Frame-wise agreement of the phase each annotator gives every instant.

    An instant outside every segment counts as "no phase" on that side; two "no phase"
    instants agree.

    Args:
        reference: Reference segments.
        other: The other annotator's segments.
        step_ms: Grid step when ``instants_ns`` is not given.
        instants_ns: Instants to compare at (e.g. the dataset's frame stamps).

    Returns:
        Agreed and sampled instants.

    Raises:
        LabelError: A step that is not positive.

    """
    if instants_ns is None:
        instants_ns = frame_instants(reference, other, step_ms)
    names = sorted({s.name for s in [*reference, *other]})
    ref_index = phase_index(instants_ns, reference, names)
    other_index = phase_index(instants_ns, other, names)
    return FrameCounts(int(np.count_nonzero(ref_index == other_index)), len(instants_ns))
