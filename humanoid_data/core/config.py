"""Sensor-suite configuration: one entry per recorded stream, checked once at load.

A suite file (``config/humanoid.yaml``) lists every stream of the robot with its topic,
message type, modality, expected rate, QoS and whether it is required. It is parsed into
frozen dataclasses; anything wrong raises ``ConfigError`` naming the file, the key and what
was expected.

Every config file of the project is read by ``read_yaml``: a size limit before parsing, a
loader that bounds nesting and alias expansion and refuses duplicate keys, and syntax errors
that name the line. The checks every loader uses (``check_mapping``, ``check_number``,
``check_int``, ``parse_settings``) live here too, so each mapping level is strict alike.
"""

from __future__ import annotations

import hashlib
import math
import os
import reprlib
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from humanoid_data.core.settings import settings_from
from humanoid_data.errors import ConfigError

E = TypeVar('E', bound=Enum)
S = TypeVar('S')

#: A config file larger than this is refused before it is read whole (a 50 MB suite took
#: 68 s and 550 MB to parse); the largest accepted loads in a few seconds.
MAX_CONFIG_BYTES = 1 << 20
#: Deepest nesting of mappings and lists, aliases expanded (the suite needs 4).
MAX_CONFIG_DEPTH = 32
#: Most nodes a document may hold once every alias is expanded ("billion laughs").
MAX_CONFIG_NODES = 1_000_000

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60


class Modality(str, Enum):
    """What a stream measures; decides the message types it may carry."""

    RGB = 'rgb'
    DEPTH = 'depth'
    LIDAR = 'lidar'
    JOINT_STATE = 'joint_state'
    COMMAND = 'command'
    WRENCH = 'wrench'
    TACTILE = 'tactile'
    IMU = 'imu'
    CAMERA_INFO = 'camera_info'


class Reliability(str, Enum):
    """DDS reliability of a subscription."""

    RELIABLE = 'reliable'
    BEST_EFFORT = 'best_effort'


#: Message types each modality may use (ROS 2 long names).
MODALITY_TYPES: Mapping[Modality, tuple[str, ...]] = {
    Modality.RGB: ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage'),
    Modality.DEPTH: ('sensor_msgs/msg/Image',),
    Modality.LIDAR: ('sensor_msgs/msg/PointCloud2',),
    Modality.JOINT_STATE: ('sensor_msgs/msg/JointState',),
    Modality.COMMAND: ('sensor_msgs/msg/JointState', 'geometry_msgs/msg/PoseStamped'),
    Modality.WRENCH: ('geometry_msgs/msg/WrenchStamped',),
    Modality.TACTILE: ('sensor_msgs/msg/Image',),
    Modality.IMU: ('sensor_msgs/msg/Imu',),
    Modality.CAMERA_INFO: ('sensor_msgs/msg/CameraInfo',),
}

IMAGE_ENCODINGS = ('rgb8', 'bgr8', 'mono8', '16UC1', '32FC1')


def short_repr(value: object) -> str:
    """``repr`` of a value from a file, cut short for an error message."""
    return _SHORT.repr(value)


def parse_enum(enum: type[E], value: object, where: str) -> E:
    """Return the member of ``enum`` named by ``value``.

    Args:
        enum: The closed vocabulary.
        value: The raw value from a file or parameter.
        where: Location used in the error message (file and key).

    Returns:
        The enum member.

    Raises:
        ConfigError: ``value`` is not one of the allowed values, which the message lists.

    """
    try:
        return enum(value)
    except (ValueError, TypeError):
        allowed = ', '.join(str(m.value) for m in enum)
        raise ConfigError(f'{where}: {short_repr(value)} is not one of: {allowed}') from None


@dataclass(frozen=True)
class QosConfig:
    """Subscription QoS of one stream."""

    reliability: Reliability = Reliability.RELIABLE
    depth: int = 10

    def __post_init__(self) -> None:
        """Check the history depth."""
        if not isinstance(self.depth, int) or self.depth < 1:
            raise ConfigError(f'qos.depth must be a positive integer, got {self.depth!r}')


