"""A recorded session for the conversion tests: the simulated humanoid through the recorder.

The session is recorded without DDS: the simulated humanoid feeds the recorder engine on
a fake clock (as in test/recording), with its ground truth and operator markers on the
events topic, so the bags are exactly what the recorder writes.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from humanoid_data.bag import encode
from humanoid_data.core.config import load_suite
from humanoid_data.core.events import (
    EpisodeEnd, EpisodeStart, Outcome, Phase, Source, encode_event)
from humanoid_data.core.settings import RecorderSettings
from humanoid_data.core.topics import topics_for
from humanoid_data.dataset.batch import convert
from humanoid_data.recording.engine import RecorderEngine
from humanoid_data.recording.session import Session
from humanoid_data.sim.humanoid import SimulatedHumanoid
from humanoid_data.sim.scenario import CYCLE_S

MS = 1_000_000
REPO = Path(__file__).resolve().parents[2]
T0 = 10 ** 15
KEEP = ('wrist_right_rgb', 'joint_states', 'joint_command', 'wrist_right_ft',
        'tactile_right_index', 'tactile_right_thumb', 'imu', 'lidar')
OPERATOR_INSTRUCTION = 'put the cube in the bowl, gently'
DATASET = {
    'fps': 30, 'reference': 'wrist_right_rgb',
    'streams': {
        'wrist_right_rgb': {'key': 'observation.images.wrist_right', 'policy': 'nearest',
                            'tolerance_ms': 20, 'required': True},
        'joint_states': {'key': 'observation.state', 'policy': 'interpolate',
                         'tolerance_ms': 10, 'required': True},
        'joint_command': {'key': 'action', 'policy': 'hold', 'as_of': True,
                          'tolerance_ms': 50, 'required': True},
        'wrist_right_ft': {'key': 'observation.wrench.right', 'policy': 'interpolate',
                           'tolerance_ms': 5},
        'tactile_right_index': {'key': 'observation.tactile.right_index',
                                'policy': 'interpolate', 'tolerance_ms': 10},
        'imu': {'key': 'observation.imu', 'policy': 'interpolate', 'tolerance_ms': 10},
        'lidar': {'key': 'observation.lidar', 'policy': 'nearest', 'tolerance_ms': 60},
    },
    'video': {'codec': 'libx264', 'crf': 23, 'gop': 2},
}


def record(root: Path, name: str, suite_file: Path, faults=None, episodes=1,
           empty=False, nan_ft=False, swap_imu=False,
           episode_events=False) -> tuple[Path, dict]:
    """Record ``episodes`` pick-and-place cycles into ``root/name``; return what was sent.

    With ``episode_events`` the operator's episode_start and episode_end go out on the
    events topic too (as the operator console sends them), so they are in the bag.
    """
    data = yaml.safe_load(suite_file.read_text())
    data['streams'] = [s for s in data['streams'] if s['name'] in KEEP]
    suite_path = root / f'{name}_suite.yaml'
    suite_path.write_text(yaml.safe_dump(data))
    suite = load_suite(suite_path)
    now = [T0]
    session = Session(root, name, suite)
    engine = RecorderEngine(topics_for(suite), session, RecorderSettings(preroll_s=0.2),
                            logging.getLogger('t'), clock=lambda: now[0])
    index = {t.topic: i for i, t in enumerate(engine.topics)}
    sim = SimulatedHumanoid(suite, start_ns=T0, faults=faults or {})
    sent: dict[str, list] = {}
    held = []

    def run(ms):
        for _ in range(ms):
            now[0] += MS
            for out in sim.step(now[0]):
                data = out.data
                count = len(sent.setdefault(out.topic, []))
                if nan_ft and out.topic == '/wrist/right/ft' and count % 50 == 7:
                    data = encode.wrench(out.stamp_ns, 'ft', [np.nan] * 3, [0.0] * 3)
                if swap_imu and out.topic == '/imu' and count % 100 == 3:
                    held.append(data)            # delivered after the next one
                    sent[out.topic].append(data)
                    continue
                engine.offer(index[out.topic], data)
                sent[out.topic].append(data)
                if held and out.topic == '/imu':
                    engine.offer(index[out.topic], held.pop())
            for event in sim.truth_due(now[0]):
                engine.offer(index['/humanoid_data/events'], encode.string(encode_event(event)))
                if isinstance(event, Phase):    # the operator marks what they see, 40 ms late
                    marker = replace(event, stamp_ns=event.stamp_ns + 40 * MS,
                                     source=Source.OPERATOR)
                    engine.offer(index['/humanoid_data/events'],
                                 encode.string(encode_event(marker)))

    def mark(event):
        if episode_events:
            engine.offer(index['/humanoid_data/events'], encode.string(encode_event(event)))

    run(300)
    for _ in range(episodes):
        mark(EpisodeStart(now[0], Source.OPERATOR, task='pick_place',
                          instruction=OPERATOR_INSTRUCTION, operator='ana'))
        engine.start_episode(task='pick_place')
        if empty:
            mark(EpisodeEnd(now[0], Source.OPERATOR, outcome=Outcome.ABORTED))
            engine.stop_episode(outcome='aborted')
            run(100)
            continue
        sim.play_cycle(now[0] + 200 * MS)
        run(int((CYCLE_S + 0.5) * 1000))
        mark(EpisodeEnd(now[0], Source.OPERATOR, outcome=Outcome.FAILURE,
                        failure_mode='slip_drop'))
        engine.stop_episode(outcome='success')
        run(200)
    now[0] += 60_000 * MS
    engine.close(timeout=60)
    return session.path, {'sent': sent, 'sim': sim}


def convert_with(config: Path, sources, out: Path, fmt: str, jobs: int = 1):
    """Convert ``sources`` with the dataset config ``config`` and the shipped taxonomy."""
    return convert(sources, out, fmt, config, REPO / 'config' / 'phases.yaml',
                   REPO / 'config' / 'contact.yaml', jobs=jobs)


def convert_one_twice(root: Path, fmt: str = 'hdf5'):
    """One episode recorded with its events, converted with and without episode.yaml.

    Returns the conversion result and the output folder.
    """
    session, _ = record(root, 'rec', REPO / 'config' / 'humanoid.yaml', episode_events=True)
    config = root / 'dataset.yaml'
    config.write_text(yaml.safe_dump(DATASET))
    shutil.copytree(session, root / 'src' / 'with_yaml')
    shutil.copytree(session, root / 'src' / 'no_yaml')
    (root / 'src' / 'no_yaml' / 'episode_0001' / 'episode.yaml').unlink()
    return convert_with(config, [root / 'src'], root / 'out', fmt), root / 'out'


def two_episode_session(root: Path) -> tuple[Path, Path, dict, Path]:
    """Two episodes of the default suite recorded under ``root``, and the tests' plan.

    Returns (root, session, what was sent, dataset.yaml holding ``DATASET``).
    """
    path, info = record(root, 'good', REPO / 'config' / 'humanoid.yaml', episodes=2)
    config = root / 'dataset.yaml'
    config.write_text(yaml.safe_dump(DATASET))
    return root, path, info, config
