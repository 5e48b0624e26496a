"""Contact intervals from events, and their score against ground truth, numpy only.

Live (contact_monitor), offline (the converter) and true (the simulated humanoid) contacts
are all contact events; pairing onsets with offsets per channel gives intervals, and
matching detected intervals to true ones gives precision, recall, onset and offset errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from humanoid_data.core.events import Contact, EventBase, Source, Transition


class Interval(NamedTuple):
    """A contact interval of one channel; ``end_ns`` None when it never ended."""

    channel: str
    begin_ns: int
    end_ns: int | None


def intervals_from_events(events: Iterable[EventBase], source: Source | None = None,
                          end_ns: int | None = None) -> list[Interval]:
    """Pair onset and offset events per channel into intervals, in onset order.

    Args:
        events: Any events; only contacts (of ``source``, if given) are used.
        source: Keep only events from this source.
        end_ns: Closes a contact still open at the end (else its end stays None).

    """
    open_at: dict[str, int] = {}
    out = []
    for event in sorted((e for e in events if isinstance(e, Contact)
                         and (source is None or e.source == source)),
                        key=lambda e: e.stamp_ns):
        if event.transition == Transition.ONSET and event.channel not in open_at:
            open_at[event.channel] = event.stamp_ns
        elif event.transition == Transition.OFFSET and event.channel in open_at:
            out.append(Interval(event.channel, open_at.pop(event.channel), event.stamp_ns))
    out.extend(Interval(c, b, end_ns) for c, b in open_at.items())
    return sorted(out, key=lambda i: (i.begin_ns, i.channel))


@dataclass(frozen=True)
class ContactScore:
    """Detected intervals against true ones."""

    true_count: int
    detected_count: int
    matched: int
    onset_errors_ms: tuple[float, ...]     # detected minus true, per match
    offset_errors_ms: tuple[float, ...]

    @property
    def precision(self) -> float:
        """Matched detections over detections (1 when nothing was detected or true)."""
        return self.matched / self.detected_count if self.detected_count else float(
            self.true_count == 0)

    @property
    def recall(self) -> float:
        """Matched true intervals over true intervals."""
        return self.matched / self.true_count if self.true_count else 1.0

    def summary(self) -> Mapping[str, float]:
        """Figures for reports: precision, recall, onset/offset error p50 and p99 (ms)."""
        def pct(values: tuple[float, ...], q: float) -> float:
            return float(np.percentile(np.abs(values), q)) if values else float('nan')
        return {
            'precision': self.precision, 'recall': self.recall,
            'onset_p50_ms': pct(self.onset_errors_ms, 50),
            'onset_p99_ms': pct(self.onset_errors_ms, 99),
            'offset_p50_ms': pct(self.offset_errors_ms, 50),
            'offset_p99_ms': pct(self.offset_errors_ms, 99),
        }


def score_contacts(detected: Sequence[Interval], truth: Sequence[Interval],
                   tolerance_ns: int = 100_000_000) -> ContactScore:
    """Match detected to true intervals of the same channel, one to one.

    A detection matches a true interval when its onset is within ``tolerance_ns`` of the
    true onset; each true interval takes the closest unused detection.
    """
    used: set[int] = set()
    onset_errors, offset_errors = [], []
    for true in truth:
        best, best_error = None, tolerance_ns + 1
        for i, found in enumerate(detected):
            if i in used or found.channel != true.channel:
                continue
            error = abs(found.begin_ns - true.begin_ns)
            if error < best_error:
                best, best_error = i, error
        if best is None:
            continue
        used.add(best)
        found = detected[best]
        onset_errors.append((found.begin_ns - true.begin_ns) / 1e6)
        if found.end_ns is not None and true.end_ns is not None:
            offset_errors.append((found.end_ns - true.end_ns) / 1e6)
    return ContactScore(len(truth), len(detected), len(used), tuple(onset_errors),
                        tuple(offset_errors))
