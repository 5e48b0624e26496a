"""One episode's rosbag2 bag (MCAP storage), written from raw CDR bytes with the mcap library.

The file is built to survive its recorder::

    open   -> folder, .recording.lock (held), <name>.mcap header, metadata.yaml (0 messages)
    write  -> messages gather in the open chunk (memory)
    flush  -> the chunk goes to disk with its CRC and message indexes (the writer thread
              calls this every flush period, so a kill loses at most that much)
    close  -> summary, footer, metadata.yaml with the counts; the lock is released

A failed write (a full disk) cuts the file back to the end of the last complete chunk,
and ``close`` then ends it with a footer and no summary: a valid MCAP file that every
reader (rosbags, mcap) reads by scanning, holding everything flushed before the failure.
A killed recorder leaves a file with no footer; ``humanoid-data repair`` rebuilds it.
"""

from __future__ import annotations

import fcntl
import os
from enum import Enum
from pathlib import Path
from typing import IO, Any, Mapping, NamedTuple, Sequence, cast

import yaml
from mcap.records import DataEnd, Footer
from mcap.data_stream import RecordBuilder
from mcap.writer import CompressionType, Writer

from humanoid_data import __version__
from humanoid_data.bag.episode_state import LOCK_FILE
from humanoid_data.bag.typestore import msgdef
from humanoid_data.errors import BagError

#: rosbag2 metadata version written (readable by Jazzy and newer ``ros2 bag``).
BAG_VERSION = 8
MAGIC = b'\x89MCAP0\r\n'
#: Chunks close on the writer's flush period, or at this size if sooner: mcap copies a chunk
#: several times while closing it, so the size bounds the writer's memory (docs/architecture.md).
MAX_CHUNK_BYTES = 8 << 20


class Compression(str, Enum):
    """Chunk compression of the recorded MCAP file."""

    NONE = 'none'
    LZ4 = 'lz4'
    ZSTD = 'zstd'


_MCAP_COMPRESSION = {Compression.NONE: CompressionType.NONE,
                     Compression.LZ4: CompressionType.LZ4,
                     Compression.ZSTD: CompressionType.ZSTD}


class BagTopic(NamedTuple):
    """A connection of the bag: topic, type and the type's definition."""

    topic: str
    msgtype: str
    definition: str       # ros2msg text
    type_hash: str        # RIHS01


def bag_topics(topics: Sequence[object]) -> list[BagTopic]:
    """Topics with definitions (from the type store) for objects with topic and msgtype."""
    out = []
    for spec in topics:
        text, digest = msgdef(spec.msgtype)  # type: ignore[attr-defined]
        out.append(BagTopic(spec.topic, spec.msgtype, text, digest))  # type: ignore[attr-defined]
    return out


class _CommittedFile:
    """An unbuffered file that knows where its last complete write ended.

    mcap's writer hands over whole records (a chunk, its message indexes) per write; when
    one fails half-way (a full disk), the file is cut back to where the write began, so
    it never ends in half a record.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.committed = 0
        self.failed: OSError | None = None

    def write(self, data: bytes | memoryview) -> int:
        if self.failed is not None:
            raise self.failed
        view = memoryview(data)
        done = 0
        try:
            while done < len(view):
                done += os.write(self.fd, view[done:])
        except OSError as err:
            self.failed = err
            os.ftruncate(self.fd, self.committed)
            os.lseek(self.fd, self.committed, os.SEEK_SET)
            raise
        self.committed += done
        return done

    def tell(self) -> int:
        return self.committed

    def flush(self) -> None:
        """Nothing is buffered here."""

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


def bag_info(files: Sequence[str], topics: Sequence[BagTopic], counts: Sequence[int],
             start_ns: int | None, end_ns: int | None, compression: str = ''
             ) -> dict[str, Any]:
    """rosbag2's bag information (the body of ``metadata.yaml``)."""
    total = int(sum(counts))
    start = start_ns if start_ns is not None else 0
    duration = max(0, (end_ns or 0) - start) if total else 0
    info = {
        'version': BAG_VERSION,
        'storage_identifier': 'mcap',
        'relative_file_paths': list(files),
        'duration': {'nanoseconds': duration},
        'starting_time': {'nanoseconds_since_epoch': start},
        'message_count': total,
        'topics_with_message_count': [
            {'topic_metadata': {'name': t.topic, 'type': t.msgtype,
                                'serialization_format': 'cdr', 'offered_qos_profiles': '',
                                'type_description_hash': t.type_hash},
             'message_count': int(n)}
            for t, n in zip(topics, counts)],
        'compression_format': '',
        'compression_mode': '',
        'files': [{'path': name, 'starting_time': {'nanoseconds_since_epoch': start},
                   'duration': {'nanoseconds': duration}, 'message_count': total}
                  for name in files],
        'custom_data': {'recorder': f'humanoid_data {__version__}',
                        'chunk_compression': compression or 'none'},
        'ros_distro': os.environ.get('ROS_DISTRO', '') or 'humanoid_data',
    }
    return info


def write_metadata(folder: Path, info: dict[str, Any]) -> None:
    """Write ``metadata.yaml`` holding ``info`` into ``folder`` (atomically).

    Raises:
        OSError: The file cannot be written.

    """
    tmp = folder / '.metadata.yaml.tmp'
    tmp.write_text(yaml.safe_dump({'rosbag2_bagfile_information': info}, sort_keys=False))
    os.replace(tmp, folder / 'metadata.yaml')


