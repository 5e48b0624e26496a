"""The session folder: session.yaml, one folder per episode, discarded episodes aside."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from pathlib import Path
from typing import Any

import yaml

from humanoid_data import __version__
from humanoid_data.bag.episode_state import EpisodeState, episode_state
from humanoid_data.core.atomic_file import replace_file
from humanoid_data.core.config import SuiteConfig
from humanoid_data.errors import BagError

SUITE_FILE = 'suite.yaml'
DISCARDED = 'discarded'
_EPISODE = re.compile(r'^episode_(\d{4,})$')


def default_session_name(now: dt.datetime | None = None) -> str:
    """Return ``session_YYYYmmdd_HHMMSS`` in UTC."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime('session_%Y%m%d_%H%M%S')


def ensure_writable(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be written in it.

    Raises:
        BagError: The folder cannot be created or written, naming it.

    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / '.write_probe'
        probe.write_bytes(b'')
        probe.unlink()
    except OSError as err:
        raise BagError(f'{folder}: output folder is not writable: '
                       f'{err.strerror or err}') from err


def write_yaml(path: Path, data: dict[str, Any], durable: bool = False) -> None:
    """Write ``data`` as YAML via a temporary file, so a crash never leaves half a file.

    ``durable`` also forces the file and its folder entry to disk (a power cut after the
    call keeps it).

    Raises:
        OSError: The file cannot be written (a failed write leaves no temporary file).

    """
    replace_file(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
                 durable=durable)


class Session:
    """A folder of episodes recorded with one robot configuration."""

    def __init__(self, root: Path, name: str, suite: SuiteConfig, operator: str = '') -> None:
        """Create (or reopen) ``root/name`` and write session.yaml.

        Raises:
            BagError: The folder cannot be created or written.

        """
        self.path = Path(root) / name
        self.name = name
        ensure_writable(self.path)
        existing = [int(m.group(1)) for p in self._episode_dirs()
                    if (m := _EPISODE.match(p.name))]
        self._next_index = max(existing, default=0) + 1
        write_yaml(self.path / 'session.yaml', {
            'session': name,
            'robot': suite.robot,
            'config_file': suite.source,
            'config_digest': suite.digest,
            'operator': operator,
            'software': f'humanoid_data {__version__}',
            'host': socket.gethostname(),
            'created': dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'),
            'streams': [s.name for s in suite.streams],
        })
        # The suite travels with its recordings: the converter reads it from here.
        source = Path(suite.source)
        if source.is_file():
            try:
                (self.path / SUITE_FILE).write_text(source.read_text())
            except OSError as err:
                raise BagError(f'{self.path / SUITE_FILE}: cannot write: {err.strerror}') from err

    def _episode_dirs(self) -> list[Path]:
        dirs = [p for p in self.path.iterdir() if p.is_dir()]
        discarded = self.path / DISCARDED
        if discarded.is_dir():
            dirs += [p for p in discarded.iterdir() if p.is_dir()]
        return dirs

    def next_episode_id(self) -> str:
        """Reserve and return the next episode id (``episode_0001``, ...)."""
        episode_id = f'episode_{self._next_index:04d}'
        self._next_index += 1
        return episode_id

    def episode_path(self, episode_id: str) -> Path:
        """Folder of an episode's bag."""
        return self.path / episode_id

    def find_episode(self, episode_id: str) -> Path:
        """The folder of an episode, in the session or among the discarded ones."""
        path = self.episode_path(episode_id)
        aside = self.path / DISCARDED / episode_id
        return aside if not path.is_dir() and aside.is_dir() else path

    def unfinished_episodes(self) -> list[Path]:
        """Episode folders left unfinished by a recorder that stopped (need ``repair``)."""
        return sorted(p for p in self._episode_dirs()
                      if _EPISODE.match(p.name) and episode_state(p) == EpisodeState.INTERRUPTED)

    def move_to_discarded(self, episode_id: str) -> Path:
        """Move an episode folder under ``discarded/`` and return its new path.

        Raises:
            BagError: The folder cannot be moved.

        """
        target_dir = self.path / DISCARDED
        try:
            target_dir.mkdir(exist_ok=True)
            target = target_dir / episode_id
            os.replace(self.episode_path(episode_id), target)
        except OSError as err:
            raise BagError(f'{self.episode_path(episode_id)}: cannot move to '
                           f'{target_dir}: {err}') from err
        return target


def update_episode_yaml(folder: Path, fields: dict[str, Any]) -> None:
    """Set ``fields`` in the episode.yaml of ``folder`` (nothing when there is none).

    Raises:
        BagError: The file is not a readable YAML mapping.
        OSError: It cannot be written.

    """
    path = folder / 'episode.yaml'
    if not path.is_file():
        return
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8'))
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise BagError(f'{path}: cannot update: {err}') from err
    if not isinstance(data, dict):
        raise BagError(f'{path}: cannot update: not a mapping')
    data.update(fields)
    write_yaml(path, data)
