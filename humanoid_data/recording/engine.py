r"""The recorder's engine: episode control on the executor thread, feeding the writer thread.

Data flow::

    executor thread                          writer thread
    ---------------                          -------------
    offer(index, raw CDR) --peek stamp-->  [ByteBoundedQueue] --> hold --> pre-roll ring
       refused -> counted drop, DropNote                                \--> open episodes
    start / stop / outcome / discard       control items        --> EpisodeBag (mcap, CRCs)
       --state and disk check-->                                    episode.yaml from open

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
import uuid
from dataclasses import dataclass
from typing import Callable, Sequence

from humanoid_data.bag.episode_bag import Compression
from humanoid_data.bag.episode_state import repair_command
from humanoid_data.bag.stamps import header_stamp_ns, string_payload
from humanoid_data.core.events import (
    Discard, EpisodeEnd, EpisodeOutcome, EpisodeStart, EventBase, decode_event)
from humanoid_data.core.settings import RecorderSettings
from humanoid_data.core.topics import TopicSpec
from humanoid_data.errors import DecodeError, EpisodeStateError, EventError
from humanoid_data.recording.disk import DiskStatus, DiskWatch
from humanoid_data.recording.episode import EpisodeEndInfo, EpisodeInfo, Received, SyncCheck
from humanoid_data.recording.queue import ByteBoundedQueue
from humanoid_data.recording.session import Session
from humanoid_data.recording.writer import (
    Barrier, DiscardCommand, DropNote, EpisodeWriter, FsyncPolicy, LiveSyncSink, OutcomeCommand,
    RecorderLog, ShutdownCommand, StartCommand, StopCommand, WriterOptions)

__all__ = ['RecorderEngine', 'RecorderLog', 'RecorderSnapshot']


@dataclass(frozen=True)
class RecorderSnapshot:
    """Live figures for status displays."""

    state: str
    episode_id: str
    elapsed_s: float
    received: tuple[int, ...]
    written: tuple[int, ...]
    dropped: tuple[int, ...]
    missing: tuple[int, ...]     # by header-stamp gaps
    queued_bytes: int
    peak_queued_bytes: int
    episodes_done: int
    malformed_events: int
    error: str
    disk: DiskStatus
    unfinished: tuple[str, ...] = ()     # episode folders a stopped recorder left behind


#: Drop and loss warnings of one topic are logged at most this often (the first at once);
#: every drop is still counted live on /diagnostics and in episode.yaml. One log line per
#: dropped message made an overloaded recorder spend its time logging.
DROP_LOG_PERIOD_S = 1.0


class RecorderEngine:
    """Episode control plus the writer thread; knows nothing about ROS."""

    def __init__(self, topics: Sequence[TopicSpec], session: Session,
                 settings: RecorderSettings, log: RecorderLog, *,
                 config_digest: str = '', config_file: str = '', taxonomy: str = '',
                 sync_check: SyncCheck | None = None,
                 live_sync: LiveSyncSink | None = None,
                 clock: Callable[[], int] = time.time_ns) -> None:
        """Prepare the queue and start the writer thread."""
        self.topics = tuple(topics)
        self.session = session
        self.settings = settings
        self.log = log
        self.clock = clock
        n = len(self.topics)
        self.received = [0] * n
        self.dropped = [0] * n
        self.lost = [0] * n
        self._drop_logged = [-DROP_LOG_PERIOD_S] * n     # monotonic time of the last line
        self._sequences: dict[tuple[int, bytes], int] = {}
        self.malformed_events = 0
        self._queue: ByteBoundedQueue[object] = ByteBoundedQueue(
            int(settings.queue_mib * 1024 * 1024))
        self._lock = threading.Lock()
        self._current: EpisodeInfo | None = None
        self._last_finished = ''
        self._preroll_ns = int(settings.preroll_s * 1e9)
        self.disk = DiskWatch(session.path, settings.disk_warn_minutes,
                              int(settings.disk_min_free_mib * 2**20),
                              int(settings.disk_reserve_mib * 2**20))
        options = WriterOptions(
            preroll_ns=self._preroll_ns, grace_ns=int(settings.stop_grace_s * 1e9),
            silence_ns=int(settings.silence_s * 1e9), hold_ns=int(settings.stop_hold_s * 1e9),
            flush_ns=int(settings.flush_period_s * 1e9), fsync=FsyncPolicy(settings.fsync),
            compression=Compression(settings.compression or 'none'))
        self.writer = EpisodeWriter(
            self.topics, session, self._queue, log, options,
            extra={'session': session.name, 'config_file': config_file,
                   'config_digest': config_digest, 'taxonomy': taxonomy},
            clock=clock, disk=self.disk, sync_check=sync_check, live_sync=live_sync,
            on_closed=self._closed)
        self.unfinished = tuple(str(p) for p in session.unfinished_episodes())
        for path in self.unfinished:
            log.warning(f'{path}: unfinished episode left by a recorder that stopped; make '
                        f'it readable with: {repair_command(path)}')
        self._thread = threading.Thread(target=self.writer.run, name='episode_writer',
                                        daemon=True)
        self._thread.start()

    def _closed(self, episode_id: str, error: str) -> None:
        """The writer closed an episode (writer thread); an early close ends it here too."""
        with self._lock:
            if self._current is not None and self._current.episode_id == episode_id:
                self._current = None
                self._last_finished = episode_id

    @property
    def written(self) -> list[int]:
        """Messages written per topic (a message in two overlapping episodes counts twice)."""
        return self.writer.written

    # -- executor thread ---------------------------------------------------------------

    def offer(self, index: int, data: bytes, sequence: int | None = None,
              publisher: bytes = b'') -> EventBase | None:
        """Queue one received message; return it decoded if it is a valid event.

        A message the queue cannot take is counted as dropped and noted for the episode.
        ``sequence`` is the publisher's sequence number of the message (from the
        middleware's message info) and ``publisher`` its writer id: a jump in the sequence
        of one publisher means messages were lost between it and us (a reader history
        overwritten, a best-effort sample not delivered), and they are counted as drops.
        """
        receive_ns = self.clock()
        self.received[index] += 1
        spec = self.topics[index]
        event = None
        stamp_ns = receive_ns   # when the stamp cannot be read, and for headerless streams
        try:
            if spec.has_header:
                stamp_ns = header_stamp_ns(data, spec.stamp_offset)
            elif spec.is_events:
                event = decode_event(string_payload(data))
                stamp_ns = event.stamp_ns
        except (DecodeError, EventError) as err:
            if spec.has_header:
                self.log.warning(f'{spec.topic}: cannot read header stamp: {err}')
            else:
                self.malformed_events += 1
                self.log.warning(f'{spec.topic}: malformed event recorded as is: {err}')
        if sequence is not None:
            self._check_sequence(index, publisher, sequence, stamp_ns)
        if not self._queue.offer(Received(index, receive_ns, stamp_ns, data), len(data)):
            self.dropped[index] += 1
            self._queue.put_control(DropNote(index, stamp_ns))
            self._warn_drop(index, f'{spec.topic}: dropped message (writer queue full at '
                            f'{self.settings.queue_mib:g} MiB), {self.dropped[index]} '
                            'dropped so far')
        return event

    def _warn_drop(self, index: int, message: str) -> None:
        now = time.monotonic()
        if now - self._drop_logged[index] >= DROP_LOG_PERIOD_S:
            self._drop_logged[index] = now
            self.log.warning(message)

    def _check_sequence(self, index: int, publisher: bytes, sequence: int,
                        stamp_ns: int) -> None:
        key = (index, publisher)
        last = self._sequences.get(key)
        self._sequences[key] = sequence
        if last is not None and sequence > last + 1:
            # Stamped between the previous message and this one: the episode holding
            # this message is the one that lost them.
            self.count_lost(index, sequence - last - 1, stamp_ns)

    def count_lost(self, index: int, count: int, stamp_ns: int | None = None) -> None:
        """Count messages lost in transport on one topic.

        ``stamp_ns`` is about when they were stamped; without it they are attributed to
        the episodes open now.
        """
        if count <= 0:
            return
        self.dropped[index] += count
        self.lost[index] += count
        stamp_ns = self.clock() if stamp_ns is None else stamp_ns
        self._queue.put_control(DropNote(index, stamp_ns, count))
        self._warn_drop(index, f'{self.topics[index].topic}: {count} messages lost in '
                        f'transport, {self.dropped[index]} dropped so far')

    def start_episode(self, *, stamp_ns: int | None = None, task: str = '',
                      instruction: str = '', operator: str = '',
                      tags: Sequence[str] = ()) -> str:
        """Open a new episode at ``stamp_ns`` (default: now).

        Raises:
            EpisodeStateError: An episode is already recording, or the disk has too
                little room (the message says how much and which parameter).

        """
        with self._lock:
            if self._current is not None:
                raise EpisodeStateError(
                    f'episode {self._current.episode_id} is already recording; '
                    'stop or discard it first')
            refusal = self.disk.refusal()
            if refusal:
                raise EpisodeStateError(refusal)
            info = EpisodeInfo(
                self.session.next_episode_id(),
                self.clock() if stamp_ns is None else stamp_ns, self._preroll_ns,
                task or self.settings.task, instruction or self.settings.instruction,
                operator or self.settings.operator, tuple(tags), str(uuid.uuid4()))
            self._current = info
            self._queue.put_control(StartCommand(info))
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
            self._queue.put_control(StopCommand(episode_id, EpisodeEndInfo(
                stop, outcome, failure_mode, note)))
            return episode_id

    def set_outcome(self, *, outcome: str, failure_mode: str = '', note: str = '') -> str:
        """Name how the last episode went (a failure mode chosen after the stop).

        Raises:
            EpisodeStateError: No episode has ended since the recorder started.

        """
        with self._lock:
            episode_id = self._last_finished
            if self._current is not None or not episode_id:
                raise EpisodeStateError('an outcome names the episode that just ended; '
                                        'none has ended')
            self._queue.put_control(OutcomeCommand(episode_id, outcome, failure_mode, note))
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
            self._queue.put_control(DiscardCommand(episode_id, reason))
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
        if isinstance(event, EpisodeOutcome):
            episode_id = self.set_outcome(outcome=event.outcome.value,
                                          failure_mode=event.failure_mode, note=event.note)
            return f'outcome of {episode_id}: {event.outcome.value} {event.failure_mode}'
        if isinstance(event, Discard):
            return f'discarded {self.discard_episode(event.reason)}'
        return ''

    def snapshot(self) -> RecorderSnapshot:
        """Return live figures (read without stopping either thread)."""
        current = self._current
        return RecorderSnapshot(
            'recording' if current else 'idle', current.episode_id if current else '',
            (self.clock() - current.start_ns) / 1e9 if current else 0.0,
            tuple(self.received), tuple(self.writer.written), tuple(self.dropped),
            tuple(self.writer.missing),
            self._queue.queued_bytes, self._queue.peak_bytes, self.writer.episodes_done,
            self.malformed_events, self._writer_error(), self.disk.status, self.unfinished)

    def _writer_error(self) -> str:
        """The writer's last error, or the watchdog's when it stopped taking messages."""
        if not self._thread.is_alive():
            return 'the writer thread has stopped: nothing is being written'
        stalled_ns = self.clock() - self.writer.alive_ns
        if len(self._queue) and stalled_ns > self.settings.watchdog_s * 1e9:
            return (f'the writer has taken nothing from its queue for '
                    f'{stalled_ns / 1e9:.1f} s ({len(self._queue)} items waiting)')
        return self.writer.last_error

    def wait_for_writer(self, timeout: float | None = None) -> bool:
        """Wait until the writer has handled everything queued before now; False on timeout.

        The writer's own clock must have reached the moment of the call, so held messages
        due by then are written too. Tests use it to order steps without sleeping.
        """
        done = threading.Event()
        self._queue.put_control(Barrier(self.clock(), done))
        return done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stop a recording episode, drain the queue, close every bag, join the thread."""
        with self._lock:
            recording = self._current is not None
        if recording:
            self.stop_episode(outcome='aborted', note='recorder shut down')
        self._queue.put_control(ShutdownCommand())
        self._thread.join(timeout)
