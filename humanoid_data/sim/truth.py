"""Files the simulated humanoid leaves behind.

Ground-truth events, the publish ledger and the true pose every camera frame was rendered
from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from humanoid_data.core.events import EventBase, decode_event, encode_event
from humanoid_data.sim.humanoid import CameraTruth, Ledger

TRUTH_FILE = 'truth.jsonl'
LEDGER_FILE = 'published.npz'
CAMERA_POSES_FILE = 'camera_poses.npz'


class TruthLog:
    """Appends ground-truth events, one JSON line each, to ``<folder>/truth.jsonl``."""

    def __init__(self, folder: Path) -> None:
        """Create the folder and open the file for appending."""
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._file = (folder / TRUTH_FILE).open('a', encoding='utf-8')

    def write(self, event: EventBase) -> None:
        """Append one event."""
        self._file.write(encode_event(event) + '\n')
        self._file.flush()

    def save_ledger(self, ledger: Ledger) -> Path:
        """Write every published header stamp, per topic, to ``published.npz``."""
        topics = sorted(ledger.stamps)
        arrays: dict[str, Any] = {f'stamps_{i}': np.asarray(ledger.stamps[t], dtype=np.int64)
                                  for i, t in enumerate(topics)}
        path = self.folder / LEDGER_FILE
        np.savez(path, topics=np.asarray(topics), **arrays)
        return path

    def save_camera_poses(self, truth: dict[str, CameraTruth]) -> Path:
        """Write each camera stream's frame stamps and true optical poses (x y z, quat).

        Poses are in ``base_footprint``, mount faults included: what the image shows.
        """
        streams = sorted(truth)
        arrays: dict[str, Any] = {}
        for i, name in enumerate(streams):
            arrays[f'stamps_{i}'] = np.asarray(truth[name].stamps, dtype=np.int64)
            arrays[f'poses_{i}'] = np.asarray(truth[name].poses, dtype=np.float64).reshape(-1, 7)
        path = self.folder / CAMERA_POSES_FILE
        np.savez(path, streams=np.asarray(streams), **arrays)
        return path

    def close(self) -> None:
        """Close the events file."""
        self._file.close()


def load_truth(folder: Path) -> list[EventBase]:
    """Read the ground-truth events written by ``TruthLog``."""
    path = folder / TRUTH_FILE
    return [decode_event(line) for line in path.read_text().splitlines() if line.strip()]


def load_ledger(folder: Path) -> Ledger:
    """Read the publish ledger written by ``TruthLog.save_ledger``."""
    with np.load(folder / LEDGER_FILE) as data:
        topics = [str(t) for t in data['topics']]
        return Ledger({t: data[f'stamps_{i}'].tolist() for i, t in enumerate(topics)})


def load_camera_poses(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read ``save_camera_poses``: stream -> (stamps (N,), poses (N, 7))."""
    with np.load(folder / CAMERA_POSES_FILE) as data:
        return {str(name): (data[f'stamps_{i}'], data[f'poses_{i}'])
                for i, name in enumerate(data['streams'])}
