"""Check an episode bag's MCAP files against their checksums, chunk by chunk.

The recorder writes a CRC-32 of every chunk's uncompressed bytes, of the whole data
section and of the summary. ``verify_bag`` walks each file record by record, reads every
chunk, decompresses it and compares; a chunk that fails is reported with the topics it
holds (from the message index records that follow it) and its log-time range, so a user
knows what is lost. Bags from recorders that write no checksums (rosbags writes zeros) are
read through as well, and the report says their content could not be verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import datetime as dt
import io
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, NamedTuple

from mcap.data_stream import ReadDataStream
from mcap.exceptions import McapError
from mcap.opcode import Opcode
from mcap.reader import make_reader
from mcap.records import Channel, Chunk, DataEnd, Footer, MessageIndex
import yaml

from humanoid_data.errors import BagError

MAGIC = b'\x89MCAP0\r\n'
_RECORD = struct.Struct('<BQ')
_FOOTER_SIZE = 1 + 8 + 8 + 8 + 4     # opcode, length, summary start, offsets start, crc
#: Largest record the scanner accepts; a bigger length field is taken for corruption.
MAX_RECORD_BYTES = 1 << 34
#: What parsing a damaged record body can raise (fields longer than the body, a length
#: that overflows, text that is not UTF-8).
RECORD_ERRORS = (McapError, struct.error, ValueError, OverflowError, UnicodeDecodeError,
                 IndexError, KeyError, MemoryError)


class ChunkProblem(NamedTuple):
    """A part of a file that is not what its checksum or structure says."""

    file: str
    offset: int
    topics: tuple[str, ...]
    start_ns: int | None      # log-time range of the chunk, when known
    end_ns: int | None
    reason: str

    def describe(self) -> str:
        """One line naming the file, the place, the topics and the time range."""
        where = f'{self.file} at byte {self.offset}'
        topics = ', '.join(self.topics[:4]) if self.topics else 'topics unknown'
        if len(self.topics) > 4:
            topics += f' and {len(self.topics) - 4} more'
        span = ''
        if self.start_ns is not None and self.end_ns is not None:
            span = f', received {_clock(self.start_ns)} to {_clock(self.end_ns)} UTC'
        return f'{where} ({topics}{span}): {self.reason}'


def _clock(ns: int) -> str:
    try:
        moment = dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return f'{ns} ns'
    return moment.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]


class VerifyReport(NamedTuple):
    """What ``verify_bag`` found in every MCAP file of a bag."""

    path: str
    files: int
    chunks: int
    checksummed: int          # chunks that carried a CRC
    problems: list[ChunkProblem]
    notes: list[str]

    @property
    def ok(self) -> bool:
        """True when nothing failed (content without checksums is a note, not a failure)."""
        return not self.problems


class TruncatedRecord(BagError):
    """The file stops inside a record: torn at its end, or a length field is damaged."""

    def __init__(self, message: str, offset: int) -> None:
        """Keep the byte offset of the record that does not fit."""
        super().__init__(message)
        self.offset = offset


__all__ = ['ChunkProblem', 'RawRecord', 'TruncatedRecord', 'VerifyReport', 'bag_files',
           'chunk_problem', 'read_records', 'verify_bag', 'verify_file']


UNFINISHED = ('an unfinished recording (its recorder stopped before writing the index): '
              'run humanoid-data repair on the episode')


class RawRecord(NamedTuple):
    """One record as stored: opcode, byte offset, body."""

    opcode: int
    offset: int
    body: bytes


def read_records(f: BinaryIO, size: int, start: int) -> Iterator[RawRecord]:
    """Records from ``start`` on, in file order.

    Raises:
        TruncatedRecord: The file ends inside a record (torn, or a damaged length).

    """
    offset = start
    while offset < size:
        head = f.read(_RECORD.size)
        if len(head) < _RECORD.size:
            raise TruncatedRecord('the file ends inside a record header', offset)
        opcode, length = _RECORD.unpack(head)
        if length > MAX_RECORD_BYTES or offset + _RECORD.size + length > size:
            raise TruncatedRecord(f'the file ends inside this record (opcode 0x{opcode:02x}, '
                                  f'{length} bytes)', offset)
        body = f.read(length)
        yield RawRecord(opcode, offset, body)
        offset += _RECORD.size + length


def chunk_problem(chunk: Chunk) -> str:
    """Why a chunk's bytes are not what it says (empty when they are)."""
    return checked_chunk(chunk)[1]


