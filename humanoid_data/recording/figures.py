"""Per-topic figures of one episode: counts, stamp gaps, latency, what is missing.

Besides running figures, every written message's header stamp, receive time and size
are kept for the episode's sync grade at its close (and to recount after a failed
write): 24 bytes a message, 80 MB for ten minutes of the default suite. They go to an
unlinked scratch file beside the bag in blocks of ``SPILL_RECORDS`` per topic, so the
recorder's memory stays flat however long an episode runs; where the file cannot be
made or written (a full disk), they stay in memory and nothing is lost.
"""

from __future__ import annotations

import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from humanoid_data.core.topics import TopicSpec

#: Messages of one topic kept in memory before their stamps go to the scratch file.
SPILL_RECORDS = 8192
RECORD = 3          # int64 values a message: stamp, receive time, size


class SpillFile:
    """One episode's scratch file for stamp records, made on first use, gone at close."""

    def __init__(self, folder: Path | None) -> None:
        """Make the file in ``folder`` when first needed (None: keep everything in memory)."""
        self.folder = folder
        self._file: IO[bytes] | None = None
        self.failed = folder is None

    def append(self, data: bytes) -> int | None:
        """Write ``data`` at the end; its offset, or None when the file cannot take it."""
        if self.failed:
            return None
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(dir=self.folder)
            offset = self._file.seek(0, 2)
            self._file.write(data)
            return offset
        except OSError:
            self.failed = True          # full disk or no folder: stay in memory from now on
            return None

    def read(self, offset: int, size: int) -> bytes:
        """The ``size`` bytes written at ``offset``."""
        assert self._file is not None
        self._file.flush()
        self._file.seek(offset)
        return self._file.read(size)

    def close(self) -> None:
        """Remove the file (it was never linked into the folder)."""
        if self._file is not None:
            self._file.close()
            self._file = None


class StampLog:
    """(stamp, receive time, size) of every written message of one topic, in order."""

    def __init__(self, spill: SpillFile | None = None) -> None:
        """Keep blocks in ``spill`` (None: all in memory)."""
        self._spill = spill
        self._memory = array('q')              # records not in the file, in order
        self._blocks: list[tuple[int, int]] = []    # (offset, records) in the file
        self.count = 0

    def append(self, stamp_ns: int, receive_ns: int, nbytes: int) -> None:
        """Add one message's record."""
        self._memory.extend((stamp_ns, receive_ns, nbytes))
        self.count += 1
        if self._spill is not None and len(self._memory) >= SPILL_RECORDS * RECORD:
            # After a failed write the records stay in memory (still after the blocks).
            offset = self._spill.append(self._memory.tobytes())
            if offset is not None:
                self._blocks.append((offset, len(self._memory) // RECORD))
                self._memory = array('q')

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(stamps, receive times, sizes) as int64 arrays, in write order."""
        parts = [np.frombuffer(self._spill.read(offset, n * RECORD * 8), np.int64)
                 for offset, n in self._blocks] if self._spill is not None else []
        parts.append(np.frombuffer(self._memory, np.int64))
        table = np.concatenate(parts).reshape(-1, RECORD)
        return table[:, 0], table[:, 1], table[:, 2]


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
    log: StampLog = field(default_factory=StampLog)    # for the sync summary, recounts

    def add(self, stamp_ns: int, receive_ns: int, nbytes: int, period_ns: int = 0) -> None:
        """Account for one written message and the messages its stamp gap implies."""
        self.written += 1
        self.nbytes += nbytes
        self.log.append(stamp_ns, receive_ns, nbytes)
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
    stamps, receipts, sizes = fig.log.arrays()
    for stamp, receipt, size in zip(stamps[:count].tolist(), receipts[:count].tolist(),
                                    sizes[:count].tolist()):
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
