"""Files the simulated humanoid leaves behind: ground-truth events and the publish ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from humanoid_data.core.events import EventBase, decode_event, encode_event
from humanoid_data.sim.humanoid import Ledger

TRUTH_FILE = 'truth.jsonl'
LEDGER_FILE = 'published.npz'


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
