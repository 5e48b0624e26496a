"""Compare what the simulated humanoid published with what the recorder wrote."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import yaml

from humanoid_data.core.config import SuiteConfig
from humanoid_data.sim.humanoid import Ledger


class TopicComparison(NamedTuple):
    """Published vs recorded messages of one topic, summed over episodes."""

    topic: str
    stream: str
    required: bool
    published: int
    recorded: int
    dropped: int
    missing_by_stamps: int
    megabytes: float

    @property
    def missing(self) -> int:
        """Published messages the bags do not hold."""
        return self.published - self.recorded

    @property
    def lost(self) -> bool:
        """Whether this topic lost messages (more than one missing, or any drop or gap)."""
        return self.dropped > 0 or self.missing_by_stamps > 0 or abs(self.missing) > 1


def load_episodes(session: Path) -> list[dict]:
    """Read every kept episode.yaml of a session, in episode order."""
    return [yaml.safe_load(p.read_text())
            for p in sorted(session.glob('episode_*/episode.yaml'))]


def compare(suite: SuiteConfig, episodes: list[dict], ledger: Ledger) -> list[TopicComparison]:
    """Sum, per stream, published stamps inside the episode windows and recorded counts."""
    windows = [(e['start_ns'] - e['preroll_ns'], e['stop_ns'] + 1) for e in episodes]
    rows = []
    for stream in suite.streams:
        published = sum(ledger.count_in_windows(stream.topic, windows))
        recorded = dropped = gaps = nbytes = 0
        for episode in episodes:
            entry = episode['topics'].get(stream.topic, {})
            recorded += entry.get('written', 0)
            dropped += entry.get('dropped', 0)
            gaps += entry.get('missing_by_stamps', 0)
            nbytes += entry.get('bytes', 0)
        rows.append(TopicComparison(stream.topic, stream.name, stream.required, published,
                                    recorded, dropped, gaps, round(nbytes / 1e6, 2)))
    return rows
