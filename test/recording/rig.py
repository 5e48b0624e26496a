"""A simulated humanoid feeding a recorder engine on a fake clock: the recording tests' rig."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from humanoid_data.core.settings import RecorderSettings
from humanoid_data.core.topics import topics_for
from humanoid_data.recording.engine import RecorderEngine
from humanoid_data.recording.session import Session
from humanoid_data.sim.humanoid import SimulatedHumanoid

MS = 1_000_000
T0 = 1_000 * MS


class Rig:
    """A simulated humanoid feeding an engine on a fake clock (1 ms steps)."""

    def __init__(self, tmp_path: Path, suite, faults=None, **settings) -> None:
        self.now = T0
        self.session = Session(tmp_path, 's', suite)
        self.engine = RecorderEngine(topics_for(suite), self.session,
                                     RecorderSettings(**settings), logging.getLogger('t'),
                                     clock=lambda: self.now)
        self.index = {t.topic: i for i, t in enumerate(self.engine.topics)}
        self.sim = SimulatedHumanoid(suite, start_ns=T0, faults=faults)
        self.sent: dict[tuple[str, int], bytes] = {}

    def run_ms(self, ms: int) -> None:
        for _ in range(ms):
            self.now += MS
            for out in self.sim.step(self.now):
                self.engine.offer(self.index[out.topic], out.data)
                self.sent[(out.topic, out.stamp_ns)] = out.data

    def finish(self) -> None:
        self.now += 60_000 * MS
        self.engine.close(timeout=60)

    def episode(self, episode_id: str, discarded: bool = False) -> dict:
        folder = self.session.path / ('discarded' if discarded else '') / episode_id
        return yaml.safe_load((folder / 'episode.yaml').read_text())
