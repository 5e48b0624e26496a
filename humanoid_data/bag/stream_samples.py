"""One stream's samples from pass 1 of an episode read: stamps in memory, values spilled.

``EpisodeReader.scan`` fills one ``StreamSamples`` per stream; alignment then reads back
only the rows the frames use.
"""

from __future__ import annotations

import os
import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from humanoid_data.core.config import StreamConfig
from humanoid_data.errors import DecodeError, HumanoidDataError

SPILL_ROWS = 4096        # samples of a small stream kept in memory before going to disk


@dataclass
class StreamSamples:
    """Stamps of one stream's messages in bag order, and the values of a small stream.

    Stamps stay in memory in ``array('q')`` (16 bytes per message). Values go to an
    anonymous scratch file (deleted when closed or when the process ends) in blocks of
    ``SPILL_ROWS``; alignment then reads back only the rows the frames use, so memory does
    not grow with the length of the episode's 1 kHz streams.
    """

    stream: StreamConfig
    scratch: Path | None = None       # folder for the scratch file (system temp if None)
    header_ns: array[int] = field(default_factory=lambda: array('q'))
    receive_ns: array[int] = field(default_factory=lambda: array('q'))
    names: tuple[str, ...] = ()       # joint names of joint states and commands
    width: int = 0                    # values per sample (0: a large stream, no values)
    count: int = 0                    # samples with values
    _block: np.ndarray | None = None
    _filled: int = 0
    _finite: bytearray = field(default_factory=bytearray)
    #: Raw bytes of every message of a CameraInfo stream (small; read again and again
    #: by pass 2 otherwise, each time decompressing every chunk of the bag).
    kept: list[bytes] = field(default_factory=list)
    #: ``header.frame_id`` of a large stream's messages when pass 1 found one and the
    #: same in all of them (None: unknown or changing, read the message itself).
    frame_id: str | None = None
    _file: IO[bytes] | None = None

    def note_frame_id(self, frame_id: str | None) -> None:
        """Pass 1 saw the latest message, with ``frame_id`` (None: it could not read it).

        The first message sets ``frame_id``; one that differs clears it for good (no
        later message equals None but an unreadable one, which keeps it cleared).
        """
        if len(self.receive_ns) <= 1:
            self.frame_id = frame_id
        elif frame_id != self.frame_id:
            self.frame_id = None

    def append_value(self, value: np.ndarray) -> None:
        """Add one sample's values (every sample of a stream has the same width).

        Raises:
            DecodeError: The sample's width differs from the earlier ones.
            HumanoidDataError: The scratch folder cannot take the block (full disk).

        """
        if self._block is None:
            self.width = len(value)
            self._block = np.empty((SPILL_ROWS, self.width))
        elif len(value) != self.width:
            raise DecodeError(f'{self.stream.topic}: a sample of {len(value)} values after '
                              f'samples of {self.width}')
        self._block[self._filled] = value
        self._filled += 1
        self.count += 1
        if self._filled == SPILL_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._block is None or not self._filled:
            return
        block = self._block[:self._filled]
        self._finite.extend(np.isfinite(block).all(axis=1).tobytes())
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix='humanoid_data_samples_',
                                                    dir=self.scratch)
            self._file.write(block.tobytes())
        except OSError as err:
            where = self.scratch or tempfile.gettempdir()
            raise HumanoidDataError(f'{where}: cannot keep the samples of '
                                    f'{self.stream.topic} in a scratch file: {err}') from err
        self._filled = 0

    def finish(self) -> None:
        """Write out the last block (the end of pass 1)."""
        self._flush()
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Delete the scratch file; the values are gone, the stamps stay."""
        self.kept = []              # pass 2 reads CameraInfo from the bag again
        if self._file is not None:
            self._file.close()
            self._file = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Header and receive stamps as int64 arrays."""
        return (np.frombuffer(self.header_ns, dtype=np.int64),
                np.frombuffer(self.receive_ns, dtype=np.int64))

    def finite(self) -> np.ndarray:
        """Per sample: True when none of its values is NaN or inf."""
        return np.frombuffer(bytes(self._finite), dtype=bool)

    def _read(self, first: int, count: int) -> np.ndarray:
        assert self._file is not None
        size = self.width * 8
        raw = os.pread(self._file.fileno(), count * size, first * size)
        return np.frombuffer(raw, dtype=np.float64).reshape(-1, self.width)

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Values of the samples at bag-order ``index`` (any order, repeats allowed).

        Read from the scratch file one block at a time.
        """
        index = np.asarray(index, dtype=np.int64)
        if not len(index):
            return np.empty((0, self.width))
        wanted, inverse = np.unique(index, return_inverse=True)
        found = np.empty((len(wanted), self.width))
        for block in np.unique(wanted // SPILL_ROWS):
            lo, hi = np.searchsorted(wanted, [block * SPILL_ROWS, (block + 1) * SPILL_ROWS])
            values = self._read(int(block) * SPILL_ROWS, SPILL_ROWS)
            found[lo:hi] = values[wanted[lo:hi] - block * SPILL_ROWS]
        return found[inverse.reshape(-1)]

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(header stamps, values) of every sample in bag order, a block at a time."""
        header = self.arrays()[0]
        for first in range(0, self.count, SPILL_ROWS):
            yield header[first:first + SPILL_ROWS], self._read(first, SPILL_ROWS)
