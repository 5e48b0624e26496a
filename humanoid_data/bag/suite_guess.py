"""A sensor suite guessed from a bag: message types to modalities, rates and sizes measured.

A bag from ``ros2 bag record`` or ROS 1 has topics, types and messages but no suite.yaml.
``guess_suite`` reads the first ``WINDOW_S`` seconds of the bag (and the first message of
a topic quiet in that window) and guesses each topic's stream:

- the modality from the type, the image encoding and size, and words in the topic name
  (``COMMAND_WORDS`` make a JointState the action; ``tactile``/``touch`` a small image a
  tactile pad; ``depth`` or a 16UC1/32FC1 encoding a depth image);
- ``rate_hz`` from the header stamps (receive times where the stamps are unusable),
  rounded to a whole number within ``ROUND_TOLERANCE``;
- width, height, encoding and LiDAR points from the first message; the joint names from
  the first joint state; latched topics (/tf_static, /robot_description) from the
  publisher's durability.

Every guess carries the reason, written beside it as a comment by ``suite_yaml``; topics
with no modality are listed as skipped. ``fill_suite`` completes a hand-written suite
that leaves out what the bag can tell (rates, sizes, types).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from humanoid_data.bag.any_bag import describe, episode_name, is_latched, open_bag
from humanoid_data.bag.decode import (
    CameraModel, ImageArray, JointArrays, PointCloudArray, decode)
from humanoid_data.bag.stamps import header_stamp_ns, string_payload
from humanoid_data.bag.tf_cdr import TfDecoder
from humanoid_data.core.config import (
    HEADERLESS_TYPES, IMAGE_ENCODINGS, MODALITY_TYPES, STAMP_OFFSETS, Modality, SuiteConfig,
    parse_suite)
from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import BagError, ConfigError, DecodeError

#: Seconds of the bag read to measure rates (from its first message).
WINDOW_S = 10.0
#: A measured rate within this fraction of a whole number is that number.
ROUND_TOLERANCE = 0.03
#: Words in a topic that make a JointState (or PoseStamped) the operator's command.
COMMAND_WORDS = ('command', 'cmd', 'action', 'target', 'goal', 'desired', 'setpoint',
                 'teleop', 'reference')
TACTILE_WORDS = ('tactile', 'touch', 'taxel', 'skin')
#: An image this small (pixels) is a tactile pad's taxel grid, not a camera.
TACTILE_MAX_PIXELS = 256
DEPTH_ENCODINGS = ('16UC1', '32FC1', 'mono16')
#: Trailing topic words that say nothing about the sensor (dropped from stream names).
GENERIC_WORDS = {'image_raw', 'image_rect', 'image_rect_raw', 'image_color',
                 'image_rect_color', 'image', 'compressed', 'raw', 'data', 'points',
                 'cloud', 'states', 'state', 'msg'}
#: Transform edges noted per topic (a /tf of a whole robot has a few hundred).
MAX_EDGES = 10_000
PREFIXES = {Modality.RGB: 'observation.images', Modality.DEPTH: 'observation.depth',
            Modality.WRENCH: 'observation.wrench', Modality.TACTILE: 'observation.tactile',
            Modality.IMU: 'observation.imu', Modality.LIDAR: 'observation.lidar'}


@dataclass
class _Topic:
    """What the window showed of one topic."""

    topic: str
    msgtype: str
    count: int
    latched: bool
    header_ns: list[int] = field(default_factory=list)
    log_ns: list[int] = field(default_factory=list)
    first: Any = None           # the first message decoded (None: did not decode)
    first_raw: bytes = b''
    edges: set[tuple[str, str]] = field(default_factory=set)   # TFMessage (parent, child)


@dataclass(frozen=True)
class Guess:
    """One stream of a guessed suite and why each value is what it is."""

    entry: dict[str, Any]       # the suite.yaml entry
    why: str
    receive_time: bool = False  # its header stamps are unusable: align on receive times


@dataclass
class SuiteGuess:
    """A suite guessed from one bag."""

    bag: Path
    robot: str
    joints: list[str]
    guesses: list[Guess]
    skipped: list[tuple[str, str, str]]       # topic, type, why
    seconds: float                            # of the bag measured
    base_frame: str = 'base_link'             # the robot's base among its transforms

    def suite(self) -> SuiteConfig:
        """The guessed suite, validated like a hand-written one.

        Raises:
            ConfigError: No topic of the bag has a modality (naming the bag).

        """
        if not self.guesses:
            raise ConfigError(f'{self.bag}: no topic of the bag is a stream the converter '
                              f'knows ({"; ".join(f"{t} ({m})" for t, m, _ in self.skipped)})')
        return parse_suite(self.document(), f'{self.bag} (suite guessed from the bag)')

    @property
    def receive(self) -> frozenset[str]:
        """Streams whose header stamps are unusable (aligned on receive times)."""
        return frozenset(g.entry['name'] for g in self.guesses if g.receive_time)

    def receive_of(self, suite: SuiteConfig) -> frozenset[str]:
        """The streams of another suite for this bag whose topics have unusable stamps."""
        topics = {g.entry['topic'] for g in self.guesses if g.receive_time}
        return frozenset(s.name for s in suite.streams if s.topic in topics)

    def document(self) -> dict[str, Any]:
        """The suite as the YAML document it would be read from."""
        return {'robot': self.robot, 'joints': list(self.joints),
                'streams': [g.entry for g in self.guesses]}


def guess_suite(path: Path, window_s: float = WINDOW_S) -> SuiteGuess:
    """Read the start of the bag at ``path`` and guess its suite.

    Raises:
        BagError: The bag cannot be opened or read, naming it.

    """
    topics = _measure(path, window_s)
    guesses: list[Guess] = []
    skipped: list[tuple[str, str, str]] = []
    names: set[str] = set()
    for seen in sorted(topics.values(), key=lambda t: t.topic):
        guess = _guess(seen, names)
        if isinstance(guess, str):
            skipped.append((seen.topic, seen.msgtype, guess))
        else:
            names.add(guess.entry['name'])
            guesses.append(guess)
    span = [t for s in topics.values() for t in s.log_ns]
    return SuiteGuess(path, _robot(topics), _joints(topics, guesses), guesses, skipped,
                      (max(span) - min(span)) / 1e9 if span else 0.0, _base_frame(topics))


def _measure(path: Path, window_s: float) -> dict[str, _Topic]:
    try:
        reader = open_bag(path)
    except Exception as err:
        raise BagError(f'{path}: cannot read {describe(path)}: {err}') from err
    topic = '?'
    try:
        topics = {c.topic: _Topic(c.topic, c.msgtype, c.msgcount, is_latched(c))
                  for c in reader.connections}
        start: int | None = None
        for conn, log_ns, raw in reader.messages(reader.connections):
            topic = conn.topic
            start = log_ns if start is None else start
            if log_ns - start > window_s * 1e9:
                break
            _note(topics[conn.topic], log_ns, raw)
        for quiet in [c for c in reader.connections if not topics[c.topic].log_ns]:
            topic = quiet.topic
            for _, log_ns, raw in reader.messages([quiet]):
                _note(topics[quiet.topic], log_ns, raw)
                break
    except Exception as err:
        raise BagError(f'{path}: bag is truncated or corrupt near topic {topic}: '
                       f'{err}') from err
    finally:
        reader.close()
    return topics


def _note(seen: _Topic, log_ns: int, raw: bytes) -> None:
    seen.log_ns.append(log_ns)
    if seen.msgtype not in HEADERLESS_TYPES and len(seen.header_ns) < len(seen.log_ns):
        try:
            seen.header_ns.append(header_stamp_ns(raw, STAMP_OFFSETS.get(seen.msgtype, 4)))
        except DecodeError:
            pass
    if seen.msgtype == 'tf2_msgs/msg/TFMessage' and len(seen.edges) < MAX_EDGES:
        try:
            seen.edges.update(TfDecoder().decode(raw).edges)
        except DecodeError:
            pass
    if len(seen.log_ns) == 1:
        seen.first_raw = bytes(raw)
        try:
            seen.first = (string_payload(raw) if seen.msgtype in HEADERLESS_TYPES
                          else decode(raw, seen.msgtype))
        except DecodeError:
            seen.first = None


def _words(topic: str) -> list[str]:
    return [w for w in re.split(r'[^A-Za-z0-9]+', topic.lower()) if w]


def _has(topic: str, words: Iterable[str]) -> bool:
    text = topic.lower()
    return any(word in text for word in words)


def _name(topic: str, taken: set[str]) -> str:
    parts = [p for p in topic.strip('/').split('/') if p]
    while len(parts) > 1 and parts[-1].lower() in GENERIC_WORDS:
        parts.pop()
    base = '_'.join(_words('_'.join(parts))) or 'stream'
    base = base if base[0].isalpha() else f's_{base}'
    name, count = base, 1
    while name in taken:
        count += 1
        name = f'{base}_{count}'
    return name


def _rate(seen: _Topic) -> tuple[float, str, bool]:
    """(rate_hz, how it was measured, whether the header stamps are unusable)."""
    header = np.array(seen.header_ns, dtype=np.int64)
    # Zero or repeated stamps are not one stamp per measurement.
    usable = (len(header) == len(seen.log_ns) and len(header) > 0 and bool((header > 0).all())
              and len(np.unique(header)) == len(header))
    stamps = np.sort(header) if usable else np.sort(np.array(seen.log_ns, dtype=np.int64))
    source = 'header stamps' if usable else 'receive times (header stamps unusable)'
    if len(stamps) < 2 or stamps[-1] == stamps[0]:
        return 1.0, 'one message in the window: 1 Hz assumed, check it', not usable
    # The median gap: a missing message or a late one does not move it.
    measured = 1e9 / float(np.median(np.diff(np.unique(stamps))))
    whole = round(measured)
    rate = float(whole) if whole >= 1 and abs(measured - whole) <= ROUND_TOLERANCE * whole \
        else round(measured, 2)
    return rate, f'{measured:.2f} Hz (median gap of {len(stamps)} {source})', not usable


def _modality(seen: _Topic) -> Modality | str:
    """The stream's modality, or why the topic is left out."""
    msgtype, first, topic = seen.msgtype, seen.first, seen.topic
    if msgtype == 'sensor_msgs/msg/Image':
        if not isinstance(first, ImageArray):
            return 'its first image does not decode (encoding not one the converter reads)'
        pixels = first.pixels.shape[0] * first.pixels.shape[1]
        if _has(topic, TACTILE_WORDS) or (pixels <= TACTILE_MAX_PIXELS
                                          and first.pixels.ndim == 2):
            return Modality.TACTILE
        if first.encoding in DEPTH_ENCODINGS or 'depth' in _words(topic):
            return Modality.DEPTH if first.encoding in DEPTH_ENCODINGS else \
                f'a depth topic with encoding {first.encoding!r} (not 16UC1 or 32FC1)'
        return Modality.RGB
    if msgtype == 'sensor_msgs/msg/JointState':
        return Modality.COMMAND if _has(topic, COMMAND_WORDS) else Modality.JOINT_STATE
    if msgtype == 'geometry_msgs/msg/PoseStamped':
        return Modality.COMMAND if _has(topic, COMMAND_WORDS) else \
            'a pose that is not named as a command (the converter records poses as actions)'
    if msgtype == 'tf2_msgs/msg/TFMessage':
        return Modality.TRANSFORM
    if msgtype == 'std_msgs/msg/String':
        if isinstance(first, str) and '<robot' in first:
            return Modality.DESCRIPTION
        return 'a text topic that is not a robot description'
    for modality in (Modality.RGB, Modality.LIDAR, Modality.WRENCH, Modality.IMU,
                     Modality.CAMERA_INFO):
        if msgtype in MODALITY_TYPES[modality]:
            return modality
    return 'no modality of the suite takes this type'


