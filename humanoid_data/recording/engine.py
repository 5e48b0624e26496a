r"""The recorder's engine: episode state, the bounded queue and the writer thread.

Data flow::

    executor thread                          writer thread
    ---------------                          -------------
    offer(index, raw CDR) --peek stamp-->  [ByteBoundedQueue] --> pre-roll ring
       refused -> counted drop, DropNote                        \--> open episodes
    start / stop / discard --state check--> control items     --> EpisodeBag (rosbags MCAP)
                                                                  episode.yaml on close

The executor thread only peeks the header stamp and appends to the queue; every file
operation happens on the writer thread, in the order the items were queued, so episode
boundaries are exact. Episode membership is by header stamp: an episode holds the
messages stamped in ``[start - preroll, stop]``; after a stop the episode stays open until
every stream has delivered a message stamped after the stop (nothing older can still be
in flight), or for ``stop_grace_s`` at most.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Protocol, Sequence

from humanoid_data.bag.episode_bag import EpisodeBag
from humanoid_data.bag.stamps import header_stamp_ns, string_payload
from humanoid_data.core.events import EpisodeEnd, EpisodeStart, Discard, EventBase, decode_event
from humanoid_data.core.settings import RecorderSettings
from humanoid_data.core.topics import TopicSpec
from humanoid_data.errors import BagError, DecodeError, EpisodeStateError, EventError
from humanoid_data.recording.episode import (
    EpisodeEndInfo, EpisodeInfo, OpenEpisode, Received)
from humanoid_data.recording.queue import ByteBoundedQueue
from humanoid_data.recording.session import Session, mark_discarded


class RecorderLog(Protocol):
    """Where the engine reports; the node passes its rclpy logger."""

    def info(self, message: str) -> Any:
        """Report progress."""

    def warning(self, message: str) -> Any:
        """Report something the operator should know now (a drop, a refused command)."""

    def error(self, message: str) -> Any:
        """Report a failure (a bag that cannot be written)."""


class _Start(NamedTuple):
    info: EpisodeInfo


class _Stop(NamedTuple):
    episode_id: str
    end: EpisodeEndInfo


class _Discard(NamedTuple):
    episode_id: str
    reason: str


class _DropNote(NamedTuple):
    index: int
    stamp_ns: int


class _Shutdown(NamedTuple):
    pass


@dataclass(frozen=True)
class RecorderSnapshot:
    """Live figures for status displays."""

    state: str
    episode_id: str
    elapsed_s: float
    received: tuple[int, ...]
    written: tuple[int, ...]
    dropped: tuple[int, ...]
    queued_bytes: int
    peak_queued_bytes: int
    episodes_done: int
    malformed_events: int
    error: str


class RecorderEngine:
    """Episode control plus the writer thread; knows nothing about ROS."""

    def __init__(self, topics: Sequence[TopicSpec], session: Session,
                 settings: RecorderSettings, log: RecorderLog, *,
                 config_digest: str = '', config_file: str = '',
                 clock: Callable[[], int] = time.time_ns) -> None:
        """Prepare the queue and start the writer thread."""
        self.topics = tuple(topics)
        self.session = session
        self.settings = settings
        self.log = log
        self.clock = clock
        self._extra = {'session': session.name, 'config_file': config_file,
                       'config_digest': config_digest}
        n = len(self.topics)
        self.received = [0] * n
        self.dropped = [0] * n
        self.written = [0] * n
        self.malformed_events = 0
        self.episodes_done = 0
        self.last_error = ''
        self._queue: ByteBoundedQueue[object] = ByteBoundedQueue(
            int(settings.queue_mib * 1024 * 1024))
        self._lock = threading.Lock()
        self._current: EpisodeInfo | None = None
        self._last_finished = ''
        self._preroll_ns = int(settings.preroll_s * 1e9)
        self._grace_ns = int(settings.stop_grace_s * 1e9)
        self._silence_ns = int(settings.silence_s * 1e9)
        self._ring: deque[Received] = deque()
        self._newest_stamp = 0
        self._open: list[OpenEpisode] = []
        self._thread = threading.Thread(target=self._run, name='episode_writer', daemon=True)
        self._thread.start()

    # -- executor thread ---------------------------------------------------------------

    def offer(self, index: int, data: bytes) -> EventBase | None:
        """Queue one received message; return it decoded if it is a valid event.

        A message the queue cannot take is counted as dropped and noted for the episode.
        """
        receive_ns = self.clock()
        self.received[index] += 1
        spec = self.topics[index]
        event = None
        try:
            if spec.has_header:
                stamp_ns = header_stamp_ns(data)
            else:
                stamp_ns = receive_ns
                event = decode_event(string_payload(data))
                stamp_ns = event.stamp_ns
        except (DecodeError, EventError) as err:
            if not spec.has_header:
                self.malformed_events += 1
                self.log.warning(f'{spec.topic}: malformed event recorded as is: {err}')
            else:
                self.log.warning(f'{spec.topic}: cannot read header stamp: {err}')
                stamp_ns = receive_ns
        if not self._queue.offer(Received(index, receive_ns, stamp_ns, data), len(data)):
            self.dropped[index] += 1
            self._queue.put_control(_DropNote(index, stamp_ns))
            self.log.warning(
                f'{spec.topic}: dropped message (writer queue full at '
                f'{self.settings.queue_mib:g} MiB), {self.dropped[index]} dropped so far')
        return event

    def count_lost(self, index: int, count: int) -> None:
        """Count messages the middleware reports lost in transport on one topic.

        Their stamps are unknown; they are attributed to the episodes open now.
        """
        if count <= 0:
            return
        self.dropped[index] += count
        stamp_ns = self.clock()
        for _ in range(count):
            self._queue.put_control(_DropNote(index, stamp_ns))
        self.log.warning(f'{self.topics[index].topic}: {count} messages lost in transport, '
                         f'{self.dropped[index]} dropped so far')

    def start_episode(self, *, stamp_ns: int | None = None, task: str = '',
                      instruction: str = '', operator: str = '',
                      tags: Sequence[str] = ()) -> str:
        """Open a new episode at ``stamp_ns`` (default: now).

        Raises:
            EpisodeStateError: An episode is already recording.

        """
        with self._lock:
            if self._current is not None:
                raise EpisodeStateError(
                    f'episode {self._current.episode_id} is already recording; '
                    'stop or discard it first')
            info = EpisodeInfo(
                self.session.next_episode_id(),
                self.clock() if stamp_ns is None else stamp_ns, self._preroll_ns,
                task or self.settings.task, instruction or self.settings.instruction,
                operator or self.settings.operator, tuple(tags))
            self._current = info
            self._queue.put_control(_Start(info))
            return info.episode_id

    def stop_episode(self, *, stamp_ns: int | None = None, outcome: str = '',
                     failure_mode: str = '', note: str = '') -> str:
        """Close the recording episode at ``stamp_ns`` (default: now).

        Raises:
            EpisodeStateError: No episode is recording.

        """
        with self._lock:
            if self._current is None:
                raise EpisodeStateError('no episode is recording')
            episode_id = self._current.episode_id
            stop = self.clock() if stamp_ns is None else stamp_ns
            self._current = None
            self._last_finished = episode_id
            self._queue.put_control(_Stop(episode_id, EpisodeEndInfo(
                stop, outcome, failure_mode, note)))
            return episode_id

    def discard_episode(self, reason: str = '') -> str:
        """Discard the recording episode, or else the last finished one.

        Raises:
            EpisodeStateError: There is nothing to discard.

        """
        with self._lock:
            if self._current is not None:
                episode_id = self._current.episode_id
                self._current = None
            elif self._last_finished:
                episode_id = self._last_finished
            else:
                raise EpisodeStateError('no episode to discard')
            self._last_finished = ''
            self._queue.put_control(_Discard(episode_id, reason))
            return episode_id

    def apply_event(self, event: EventBase) -> str:
        """Act on an episode event from the events topic; return what was done.

        Raises:
            EpisodeStateError: The event does not fit the current state.

        """
        if isinstance(event, EpisodeStart):
            episode_id = self.start_episode(
                stamp_ns=event.stamp_ns, task=event.task, instruction=event.instruction,
                operator=event.operator, tags=event.tags)
            return f'started {episode_id}'
        if isinstance(event, EpisodeEnd):
            episode_id = self.stop_episode(stamp_ns=event.stamp_ns, outcome=event.outcome.value,
                                           failure_mode=event.failure_mode, note=event.note)
            return f'stopped {episode_id}'
        if isinstance(event, Discard):
            return f'discarded {self.discard_episode(event.reason)}'
        return ''

    def snapshot(self) -> RecorderSnapshot:
        """Return live figures (read without stopping either thread)."""
        current = self._current
        return RecorderSnapshot(
            'recording' if current else 'idle', current.episode_id if current else '',
            (self.clock() - current.start_ns) / 1e9 if current else 0.0,
            tuple(self.received), tuple(self.written), tuple(self.dropped),
            self._queue.queued_bytes, self._queue.peak_bytes, self.episodes_done,
            self.malformed_events, self.last_error)

    def close(self, timeout: float | None = None) -> None:
        """Stop a recording episode, drain the queue, close every bag, join the thread."""
        with self._lock:
            recording = self._current is not None
        if recording:
            self.stop_episode(outcome='aborted', note='recorder shut down')
        self._queue.put_control(_Shutdown())
        self._thread.join(timeout)

    # -- writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while True:
            item = self._queue.get(timeout=0.05)
            now = self.clock()
            if isinstance(item, Received):
                self._route(item)
            elif isinstance(item, _Shutdown):
                stopping = True
            elif item is not None:
                self._control(item, now)
            self._ring_prune(now)
            for episode in list(self._open):
                if stopping or episode.caught_up() or (
                        episode.close_after_ns is not None and now >= episode.close_after_ns):
                    if not stopping or not len(self._queue):
                        self._finish(episode)
            if stopping and not self._open and not len(self._queue):
                return

    def _route(self, item: Received) -> None:
        self._ring.append(item)
        if self.topics[item.index].has_header:
            self._newest_stamp = max(self._newest_stamp, item.stamp_ns)
        for episode in self._open:
            if episode.contains(item.stamp_ns):
                episode.write(item)
                self.written[item.index] += 1
            else:
                episode.note_progress(item)

    def _ring_prune(self, now: int) -> None:
        # Pre-roll is measured on header stamps; half a second of slack covers streams
        # that arrive later than others.
        horizon = self._newest_stamp - self._preroll_ns - 500_000_000
        ring = self._ring
        while ring and ring[0].stamp_ns < horizon:
            ring.popleft()

    def _control(self, item: object, now: int) -> None:
        if isinstance(item, _Start):
            self._open_episode(item.info)
        elif isinstance(item, _Stop):
            for episode in self._open:
                if episode.info.episode_id == item.episode_id:
                    episode.end = item.end
                    episode.close_after_ns = now + self._grace_ns
        elif isinstance(item, _Discard):
            self._discard(item.episode_id, item.reason or 'discarded by operator')
        elif isinstance(item, _DropNote):
            for episode in self._open:
                if episode.contains(item.stamp_ns):
                    episode.figures[item.index].dropped += 1

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
                episode.write(item)
                self.written[item.index] += 1
        self.log.info(f'{info.episode_id}: recording to {path}')

    def _finish(self, episode: OpenEpisode) -> None:
        self._open.remove(episode)
        data = episode.finish(self._silence_ns, self._extra)
        path = self.session.episode_path(episode.info.episode_id)
        if episode.error:
            self.last_error = episode.error
            self.log.error(f'{episode.info.episode_id}: {episode.error}')
        try:
            if path.is_dir():
                episode.write_metadata(path, data)
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