def checked_chunk(chunk: Chunk) -> tuple[bytes, str]:
    """(the chunk's uncompressed bytes, why they are not what it says or '')."""
    try:
        data = chunk.data if not chunk.compression else _decompress(chunk)
    except Exception as err:  # any decompressor failure means the bytes are damaged
        return b'', f'cannot decompress ({chunk.compression}): {err}'
    if len(data) != chunk.uncompressed_size:
        return data, (f'{len(data)} bytes after decompression, the chunk says '
                      f'{chunk.uncompressed_size}')
    if chunk.uncompressed_crc and zlib.crc32(data) != chunk.uncompressed_crc:
        return data, 'checksum mismatch (the chunk was altered after it was written)'
    return data, ''


def _decompress(chunk: Chunk) -> bytes:
    if chunk.compression == 'zstd':
        import zstandard
        return bytes(zstandard.decompress(chunk.data, max_output_size=chunk.uncompressed_size))
    if chunk.compression == 'lz4':
        import lz4.frame
        return bytes(lz4.frame.decompress(chunk.data))
    raise ValueError(f'unknown compression {chunk.compression!r}')


def _channels_in(data: bytes) -> dict[int, str]:
    """Channel records among a verified chunk's records (walked without copying)."""
    channels: dict[int, str] = {}
    offset, end = 0, len(data)
    try:
        while offset + _RECORD.size <= end:
            opcode, length = _RECORD.unpack_from(data, offset)
            offset += _RECORD.size
            if opcode == Opcode.CHANNEL:
                body = ReadDataStream(io.BytesIO(data[offset:offset + length]))
                channel = Channel.read(body)
                channels[channel.id] = channel.topic
            offset += length
    except RECORD_ERRORS:   # a verified chunk that does not parse names no channels
        pass
    return channels


@dataclass
class _Walk:
    """What walking one file's data section found so far."""

    path: Path
    problems: list[ChunkProblem] = field(default_factory=list)
    channels: dict[int, str] = field(default_factory=dict)
    #: damaged chunks with their offsets and the channels their message indexes name
    pending: list[tuple[Chunk, int, set[int]]] = field(default_factory=list)
    chunks: int = 0
    checksummed: int = 0
    data_crc: int = zlib.crc32(MAGIC)

    def take(self, record: RawRecord) -> None:
        """Check one record of the data section before its DATA_END."""
        self.data_crc = zlib.crc32(_RECORD.pack(record.opcode, len(record.body)),
                                   self.data_crc)
        self.data_crc = zlib.crc32(record.body, self.data_crc)
        stream = ReadDataStream(io.BytesIO(record.body))
        if record.opcode == Opcode.CHUNK:
            chunk = Chunk.read(stream)
            self.chunks += 1
            self.checksummed += bool(chunk.uncompressed_crc)
            data, reason = checked_chunk(chunk)
            if reason:
                self.pending.append((chunk, record.offset, set()))
                self.problems.append(ChunkProblem(str(self.path), record.offset, (),
                                                  chunk.message_start_time,
                                                  chunk.message_end_time, reason))
            else:
                self.channels.update(_channels_in(data))
        elif record.opcode == Opcode.CHANNEL:
            channel = Channel.read(stream)
            self.channels[channel.id] = channel.topic
        elif record.opcode == Opcode.MESSAGE_INDEX and self.pending:
            self.pending[-1][2].add(MessageIndex.read(stream).channel_id)

    def data_end(self, record: RawRecord) -> None:
        """Compare the data section's CRC with the one DATA_END stores."""
        stored = DataEnd.read(ReadDataStream(io.BytesIO(record.body)))
        if stored.data_section_crc and stored.data_section_crc != self.data_crc \
                and not self.problems:
            self.problems.append(ChunkProblem(
                str(self.path), record.offset, (), None, None,
                'data section checksum mismatch (some bytes outside the chunks were altered)'))


def verify_file(path: Path) -> tuple[int, int, list[ChunkProblem], list[str]]:
    """(chunks, chunks with a CRC, problems, notes) of one MCAP file.

    Raises:
        BagError: The file cannot be opened.

    """
    try:
        f = path.open('rb')
    except OSError as err:
        raise BagError(f'{path}: cannot open: {err.strerror or err}') from err
    notes: list[str] = []
    walk = _Walk(path)
    problems = walk.problems
    with f:
        size = f.seek(0, io.SEEK_END)
        f.seek(0)
        if f.read(len(MAGIC)) != MAGIC:
            return 0, 0, [ChunkProblem(str(path), 0, (), None, None,
                                       'not an MCAP file (bad magic)')], notes
        ended = False
        try:
            for record in read_records(f, size, len(MAGIC)):
                if record.opcode == Opcode.DATA_END:
                    walk.data_end(record)
                    ended = True
                    _check_summary(f, path, size, record.offset + _RECORD.size +
                                   len(record.body), problems)
                    break
                walk.take(record)
        except TruncatedRecord as err:
            problems.append(ChunkProblem(str(path), err.offset, (), None, None,
                                         f'{err}: {UNFINISHED}, or a damaged length field'))
            ended = True
        except (BagError, *RECORD_ERRORS) as err:
            problems.append(ChunkProblem(str(path), f.tell(), (), None, None,
                                         f'structure damaged: {_reason(err)}'))
            ended = True
        if not ended:
            problems.append(ChunkProblem(str(path), size, (), None, None,
                                         f'the file ends before its index: {UNFINISHED}'))
        channels = {**_summary_channels(f), **walk.channels}
    named = _name_topics(problems, walk.pending, channels)
    if walk.chunks and not walk.checksummed:
        notes.append(f'{path.name}: no chunk checksums (written by a recorder that does '
                     'not store them): content not verified')
    return walk.chunks, walk.checksummed, named, notes