def _guess(seen: _Topic, taken: set[str]) -> Guess | str:
    modality = _modality(seen)
    if not isinstance(modality, Modality):       # (a Modality is a str too)
        return modality
    if not seen.log_ns:
        return 'no messages'
    entry: dict[str, Any] = {'name': _name(seen.topic, taken), 'topic': seen.topic,
                             'type': seen.msgtype, 'modality': modality.value}
    latched = seen.latched or modality == Modality.DESCRIPTION or seen.topic == '/tf_static'
    why = [f'{seen.msgtype}']
    receive = False
    if latched:
        entry['latched'] = True
        why.append('latched (published once)')
    else:
        rate, how, receive = _rate(seen)
        entry['rate_hz'] = rate
        why.append(how)
    first = seen.first
    if isinstance(first, ImageArray):
        height, width = first.pixels.shape[:2]
        entry.update(width=int(width), height=int(height))
        if seen.msgtype == 'sensor_msgs/msg/Image':
            entry['encoding'] = first.encoding if first.encoding in IMAGE_ENCODINGS else \
                {'8UC1': 'mono8', 'mono16': '16UC1'}.get(first.encoding, first.encoding)
        why.append(f'{width}x{height} {first.encoding}')
    elif isinstance(first, CameraModel):
        entry.update(width=int(first.width), height=int(first.height))
    elif isinstance(first, PointCloudArray):
        entry['points'] = int(len(first.points))
        why.append(f'{len(first.points)} points')
    elif isinstance(first, JointArrays):
        why.append(f'{len(first.names)} joints')
    if modality in (Modality.JOINT_STATE, Modality.COMMAND):
        why.append('command: the topic names it one' if modality == Modality.COMMAND else
                   f'state: no word of {"/".join(COMMAND_WORDS)} in the topic')
    return Guess(entry, ', '.join(why), receive)


