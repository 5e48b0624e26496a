"""Read an episode bag stream by stream, in two passes, without holding its images.

Pass 1 (``scan``) reads every message once: it peeks each header stamp and keeps the
receive time, decodes the small streams (joints, command, force-torque, tactile, IMU)
into a scratch file, and only counts the large ones (images, depth, point clouds). The
converter then aligns everything on stamps, reads back just the samples the frames use,
and knows which image of each camera every frame uses. Pass 2 (``read``) decodes just
those messages of one large stream, one at a time, in bag order. What stays in memory is
16 bytes of stamps per message and the frames' own values, so a ten-minute episode with
three cameras and 1 kHz force-torque never sits in memory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from humanoid_data.bag.any_bag import bag_bytes, open_bag
from humanoid_data.bag.given_labels import GivenLabels
from humanoid_data.bag.decode import (
    ImageArray, ImuSample, JointArrays, PointCloudArray, WrenchSample, decode)
from humanoid_data.bag.metadata import (
    ANY_STORAGE, EpisodeMeta, check_bag_metadata, read_episode_yaml)
from humanoid_data.bag.stamps import header_frame_id, header_stamp_ns, string_payload
from humanoid_data.bag.stream_samples import StreamSamples
from humanoid_data.bag.tf_cdr import TfSeries
from humanoid_data.bag.typestore import typestore_for
from humanoid_data.core.config import Modality, SuiteConfig, load_suite
from humanoid_data.core.events import EventBase, decode_event
from humanoid_data.errors import BagError, ConfigError, DecodeError, EventError

EVENT_TYPE = 'std_msgs/msg/String'
LARGE = (Modality.RGB, Modality.DEPTH, Modality.LIDAR)
#: ``read`` goes by log time when it wants fewer than one in this many of a topic's
#: messages (each lookup decompresses the chunk that holds the message).
SPARSE_READ_FRACTION = 8
#: ``read_sparse`` reads wanted messages logged less than this apart in one window.
SPARSE_WINDOW_NS = 200_000_000


def _small_value(value: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    if isinstance(value, JointArrays):
        # Positions, then velocities when the message has them (commands often do not).
        if len(value.velocity) == len(value.names):
            return np.concatenate([value.position, value.velocity]), value.names
        return np.asarray(value.position, dtype=np.float64), value.names
    if isinstance(value, WrenchSample):
        return np.concatenate([value.force, value.torque]), ()
    if isinstance(value, ImageArray):        # tactile pad
        return value.pixels.astype(np.float64).ravel(), ()
    if isinstance(value, ImuSample):
        return np.concatenate([value.orientation, value.angular_velocity,
                               value.linear_acceleration]), ()
    raise DecodeError(f'no array form for {type(value).__name__}')


def _frame_id_or_none(raw: bytes) -> str | None:
    try:
        return header_frame_id(raw)
    except DecodeError:     # reported if a frame uses the message; pass 1 goes on
        return None


def session_suite(episode_dir: Path) -> Path | None:
    """The recorder's ``suite.yaml`` of an episode: in its session folder or the one above."""
    for candidate in (episode_dir.parent / 'suite.yaml', episode_dir.parent.parent / 'suite.yaml'):
        if candidate.is_file():
            return candidate
    return None


def find_suite(episode_dir: Path, fallback: SuiteConfig | None = None,
               guess: bool = False) -> SuiteConfig:
    """The suite an episode was recorded with: ``<session>/suite.yaml``, else ``fallback``.

    With ``guess``, a bag without either (one from another recorder) gets the suite
    guessed from its own topics (``suite_guess``).

    Raises:
        ConfigError: Neither exists (and no guess was asked for, or no topic of the bag
            is a stream the converter knows).
        BagError: The bag cannot be read for the guess.

    """
    found = session_suite(episode_dir)
    if found is not None:
        return load_suite(found)
    if fallback is not None:
        return fallback
    if guess:
        from humanoid_data.bag.suite_guess import guess_suite
        return guess_suite(episode_dir).suite()
    raise ConfigError(f'{episode_dir}: no suite.yaml in its session folder; pass --suite')


def _reason(err: Exception) -> str:
    """A reader library's error as a reason: its text, never its Python class name."""
    text = str(err).strip()
    return text if text and text not in ('None', "''") else 'unreadable data'