@dataclass(frozen=True)
class StreamConfig:
    """One recorded stream of the sensor suite."""

    name: str
    topic: str
    msgtype: str
    modality: Modality
    rate_hz: float
    qos: QosConfig = field(default_factory=QosConfig)
    required: bool = True
    trigger: str | None = None
    width: int = 0
    height: int = 0
    encoding: str = ''
    points: int = 0

    def __post_init__(self) -> None:
        """Check that the fields agree with each other."""
        if not self.name.replace('_', '').isalnum():
            raise ConfigError(f'name {self.name!r} must be letters, digits and underscores')
        if not self.topic.startswith('/'):
            raise ConfigError(f'topic {self.topic!r} must be absolute (start with /)')
        allowed = MODALITY_TYPES[self.modality]
        if self.msgtype not in allowed:
            raise ConfigError(
                f'type {self.msgtype!r} is not supported for modality '
                f'{self.modality.value!r}; expected one of: {", ".join(allowed)}')
        if not self.rate_hz > 0:
            raise ConfigError(f'rate_hz must be > 0, got {self.rate_hz!r}')
        if self.msgtype == 'sensor_msgs/msg/Image':
            if self.width <= 0 or self.height <= 0:
                raise ConfigError('image streams need positive width and height')
            if self.encoding not in IMAGE_ENCODINGS:
                raise ConfigError(
                    f'encoding {self.encoding!r} is not one of: {", ".join(IMAGE_ENCODINGS)}')

    @property
    def period_ns(self) -> int:
        """Nominal time between two messages, in nanoseconds."""
        return round(1e9 / self.rate_hz)


@dataclass(frozen=True)
class SuiteConfig:
    """The whole sensor suite of one robot."""

    robot: str
    joints: tuple[str, ...]
    streams: tuple[StreamConfig, ...]
    source: str = '<memory>'
    digest: str = ''

    def __post_init__(self) -> None:
        """Check names and topics are unique."""
        for attr in ('name', 'topic'):
            seen: set[str] = set()
            for stream in self.streams:
                value = getattr(stream, attr)
                if value in seen:
                    raise ConfigError(f'{self.source}: duplicate stream {attr} {value!r}')
                seen.add(value)
        if not self.streams:
            raise ConfigError(f'{self.source}: streams: at least one stream is required')

    def stream(self, name: str) -> StreamConfig:
        """Return the stream called ``name``."""
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise ConfigError(f'{self.source}: no stream named {name!r}')

    def scaled(self, factor: float) -> SuiteConfig:
        """Return the same suite with every rate multiplied by ``factor``."""
        streams = tuple(replace(s, rate_hz=s.rate_hz * factor) for s in self.streams)
        return replace(self, streams=streams)

    def by_topic(self) -> dict[str, StreamConfig]:
        """Map topic name to stream."""
        return {s.topic: s for s in self.streams}


_STREAM_KEYS = {
    'name', 'topic', 'type', 'modality', 'rate_hz', 'qos', 'required', 'trigger',
    'width', 'height', 'encoding', 'points',
}


def _require(mapping: Mapping[str, Any], key: str, kind: type | tuple[type, ...],
             where: str, at: str = '') -> Any:
    if key not in mapping:
        raise ConfigError(f'{where}: missing key {key!r}')
    return _optional(mapping, key, kind, None, at or f'{where}.{key}')


def _optional(mapping: Mapping[str, Any], key: str, kind: type | tuple[type, ...],
              default: Any, at: str) -> Any:
    """``mapping[key]`` (``default`` when absent), which must be of ``kind``.

    ``at`` is where the value is, for the message (file, mapping and key).
    """
    value = mapping.get(key, default)
    if key not in mapping:
        return value
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ConfigError(f'{at}: expected {_kind_name(kind)}, got {short_repr(value)}')
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return ' or '.join(k.__name__ for k in kinds)


def check_mapping(raw: object, allowed: set[str], where: str,
                  noun: str = 'key') -> dict[str, Any]:
    """``raw`` as a mapping holding only ``allowed`` keys.

    Raises:
        ConfigError: Not a mapping, or an unknown key (named with the allowed ones).

    """
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: expected a mapping, got {short_repr(raw)}')
    unknown = sorted((k for k in raw if k not in allowed), key=repr)
    if unknown:
        raise ConfigError(f'{where}: unknown {noun} {short_repr(unknown[0])}; '
                          f'allowed: {", ".join(sorted(allowed))}')
    return raw