def _robot(topics: dict[str, _Topic]) -> str:
    for seen in topics.values():
        if isinstance(seen.first, str) and '<robot' in seen.first:
            match = re.search(r'<robot[^>]*\sname\s*=\s*["\']([^"\']+)', seen.first)
            if match:
                return match.group(1)
    return 'robot'


def _joints(topics: dict[str, _Topic], guesses: list[Guess]) -> list[str]:
    """The joint names of the joint state with the most joints (else of a command)."""
    best: list[str] = []
    for guess in guesses:
        if guess.entry['modality'] not in ('joint_state', 'command'):
            continue
        first = topics[guess.entry['topic']].first
        names = list(first.names) if isinstance(first, JointArrays) else []
        state = guess.entry['modality'] == 'joint_state'
        if names and (len(names) > len(best) or (state and not best)):
            best = list(dict.fromkeys(names))
    return best


# -- dataset plan ----------------------------------------------------------------------

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
    streams_of: dict[Modality, list[Any]] = {}
    for stream in suite.streamed:
        streams_of.setdefault(stream.modality, []).append(stream)
    cameras = sorted(streams_of.get(Modality.RGB, []), key=lambda c: (
        -c.width * c.height, 'head' not in c.topic, c.name))
    reference = cameras[0] if cameras else None
    streams: dict[str, Any] = {}
    why: dict[str, str] = {}
    for stream in suite.streamed:
        modality, name = stream.modality, stream.name
        period_ms = 1000.0 / stream.rate_hz
        main = stream is streams_of[modality][0]
        plan: dict[str, Any]
        if modality in (Modality.RGB, Modality.DEPTH) or (modality == Modality.LIDAR and main):
            tolerance = max(60.0 if modality == Modality.LIDAR else 20.0, 0.6 * period_ms)
            key = PREFIXES[modality] + ('' if modality == Modality.LIDAR else
                                        f'.{_key_part(name)}')
            plan = {'key': key, 'policy': 'nearest', 'tolerance_ms': _ms(tolerance),
                    'required': modality == Modality.RGB}
            why[name] = f'nearest message within 0.6 of its period ({period_ms:.0f} ms)'
        elif modality == Modality.JOINT_STATE:
            plan = {'key': 'observation.state' if main else f'observation.state_{name}',
                    'policy': 'interpolate', 'tolerance_ms': _ms(max(10.0, 1.5 * period_ms)),
                    'required': main}
            why[name] = ('the first joint state' if main else 'another joint state') + \
                ', interpolated between the samples around each frame'
        elif modality == Modality.COMMAND:
            plan = {'key': 'action' if main else f'action_{name}', 'policy': 'hold',
                    'as_of': True, 'tolerance_ms': _ms(max(50.0, 2.5 * period_ms)),
                    'required': main}
            why[name] = 'the last command sent at or before each frame'
        elif modality in (Modality.WRENCH, Modality.TACTILE, Modality.IMU):
            single = modality == Modality.IMU and len(streams_of[modality]) == 1
            key = PREFIXES[modality] + ('' if single else f'.{_key_part(name)}')
            plan = {'key': key, 'policy': 'interpolate',
                    'tolerance_ms': _ms(max(5.0, 1.5 * period_ms))}
            why[name] = 'interpolated between the samples around each frame'
        else:
            continue
        if name in receive:
            plan['stamps'] = 'receive'
            why[name] += '; aligned on receive times (header stamps unusable)'
        streams[name] = plan
    if not streams:
        raise ConfigError(f'{suite.source}: no stream of the suite can go into a dataset')
    document: dict[str, Any] = {
        'fps': round(reference.rate_hz) if reference else 30,
        'reference': reference.name if reference else '', 'streams': streams,
        'calibration': {'base_frame': base_frame, 'checks': False}}
    return document, why


