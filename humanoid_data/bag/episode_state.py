"""Is an episode folder finished, still being recorded, or left behind by a recorder?

The recorder writes ``metadata.yaml`` and an ``episode.yaml`` with ``state: recording``
the moment an episode opens, and holds an advisory lock on ``.recording.lock`` in the
folder while it writes. The lock goes away with the process, however it ends, so a folder
still marked ``recording`` whose lock nobody holds was left by a recorder that died: its
bag has no index yet and ``humanoid-data repair`` turns it into a readable one.
"""

from __future__ import annotations

import fcntl
import os
from enum import Enum
from pathlib import Path

from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import BagError

LOCK_FILE = '.recording.lock'
EPISODE_FILE = 'episode.yaml'


class EpisodeState(str, Enum):
    """Where an episode folder stands."""

    RECORDING = 'recording'        # a live recorder is writing it now
    INTERRUPTED = 'interrupted'    # its recorder stopped before closing it: repair it
    COMPLETE = 'complete'          # closed by the recorder (or a bag from elsewhere)
    RECOVERED = 'recovered'        # made readable by ``repair``


class UnfinishedEpisodeError(BagError):
    """An episode folder whose bag was never closed."""


def repair_command(folder: str | Path) -> str:
    """The command that makes an interrupted episode readable."""
    return f'humanoid-data repair {folder}'


def lock_is_held(folder: Path) -> bool:
    """Whether a live process holds the recording lock of ``folder``."""
    lock = folder / LOCK_FILE
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def recorded_state(folder: Path) -> str | None:
    """The ``state`` written in ``episode.yaml``; None when the file or the key is missing."""
    path = folder / EPISODE_FILE
    if not path.is_file():
        return None
    try:
        data = read_yaml(path, 'episode metadata')   # bounded: size, depth, aliases
    except Exception:  # noqa: BLE001 - any damage means no readable state, never a raise
        return None
    state = data.get('state') if isinstance(data, dict) else None
    return state if isinstance(state, str) else None


def episode_state(folder: str | Path) -> EpisodeState:
    """Classify an episode folder.

    A folder with MCAP files but no ``metadata.yaml`` is interrupted too (a recorder older
    than the in-progress metadata, or a lost file). Folders without ``state`` in their
    ``episode.yaml`` (older recordings, bags from other recorders) are complete.
    """
    folder = Path(folder)
    state = recorded_state(folder)
    if state == EpisodeState.RECORDING.value:
        return EpisodeState.RECORDING if lock_is_held(folder) else EpisodeState.INTERRUPTED
    if not (folder / 'metadata.yaml').is_file() and any(folder.glob('*.mcap')):
        return EpisodeState.INTERRUPTED
    if state == EpisodeState.RECOVERED.value:
        return EpisodeState.RECOVERED
    return EpisodeState.COMPLETE


def require_finished(folder: str | Path) -> EpisodeState:
    """Return the state of a finished episode; refuse one that is not.

    Raises:
        UnfinishedEpisodeError: The episode is still being recorded, or was interrupted
            (the message holds the repair command).

    """
    folder = Path(folder)
    state = episode_state(folder)
    if state == EpisodeState.RECORDING:
        raise UnfinishedEpisodeError(f'{folder}: still being recorded; convert it once the '
                                     'recorder has closed it')
    if state == EpisodeState.INTERRUPTED:
        raise UnfinishedEpisodeError(
            f'{folder}: unfinished episode (its recorder stopped before closing the bag); '
            f'make it readable with: {repair_command(folder)}')
    return state
