"""One-to-one match counts, the unit every matching score is built from and summed over.

Boundaries, segments and contact intervals are all matched one to one between a reference
and another annotator; what is left is three numbers. Summing them over episodes before
taking the ratios gives the micro averages the action-segmentation literature reports.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, NamedTuple


class MatchCounts(NamedTuple):
    """Reference items, other items, and how many of them were matched one to one."""

    reference: int
    other: int
    matched: int

    @property
    def precision(self) -> float:
        """Matched over other items; 1 when the other side has none (no false positive)."""
        return self.matched / self.other if self.other else 1.0

    @property
    def recall(self) -> float:
        """Matched over reference items; 1 when the reference has none."""
        return self.matched / self.reference if self.reference else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (0 when both are 0)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def missed(self) -> int:
        """Reference items the other side has no match for."""
        return self.reference - self.matched

    @property
    def extra(self) -> int:
        """Other items that match nothing in the reference."""
        return self.other - self.matched

    def to_json(self) -> dict[str, Any]:
        """Counts and ratios for a report."""
        return {'reference': self.reference, 'other': self.other, 'matched': self.matched,
                'precision': self.precision, 'recall': self.recall, 'f1': self.f1}


def sum_counts(items: Iterable[MatchCounts]) -> MatchCounts:
    """Add counts up (micro average over episodes)."""
    reference = other = matched = 0
    for item in items:
        reference += item.reference
        other += item.other
        matched += item.matched
    return MatchCounts(reference, other, matched)


def mean_or_none(values: Iterable[float]) -> float | None:
    """Arithmetic mean; None for no values (a report writes null, never NaN)."""
    listed = list(values)
    return math.fsum(listed) / len(listed) if listed else None


def ms(ns: int) -> float:
    """Nanoseconds as milliseconds."""
    return ns / 1e6


def ns(milliseconds: float) -> int:
    """Milliseconds as whole nanoseconds."""
    return int(round(milliseconds * 1e6))