#: Words that say what a stream is, left out of its dataset key (the prefix says it).
_KIND_WORDS = {'camera', 'cam', 'rgb', 'color', 'depth', 'tactile', 'ft', 'wrench',
               'force', 'torque', 'imu', 'image'}


def _key_part(name: str) -> str:
    """The last part of a stream's dataset key: its name without the kind words."""
    kept = [w for w in name.split('_') if w not in _KIND_WORDS]
    return '_'.join(kept) or name


def _ms(value: float) -> int:
    return int(math.ceil(value))


# -- writing ---------------------------------------------------------------------------

def _value(value: Any) -> str:
    """A YAML flow value (JSON is YAML)."""
    if isinstance(value, str) and re.fullmatch(r'[A-Za-z_/][A-Za-z0-9_/.\-]*', value) \
            and value not in ('true', 'false', 'null', 'yes', 'no', 'on', 'off'):
        return value
    return json.dumps(value)


def suite_yaml(guess: SuiteGuess) -> str:
    """The guessed suite as suite.yaml text, each guess commented."""
    lines = [f'# Sensor suite guessed from {guess.bag.name} ({describe(guess.bag)}) by',
             f'# humanoid-data suite-from-bag, from its first {guess.seconds:.1f} s. Check',
             '# every commented guess; docs/config.md describes each key.',
             f'robot: {_value(guess.robot)}' +
             ('' if guess.robot != 'robot' else '   # no /robot_description: name it'),
             'joints:' + ('' if guess.joints else ' []   # no joint state in the bag')]
    lines += [f'  - {_value(j)}' for j in guess.joints]
    lines.append('streams:')
    for g in guess.guesses:
        first = True
        for key, value in g.entry.items():
            lead = '  - ' if first else '    '
            comment = f'   # {g.why}' if first else ''
            lines.append(f'{lead}{key}: {_value(value)}{comment}')
            first = False
    if guess.skipped:
        lines.append('# Topics left out:')
        lines += [f'#   {topic} ({msgtype}): {why}' for topic, msgtype, why in guess.skipped]
    return '\n'.join(lines) + '\n'


