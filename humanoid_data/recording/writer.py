"""The recorder's writer thread: pre-roll ring, open episodes, bags and episode.yaml.

It consumes, in order, what the executor thread queued: received messages and the
control items below. Every file operation of the recorder happens here.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, NamedTuple, Protocol, Sequence

from humanoid_data.bag.episode_bag import EpisodeBag
from humanoid_data.core.topics import TopicSpec
from humanoid_data.errors import BagError
from humanoid_data.recording.episode import (
    EpisodeEndInfo, EpisodeInfo, OpenEpisode, Received, SyncCheck, missing_in_gap, period_ns)
from humanoid_data.recording.queue import ByteBoundedQueue
from humanoid_data.recording.session import Session, mark_discarded, write_yaml

#: Slack kept in the pre-roll ring for streams that arrive later than others.
RING_SLACK_NS = 500_000_000


class RecorderLog(Protocol):
    """Where the recorder reports; the node passes its rclpy logger."""

    def info(self, message: str) -> Any:
        """Report progress."""

    def warning(self, message: str) -> Any:
        """Report something the operator should know now (a drop, a refused command)."""

    def error(self, message: str) -> Any:
        """Report a failure (a bag that cannot be written)."""


class StartCommand(NamedTuple):
    """Open an episode."""

    info: EpisodeInfo


class StopCommand(NamedTuple):
    """Set an episode's stop stamp; it closes once caught up."""

    episode_id: str
    end: EpisodeEndInfo


class DiscardCommand(NamedTuple):
    """Close an episode (or take a finished one) and move it aside."""

    episode_id: str
    reason: str


class DropNote(NamedTuple):
    """``count`` messages of a topic, stamped about ``stamp_ns``, never reached the writer."""

    index: int
    stamp_ns: int
    count: int = 1


class ShutdownCommand(NamedTuple):
    """Finish every episode once the queue is drained, then end the thread."""


class EpisodeWriter:
    """State owned by the writer thread; ``run`` is the thread's body."""

    def __init__(self, topics: Sequence[TopicSpec], session: Session,
                 queue: ByteBoundedQueue[object], log: RecorderLog, *,
                 preroll_ns: int, grace_ns: int, silence_ns: int,
                 extra: dict[str, str], clock: Callable[[], int],
                 sync_check: SyncCheck | None = None) -> None:
        """Prepare an empty ring and no open episode."""
        self._sync_check = sync_check
        self.topics = tuple(topics)
        self.session = session
        self.log = log
        self.clock = clock
        self.written = [0] * len(self.topics)
        #: Messages missing by stamp gaps, over the whole session (live figure).
        self.missing = [0] * len(self.topics)
        self._last_stamp = [0] * len(self.topics)
        self._periods = [period_ns(t) for t in self.topics]
        self.episodes_done = 0
        self.last_error = ''
        self._queue = queue
        self._preroll_ns = preroll_ns
        self._grace_ns = grace_ns
        self._silence_ns = silence_ns
        self._extra = extra
        self._ring: deque[Received] = deque()
        self._newest_stamp = 0
        self._open: list[OpenEpisode] = []

    def run(self) -> None:
        """Consume the queue until a shutdown command has been drained."""
        stopping = False
        while True:
            batch = self._queue.drain(timeout=0.05)
            now = self.clock()
            for item in batch:
                if isinstance(item, Received):
                    self._route(item)
                elif isinstance(item, ShutdownCommand):
                    stopping = True
                else:
                    self._control(item, now)
            self._prune_ring()
            drained = stopping and not len(self._queue)
            for episode in list(self._open):
                if drained or (not stopping and self._may_close(episode, now)):
                    self._finish(episode)
            if drained:
                return

    @staticmethod
    def _may_close(episode: OpenEpisode, now: int) -> bool:
        return episode.caught_up() or (
            episode.close_after_ns is not None and now >= episode.close_after_ns)

    def _deliver(self, episode: OpenEpisode, item: Received) -> None:
        episode.write(item)
        self.written[item.index] += 1

    def _route(self, item: Received) -> None:
        self._ring.append(item)
        index = item.index
        if self.topics[index].has_header:
            self._newest_stamp = max(self._newest_stamp, item.stamp_ns)
            if self._last_stamp[index]:
                self.missing[index] += missing_in_gap(item.stamp_ns - self._last_stamp[index],
                                                      self._periods[index])
            self._last_stamp[index] = item.stamp_ns
        for episode in self._open:
            if episode.contains(item.stamp_ns):
                self._deliver(episode, item)
            else:
                episode.note_progress(item)

    def _prune_ring(self) -> None:
        # pre-roll is measured on header stamps, like episode windows
        horizon = self._newest_stamp - self._preroll_ns - RING_SLACK_NS
        while self._ring and self._ring[0].stamp_ns < horizon:
            self._ring.popleft()

    def _control(self, item: object, now: int) -> None:
        if isinstance(item, StartCommand):
            self._open_episode(item.info)
        elif isinstance(item, StopCommand):
            for episode in self._open:
                if episode.info.episode_id == item.episode_id:
                    episode.end = item.end
                    episode.close_after_ns = now + self._grace_ns
        elif isinstance(item, DiscardCommand):
            self._discard(item.episode_id, item.reason or 'discarded by operator')
        elif isinstance(item, DropNote):
            for episode in self._open:
                if episode.contains(item.stamp_ns):
                    episode.figures[item.index].dropped += item.count

    def _open_episode(self, info: EpisodeInfo) -> None:
        path = self.session.episode_path(info.episode_id)
        try:
            bag: EpisodeBag | None = EpisodeBag(path, self.topics)
        except BagError as err:
            bag = None
            self.last_error = str(err)
            self.log.error(f'{info.episode_id}: {err}; its messages are counted as dropped')
        episode = OpenEpisode(info, bag, self.topics)
        if bag is None:
            episode.error = self.last_error
        self._open.append(episode)
        for item in self._ring:
            if episode.contains(item.stamp_ns):
                self._deliver(episode, item)
        self.log.info(f'{info.episode_id}: recording to {path}')

    def _finish(self, episode: OpenEpisode) -> None:
        self._open.remove(episode)
        data = episode.finish(self._silence_ns, self._extra, self._sync_check)
        path = self.session.episode_path(episode.info.episode_id)
        if episode.error:
            self.last_error = episode.error
            self.log.error(f'{episode.info.episode_id}: {episode.error}')
        try:
            if path.is_dir():
                write_yaml(path / 'episode.yaml', data)
            if episode.discard_reason is not None:
                self.session.move_to_discarded(episode.info.episode_id)
        except (OSError, BagError) as err:
            self.last_error = f'{path}: {err}'
            self.log.error(f'{episode.info.episode_id}: cannot finish episode: {err}')
        self.episodes_done += 1
        silent = ', '.join(data['silent_streams']) or 'none'
        self.log.info(f'{episode.info.episode_id}: closed, {data["messages"]} messages, '
                      f'{data["dropped"]} dropped, silent streams: {silent}')

    def _discard(self, episode_id: str, reason: str) -> None:
        for episode in self._open:
            if episode.info.episode_id == episode_id:
                episode.discard_reason = reason
                if episode.end is None:
                    episode.end = EpisodeEndInfo(self.clock(), 'aborted', '', reason)
                self._finish(episode)
                return
        try:
            target = self.session.move_to_discarded(episode_id)
            mark_discarded(target / 'episode.yaml', reason)
            self.log.info(f'{episode_id}: discarded ({reason}), moved to {target}')
        except (BagError, OSError) as err:
            self.log.error(f'{episode_id}: cannot discard: {err}')
