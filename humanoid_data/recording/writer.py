r"""The recorder's writer thread: hold, pre-roll ring, open episodes, bags and episode.yaml.

It consumes, in order, what the executor thread queued: received messages and the
control items below. Every file operation of the recorder happens here::

    queue --> held for hold_ns (a late stop still cuts exactly) --> ring (pre-roll)
                                                                 \\-> open episodes -> bags
    every flush period: chunks to disk, episode.yaml progress, disk reading

The thread never dies of an error: an exception while handling an item closes the open
episodes with the error written into their episode.yaml, reports it, and recording goes
on with the next item. A write that fails (a full disk) closes its episode at once with
what was written kept readable.
"""

from __future__ import annotations

import threading
import traceback
from collections import deque
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Any, Callable, NamedTuple, Protocol, Sequence

from humanoid_data.bag.episode_bag import Compression, EpisodeBag
from humanoid_data.bag.tf_cdr import MSGTYPE as TF_MSGTYPE
from humanoid_data.bag.tf_cdr import TfDecoder
from humanoid_data.core.topics import TopicSpec
from humanoid_data.errors import BagError, DecodeError
from humanoid_data.recording.disk import DiskWatch
from humanoid_data.recording.episode import (
    EpisodeEndInfo, EpisodeInfo, OpenEpisode, Received, SyncCheck)
from humanoid_data.recording.figures import missing_in_gap, period_ns
from humanoid_data.recording.queue import ByteBoundedQueue
from humanoid_data.recording.session import Session, update_episode_yaml, write_yaml

#: Slack kept in the pre-roll ring for streams that arrive later than others.
RING_SLACK_NS = 500_000_000


def latched_key(msgtype: str, data: bytes) -> object:
    """Which earlier latched message a new one replaces.

    A TFMessage replaces the one with the same child frames (each /tf_static publisher
    latches its own mounts); any other type replaces the topic's previous message. Bytes
    that do not decode are kept under the topic's own key, never dropped.
    """
    if msgtype != TF_MSGTYPE:
        return None
    try:
        edges = TfDecoder().decode(data).edges
    except DecodeError:
        return None
    return frozenset(child for _, child in edges)


class LiveSyncSink(Protocol):
    """Takes every message's stamps in the writer thread (``monitors.sync.LiveSync``)."""

    def add(self, index: int, stamp_ns: int, receive_ns: int) -> None:
        """Note one message of topic ``index``."""

    def tick(self, now_ns: int) -> None:
        """Called once per batch taken from the queue."""


class FsyncPolicy(str, Enum):
    """When the recorder asks the disk to make written data durable (power loss)."""

    NEVER = 'never'     # the OS writes back on its own; a killed process loses nothing
    CLOSE = 'close'     # when an episode closes
    FLUSH = 'flush'     # after every flush period: a power cut loses at most one period


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


class OutcomeCommand(NamedTuple):
    """Name how an episode went after its stop (a failure mode chosen later)."""

    episode_id: str
    outcome: str
    failure_mode: str
    note: str


class DiscardCommand(NamedTuple):
    """Close an episode (or take a finished one) and move it aside."""

    episode_id: str
    reason: str


class DropNote(NamedTuple):
    """``messages`` of a topic, stamped about ``stamp_ns``, never reached the writer."""

    topic_index: int
    stamp_ns: int
    messages: int = 1


class ShutdownCommand(NamedTuple):
    """Finish every episode once the queue is drained, then end the thread."""


class Barrier(NamedTuple):
    """Set ``done`` once a loop that began at or after ``at_ns`` has released and closed."""

    at_ns: int
    done: threading.Event


class WriterOptions(NamedTuple):
    """How the writer treats time and files (from the recorder settings)."""

    preroll_ns: int
    grace_ns: int
    silence_ns: int
    hold_ns: int
    flush_ns: int
    fsync: FsyncPolicy = FsyncPolicy.CLOSE
    compression: Compression = Compression.NONE