def check_number(value: object, where: str, *, above: float | None = None,
                 minimum: float | None = None, maximum: float | None = None) -> float:
    """``value`` as a finite float within the given bounds.

    Raises:
        ConfigError: Not a number (a boolean is not), NaN or infinite, or out of range.

    """
    number = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:   # an integer beyond float range
            pass
    if (not math.isfinite(number) or (above is not None and not number > above)
            or (minimum is not None and number < minimum)
            or (maximum is not None and number > maximum)):
        bounds = ' and '.join(f'{op} {limit:g}' for op, limit in (
            ('>', above), ('>=', minimum), ('<=', maximum)) if limit is not None)
        raise ConfigError(f'{where}: expected a finite number {bounds}'.rstrip()
                          + f', got {short_repr(value)}')
    return number


def check_int(value: object, where: str, *, minimum: int | None = None) -> int:
    """``value`` as an integer (not a boolean, not a float) of at least ``minimum``.

    Raises:
        ConfigError: Not an integer, or below ``minimum``.

    """
    if (isinstance(value, bool) or not isinstance(value, int)
            or (minimum is not None and value < minimum)):
        bound = f' >= {minimum}' if minimum is not None else ''
        raise ConfigError(f'{where}: expected an integer{bound}, got {short_repr(value)}')
    return value


def parse_settings(cls: type[S], raw: object, where: str, **fixed: Any) -> S:
    """Settings dataclass ``cls`` from a mapping of its fields (``fixed`` ones excluded).

    Raises:
        ConfigError: Not a mapping, an unknown key (the allowed ones listed), a value of
            the wrong type, a number that is NaN or infinite, or a range check failed.

    """
    allowed = {f.name for f in fields(cls)} - set(fixed)  # type: ignore[arg-type]
    values = check_mapping(raw, allowed, where, noun='parameter')
    for key, value in values.items():
        if isinstance(value, float):
            check_number(value, f'{where}: {key}')
    return settings_from(cls, {**values, **fixed}, where)


def _parse_qos(raw: object, where: str) -> QosConfig:
    raw = check_mapping(raw, {'reliability', 'depth'}, where)
    return QosConfig(
        reliability=parse_enum(Reliability, raw.get('reliability', 'reliable'),
                               f'{where}.reliability'),
        depth=check_int(raw.get('depth', 10), f'{where}.depth', minimum=1))


def _parse_stream(raw: object, where: str) -> StreamConfig:
    raw = check_mapping(raw, _STREAM_KEYS, where)
    name = _require(raw, 'name', str, where)
    where = f'{where} ({name})'
    try:
        return StreamConfig(
            name=name,
            topic=_require(raw, 'topic', str, where),
            msgtype=_require(raw, 'type', str, where),
            modality=parse_enum(Modality, _require(raw, 'modality', str, where),
                                f'{where}.modality'),
            rate_hz=check_number(_require(raw, 'rate_hz', (int, float), where),
                                 f'{where}.rate_hz', above=0),
            qos=_parse_qos(raw.get('qos', {}), f'{where}.qos'),
            required=_optional(raw, 'required', bool, True, f'{where}.required'),
            trigger=_optional(raw, 'trigger', (str, type(None)), None,
                              f'{where}.trigger') or None,
            width=check_int(raw.get('width', 0), f'{where}.width', minimum=0),
            height=check_int(raw.get('height', 0), f'{where}.height', minimum=0),
            encoding=_optional(raw, 'encoding', str, '', f'{where}.encoding'),
            points=check_int(raw.get('points', 0), f'{where}.points', minimum=0),
        )
    except ConfigError as err:
        message = str(err)
        if message.startswith(where):
            raise
        raise ConfigError(f'{where}: {message}') from None


