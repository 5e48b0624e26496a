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

Every guess carries the reason, written beside it as a comment by ``suite_files``'s
``suite_yaml``; topics with no modality are listed as skipped. The dataset plan for a
suite is ``dataset.plan_guess``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from humanoid_data.bag.any_bag import describe, is_latched, open_bag
from humanoid_data.bag.decode import (
    CameraModel, ImageArray, JointArrays, PointCloudArray, decode)
from humanoid_data.bag.stamps import header_stamp_ns, string_payload
from humanoid_data.bag.tf_cdr import TfDecoder
from humanoid_data.core.config import (
    HEADERLESS_TYPES, IMAGE_ENCODINGS, MODALITY_TYPES, STAMP_OFFSETS, Modality, SuiteConfig,
    parse_suite)
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

    def receive_of(self, suite: SuiteConfig) -> frozenset[str]:
        """The streams of ``suite`` (guessed or given) whose header stamps are unusable."""
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