def _reason(err: BaseException) -> str:
    text = ' '.join(str(err).split())
    return text or 'a record does not parse'


def _summary_channels(f: BinaryIO) -> dict[int, str]:
    """Channel names from the file's summary, when it has a readable one."""
    try:
        f.seek(0)
        summary = make_reader(f).get_summary()
    except Exception:  # a damaged or missing summary: names come from the chunks only
        return {}
    return {c.id: c.topic for c in summary.channels.values()} if summary else {}


def _name_topics(problems: list[ChunkProblem], pending: list[tuple[Chunk, int, set[int]]],
                 channels: dict[int, str]) -> list[ChunkProblem]:
    topics_at = {offset: tuple(sorted(channels.get(c, f'channel {c}') for c in ids))
                 for _, offset, ids in pending}
    return [p._replace(topics=topics_at.get(p.offset, p.topics)) for p in problems]


def _check_summary(f: BinaryIO, path: Path, size: int, summary_at: int,
                   problems: list[ChunkProblem]) -> None:
    """Compare the footer's summary CRC with the bytes it covers."""
    if size - summary_at < _FOOTER_SIZE + len(MAGIC):
        problems.append(ChunkProblem(str(path), summary_at, (), None, None,
                                     'footer missing after the data section'))
        return
    f.seek(size - len(MAGIC) - _FOOTER_SIZE)
    raw = f.read(_FOOTER_SIZE + len(MAGIC))
    if raw[-len(MAGIC):] != MAGIC or raw[0] != Opcode.FOOTER:
        problems.append(ChunkProblem(str(path), size - len(raw), (), None, None,
                                     'footer damaged'))
        return
    footer = Footer.read(ReadDataStream(io.BytesIO(raw[_RECORD.size:])))
    if not footer.summary_start or not footer.summary_crc:
        return
    if not summary_at <= footer.summary_start <= size - len(raw):
        problems.append(ChunkProblem(str(path), size - len(raw), (), None, None,
                                     f'footer points at byte {footer.summary_start}, outside '
                                     'the file (the index is damaged; humanoid-data repair '
                                     'rebuilds it)'))
        return
    f.seek(footer.summary_start)
    covered = f.read(size - len(MAGIC) - 4 - footer.summary_start)
    if zlib.crc32(covered) != footer.summary_crc:
        problems.append(ChunkProblem(str(path), footer.summary_start, (), None, None,
                                     'summary checksum mismatch (the index is damaged; '
                                     'humanoid-data repair rebuilds it)'))


def bag_files(folder: Path) -> list[Path]:
    """The MCAP files of a bag (or the file itself): those metadata.yaml lists, else all.

    A stray ``.mcap`` beside a bag whose metadata.yaml is readable is not the bag's.
    """
    if folder.is_file():
        return [folder]
    try:
        info = yaml.safe_load((folder / 'metadata.yaml').read_text(encoding='utf-8'))
        listed = info['rosbag2_bagfile_information']['relative_file_paths']
        files = [folder / str(name) for name in listed]
    except Exception:  # no readable metadata: every MCAP file in the folder
        return sorted(folder.glob('*.mcap'))
    return [f for f in files if f.suffix == '.mcap'] or sorted(folder.glob('*.mcap'))


def verify_bag(path: str | Path) -> VerifyReport:
    """Verify every MCAP file of a bag folder (or one ``.mcap`` file).

    Returns:
        The report; ``report.ok`` is False when any chunk or index failed.

    Raises:
        BagError: No MCAP file at ``path``, or one cannot be opened.

    """
    path = Path(path)
    files = bag_files(path)
    if not files:
        raise BagError(f'{path}: no MCAP file to verify')
    chunks = checksummed = 0
    problems: list[ChunkProblem] = []
    notes: list[str] = []
    for file in files:
        c, k, p, n = verify_file(file)
        chunks += c
        checksummed += k
        problems += p
        notes += n
    return VerifyReport(str(path), len(files), chunks, checksummed, problems, notes)
