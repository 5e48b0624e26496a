"""Labels of an episode from its events: phase segments, contact intervals, per-frame arrays.

Phase segments come from the operator's markers; where an episode has none, a coarse
automatic segmentation from the contact intervals stands in (the first phase of the task
before the first contact, ``manipulation`` while any contact lasts, the last phase after
the last contact). Every segment keeps its source (``operator``, ``auto``, ``sim_truth``).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from humanoid_data.core.events import Boundary, EventBase, Phase, Source
from humanoid_data.core.intervals import Interval, score_contacts

MANIPULATION = 'manipulation'


class Segment(NamedTuple):
    """A labelled span of an episode on the robot clock."""

    name: str
    begin_ns: int
    end_ns: int
    source: str


def phase_segments(events: Sequence[EventBase], source: Source, end_ns: int) -> list[Segment]:
    """Pair a source's phase begin and end events into segments, in time order.

    A phase left open ends where the next phase begins, or at ``end_ns``.
    """
    segments: list[Segment] = []
    open_name, open_at = '', 0
    for event in sorted((e for e in events if isinstance(e, Phase) and e.source == source),
                        key=lambda e: e.stamp_ns):
        if event.boundary == Boundary.BEGIN:
            if open_name:
                segments.append(Segment(open_name, open_at, event.stamp_ns, source.value))
            open_name, open_at = event.name, event.stamp_ns
        elif event.name == open_name:
            segments.append(Segment(open_name, open_at, event.stamp_ns, source.value))
            open_name = ''
    if open_name:
        segments.append(Segment(open_name, open_at, max(end_ns, open_at), source.value))
    return segments


def auto_segments(contacts: Sequence[Interval], phases: Sequence[str], start_ns: int,
                  end_ns: int) -> list[Segment]:
    """Coarse phases from contacts: first phase, manipulation, last phase."""
    spans = [(c.begin_ns, c.end_ns if c.end_ns is not None else end_ns) for c in contacts]
    if not spans or not phases:
        return []
    first = max(start_ns, min(b for b, _ in spans))
    last = min(end_ns, max(e for _, e in spans))
    out = []
    if first > start_ns:
        out.append(Segment(phases[0], start_ns, first, Source.AUTO.value))
    out.append(Segment(MANIPULATION, first, last, Source.AUTO.value))
    if last < end_ns:
        out.append(Segment(phases[-1], last, end_ns, Source.AUTO.value))
    return out


def phase_index(instants_ns: np.ndarray, segments: Sequence[Segment],
                names: Sequence[str]) -> np.ndarray:
    """Per instant, the index of its phase in ``names`` (-1 outside any known phase)."""
    out = np.full(len(instants_ns), -1, dtype=np.int64)
    lookup = {name: i for i, name in enumerate(names)}
    for seg in segments:
        if seg.name in lookup:
            inside = (instants_ns >= seg.begin_ns) & (instants_ns < seg.end_ns)
            out[inside] = lookup[seg.name]
    return out


def contact_flags(instants_ns: np.ndarray, intervals: Sequence[Interval],
                  channels: Sequence[str], end_ns: int) -> np.ndarray:
    """Per instant and channel, whether the channel is in contact (frames x channels)."""
    out = np.zeros((len(instants_ns), len(channels)), dtype=bool)
    column = {c: i for i, c in enumerate(channels)}
    for interval in intervals:
        if interval.channel in column:
            stop = interval.end_ns if interval.end_ns is not None else end_ns
            out[:, column[interval.channel]] |= ((instants_ns >= interval.begin_ns)
                                                 & (instants_ns < stop))
    return out


def contact_disagreements(recorded: Sequence[Interval], offline: Sequence[Interval],
                          tolerance_ns: int = 50_000_000) -> dict[str, object]:
    """Compare live (recorded) and offline contact intervals; report what differs."""
    score = score_contacts(offline, recorded, tolerance_ns)
    return {
        'recorded': len(recorded), 'offline': len(offline), 'matched': score.matched,
        'only_recorded': len(recorded) - score.matched,
        'only_offline': len(offline) - score.matched,
        'onset_diff_max_ms': round(max((abs(e) for e in score.onset_errors_ms),
                                       default=0.0), 3),
    }