class EpisodeReader:
    """One episode folder: its bag, ``episode.yaml`` and the suite it was recorded with."""

    def __init__(self, episode_dir: str | Path, suite: SuiteConfig | None = None,
                 scratch: Path | None = None, labels: GivenLabels | None = None) -> None:
        """Check the folder and load the episode's metadata.

        ``episode_dir`` is an episode folder, a rosbag2 folder or a bag file (.mcap,
        .db3, ROS 1 .bag). Without ``suite`` or a ``suite.yaml`` in its session folder,
        the suite is guessed from the bag (``suite_guessed``). ``scratch`` is where pass 1
        keeps the small streams' values (system temp if None). Without ``episode.yaml``,
        ``meta`` comes from the bag's episode events after ``scan`` (``meta.present`` is
        False either way), with what they leave empty filled from ``labels``.

        Raises:
            BagError: No bag in the folder, or its ``metadata.yaml`` or ``episode.yaml``
                is damaged (naming the file and the key).
            ConfigError: No suite for it.

        """
        self.path = Path(episode_dir)
        if self.path.is_dir():      # a bag file (.mcap, .db3, ROS 1 .bag) has no metadata
            check_bag_metadata(self.path, storages=ANY_STORAGE)
        self.meta: EpisodeMeta = read_episode_yaml(self.path) or EpisodeMeta(present=False)
        self.suite_guessed = suite is None and session_suite(self.path) is None
        self.suite = find_suite(self.path, suite, guess=True)
        self.labels = labels
        #: What was filled in from ``labels`` (and from where), for the episode's notes.
        self.label_notes: list[str] = []
        self.scratch = scratch
        self.samples: dict[str, StreamSamples] = {}
        self.events: list[EventBase] = []
        self.malformed_events = 0
        self.unknown_topics: list[str] = []
        self.bag_bytes = bag_bytes(self.path)
        #: Pass 1's samples of each moving-transform topic (/tf), so the transforms need
        #: no pass of their own (every chunk holds /tf).
        self.tf_series: dict[str, TfSeries] = {}
        self.decode_s = 0.0             # pass 1's time decoding the small streams
        self._idle_reader: Any = None

    def _messages(self, topics: set[str] | None = None, start_ns: int | None = None,
                  stop_ns: int | None = None) -> Iterator[tuple[Any, int, bytes]]:
        """Messages of the bag (of ``topics`` only; logged in [start, stop) if given), bag order.

        Raises:
            BagError: The bag cannot be opened, or is truncated or corrupt, naming the bag
                and the topic being read.

        """
        # Anything the reader library raises here comes from the bag's bytes (the metadata
        # was checked before): a damaged file, whatever error it happens to trip.
        reader = self._idle_reader
        self._idle_reader = None
        if reader is None:
            try:
                reader = open_bag(self.path)
            except Exception as err:
                raise BagError(f'{self.path}: cannot read bag: {_reason(err)}') from err
        topic = '?'
        healthy = False
        try:
            conns = [c for c in reader.connections if topics is None or c.topic in topics]
            if conns:
                for conn, log_ns, raw in reader.messages(connections=conns, start=start_ns,
                                                         stop=stop_ns):
                    topic = conn.topic
                    yield conn, log_ns, raw
            healthy = True
        except GeneratorExit:
            healthy = True           # the caller stopped early: the reader is still good
            raise
        except Exception as err:
            raise BagError(f'{self.path}: bag is truncated or corrupt near topic '
                           f'{topic}: {_reason(err)}') from err
        finally:
            # An open reader is kept for the next pass: opening parses metadata.yaml
            # (about 0.15 s), and an episode is read a dozen times (pass 1, intrinsics,
            # frame ids, calibration checks, pass 2). Two passes at once get two readers.
            if healthy and self._idle_reader is None:
                self._idle_reader = reader
            else:
                reader.close()

    def close(self) -> None:
        """Close the bag reader kept between passes (and pass 1's scratch files)."""
        self.close_samples()
        if self._idle_reader is not None:
            self._idle_reader.close()
            self._idle_reader = None

    def scan(self) -> dict[str, StreamSamples]:
        """Pass 1: stamps of every stream, values of the small ones, the events.

        Raises:
            BagError: A truncated or corrupt bag, or a message that does not decode,
                naming the bag and the topic.
            HumanoidDataError: The scratch folder cannot take the values (full disk).

        """
        by_topic = self.suite.by_topic()
        self.samples = samples = {s.topic: StreamSamples(s, self.scratch)
                                  for s in self.suite.streams}
        self.tf_series = {s.topic: TfSeries() for s in self.suite.streams
                          if s.modality == Modality.TRANSFORM and not s.latched}
        self.decode_s = 0.0
        unknown: set[str] = set()
        try:
            for conn, log_ns, raw in self._messages():
                if conn.msgtype == EVENT_TYPE and conn.topic not in by_topic:
                    self._event(raw)
                    continue
                entry = samples.get(conn.topic)
                if entry is None:
                    unknown.add(conn.topic)
                    continue
                self._sample(entry, conn.msgtype, log_ns, raw)
            for entry in samples.values():
                entry.finish()
        except BaseException:
            self.close_samples()
            raise
        self.events.sort(key=lambda e: e.stamp_ns)
        self.unknown_topics = sorted(unknown)
        if not self.meta.present:
            self.meta = EpisodeMeta.from_bag_events(self.events)
            if self.labels is not None:
                self.meta, self.label_notes = self.labels.fill(self.meta)
        return samples

    def _sample(self, entry: StreamSamples, msgtype: str, log_ns: int, raw: bytes) -> None:
        try:
            # A headerless stream (the robot description) is stamped with its receive
            # time, as the recorder stamped it; a latched message repeated at an episode's
            # open keeps its original receive time, before the episode's start.
            entry.header_ns.append(header_stamp_ns(raw, entry.stream.stamp_offset)
                                   if entry.stream.has_header
                                   else log_ns)
            entry.receive_ns.append(log_ns)
            modality = entry.stream.modality
            if modality == Modality.CAMERA_INFO:
                entry.kept.append(bytes(raw))
            elif modality == Modality.TRANSFORM:
                if not entry.stream.latched:
                    self.tf_series[entry.stream.topic].add(raw)
            elif modality in LARGE:
                entry.note_frame_id(_frame_id_or_none(raw))
            elif modality != Modality.DESCRIPTION:
                start = time.perf_counter()
                value, names = _small_value(decode(raw, msgtype))
                entry.append_value(value)
                if names and not entry.names:
                    entry.names = names
                self.decode_s += time.perf_counter() - start
        except DecodeError as err:
            raise BagError(f'{self.path}: topic {entry.stream.topic}: {err}') from err

    def close_samples(self) -> None:
        """Delete pass 1's scratch files (the stamps stay)."""
        for entry in self.samples.values():
            entry.close()

    def _event(self, raw: bytes) -> None:
        try:
            self.events.append(decode_event(string_payload(raw)))
        except (DecodeError, EventError):
            self.malformed_events += 1

    def messages_of(self, topic: str) -> Iterator[tuple[Any, int, bytes]]:
        """(connection, log time, raw bytes) of one topic's messages, in bag order.

        Raises:
            BagError: As ``scan``.

        """
        return self._messages({topic})

    def transform_messages(self, topic: str) -> list[Any]:
        """Every ``tf2_msgs/TFMessage`` of ``topic`` decoded (rosbags objects), bag order.

        Raises:
            BagError: As ``scan``, or a message that does not decode, naming the topic.

        """
        msgtype = self.suite.by_topic()[topic].msgtype
        store = typestore_for()
        out = []
        for _, _, raw in self._messages({topic}):
            try:
                out.append(store.deserialize_cdr(raw, msgtype))
            except Exception as err:  # noqa: BLE001 - rosbags raises several types
                raise BagError(f'{self.path}: topic {topic}: a {msgtype} that does not '
                               f'decode: {err}') from err
        return out

    def read(self, topic: str, wanted: set[int]) -> Iterator[tuple[int, ImageArray |
                                                                   PointCloudArray]]:
        """Pass 2: decode the messages of one large stream whose bag-order index is wanted.

        A few messages out of many (a calibration check's sample of scans) are read by
        their log times, so only the chunks that hold them are decompressed; otherwise
        the topic is read in bag order up to the last wanted message.

        Raises:
            BagError: As ``scan``.

        """
        msgtype = self.suite.by_topic()[topic].msgtype
        entry = self.samples.get(topic)
        found: Iterator[tuple[int, bytes]]
        if entry is not None and entry.kept and isinstance(wanted, (set, frozenset)):
            found = ((i, entry.kept[i]) for i in sorted(wanted) if 0 <= i < len(entry.kept))
        elif isinstance(wanted, (set, frozenset)) and entry is not None and wanted and \
                len(wanted) * SPARSE_READ_FRACTION < len(entry.receive_ns):
            found = ((i, raw) for _, i, raw in self._read_windows({topic: wanted}))
        else:
            found = self._read_in_order(topic, wanted)
        for index, raw in found:
            try:
                value = decode(raw, msgtype)
            except DecodeError as err:
                raise BagError(f'{self.path}: topic {topic}: {err}') from err
            yield index, value  # type: ignore[misc]

    def read_topics(self, wanted: dict[str, set[int]]
                    ) -> Iterator[tuple[str, int, ImageArray | PointCloudArray]]:
        """Pass 2 for several large streams at once: one pass over the bag, not one each.

        Yields ``(topic, bag-order index, decoded value)`` in bag order for the wanted
        indices of each topic, and stops after the last one. Every pass decompresses
        every chunk it touches, and the cameras share chunks.

        Raises:
            BagError: As ``scan``.

        """
        types = {topic: self.suite.by_topic()[topic].msgtype for topic in wanted}
        counters = dict.fromkeys(wanted, -1)
        remaining = {topic: len(indices) for topic, indices in wanted.items()}
        if not sum(remaining.values()):
            return
        for conn, _, raw in self._messages(set(wanted)):
            topic = conn.topic
            counters[topic] += 1
            index = counters[topic]
            if index not in wanted[topic]:
                continue
            try:
                value = decode(raw, types[topic])
            except DecodeError as err:
                raise BagError(f'{self.path}: topic {topic}: {err}') from err
            yield topic, index, value  # type: ignore[misc]
            remaining[topic] -= 1
            if not any(remaining.values()):
                return

    def read_sparse(self, wanted: dict[str, set[int]]
                    ) -> dict[str, dict[int, ImageArray | PointCloudArray]]:
        """A few messages of several large streams, decoded, by topic and bag-order index.

        Raises:
            BagError: As ``scan``.

        """
        types = self.suite.by_topic()
        out: dict[str, dict[int, Any]] = {topic: {} for topic in wanted}
        for topic, index, raw in self._read_windows(wanted):
            try:
                out[topic][index] = decode(raw, types[topic].msgtype)
            except DecodeError as err:
                raise BagError(f'{self.path}: topic {topic}: {err}') from err
        return out

    def _read_windows(self, wanted: dict[str, set[int]]) -> Iterator[tuple[str, int, bytes]]:
        """(topic, index, raw) of the wanted messages, by log time (kept by pass 1).

        Wanted messages logged less than ``SPARSE_WINDOW_NS`` apart (a LiDAR scan and the
        images paired with it) come from one read of that window of log time, so the
        chunk holding them is decompressed once for all of them.
        """
        log_times = {topic: self.samples[topic].arrays()[1] for topic in wanted}
        targets = sorted((int(log_times[topic][i]), topic, int(i))
                         for topic, indices in wanted.items() for i in indices
                         if 0 <= i < len(log_times[topic]))
        start = 0
        while start < len(targets):
            stop = start + 1
            while stop < len(targets) and \
                    targets[stop][0] - targets[stop - 1][0] <= SPARSE_WINDOW_NS:
                stop += 1
            window = targets[start:stop]
            found = {(topic, index) for _, topic, index in window}
            # A message's index: the first of its topic logged at the same nanosecond
            # (all of them are inside the window) plus those of them seen before it.
            seen: dict[tuple[str, int], int] = {}
            for conn, log_ns, raw in self._messages({t for _, t, _ in window},
                                                    window[0][0], window[-1][0] + 1):
                ordinal = seen.get((conn.topic, log_ns), 0)
                seen[(conn.topic, log_ns)] = ordinal + 1
                index = ordinal + int(np.searchsorted(log_times[conn.topic], log_ns,
                                                      side='left'))
                if (conn.topic, index) in found:
                    yield conn.topic, index, raw
            start = stop

    def _read_in_order(self, topic: str, wanted: set[int]) -> Iterator[tuple[int, bytes]]:
        last = max(wanted) if isinstance(wanted, (set, frozenset)) and wanted else None
        for index, (_, _, raw) in enumerate(self._messages({topic})):
            if index in wanted:
                yield index, raw
            if last is not None and index >= last:
                return
