"""Read what can be read from an MCAP file that was never finished or was damaged.

A recorder killed mid-episode leaves a file without its summary and footer, its last
chunk possibly torn. ``SalvageReader`` walks the records from the start, as the file
was written, and yields the messages of every chunk whose checksum holds; a chunk that
fails is skipped and reported, and a torn end stops the walk. Definitions (schemas,
channels) come from the records themselves, so no other file is needed.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator, NamedTuple

from mcap.data_stream import ReadDataStream
from mcap.opcode import Opcode
from mcap.reader import make_reader
from mcap.records import Channel, Chunk, Message, Schema
from mcap.stream_reader import breakup_chunk

from humanoid_data.bag.episode_bag import BagTopic
from humanoid_data.bag.verify import (
    MAGIC, RECORD_ERRORS, ChunkProblem, TruncatedRecord, chunk_problem, read_records)
from humanoid_data.errors import BagError


class SalvagedMessage(NamedTuple):
    """One message read back: its channel, receive time and raw bytes."""

    channel_id: int
    log_ns: int
    data: bytes


class SalvageReader:
    """Messages of the intact parts of one MCAP file, in file order."""

    def __init__(self, path: Path) -> None:
        """Check the file's magic.

        Raises:
            BagError: The file cannot be opened or is not MCAP.

        """
        self.path = path
        self.schemas: dict[int, Schema] = {}
        self.channels: dict[int, Channel] = {}
        self.problems: list[ChunkProblem] = []
        self.chunks = 0
        self.torn = False
        self.compression = ''     # of the first chunk: the copy keeps it
        try:
            with path.open('rb') as f:
                magic = f.read(len(MAGIC))
        except OSError as err:
            raise BagError(f'{path}: cannot open: {err.strerror or err}') from err
        if magic != MAGIC:
            raise BagError(f'{path}: not an MCAP file (bad magic); nothing can be salvaged')
        self._read_summary()

    def _read_summary(self) -> None:
        """Definitions from the summary, when the file has a readable one.

        The first chunk holds them too, but a damaged first chunk must not take every
        other chunk's messages with it.
        """
        try:
            with self.path.open('rb') as f:
                summary = make_reader(f).get_summary()
        except Exception:  # no summary (an unfinished file) or a damaged one
            return
        if summary is not None:
            self.schemas.update(summary.schemas)
            self.channels.update(summary.channels)

    def topics(self) -> dict[int, BagTopic]:
        """Channel id -> topic with the definition the file carries."""
        out = {}
        for cid, channel in self.channels.items():
            schema = self.schemas.get(channel.schema_id)
            name = schema.name if schema else ''
            definition = schema.data.decode('utf-8', 'replace') if schema else ''
            out[cid] = BagTopic(channel.topic, name, definition,
                                channel.metadata.get('topic_type_hash', ''))
        return out

    def messages(self) -> Iterator[SalvagedMessage]:
        """Every message of the intact chunks (and unchunked messages) in file order.

        Each call reads the file anew; ``problems``, ``chunks`` and ``compression`` describe
        the last complete read.
        """
        self.problems, self.chunks, self.torn = [], 0, False
        with self.path.open('rb') as f:
            size = f.seek(0, io.SEEK_END)
            f.seek(len(MAGIC))
            try:
                for record in read_records(f, size, len(MAGIC)):
                    if record.opcode in (Opcode.DATA_END, Opcode.FOOTER):
                        return
                    yield from self._record(record.opcode, record.offset, record.body)
            except TruncatedRecord as err:
                self.torn = True
                self.problems.append(ChunkProblem(str(self.path), err.offset, (), None, None,
                                                  str(err)))
            except (BagError, *RECORD_ERRORS) as err:
                self.torn = True
                self.problems.append(ChunkProblem(str(self.path), f.tell(), (), None, None,
                                                  f'structure damaged, reading stops: {err}'))

    def _record(self, opcode: int, offset: int, body: bytes) -> Iterator[SalvagedMessage]:
        try:
            yield from self._parse(opcode, offset, body)
        except RECORD_ERRORS as err:     # one damaged record: skip it, keep reading
            self.problems.append(ChunkProblem(str(self.path), offset, (), None, None,
                                              f'record does not parse, left out: {err}'))

    def _parse(self, opcode: int, offset: int, body: bytes) -> Iterator[SalvagedMessage]:
        stream = ReadDataStream(io.BytesIO(body))
        if opcode == Opcode.SCHEMA:
            self._keep(Schema.read(stream))
        elif opcode == Opcode.CHANNEL:
            self._keep(Channel.read(stream))
        elif opcode == Opcode.MESSAGE:
            message = Message.read(stream, len(body))
            yield SalvagedMessage(message.channel_id, message.log_time, message.data)
        elif opcode == Opcode.CHUNK:
            chunk = Chunk.read(stream)
            self.chunks += 1
            self.compression = self.compression or chunk.compression
            reason = chunk_problem(chunk)
            if reason:
                self.problems.append(ChunkProblem(
                    str(self.path), offset, (), chunk.message_start_time,
                    chunk.message_end_time, f'{reason}; its messages are left out'))
                return
            for inner in breakup_chunk(chunk):
                if isinstance(inner, Message):
                    yield SalvagedMessage(inner.channel_id, inner.log_time, inner.data)
                else:
                    self._keep(inner)

    def _keep(self, record: object) -> None:
        if isinstance(record, Schema):
            self.schemas[record.id] = record
        elif isinstance(record, Channel):
            self.channels[record.id] = record