class EpisodeWriter:
    """State owned by the writer thread; ``run`` is the thread's body."""

    def __init__(self, topics: Sequence[TopicSpec], session: Session,
                 queue: ByteBoundedQueue[object], log: RecorderLog, options: WriterOptions,
                 *, extra: dict[str, str], clock: Callable[[], int], disk: DiskWatch,
                 sync_check: SyncCheck | None = None,
                 live_sync: LiveSyncSink | None = None,
                 on_closed: Callable[[str, str], None] = lambda episode_id, error: None
                 ) -> None:
        """Prepare an empty ring and no open episode."""
        self.topics = tuple(topics)
        self.session = session
        self.log = log
        self.options = options
        self.clock = clock
        self.disk = disk
        self.written = [0] * len(self.topics)
        #: Messages missing by stamp gaps, over the whole session (live figure).
        self.missing = [0] * len(self.topics)
        self.episodes_done = 0
        self.last_error = ''
        self.alive_ns = clock()           # recorder clock at the last loop
        self.bytes_written = 0
        self._last_stamp = [0] * len(self.topics)
        self._periods = [period_ns(t) for t in self.topics]
        self._queue = queue
        self._extra = extra
        self._sync_check = sync_check
        self._live_sync = live_sync
        self._on_closed = on_closed
        self._held: deque[Received] = deque()
        self._ring: deque[Received] = deque()
        self._newest_stamp = 0
        self._newest_receive_ns = 0
        self._newest_taken_ns = 0         # newest header stamp taken from the queue
        self._barriers: list[Barrier] = []
        self._open: list[OpenEpisode] = []
        self._last_flush_ns = self.alive_ns
        #: Newest latched messages by topic index, idle or recording: one per topic, but
        #: one per set of child frames on a TFMessage topic (/tf_static has a publisher
        #: per driver, each latching its own mounts).
        self._latched: dict[int, dict[object, Received]] = {}

    def run(self) -> None:
        """Consume the queue until a shutdown command has been drained."""
        stopping = False
        while True:
            # The clock is read before the queue: whatever was received before ``now`` is
            # in this batch or an earlier one, so held messages released below can never
            # overtake a stop received before them plus the hold.
            now = self.clock()
            batch = self._queue.drain(timeout=0.05)
            self.alive_ns = now
            for item in batch:
                try:
                    stopping = self._take(item, now) or stopping
                except Exception as err:  # a bug must not stop recording
                    self._recover(err)
            if self._live_sync is not None:
                try:
                    # Behind a backlog, grade as of the newest message taken: streams
                    # still queued are late, not silent.
                    self._live_sync.tick(self._newest_receive_ns if len(self._queue) else now)
                except Exception as err:  # live figures must not stop recording
                    self._recover(err)
            drained = stopping and not len(self._queue)
            try:
                # With a backlog, later commands may wait in the queue: hold against the
                # newest message taken, not the clock.
                base = self._newest_receive_ns if len(self._queue) else now
                self._release(base, everything=drained)
                self._tick(now)
                for episode in list(self._open):
                    if drained or (not stopping and self._may_close(episode, now)):
                        self._finish(episode)
            except Exception as err:  # a bug must not stop recording
                self._recover(err)
            self._pass_barriers(now)
            if drained:
                return

    def _pass_barriers(self, now: int) -> None:
        waiting = []
        for barrier in self._barriers:
            if barrier.at_ns <= now:
                barrier.done.set()
            else:
                waiting.append(barrier)
        self._barriers = waiting

    def _take(self, item: object, now: int) -> bool:
        if isinstance(item, Received):
            self._held.append(item)
            if self.topics[item.topic_index].latched:
                # Kept at intake, not after the hold: an episode opening now must repeat
                # a latched message that is still held but stamped before its window.
                key = latched_key(self.topics[item.topic_index].msgtype, item.data)
                self._latched.setdefault(item.topic_index, {})[key] = item
            self._newest_receive_ns = max(self._newest_receive_ns, item.receive_ns)
            if self.topics[item.topic_index].has_header:
                self._newest_taken_ns = max(self._newest_taken_ns, item.stamp_ns)
                if self._live_sync is not None:
                    self._live_sync.add(item.topic_index, item.stamp_ns, item.receive_ns)
        elif isinstance(item, ShutdownCommand):
            return True
        elif isinstance(item, Barrier):
            self._barriers.append(item)
        else:
            self._control(item, now)
        return False

    def _release(self, now: int, everything: bool) -> None:
        """Route held messages received at least ``hold_ns`` before ``now`` (all: stopping)."""
        horizon = now - self.options.hold_ns
        held = self._held
        while held and (everything or held[0].receive_ns <= horizon):
            self._route(held.popleft())
        self._prune_ring()

    def _may_close(self, episode: OpenEpisode, now: int) -> bool:
        # Not while messages received before the stop are still held back.
        if self._held and self._held[0].receive_ns <= episode.stop_seen_receive_ns:
            return False
        return episode.caught_up() or (
            episode.close_after_ns is not None and now >= episode.close_after_ns)

    def _route(self, item: Received) -> None:
        self._ring.append(item)
        index = item.topic_index
        if self.topics[index].has_header:
            self._newest_stamp = max(self._newest_stamp, item.stamp_ns)
            if self._last_stamp[index]:
                self.missing[index] += missing_in_gap(item.stamp_ns - self._last_stamp[index],
                                                      self._periods[index])
            self._last_stamp[index] = item.stamp_ns
        for episode in list(self._open):
            if episode.contains(item.stamp_ns):
                self._deliver(episode, item)
            else:
                episode.note_progress(item)

    def _deliver(self, episode: OpenEpisode, item: Received) -> None:
        if episode.write(item):
            self.written[item.topic_index] += 1
            self.bytes_written += len(item.data)
        elif episode.error:
            self._close_failed(episode)

    def _prune_ring(self) -> None:
        # pre-roll is measured on header stamps, like episode windows
        horizon = self._newest_stamp - self.options.preroll_ns - RING_SLACK_NS
        while self._ring and self._ring[0].stamp_ns < horizon:
            self._ring.popleft()

    def _tick(self, now: int) -> None:
        """Flush period: chunks to disk, progress in episode.yaml; a disk reading."""
        status = self.disk.sample(now, self.bytes_written, bool(self._open))
        if status is not None and status.level:
            self.log.warning(status.message)
        if now - self._last_flush_ns < self.options.flush_ns:
            return
        self._last_flush_ns = now
        sync = self.options.fsync == FsyncPolicy.FLUSH
        for episode in list(self._open):
            if not episode.flush(sync):
                self._close_failed(episode)
                continue
            self._write_progress(episode, now)

    def _write_progress(self, episode: OpenEpisode, now: int) -> None:
        path = self.session.episode_path(episode.info.episode_id) / 'episode.yaml'
        try:
            write_yaml(path, episode.progress(self._extra, self._newest_taken_ns, now))
        except OSError as err:
            episode.error = episode.error or f'{path}: cannot write: {err.strerror or err}'
            self._close_failed(episode)

    def _control(self, item: object, now: int) -> None:
        if isinstance(item, StartCommand):
            self._open_episode(item.info)
        elif isinstance(item, StopCommand):
            for episode in self._open:
                if episode.info.episode_id == item.episode_id:
                    episode.set_end(item.end)
                    episode.close_after_ns = now + self.options.grace_ns
                    episode.stop_seen_receive_ns = self._newest_receive_ns
                    if episode.stop_requested_ns is not None:
                        late_s = (episode.newest_ns or 0) - item.end.stop_ns
                        self.log.warning(
                            f'{item.episode_id}: the stop came after messages stamped later '
                            f'were written; the episode ends at its newest message, '
                            f'{late_s / 1e9:.3f} s after the requested stop (flag late_stop)')
        elif isinstance(item, OutcomeCommand):
            self._set_outcome(item)
        elif isinstance(item, DiscardCommand):
            self._discard(item.episode_id, item.reason or 'discarded by operator')
        elif isinstance(item, DropNote):
            for episode in self._open:
                if episode.contains(item.stamp_ns):
                    episode.figures[item.topic_index].dropped += item.messages

    def _open_episode(self, info: EpisodeInfo) -> None:
        path = self.session.episode_path(info.episode_id)
        try:
            bag: EpisodeBag | None = EpisodeBag(path, self.topics,
                                                compression=self.options.compression)
        except BagError as err:
            bag = None
            error = str(err)
        episode = OpenEpisode(info, bag, self.topics)
        self._open.append(episode)
        if bag is None:
            episode.error = error
            self._close_failed(episode)
            return
        self._write_progress(episode, self.clock())
        self._repeat_latched(episode)
        if episode in self._open:
            for item in self._ring:
                if episode.contains(item.stamp_ns):
                    self._deliver(episode, item)
            self.log.info(f'{info.episode_id}: recording to {path}')

    def _repeat_latched(self, episode: OpenEpisode) -> None:
        """Write the newest latched messages first, unless the window holds them anyway.

        A latched topic is published once (TRANSIENT_LOCAL); each episode opens a new bag,
        which would miss it. Stamped inside the window, the message reaches the episode
        from the pre-roll ring or the hold like any other; stamped before, it is written
        here at its original receive time, before the episode's start.
        """
        for index in sorted(self._latched):
            for item in sorted(self._latched[index].values(), key=lambda i: i.receive_ns):
                if episode not in self._open:
                    return
                if item.stamp_ns >= episode.begin_ns:
                    continue
                if episode.repeat(item):
                    self.bytes_written += len(item.data)
                elif episode.error:
                    self._close_failed(episode)

    def _close_failed(self, episode: OpenEpisode) -> None:
        """Close an episode whose bag failed, keeping what is on disk readable."""
        if episode not in self._open:
            return
        # Whatever the cause, the reserve makes room for the index and the metadata.
        self.disk.release_reserve()
        if episode.end is None:
            episode.end = EpisodeEndInfo(self.clock(), 'aborted', '',
                                         f'closed early: {episode.error}')
        self._finish(episode)
        # A fresh reading, so the next start is judged on the disk as it is now.
        self.disk.sample(self.clock(), self.bytes_written, bool(self._open), force=True)

    def _finish(self, episode: OpenEpisode) -> None:
        self._open.remove(episode)
        sync = self.options.fsync != FsyncPolicy.NEVER
        data = episode.finish(self.options.silence_ns, self._extra, self._sync_check, sync)
        episode_id = episode.info.episode_id
        path = self.session.episode_path(episode_id)
        try:
            if path.is_dir():
                self._write_final(path / 'episode.yaml', data, sync)
            if episode.discard_reason is not None:
                self.session.move_to_discarded(episode_id)
        except (OSError, BagError) as err:
            episode.error = episode.error or f'{path}: cannot finish episode: {err}'
        self.episodes_done += 1
        if episode.error:
            self.last_error = f'{episode_id}: {episode.error}'
            self.log.error(f'{episode_id}: closed early or incomplete: {episode.error}')
        else:
            self.last_error = ''     # the next good episode clears the status
        silent = ', '.join(data['silent_streams']) or 'none'
        self.log.info(f'{episode_id}: closed, {data["messages"]} messages, '
                      f'{data["dropped"]} dropped, silent streams: {silent}')
        self._on_closed(episode_id, episode.error)

    def _write_final(self, path: Path, data: dict[str, Any], durable: bool) -> None:
        """The closing episode.yaml; on a full disk the reserve makes room for it."""
        try:
            write_yaml(path, data, durable)
        except OSError:
            self.disk.release_reserve()
            write_yaml(path, data, durable)

    def _set_outcome(self, item: OutcomeCommand) -> None:
        for episode in self._open:
            if episode.info.episode_id == item.episode_id and episode.end is not None:
                episode.end = replace(episode.end, outcome=item.outcome or episode.end.outcome,
                                      failure_mode=item.failure_mode,
                                      note=item.note or episode.end.note)
                return
        fields = {'outcome': item.outcome, 'failure_mode': item.failure_mode or None}
        if item.note:
            fields['note'] = item.note
        try:
            update_episode_yaml(self.session.find_episode(item.episode_id), fields)
        except (BagError, OSError) as err:
            self.log.error(f'{item.episode_id}: cannot record its outcome: {err}')

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
            update_episode_yaml(target, {'discarded': reason})
            self.log.info(f'{episode_id}: discarded ({reason}), moved to {target}')
        except (BagError, OSError) as err:
            self.log.error(f'{episode_id}: cannot discard: {err}')

    def _recover(self, err: Exception) -> None:
        """After an unexpected error: close the open episodes with it, report, go on."""
        error = f'recorder error ({type(err).__name__}: {err})'
        try:
            self.log.error(f'{error}; open episodes are closed with it, recording goes on\n'
                           + ''.join(traceback.format_exception(err)))
            for episode in list(self._open):
                episode.error = episode.error or error
                try:
                    self._finish(episode)
                except Exception:  # the episode is lost from memory, its files stay
                    if episode in self._open:
                        self._open.remove(episode)
                    self._on_closed(episode.info.episode_id, error)
        finally:
            self.last_error = error

    @property
    def open_ids(self) -> list[str]:
        """Episodes whose bags are open now."""
        return [e.info.episode_id for e in self._open]