class _PlainDumper(yaml.SafeDumper):
    """``safe_dump`` that writes a shared value out each time, so aliases keep the digest."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def parse_suite(data: object, source: str = '<memory>') -> SuiteConfig:
    """Build a ``SuiteConfig`` from already-parsed YAML.

    Args:
        data: The YAML document.
        source: File name used in error messages.

    Returns:
        The validated suite.

    Raises:
        ConfigError: A key is unknown, missing, has the wrong type or an unsupported value.

    """
    data = check_mapping(data, {'robot', 'joints', 'streams'}, source)
    robot = _require(data, 'robot', str, source, f'{source}: robot')
    joints = _require(data, 'joints', list, source, f'{source}: joints')
    if not all(isinstance(j, str) for j in joints) or len(set(joints)) != len(joints):
        raise ConfigError(f'{source}: joints: expected a list of unique joint names')
    streams_raw = _require(data, 'streams', list, source, f'{source}: streams')
    streams = tuple(_parse_stream(s, f'{source}: streams[{i}]')
                    for i, s in enumerate(streams_raw))
    canonical = yaml.dump(data, Dumper=_PlainDumper, sort_keys=True).encode()
    return SuiteConfig(robot=robot, joints=tuple(joints), streams=streams, source=source,
                       digest=hashlib.sha256(canonical).hexdigest()[:16])


def load_suite(path: str | Path) -> SuiteConfig:
    """Read and validate a sensor-suite YAML file.

    Args:
        path: The YAML file.

    Returns:
        The validated suite.

    Raises:
        ConfigError: The file is unreadable, too large, not YAML, or not a valid suite.

    """
    return parse_suite(read_yaml(path, 'sensor-suite config'), str(path))


#: libyaml parses about 30 times faster than the pure-Python parser, when it is installed.
_LIBYAML = hasattr(yaml, 'CSafeLoader')
_SafeLoader: type = yaml.CSafeLoader if _LIBYAML else yaml.SafeLoader
_RESOLVER = yaml.resolver.Resolver()
_MERGE_TAG = 'tag:yaml.org,2002:merge'


class _ConfigLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """Safe loader whose value errors (a bad date, a 5000-digit integer) name the line."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as err:
            raise ConstructorError(None, None, str(err), node.start_mark) from err


@dataclass
class _Collection:
    """A mapping or list still open in the event stream."""

    anchor: str | None
    is_mapping: bool
    first_value: int      # values counted before it, itself included
    height: int = 0
    children: int = 0
    keys: set[tuple[str, str]] = field(default_factory=set)


_START_EVENTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_END_EVENTS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _check_events(text: str) -> None:
    """Refuse nesting, alias bombs and duplicate keys before anything is built.

    Aliases share one Python object, so loading a "billion laughs" document is cheap, but
    walking it (the checks, the digest) is not. One pass over the parser's events (no
    recursion, linear in the file) counts the values with every alias expanded and
    refuses more than ``MAX_CONFIG_NODES`` of them, nesting deeper than
    ``MAX_CONFIG_DEPTH`` and an alias inside the node it names. The composer, which is
    recursive, only ever sees documents that passed.
    """
    open_: list[_Collection] = []
    anchors: dict[str, tuple[int, int]] = {}   # anchor -> values and height it stands for
    total = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        kind = type(event)
        if kind in _END_EVENTS:
            done = open_.pop()
            if done.anchor is not None:
                anchors[done.anchor] = (total - done.first_value + 1, done.height)
            if open_:
                open_[-1].height = max(open_[-1].height, done.height + 1)
            continue
        size, height = 1, 0
        if kind is yaml.AliasEvent:
            if any(c.anchor == event.anchor for c in open_):
                _refuse(event, f'alias *{event.anchor} is inside the node it names')
            size, height = anchors.get(event.anchor, (1, 0))  # undefined: the composer says
        elif kind is not yaml.ScalarEvent and kind not in _START_EVENTS:
            continue
        total += size
        if total > MAX_CONFIG_NODES:
            _refuse(event, f'more than {MAX_CONFIG_NODES} values once aliases are expanded')
        if len(open_) + height > MAX_CONFIG_DEPTH:
            expanded = ' once aliases are expanded' if height else ''
            _refuse(event, f'nested deeper than {MAX_CONFIG_DEPTH} levels{expanded}')
        if open_:
            _add_child(open_[-1], event, height)
        if kind in _START_EVENTS:
            open_.append(_Collection(event.anchor, kind is yaml.MappingStartEvent, total))
        elif kind is yaml.ScalarEvent and event.anchor is not None:
            anchors[event.anchor] = (1, 0)


