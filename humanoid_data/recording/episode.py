"""One open episode on the writer thread: its window, its bag and its episode.yaml content."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from humanoid_data import __version__
from humanoid_data.bag.episode_bag import EpisodeBag
from humanoid_data.core.topics import TopicSpec
from humanoid_data.errors import BagError
from humanoid_data.recording.figures import (
    SpillFile, StampLog, TopicFigures, keep_first, period_ns, topic_entry)

#: Grades an episode: (stamps, receive times per topic, span, end) -> summary mapping.
SyncCheck = Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray], int, int],
                     dict[str, Any]]


class Received(NamedTuple):
    """A message as the executor thread received it."""

    topic_index: int    # in the recorder's topic list
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
    episode_uuid: str = ''


@dataclass(frozen=True)
class EpisodeEndInfo:
    """What the operator said when ending an episode."""

    stop_ns: int
    outcome: str = ''
    failure_mode: str = ''
    note: str = ''


@dataclass
class OpenEpisode:
    """An episode whose bag is open on the writer thread."""

    info: EpisodeInfo
    bag: EpisodeBag | None
    topics: Sequence[TopicSpec]
    figures: list[TopicFigures] = field(default_factory=list)
    end: EpisodeEndInfo | None = None
    close_after_ns: int | None = None     # recorder clock; set on stop
    stop_seen_receive_ns: int = 0         # newest receive time queued before the stop
    discard_reason: str | None = None
    error: str = ''
    passed_stop: set[int] = field(default_factory=set)
    newest_ns: int | None = None          # newest stamp written into the bag
    stop_requested_ns: int | None = None  # set when the stop came after later messages
    #: Latched messages received before the window, repeated at the open (episode.yaml).
    repeated: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        """One figures record per topic, their stamp records spilled beside the bag."""
        self.spill = SpillFile(self.bag.path if self.bag is not None else None)
        self.figures = [TopicFigures(log=StampLog(self.spill)) for _ in self.topics]

    @property
    def begin_ns(self) -> int:
        """First stamp that belongs to the episode (pre-roll included)."""
        return self.info.start_ns - self.info.preroll_ns

    def contains(self, stamp_ns: int) -> bool:
        """Whether a message stamped ``stamp_ns`` belongs to this episode."""
        if stamp_ns < self.begin_ns:
            return False
        return self.end is None or stamp_ns <= self.end.stop_ns

    def set_end(self, end: EpisodeEndInfo) -> None:
        """Set the stop; a stop older than messages already written moves to the newest.

        The writer holds messages back for a moment so a stop that arrives a little late
        still cuts the episode exactly; a stop later than that cannot take back what the
        bag holds, so the episode ends at its newest message, and episode.yaml keeps the
        requested stop and the ``late_stop`` flag.
        """
        if self.newest_ns is not None and end.stop_ns < self.newest_ns:
            self.stop_requested_ns = end.stop_ns
            end = replace(end, stop_ns=self.newest_ns)
        self.end = end

    def note_progress(self, item: Received) -> None:
        """Remember that a topic has delivered a message stamped after the stop."""
        if self.end is not None and item.stamp_ns > self.end.stop_ns:
            self.passed_stop.add(item.topic_index)

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

    def write(self, item: Received) -> bool:
        """Write one message; False when the bag failed (the error is kept, it counts dropped)."""
        if self.bag is None:
            self.figures[item.topic_index].dropped += 1
            return False
        try:
            self.bag.write(item.topic_index, item.receive_ns, item.data)
        except BagError as err:
            self._fail(str(err))
            self.figures[item.topic_index].dropped += 1
            return False
        index = item.topic_index
        self.figures[index].add(item.stamp_ns, item.receive_ns, len(item.data),
                                period_ns(self.topics[index]))
        if self.newest_ns is None or item.stamp_ns > self.newest_ns:
            self.newest_ns = item.stamp_ns
        return True

    def repeat(self, item: Received) -> bool:
        """Write a latched message received before the window, at its receive time.

        It is the newest of its topic when the episode opened, repeated so that every
        bag holds it; it is listed in ``repeated_latched``, not counted as ``written``
        (it was received once, perhaps by an earlier episode) and not graded.
        False when the bag failed.
        """
        if self.bag is None:
            return False
        try:
            self.bag.write(item.topic_index, item.receive_ns, item.data)
        except BagError as err:
            self._fail(str(err))
            return False
        self.repeated.append({'topic': self.topics[item.topic_index].topic,
                              'log_time_ns': item.receive_ns, 'stamp_ns': item.stamp_ns})
        return True

    def flush(self, sync: bool) -> bool:
        """Put the open chunk on disk; False when the disk refused it."""
        if self.bag is None:
            return False
        try:
            self.bag.flush(sync)
        except BagError as err:
            self._fail(str(err))
            return False
        return True

    def _fail(self, error: str) -> None:
        self.error = self.error or error

    def _close_bag(self, sync: bool) -> int:
        if self.bag is None:
            return 0
        bag, self.bag = self.bag, None
        try:
            bag.close(sync)
        except BagError as err:
            self._fail(str(err))
        if bag.failed:    # the chunk being written was lost: say what the file holds
            self.figures = [keep_first(fig, count, period_ns(spec)) for fig, count, spec
                            in zip(self.figures, bag.counts, self.topics)]
        try:
            return bag.size_bytes()
        except OSError:
            return 0

    def header(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        """The fields episode.yaml has from the moment the episode opens."""
        return {
            'state': 'recording',
            'episode_id': self.info.episode_id,
            'episode_uuid': self.info.episode_uuid,
            'task': self.info.task,
            'instruction': self.info.instruction,
            'operator': self.info.operator,
            'tags': list(self.info.tags),
            'start_ns': self.info.start_ns,
            'preroll_ns': self.info.preroll_ns,
            'recorder_version': __version__,
            **extra,
        }

    def progress(self, extra: Mapping[str, Any], received_until_ns: int, now_ns: int
                 ) -> dict[str, Any]:
        """The in-progress episode.yaml: the header and what is safely on disk so far."""
        return {**self.header(extra), 'progress': {
            'written_until_ns': self.newest_ns, 'received_until_ns': received_until_ns,
            'messages': sum(f.written for f in self.figures), 'updated_ns': now_ns}}

    def finish(self, silence_ns: int, extra: Mapping[str, Any],
               sync_check: SyncCheck | None = None, sync: bool = True) -> dict[str, Any]:
        """Close the bag and return the final episode.yaml content.

        ``sync_check`` grades the episode's stamps and receive times; its summary goes
        under ``sync`` and a WARN or ERROR level flags the episode.
        """
        size = self._close_bag(sync)
        stop_ns = self.end.stop_ns if self.end else None
        topics = {}
        silent = []
        for spec, fig in zip(self.topics, self.figures):
            entry = topic_entry(spec, fig, self.info.start_ns, self.begin_ns, stop_ns,
                                silence_ns)
            if entry.pop('silent'):
                silent.append(spec.stream)
            topics[spec.topic] = entry
        dropped = sum(f.dropped for f in self.figures)
        missing = sum(entry['missing_by_stamps'] for entry in topics.values())
        try:
            sync_summary = self._grade(sync_check, stop_ns)
        finally:
            self.spill.close()
        end = self.end or EpisodeEndInfo(stop_ns=0)
        return {
            **self.header(extra),
            'state': 'complete',
            'outcome': end.outcome or None,
            'failure_mode': end.failure_mode or None,
            'note': end.note,
            'stop_ns': stop_ns,
            'stop_requested_ns': self.stop_requested_ns,
            'duration_s': round((stop_ns - self.info.start_ns) / 1e9, 3) if stop_ns else None,
            'bag': {'storage': 'mcap', 'bytes': size},
            'messages': sum(f.written for f in self.figures),
            'dropped': dropped,
            'missing_by_stamps': missing,
            'silent_streams': silent,
            'flags': self._flags(dropped, missing, silent, sync_summary),
            'error': self.error or None,
            'discarded': self.discard_reason,
            'sync': sync_summary,
            'repeated_latched': self.repeated,
            'topics': topics,
        }

    def _grade(self, sync_check: SyncCheck | None, stop_ns: int | None
               ) -> dict[str, Any] | None:
        if sync_check is None or not stop_ns:
            return None
        logs = {s.topic: f.log.arrays() for s, f in zip(self.topics, self.figures)}
        return sync_check({topic: log[0] for topic, log in logs.items()},
                          {topic: log[1] for topic, log in logs.items()},
                          stop_ns - self.begin_ns, stop_ns)

    def _flags(self, dropped: int, missing: int, silent: list[str],
               sync: dict[str, Any] | None) -> list[str]:
        flags = []
        if dropped:
            flags.append('drops')
        if missing:
            flags.append('stamp_gaps')
        if any(s.stream in silent and s.required for s in self.topics):
            flags.append('required_stream_silent')
        if self.error:
            flags.append('write_error')
        if self.stop_requested_ns is not None:
            flags.append('late_stop')
        if sync is not None and sync['level'] != 'OK':
            flags.append(f'sync_{sync["level"].lower()}')
        return flags
