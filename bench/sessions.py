"""The session a conversion benchmark works on: the one given, or a fresh demo session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml


def session_or_demo(given: str, work: Path) -> Path:
    """``given`` if set, else a 3-episode demo session recorded into ``work`` (no convert)."""
    if given:
        return Path(given)
    subprocess.run([sys.executable, '-m', 'humanoid_data', 'demo', '--out', str(work),
                    '--session', 'bench', '--no-convert'], check=True,
                   stdout=subprocess.DEVNULL)
    return work / 'bench'


def finished_episodes(session: Path) -> tuple[list[Path], float]:
    """The session's finished episode folders and their summed duration in seconds."""
    episodes = sorted(p for p in session.glob('episode_*') if (p / 'episode.yaml').is_file())
    seconds = sum(yaml.safe_load((p / 'episode.yaml').read_text())['duration_s']
                  for p in episodes)
    return episodes, seconds