def _add_child(parent: _Collection, event: Any, height: int) -> None:
    """Count a value into its collection; a mapping's scalar key must be new."""
    if parent.is_mapping and not parent.children % 2 and type(event) is yaml.ScalarEvent:
        tag = event.tag if event.tag not in (None, '!') else _RESOLVER.resolve(
            yaml.ScalarNode, event.value, event.implicit)
        if tag != _MERGE_TAG and (tag, event.value) in parent.keys:
            _refuse(event, f'duplicate key {event.value!r}')
        parent.keys.add((tag, event.value))
    parent.children += 1
    parent.height = max(parent.height, height + 1)


def _refuse(event: Any, problem: str) -> None:
    raise ComposerError(None, None, problem, event.start_mark)


def _yaml_problem(err: yaml.YAMLError, text: str) -> str:
    """Where and what: `` at line 3, column 9: mapping values are not allowed here``."""
    if isinstance(err, yaml.reader.ReaderError):
        # libyaml counts UTF-8 bytes, the pure-Python reader characters
        before = (text.encode()[:err.position].decode(errors='ignore') if _LIBYAML
                  else text[:err.position])
        line, column = before.count('\n') + 1, len(before) - before.rfind('\n')
        return (f' at line {line}, column {column}: unacceptable character '
                f'#x{err.character:04x}: {err.reason}')
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        where = f' at line {mark.line + 1}, column {mark.column + 1}' if mark else ''
        problem = err.problem or err.context or 'malformed'
        context = f' ({err.context})' if err.context and err.problem else ''
        return f'{where}: {problem}{context}'
    return f': {err}'


def parse_yaml_text(text: str, source: str) -> object:
    """Parse one YAML document held in a string; an error names ``source`` and the line.

    Raises:
        ConfigError: Longer than ``MAX_CONFIG_BYTES``, not YAML, a duplicate key, nested
            deeper than ``MAX_CONFIG_DEPTH`` or more than ``MAX_CONFIG_NODES`` values
            once aliases are expanded.

    """
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f'{source}: {len(text)} characters; config text is limited to '
                          f'{MAX_CONFIG_BYTES} (1 MiB)')
    loader = None
    try:
        text.encode()
        _check_events(text)
        loader = _ConfigLoader(text)
        return loader.get_single_data()
    except UnicodeEncodeError as err:
        raise ConfigError(f'{source}: not text: {err.reason}') from None
    except yaml.YAMLError as err:
        raise ConfigError(f'{source}: not valid YAML{_yaml_problem(err, text)}') from err
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml(path: str | Path, what: str) -> object:
    """Read a YAML file; a failure names the file and what it should have held.

    The size is checked before the file is read, and at most ``MAX_CONFIG_BYTES + 1``
    bytes are read (a pipe or device reports no size).

    Raises:
        ConfigError: The file cannot be read, is larger than ``MAX_CONFIG_BYTES``, is not
            UTF-8 text, or is not YAML (naming the line and column).

    """
    path = Path(path)
    try:
        with path.open('rb') as stream:
            size = os.fstat(stream.fileno()).st_size
            data = b'' if size > MAX_CONFIG_BYTES else stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ConfigError(f'{path}: cannot read {what}: {err.strerror or err}') from err
    if size > MAX_CONFIG_BYTES or len(data) > MAX_CONFIG_BYTES:
        shown = f'{size} bytes' if size > MAX_CONFIG_BYTES else f'over {MAX_CONFIG_BYTES} bytes'
        raise ConfigError(f'{path}: {what} is {shown}; config files are limited to '
                          f'{MAX_CONFIG_BYTES} bytes (1 MiB)')
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as err:
        line = data.count(b'\n', 0, err.start) + 1
        raise ConfigError(f'{path}: {what} is not UTF-8 text (byte 0x{data[err.start]:02x} '
                          f'at line {line})') from None
    return parse_yaml_text(text, str(path))
