"""Free space of the session's disk, seen before it runs out.

The writer thread samples the file system about once a second and the recording rate
from the bytes it wrote, and derives the minutes of recording left. Below
``warn_minutes`` the recorder reports WARN; below ``min_free_bytes`` it refuses to start
an episode. A reserve file, allocated when the session opens, keeps room for what must
be written after the disk fills: when a write fails for lack of space, the reserve is
freed so the episode's index, metadata.yaml and episode.yaml still fit.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

RESERVE_FILE = '.disk_reserve'
SAMPLE_NS = 1_000_000_000


class DiskStatus(NamedTuple):
    """One reading of the disk, as the status display shows it."""

    free_bytes: int
    rate_bytes_per_s: float      # recording rate, 0 when idle
    minutes_left: float | None   # None when not recording
    level: int                   # 0 OK, 1 WARN, 2 ERROR
    message: str


@dataclass
class DiskWatch:
    """Free space, recording rate and the reserve of one session folder."""

    folder: Path
    warn_minutes: float
    min_free_bytes: int
    reserve_bytes: int
    status: DiskStatus = DiskStatus(0, 0.0, None, 0, '')
    reserve_ok: bool = False
    _last_ns: int = 0
    _last_written: int = 0

    def __post_init__(self) -> None:
        """Allocate the reserve and take a first reading, before the writer runs."""
        self.ensure_reserve()
        self.status = self._reading(0.0)

    @property
    def reserve_path(self) -> Path:
        """The file that holds the reserve."""
        return self.folder / RESERVE_FILE

    def ensure_reserve(self) -> bool:
        """Allocate the reserve unless it is there; False when the disk cannot hold it."""
        path = self.reserve_path
        if self.reserve_bytes <= 0:
            self.reserve_ok = True
            return True
        try:
            if not (path.is_file() and path.stat().st_size >= self.reserve_bytes):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
                try:
                    os.posix_fallocate(fd, 0, self.reserve_bytes)
                finally:
                    os.close(fd)
        except OSError:
            self.release_reserve()
            return False
        self.reserve_ok = True
        return True

    def release_reserve(self) -> None:
        """Give the reserve back to the file system (after a write failed for space)."""
        self.reserve_ok = False
        try:
            self.reserve_path.unlink()
        except OSError:
            pass

    def free_bytes(self) -> int:
        """Bytes available to this process in the session's file system (0 if unknown)."""
        try:
            return shutil.disk_usage(self.folder).free
        except OSError:
            return 0

    def sample(self, now_ns: int, written_bytes: int, recording: bool,
               force: bool = False) -> DiskStatus | None:
        """Take a reading when a second has passed or ``force`` (writer thread), else None.

        A reserve lost to a full disk is taken again once there is room.
        """
        if not force and self._last_ns and now_ns - self._last_ns < SAMPLE_NS:
            return None
        if not self.reserve_ok:
            self.ensure_reserve()
        elapsed_s = (now_ns - self._last_ns) / 1e9 if self._last_ns else 0.0
        rate = ((written_bytes - self._last_written) / elapsed_s
                if elapsed_s > 0 and recording else 0.0)
        self._last_ns, self._last_written = now_ns, written_bytes
        self.status = self._reading(rate)
        return self.status

    def _reading(self, rate: float) -> DiskStatus:
        free = self.free_bytes()
        usable = max(0, free - self.min_free_bytes)
        minutes = usable / rate / 60 if rate > 0 else None
        mib = free / 2 ** 20
        if free < self.min_free_bytes:
            return DiskStatus(free, rate, minutes, 2,
                              f'disk nearly full: {mib:.0f} MiB free in {self.folder}')
        if minutes is not None and minutes < self.warn_minutes:
            return DiskStatus(free, rate, minutes, 1,
                              f'disk: {minutes:.1f} min of recording left '
                              f'({mib:.0f} MiB free in {self.folder})')
        return DiskStatus(free, rate, minutes, 0, '')

    def refusal(self) -> str:
        """Why an episode may not start now; empty when it may.

        Reads only the writer thread's last reading, so the caller never waits on disk.
        """
        free = self.status.free_bytes
        if free < self.min_free_bytes:
            return (f'not enough disk space to start an episode: {free / 2**20:.0f} MiB free '
                    f'in {self.folder}, the recorder needs {self.min_free_bytes / 2**20:.0f} '
                    'MiB (parameter disk_min_free_mib)')
        if not self.reserve_ok:
            return (f'cannot reserve {self.reserve_bytes / 2**20:.0f} MiB in {self.folder} '
                    'for closing episodes safely (disk full?)')
        return ''