def end_without_summary(fd: int, offset: int) -> None:
    """Append DataEnd and a footer with no summary at ``offset`` (a readable MCAP file)."""
    builder = RecordBuilder()
    DataEnd(data_section_crc=0).write(builder)
    Footer(summary_start=0, summary_offset_start=0, summary_crc=0).write(builder)
    tail = builder.end() + MAGIC
    os.ftruncate(fd, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    os.write(fd, tail)


class EpisodeBag:
    """An open bag with one connection per recorded topic."""

    def __init__(self, path: Path, topics: Sequence[object] | Sequence[BagTopic], *,
                 compression: Compression = Compression.NONE) -> None:
        """Create the folder, take its recording lock, start the file and metadata.yaml.

        ``topics`` are TopicSpecs (definitions come from the type store) or BagTopics.

        Raises:
            BagError: The folder exists already or cannot be written.

        """
        self.path = path
        self.topics = [t if isinstance(t, BagTopic) else bag_topics([t])[0] for t in topics]
        self.file_name = f'{path.name}.mcap'
        self.compression = compression
        self.counts = [0] * len(self.topics)     # written to disk (complete chunks)
        self._pending = [0] * len(self.topics)   # in the open chunk
        self._pending_bytes = 0
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self.closed = False
        try:
            path.mkdir(parents=True)
            self._lock = os.open(path / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o644)
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._file = _CommittedFile(path / self.file_name)
            # mcap's own size limit sits above ours, so chunks end only in flush(). Each
            # chunk carries a CRC of its bytes; the data-section CRC (one more pass over
            # every byte, 9 % of the recorder's CPU at 2x the default suite) is left off:
            # the chunk CRCs cover every message.
            self._writer = Writer(cast(IO[Any], self._file), chunk_size=2 * MAX_CHUNK_BYTES,
                                  compression=_MCAP_COMPRESSION[compression],
                                  enable_crcs=True, enable_data_crcs=False)
            self._writer.start(profile='ros2', library=f'humanoid_data {__version__}')
            self._channels = [self._register(t) for t in self.topics]
            self._write_metadata()
        except OSError as err:
            raise BagError(f'{path}: cannot create bag: {err.strerror or err}') from err

    def _register(self, topic: BagTopic) -> int:
        schema = self._writer.register_schema(topic.msgtype, 'ros2msg',
                                              topic.definition.encode())
        return self._writer.register_channel(
            topic.topic, 'cdr', schema,
            {'offered_qos_profiles': '', 'topic_type_hash': topic.type_hash})

    def _summary_info(self) -> dict[str, Any]:
        return bag_info([self.file_name], self.topics, self.counts, self.start_ns,
                        self.end_ns, self.compression.value)

    def _write_metadata(self) -> None:
        write_metadata(self.path, self._summary_info())

    @property
    def failed(self) -> bool:
        """True once a write to disk was refused; the file keeps what was flushed before."""
        return self._file.failed is not None

    def write(self, topic_index: int, log_ns: int, data: bytes) -> None:
        """Add one message to the open chunk; ``log_ns`` is the receive time.

        Raises:
            BagError: The bag failed earlier, or the chunk grew past its bound and could
                not be written.

        """
        if self.failed:
            raise BagError(f'{self.path}: the bag failed earlier: {self._file.failed}')
        self._pending[topic_index] += 1
        self._pending_bytes += len(data)
        self.start_ns = log_ns if self.start_ns is None else min(self.start_ns, log_ns)
        self.end_ns = log_ns if self.end_ns is None else max(self.end_ns, log_ns)
        self._writer.add_message(self._channels[topic_index], log_ns, data, log_ns)
        if self._pending_bytes >= MAX_CHUNK_BYTES:
            self.flush()

    def flush(self, sync: bool = False) -> None:
        """Write the open chunk to disk (and fsync when ``sync``).

        Raises:
            BagError: The disk refused the write; the file keeps the chunks before it.

        """
        try:
            self._writer.flush()
            if sync:
                self._file.sync()
        except OSError as err:
            raise BagError(f'{self.path / self.file_name}: write failed: '
                           f'{err.strerror or err}') from err
        self.counts = [a + b for a, b in zip(self.counts, self._pending)]
        self._pending = [0] * len(self.topics)
        self._pending_bytes = 0

    def close(self, sync: bool = True) -> None:
        """Finish the file (summary and footer, or a plain footer after a failure).

        Raises:
            BagError: The summary or metadata could not be written.

        """
        if self.closed:
            return
        self.closed = True
        data_end = self._file.committed
        try:
            if not self.failed:
                self.flush()
                data_end = self._file.committed
                self._writer.add_metadata('rosbag2', {'serialized_metadata': yaml.safe_dump(
                    self._summary_info(), sort_keys=False)})
                self._writer.finish()
            else:
                end_without_summary(self._file.fd, data_end)
            if sync:
                self._file.sync()
        except (OSError, BagError) as err:
            self._end_after_failure(data_end)
            raise BagError(f'{self.path / self.file_name}: closing the bag failed: '
                           f'{getattr(err, "strerror", None) or err}') from err
        finally:
            self._release()
        try:
            self._write_metadata()
        except OSError as err:
            raise BagError(f'{self.path}: cannot write metadata.yaml: '
                           f'{err.strerror or err}') from err

    def _end_after_failure(self, data_end: int) -> None:
        try:
            end_without_summary(self._file.fd, data_end)
        except OSError:
            pass   # the file stays without a footer; repair reads it all the same

    def _release(self) -> None:
        self._file.close()
        try:
            (self.path / LOCK_FILE).unlink()
        except OSError:
            pass
        os.close(self._lock)

    def size_bytes(self) -> int:
        """Bytes of the bag's files on disk."""
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())


def counts_by_topic(topics: Sequence[BagTopic], counts: Mapping[str, int]) -> list[int]:
    """Counts in ``topics`` order from a topic -> count mapping."""
    return [int(counts.get(t.topic, 0)) for t in topics]
