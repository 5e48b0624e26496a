"""A dataset plan (dataset.yaml) for a suite nobody planned: a bag from another recorder.

Each stream's dataset key and alignment follow from its modality and rate
(``dataset_plan``); ``dataset_yaml`` writes the plan with the reason for each stream.
docs/other_bags.md lists the rules.
"""

from __future__ import annotations

import math
from typing import Any

from humanoid_data.bag.suite_files import yaml_value
from humanoid_data.bag.suite_guess import SuiteGuess
from humanoid_data.core.config import Modality, StreamConfig, SuiteConfig
from humanoid_data.errors import ConfigError

PREFIXES = {Modality.RGB: 'observation.images', Modality.DEPTH: 'observation.depth',
            Modality.WRENCH: 'observation.wrench', Modality.TACTILE: 'observation.tactile',
            Modality.IMU: 'observation.imu', Modality.LIDAR: 'observation.lidar'}


def dataset_plan(suite: SuiteConfig, receive: frozenset[str] = frozenset(),
                 base_frame: str = 'base_link') -> tuple[dict[str, Any], dict[str, str]]:
    """A dataset.yaml document for ``suite``, and a comment per stream saying why.

    Cameras become ``observation.images.<camera>`` (nearest), depth
    ``observation.depth.<camera>``, the first joint state ``observation.state``
    (interpolated; another one ``observation.state_<name>``), the first command
    ``action`` (held, as of the frame), force-torque, tactile and IMU interpolated, the
    first LiDAR ``observation.lidar`` (nearest). The timeline runs at the largest
    camera's rate and starts on its first frame. Streams named in ``receive`` are
    aligned on receive times; camera poses are given in ``base_frame``.
    """
    streams_of: dict[Modality, list[StreamConfig]] = {}
    for stream in suite.streamed:
        streams_of.setdefault(stream.modality, []).append(stream)
    cameras = sorted(streams_of.get(Modality.RGB, []), key=lambda c: (
        -c.width * c.height, 'head' not in c.topic, c.name))
    reference = cameras[0] if cameras else None
    streams: dict[str, Any] = {}
    why: dict[str, str] = {}
    for stream in suite.streamed:
        peers = streams_of[stream.modality]
        planned = _stream_plan(stream, stream is peers[0], len(peers))
        if planned is None:
            continue
        plan, why[stream.name] = planned
        if stream.name in receive:
            plan['stamps'] = 'receive'
            why[stream.name] += '; aligned on receive times (header stamps unusable)'
        streams[stream.name] = plan
    if not streams:
        raise ConfigError(f'{suite.source}: no stream of the suite can go into a dataset')
    document: dict[str, Any] = {
        'fps': round(reference.rate_hz) if reference else 30,
        'reference': reference.name if reference else '', 'streams': streams,
        'calibration': {'base_frame': base_frame, 'checks': False}}
    return document, why


def _stream_plan(stream: StreamConfig, main: bool, peers: int
                 ) -> tuple[dict[str, Any], str] | None:
    """One stream's plan and why; ``main``: the first of its modality, of ``peers``."""
    modality, name = stream.modality, stream.name
    period_ms = 1000.0 / stream.rate_hz
    if modality in (Modality.RGB, Modality.DEPTH) or (modality == Modality.LIDAR and main):
        tolerance = max(60.0 if modality == Modality.LIDAR else 20.0, 0.6 * period_ms)
        key = PREFIXES[modality] + ('' if modality == Modality.LIDAR else
                                    f'.{_key_part(name)}')
        return ({'key': key, 'policy': 'nearest', 'tolerance_ms': _ms(tolerance),
                 'required': modality == Modality.RGB},
                f'nearest message within 0.6 of its period ({period_ms:.0f} ms)')
    if modality == Modality.JOINT_STATE:
        return ({'key': 'observation.state' if main else f'observation.state_{name}',
                 'policy': 'interpolate', 'tolerance_ms': _ms(max(10.0, 1.5 * period_ms)),
                 'required': main},
                ('the first joint state' if main else 'another joint state') +
                ', interpolated between the samples around each frame')
    if modality == Modality.COMMAND:
        return ({'key': 'action' if main else f'action_{name}', 'policy': 'hold',
                 'as_of': True, 'tolerance_ms': _ms(max(50.0, 2.5 * period_ms)),
                 'required': main},
                'the last command sent at or before each frame')
    if modality in (Modality.WRENCH, Modality.TACTILE, Modality.IMU):
        single = modality == Modality.IMU and peers == 1
        key = PREFIXES[modality] + ('' if single else f'.{_key_part(name)}')
        return ({'key': key, 'policy': 'interpolate',
                 'tolerance_ms': _ms(max(5.0, 1.5 * period_ms))},
                'interpolated between the samples around each frame')
    return None


#: Words that say what a stream is, left out of its dataset key (the prefix says it).
_KIND_WORDS = {'camera', 'cam', 'rgb', 'color', 'depth', 'tactile', 'ft', 'wrench',
               'force', 'torque', 'imu', 'image'}


def _key_part(name: str) -> str:
    """The last part of a stream's dataset key: its name without the kind words."""
    kept = [w for w in name.split('_') if w not in _KIND_WORDS]
    return '_'.join(kept) or name


def _ms(value: float) -> int:
    return int(math.ceil(value))


def dataset_yaml(suite: SuiteConfig, guess: SuiteGuess) -> str:
    """A dataset.yaml for ``suite`` (guessed or given for ``guess``'s bag), commented."""
    base_frame = guess.base_frame
    document, why = dataset_plan(suite, guess.receive_of(suite), base_frame)
    lines = [f'# How {guess.bag.name} becomes a dataset, guessed by humanoid-data.',
             '# docs/config.md describes every key; unset ones take their defaults.',
             f'fps: {yaml_value(document["fps"])}   # the reference camera\'s rate',
             f'reference: {yaml_value(document["reference"])}' +
             ('   # the largest camera: the timeline starts on its first frame'
              if document['reference'] else '   # no camera: starts at the first stamp'),
             'streams:']
    for name, plan in document['streams'].items():
        body = ', '.join(f'{k}: {yaml_value(v)}' for k, v in plan.items())
        lines.append(f'  {name}: {{{body}}}   # {why[name]}')
    lines += ['calibration:',
              f'  base_frame: {yaml_value(base_frame)}   # the frame camera poses are given in '
              '(from /tf)',
              '  checks: false           # the LiDAR/hand-eye checks assume the '
              'simulated humanoid\'s scene']
    return '\n'.join(lines) + '\n'
