"""Read an episode bag stream by stream, in two passes, without holding its images.

Pass 1 (``scan``) reads every message once: it peeks each header stamp and keeps the
receive time, decodes the small streams (joints, command, force-torque, tactile, IMU)
into numpy arrays, and only counts the large ones (images, depth, point clouds). The
converter then aligns everything on stamps and knows which image of each camera every
frame uses. Pass 2 (``read``) decodes just those messages of one large stream, one at a
time, in bag order, so a ten-minute episode with three cameras never sits in memory.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import yaml
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.errors import ReaderError

from humanoid_data.bag.decode import (
    ImageArray, ImuSample, JointArrays, PointCloudArray, WrenchSample, decode)
from humanoid_data.bag.stamps import header_stamp_ns, string_payload
from humanoid_data.core.config import Modality, StreamConfig, SuiteConfig, load_suite
from humanoid_data.core.events import EventBase, decode_event
from humanoid_data.errors import BagError, ConfigError, DecodeError, EventError

EVENT_TYPE = 'std_msgs/msg/String'
LARGE = (Modality.RGB, Modality.DEPTH, Modality.LIDAR)


@dataclass
class StreamSamples:
    """Stamps of one stream's messages in bag order, and the values of a small stream.

    Stamps live in ``array('q')`` and values in one growing 2-D buffer, not in Python
    lists of objects: a ten-minute episode has millions of samples.
    """

    stream: StreamConfig
    header_ns: array = field(default_factory=lambda: array('q'))
    receive_ns: array = field(default_factory=lambda: array('q'))
    names: tuple[str, ...] = ()       # joint names of joint states and commands
    _buffer: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    _count: int = 0

    def append_value(self, value: np.ndarray) -> None:
        """Add one sample's values (every sample of a stream has the same width)."""
        if self._count == len(self._buffer):
            grown = np.empty((max(1024, 2 * len(self._buffer)), len(value)))
            if self._count:
                grown[:self._count] = self._buffer[:self._count]
            self._buffer = grown
        if len(value) != self._buffer.shape[1]:
            raise DecodeError(f'{self.stream.topic}: a sample of {len(value)} values after '
                              f'samples of {self._buffer.shape[1]}')
        self._buffer[self._count] = value
        self._count += 1

    @property
    def values(self) -> np.ndarray:
        """Values so far, one row per sample (an empty array for large streams)."""
        return self._buffer[:self._count]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Header and receive stamps as int64 arrays."""
        return (np.frombuffer(self.header_ns, dtype=np.int64),
                np.frombuffer(self.receive_ns, dtype=np.int64))


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


def find_suite(episode_dir: Path, fallback: SuiteConfig | None = None) -> SuiteConfig:
    """The suite an episode was recorded with: ``<session>/suite.yaml``, else ``fallback``.

    Raises:
        ConfigError: Neither exists.

    """
    for candidate in (episode_dir.parent / 'suite.yaml', episode_dir.parent.parent / 'suite.yaml'):
        if candidate.is_file():
            return load_suite(candidate)
    if fallback is None:
        raise ConfigError(f'{episode_dir}: no suite.yaml in its session folder; pass --suite')
    return fallback


class EpisodeReader:
    """One episode folder: its bag, ``episode.yaml`` and the suite it was recorded with."""

    def __init__(self, episode_dir: str | Path, suite: SuiteConfig | None = None) -> None:
        """Check the folder and load the episode's metadata.

        Raises:
            BagError: No bag in the folder.
            ConfigError: No suite for it.

        """
        self.path = Path(episode_dir)
        if not (self.path / 'metadata.yaml').is_file():
            raise BagError(f'{self.path}: not an episode bag (no metadata.yaml)')
        meta_file = self.path / 'episode.yaml'
        try:
            self.meta: dict[str, Any] = (yaml.safe_load(meta_file.read_text()) or {}
                                         if meta_file.is_file() else {})
        except yaml.YAMLError as err:
            raise BagError(f'{meta_file}: not valid YAML: {err}') from err
        self.suite = find_suite(self.path, suite)
        self.samples: dict[str, StreamSamples] = {}
        self.events: list[EventBase] = []
        self.malformed_events = 0
        self.unknown_topics: list[str] = []
        self.bag_bytes = sum(p.stat().st_size for p in self.path.glob('*.mcap'))

    def _messages(self, topics: set[str] | None = None) -> Iterator[tuple[Any, int, bytes]]:
        """Messages of the bag (of ``topics`` only, if given) in bag order.

        Raises:
            BagError: The bag cannot be opened, or is truncated or corrupt, naming the bag
                and the topic being read.

        """
        try:
            reader = Reader(self.path)
            reader.open()
        except (ReaderError, OSError, ValueError, KeyError) as err:
            raise BagError(f'{self.path}: cannot read bag: {err}') from err
        topic = '?'
        try:
            conns = [c for c in reader.connections if topics is None or c.topic in topics]
            if not conns:
                return
            for conn, log_ns, raw in reader.messages(connections=conns):
                topic = conn.topic
                yield conn, log_ns, raw
        except (ReaderError, OSError, ValueError, KeyError, EOFError) as err:
            raise BagError(f'{self.path}: bag is truncated or corrupt near topic '
                           f'{topic}: {err}') from err
        finally:
            reader.close()

    def scan(self) -> dict[str, StreamSamples]:
        """Pass 1: stamps of every stream, values of the small ones, the events.

        Raises:
            BagError: A truncated or corrupt bag, or a message that does not decode,
                naming the bag and the topic.

        """
        by_topic = self.suite.by_topic()
        samples = {s.topic: StreamSamples(s) for s in self.suite.streams}
        unknown: set[str] = set()
        for conn, log_ns, raw in self._messages():
            if conn.msgtype == EVENT_TYPE and conn.topic not in by_topic:
                self._event(raw)
                continue
            entry = samples.get(conn.topic)
            if entry is None:
                unknown.add(conn.topic)
                continue
            try:
                entry.header_ns.append(header_stamp_ns(raw))
                entry.receive_ns.append(log_ns)
                if entry.stream.modality not in LARGE and \
                        entry.stream.modality != Modality.CAMERA_INFO:
                    value, names = _small_value(decode(raw, conn.msgtype))
                    entry.append_value(value)
                    if names and not entry.names:
                        entry.names = names
            except DecodeError as err:
                raise BagError(f'{self.path}: topic {conn.topic}: {err}') from err
        self.events.sort(key=lambda e: e.stamp_ns)
        self.unknown_topics = sorted(unknown)
        self.samples = samples
        return samples

    def _event(self, raw: bytes) -> None:
        try:
            self.events.append(decode_event(string_payload(raw)))
        except (DecodeError, EventError):
            self.malformed_events += 1

    def read(self, topic: str, wanted: set[int]) -> Iterator[tuple[int, ImageArray |
                                                                   PointCloudArray]]:
        """Pass 2: decode the messages of one large stream whose bag-order index is wanted.

        Raises:
            BagError: As ``scan``.

        """
        msgtype = self.suite.by_topic()[topic].msgtype
        for index, (_, _, raw) in enumerate(self._messages({topic})):
            if index in wanted:
                try:
                    value = decode(raw, msgtype)
                except DecodeError as err:
                    raise BagError(f'{self.path}: topic {topic}: {err}') from err
                yield index, value  # type: ignore[misc]
