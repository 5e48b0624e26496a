"""Per-topic figures of one episode: counts, stamp gaps, latency, what is missing."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

from humanoid_data.core.topics import TopicSpec


def missing_in_gap(gap_ns: int, period_ns: int) -> int:
    """Messages that a stamp gap implies were never received (0 without a period).

    A gap of more than 1.5 periods between consecutive header stamps means
    ``round(gap / period) - 1`` messages did not arrive, whether the sensor skipped them
    or they were lost on the way.
    """
    if period_ns <= 0 or 2 * gap_ns <= 3 * period_ns:
        return 0
    return round(gap_ns / period_ns) - 1


def period_ns(spec: TopicSpec) -> int:
    """The expected period of a topic, 0 when it is event-driven."""
    return round(1e9 / spec.rate_hz) if spec.rate_hz > 0 else 0


@dataclass
class TopicFigures:
    """Counts and stamp statistics of one topic within one episode."""

    written: int = 0
    dropped: int = 0
    nbytes: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    max_gap_ns: int = 0
    latency_sum_ns: int = 0
    latency_max_ns: int = 0
    regressions: int = 0
    missing: int = 0
    stamps: array[int] = field(default_factory=lambda: array('q'))  # for the sync summary
    receipts: array[int] = field(default_factory=lambda: array('q'))
    sizes: array[int] = field(default_factory=lambda: array('q'))

    def add(self, stamp_ns: int, receive_ns: int, nbytes: int, period_ns: int = 0) -> None:
        """Account for one written message and the messages its stamp gap implies."""
        self.written += 1
        self.nbytes += nbytes
        self.stamps.append(stamp_ns)
        self.receipts.append(receive_ns)
        self.sizes.append(nbytes)
        if self.last_ns is not None:
            gap = stamp_ns - self.last_ns
            if gap < 0:
                self.regressions += 1
            self.max_gap_ns = max(self.max_gap_ns, gap)
            self.missing += missing_in_gap(gap, period_ns)
        if self.first_ns is None:
            self.first_ns = stamp_ns
        self.last_ns = stamp_ns if self.last_ns is None else max(self.last_ns, stamp_ns)
        latency = receive_ns - stamp_ns
        self.latency_sum_ns += latency
        self.latency_max_ns = max(self.latency_max_ns, latency)


def keep_first(fig: TopicFigures, count: int, period: int) -> TopicFigures:
    """The figures of only the first ``count`` messages; the rest count as dropped.

    After a failed write the bag holds each topic's first messages (those in the chunks
    that reached the disk); the figures must say what the file holds, not what was sent.
    """
    if count >= fig.written:
        return fig
    kept = TopicFigures(dropped=fig.dropped + fig.written - count)
    for stamp, receipt, size in zip(fig.stamps[:count], fig.receipts[:count],
                                    fig.sizes[:count]):
        kept.add(stamp, receipt, size, period)
    return kept


def topic_entry(spec: TopicSpec, fig: TopicFigures, start_ns: int, begin_ns: int,
                stop_ns: int | None, silence_ns: int) -> dict[str, Any]:
    """The ``topics`` entry of episode.yaml for one topic (plus a transient ``silent``).

    ``begin_ns`` is the first stamp of the window (pre-roll included), ``start_ns`` the
    operator's start. Messages due between the start and the first message, and between
    the last one and the stop, count as missing; no count is ever negative.
    """
    entry: dict[str, Any] = {
        'stream': spec.stream, 'type': spec.msgtype, 'written': fig.written,
        'dropped': fig.dropped, 'missing_by_stamps': fig.missing, 'bytes': fig.nbytes,
        'first_stamp_ns': fig.first_ns, 'last_stamp_ns': fig.last_ns,
    }
    if spec.rate_hz <= 0:
        entry['silent'] = False
        return entry
    period = period_ns(spec)
    window_ns = max(0, (stop_ns or begin_ns) - begin_ns)
    entry['expected'] = round(window_ns / 1e9 * spec.rate_hz)
    if fig.written and fig.first_ns is not None and fig.last_ns is not None:
        lead = max(0, fig.first_ns - start_ns)  # pre-roll may predate data
        tail = max(0, stop_ns - fig.last_ns) if stop_ns else 0
        worst_gap = max(fig.max_gap_ns, lead, tail)
        entry['missing_by_stamps'] += lead // period + tail // period
        entry['max_gap_s'] = round(worst_gap / 1e9, 4)
        entry['latency_mean_ms'] = round(fig.latency_sum_ns / fig.written / 1e6, 3)
        entry['latency_max_ms'] = round(fig.latency_max_ns / 1e6, 3)
        entry['stamp_regressions'] = fig.regressions
        entry['silent'] = worst_gap > silence_ns
    else:
        entry['silent'] = True
        if stop_ns:
            entry['missing_by_stamps'] += max(0, stop_ns - start_ns) // period
    return entry