def dataset_yaml(suite: SuiteConfig, receive: frozenset[str], bag: Path,
                 base_frame: str = 'base_link') -> str:
    """A dataset.yaml for ``suite`` (recorded in ``bag``), each stream's plan commented."""
    document, why = dataset_plan(suite, receive, base_frame)
    lines = [f'# How {bag.name} becomes a dataset, guessed by humanoid-data.',
             '# docs/config.md describes every key; unset ones take their defaults.',
             f'fps: {_value(document["fps"])}   # the reference camera\'s rate',
             f'reference: {_value(document["reference"])}' +
             ('   # the largest camera: the timeline starts on its first frame'
              if document['reference'] else '   # no camera: starts at the first stamp'),
             'streams:']
    for name, plan in document['streams'].items():
        body = ', '.join(f'{k}: {_value(v)}' for k, v in plan.items())
        lines.append(f'  {name}: {{{body}}}   # {why[name]}')
    lines += ['calibration:',
              f'  base_frame: {_value(base_frame)}   # the frame camera poses are given in '
              '(from /tf)',
              '  checks: false           # the LiDAR/hand-eye checks assume the '
              'simulated humanoid\'s scene']
    return '\n'.join(lines) + '\n'


# -- a hand-written suite completed from the bag ---------------------------------------

