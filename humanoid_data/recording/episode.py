"""One open episode on the writer thread: its window, its bag and its per-topic figures."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from humanoid_data import __version__
from humanoid_data.bag.episode_bag import EpisodeBag
from humanoid_data.core.topics import TopicSpec
from humanoid_data.errors import BagError


#: Grades an episode: (stamps, receive times per topic, span, end) -> summary mapping.
SyncCheck = Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray], int, int],
                     dict[str, Any]]


class Received(NamedTuple):
    """A message as the executor thread received it."""

    index: int          # topic index in the recorder's topic list
    receive_ns: int     # recorder clock at the callback
    stamp_ns: int       # header stamp (events: their stamp_ns; no header: receive time)
    data: bytes


@dataclass(frozen=True)
class EpisodeInfo:
    """What the operator said when starting an episode."""

    episode_id: str
    start_ns: int
    preroll_ns: int
    task: str = ''
    instruction: str = ''
    operator: str = ''
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class EpisodeEndInfo:
    """What the operator said when ending an episode."""

    stop_ns: int
    outcome: str = ''
    failure_mode: str = ''
    note: str = ''


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
    stamps: array = field(default_factory=lambda: array('q'))     # for the sync summary
    receipts: array = field(default_factory=lambda: array('q'))

    def add(self, stamp_ns: int, receive_ns: int, nbytes: int, period_ns: int = 0) -> None:
        """Account for one written message; return the messages its stamp gap implies."""
        self.written += 1
        self.nbytes += nbytes
        self.stamps.append(stamp_ns)
        self.receipts.append(receive_ns)
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


@dataclass
class OpenEpisode:
    """An episode whose bag is open on the writer thread."""

    info: EpisodeInfo
    bag: EpisodeBag | None
    topics: Sequence[TopicSpec]
    figures: list[TopicFigures] = field(default_factory=list)
    end: EpisodeEndInfo | None = None
    close_after_ns: int | None = None     # recorder clock; set on stop
    discard_reason: str | None = None
    error: str = ''
    passed_stop: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        """One figures record per topic."""
        self.figures = [TopicFigures() for _ in self.topics]

    @property
    def begin_ns(self) -> int:
        """First stamp that belongs to the episode (pre-roll included)."""
        return self.info.start_ns - self.info.preroll_ns

    def contains(self, stamp_ns: int) -> bool:
        """Whether a message stamped ``stamp_ns`` belongs to this episode."""
        if stamp_ns < self.begin_ns:
            return False
        return self.end is None or stamp_ns <= self.end.stop_ns

    def note_progress(self, item: Received) -> None:
        """Remember that a topic has delivered a message stamped after the stop."""
        if self.end is not None and item.stamp_ns > self.end.stop_ns:
            self.passed_stop.add(item.index)

    def caught_up(self) -> bool:
        """Whether every stream that delivered in this episode has moved past the stop.

        Transport can lag (a loaded machine, a slow link), so a stop closes the episode
        only once nothing stamped before it can still be in flight, or at the grace limit.
        """
        if self.end is None:
            return False
        active = {i for i, (spec, fig) in enumerate(zip(self.topics, self.figures))
                  if spec.rate_hz > 0 and fig.written}
        return active <= self.passed_stop

    def write(self, item: Received) -> None:
        """Write one message, or count it dropped once the bag has failed."""
        if self.bag is None:
            self.figures[item.index].dropped += 1
            return
        try:
            self.bag.write(item.index, item.receive_ns, item.data)
        except BagError as err:
            self.error = str(err)
            self.figures[item.index].dropped += 1
            self._abandon_bag()
            return
        self.figures[item.index].add(item.stamp_ns, item.receive_ns, len(item.data),
                                     period_ns(self.topics[item.index]))

    def _abandon_bag(self) -> None:
        bag, self.bag = self.bag, None
        if bag is not None:
            try:
                bag.close()
            except BagError:
                pass  # the messages already in finished chunks stay readable

    def finish(self, silence_ns: int, extra: dict[str, Any],
               sync_check: SyncCheck | None = None) -> dict[str, Any]:
        """Close the bag and return the episode.yaml content.

        ``sync_check`` grades the episode's stamps and receive times; its summary goes
        under ``sync`` and a WARN or ERROR level flags the episode.
        """
        size = 0
        if self.bag is not None:
            try:
                self.bag.close()
                size = self.bag.size_bytes()
            except BagError as err:
                self.error = str(err)
            self.bag = None
        stop_ns = self.end.stop_ns if self.end else None
        topics = {}
        silent = []
        for spec, fig in zip(self.topics, self.figures):
            entry = self._topic_entry(spec, fig, stop_ns, silence_ns)
            if entry.pop('silent'):
                silent.append(spec.stream)
            topics[spec.topic] = entry
        dropped = sum(f.dropped for f in self.figures)
        missing = sum(entry['missing_by_stamps'] for entry in topics.values())
        flags = []
        if dropped:
            flags.append('drops')
        if missing:
            flags.append('stamp_gaps')
        if any(s.stream in silent and s.required for s in self.topics):
            flags.append('required_stream_silent')
        if self.error:
            flags.append('write_error')
        sync = None
        if sync_check is not None and stop_ns:
            sync = sync_check(
                {s.topic: np.frombuffer(f.stamps, np.int64) for s, f in zip(self.topics,
                                                                            self.figures)},
                {s.topic: np.frombuffer(f.receipts, np.int64) for s, f in zip(self.topics,
                                                                              self.figures)},
                stop_ns - self.begin_ns, stop_ns)
            if sync['level'] != 'OK':
                flags.append(f'sync_{sync["level"].lower()}')
        end = self.end or EpisodeEndInfo(stop_ns=0)
        return {
            'episode_id': self.info.episode_id,
            'task': self.info.task,
            'instruction': self.info.instruction,
            'operator': self.info.operator,
            'tags': list(self.info.tags),
            'outcome': end.outcome or None,
            'failure_mode': end.failure_mode or None,
            'note': end.note,
            'start_ns': self.info.start_ns,
            'stop_ns': stop_ns,
            'preroll_ns': self.info.preroll_ns,
            'duration_s': round((stop_ns - self.info.start_ns) / 1e9, 3) if stop_ns else None,
            'recorder_version': __version__,
            **extra,
            'bag': {'storage': 'mcap', 'bytes': size},
            'messages': sum(f.written for f in self.figures),
            'dropped': dropped,
            'missing_by_stamps': missing,
            'silent_streams': silent,
            'flags': flags,
            'error': self.error or None,
            'discarded': self.discard_reason,
            'sync': sync,
            'topics': topics,
        }

    def _topic_entry(self, spec: TopicSpec, fig: TopicFigures, stop_ns: int | None,
                     silence_ns: int) -> dict[str, Any]:
        entry: dict[str, Any] = {
            'stream': spec.stream, 'type': spec.msgtype, 'written': fig.written,
            'dropped': fig.dropped, 'missing_by_stamps': fig.missing, 'bytes': fig.nbytes,
            'first_stamp_ns': fig.first_ns, 'last_stamp_ns': fig.last_ns,
        }
        if spec.rate_hz <= 0:
            entry['silent'] = False
            return entry
        window_ns = (stop_ns or self.begin_ns) - self.begin_ns
        entry['expected'] = round(window_ns / 1e9 * spec.rate_hz)
        if fig.written:
            lead = max(0, fig.first_ns - self.info.start_ns)  # pre-roll may predate data
            tail = (stop_ns - fig.last_ns) if stop_ns else 0
            worst_gap = max(fig.max_gap_ns, lead, tail)
            # Messages due between the start and the first one, and between the last one
            # and the stop, never came either (or are still in flight at the close).
            period = period_ns(spec)
            entry['missing_by_stamps'] += lead // period + tail // period
            entry['max_gap_s'] = round(worst_gap / 1e9, 4)
            entry['latency_mean_ms'] = round(fig.latency_sum_ns / fig.written / 1e6, 3)
            entry['latency_max_ms'] = round(fig.latency_max_ns / 1e6, 3)
            entry['stamp_regressions'] = fig.regressions
            entry['silent'] = worst_gap > silence_ns
        else:
            entry['silent'] = True
            if stop_ns:
                entry['missing_by_stamps'] += (stop_ns - self.info.start_ns) // period_ns(spec)
        return entry
