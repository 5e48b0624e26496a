"""One episode's rosbag2 bag (MCAP storage), written with rosbags from raw CDR bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.errors import WriterError
from rosbags.interfaces import Connection

from humanoid_data.bag.typestore import msgdef
from humanoid_data.errors import BagError
from humanoid_data.core.topics import TopicSpec

#: rosbag2 metadata version written (readable by Jazzy and newer ``ros2 bag``).
BAG_VERSION = 8


class EpisodeBag:
    """An open bag with one connection per recorded topic."""

    def __init__(self, path: Path, topics: Sequence[TopicSpec]) -> None:
        """Create the bag folder and register every topic with its full definition.

        Raises:
            BagError: The folder exists already or cannot be created.

        """
        self.path = path
        self._writer = Writer(path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        try:
            self._writer.open()
        except (WriterError, OSError) as err:
            raise BagError(f'{path}: cannot create bag: {err}') from err
        self._connections: list[Connection] = []
        for spec in topics:
            text, digest = msgdef(spec.msgtype)
            self._connections.append(self._writer.add_connection(
                spec.topic, spec.msgtype, msgdef=text, rihs01=digest))

    def write(self, topic_index: int, log_ns: int, data: bytes) -> None:
        """Append one message; ``log_ns`` is the receive time.

        Raises:
            BagError: The disk refused the write (full, removed, read-only).

        """
        try:
            self._writer.write(self._connections[topic_index], log_ns, data)
        except OSError as err:
            raise BagError(f'{self.path}: write failed: {err}') from err

    def close(self) -> None:
        """Write the MCAP summary and metadata.yaml.

        Raises:
            BagError: The summary or metadata could not be written.

        """
        try:
            self._writer.close()
        except (OSError, WriterError) as err:
            raise BagError(f'{self.path}: closing the bag failed: {err}') from err

    def size_bytes(self) -> int:
        """Bytes of the bag's files on disk."""
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())