def _base_frame(topics: dict[str, _Topic]) -> str:
    """The robot's base among the bag's transforms.

    ``base_link``, else a frame named base, else the root of the fixed (/tf_static)
    tree; ``base_link`` when the bag has no transforms.
    """
    edges = {e for t in topics.values() for e in t.edges}
    frames = {f for edge in edges for f in edge}
    if not frames or 'base_link' in frames:
        return 'base_link'
    named = sorted(f for f in frames if 'base' in f.lower())
    if named:
        return named[0]
    fixed = {e for t in topics.values() if t.latched or t.topic == '/tf_static'
             for e in t.edges} or edges
    children = {child for _, child in fixed}
    roots = sorted({parent for parent, _ in fixed} - children)
    return roots[0] if roots else 'base_link'


#: Keys of a suite entry the bag can tell, filled in when a hand-written suite omits them.
MEASURED_KEYS = ('type', 'modality', 'rate_hz', 'width', 'height', 'encoding', 'points',
                 'latched')


def fill_suite(path: Path, guess: SuiteGuess) -> SuiteConfig:
    """The suite at ``path``, with what it leaves out taken from the bag.

    A stream may give just ``name`` and ``topic``; ``robot`` and ``joints`` may be left
    out. What the file gives wins over the bag.

    Raises:
        ConfigError: The file is not a valid suite once completed, or a stream's topic is
            not in the bag while it leaves out what only the bag could tell (named).

    """
    data = read_yaml(path, 'sensor suite')
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected a mapping with robot, joints and streams')
    measured = {g.entry['topic']: g.entry for g in guess.guesses}
    data = dict(data)
    data.setdefault('robot', guess.robot)
    data.setdefault('joints', list(guess.joints))
    streams = data.get('streams')
    if isinstance(streams, list):
        filled = []
        for number, entry in enumerate(streams):
            if isinstance(entry, dict) and isinstance(entry.get('topic'), str):
                known = measured.get(entry['topic'])
                lacking = [k for k in ('type', 'modality') if k not in entry]
                if known is None and lacking:
                    raise ConfigError(
                        f'{path}: streams[{number}] ({entry["topic"]}): no {lacking[0]} '
                        f'given and the topic is not one the bag {episode_name(guess.bag)} '
                        'has a stream for')
                if known is not None:
                    entry = {**{k: known[k] for k in MEASURED_KEYS if k in known
                                and not (k == 'rate_hz' and entry.get('latched'))},
                             **entry}
            filled.append(entry)
        data['streams'] = filled
    return parse_suite(data, f'{path} (completed from {guess.bag.name})')
