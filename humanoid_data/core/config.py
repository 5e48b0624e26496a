"""Sensor-suite configuration: one entry per recorded stream, checked once at load.

A suite file (``config/humanoid.yaml``) lists every stream of the robot with its topic,
message type, modality, expected rate, QoS and whether it is required. It is parsed into
frozen dataclasses; anything wrong raises ``ConfigError`` naming the file, the key and what
was expected.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from humanoid_data.errors import ConfigError

E = TypeVar('E', bound=Enum)


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
    except ValueError:
        allowed = ', '.join(str(m.value) for m in enum)
        raise ConfigError(f'{where}: {value!r} is not one of: {allowed}') from None


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
             where: str) -> Any:
    if key not in mapping:
        raise ConfigError(f'{where}: missing key {key!r}')
    value = mapping[key]
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f'{where}.{key}: expected {_kind_name(kind)}, got {value!r}')
    if not isinstance(value, kind):
        raise ConfigError(f'{where}.{key}: expected {_kind_name(kind)}, got {value!r}')
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return ' or '.join(k.__name__ for k in kinds)


def check_mapping(raw: object, allowed: set[str], where: str) -> dict[str, Any]:
    """``raw`` as a mapping holding only ``allowed`` keys.

    Raises:
        ConfigError: Not a mapping, or an unknown key (named with the allowed ones).

    """
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: expected a mapping, got {raw!r}')
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f'{where}: unknown key {unknown[0]!r}; '
                          f'allowed: {", ".join(sorted(allowed))}')
    return raw


def _parse_stream(raw: object, where: str) -> StreamConfig:
    raw = check_mapping(raw, _STREAM_KEYS, where)
    name = _require(raw, 'name', str, where)
    where = f'{where} ({name})'
    qos_raw = raw.get('qos', {})
    if not isinstance(qos_raw, dict):
        raise ConfigError(f'{where}.qos: expected a mapping, got {qos_raw!r}')
    try:
        qos = QosConfig(
            reliability=parse_enum(Reliability, qos_raw.get('reliability', 'reliable'),
                                   f'{where}.qos.reliability'),
            depth=qos_raw.get('depth', 10))
        return StreamConfig(
            name=name,
            topic=_require(raw, 'topic', str, where),
            msgtype=_require(raw, 'type', str, where),
            modality=parse_enum(Modality, _require(raw, 'modality', str, where),
                                f'{where}.modality'),
            rate_hz=float(_require(raw, 'rate_hz', (int, float), where)),
            qos=qos,
            required=bool(raw.get('required', True)),
            trigger=raw.get('trigger'),
            width=int(raw.get('width', 0)),
            height=int(raw.get('height', 0)),
            encoding=str(raw.get('encoding', '')),
            points=int(raw.get('points', 0)),
        )
    except ConfigError as err:
        message = str(err)
        if message.startswith(where):
            raise
        raise ConfigError(f'{where}: {message}') from None


def parse_suite(data: object, source: str = '<memory>') -> SuiteConfig:
    """Build a ``SuiteConfig`` from already-parsed YAML.

    Args:
        data: The YAML document.
        source: File name used in error messages.

    Returns:
        The validated suite.

    Raises:
        ConfigError: A key is missing, has the wrong type or an unsupported value.

    """
    if not isinstance(data, dict):
        raise ConfigError(f'{source}: expected a mapping at the top level')
    robot = _require(data, 'robot', str, source)
    joints = _require(data, 'joints', list, source)
    if not all(isinstance(j, str) for j in joints) or len(set(joints)) != len(joints):
        raise ConfigError(f'{source}.joints: expected a list of unique joint names')
    streams_raw = _require(data, 'streams', list, source)
    streams = tuple(_parse_stream(s, f'{source}: streams[{i}]')
                    for i, s in enumerate(streams_raw))
    canonical = yaml.safe_dump(data, sort_keys=True).encode()
    return SuiteConfig(robot=robot, joints=tuple(joints), streams=streams, source=source,
                       digest=hashlib.sha256(canonical).hexdigest()[:16])


def load_suite(path: str | Path) -> SuiteConfig:
    """Read and validate a sensor-suite YAML file.

    Args:
        path: The YAML file.

    Returns:
        The validated suite.

    Raises:
        ConfigError: The file is unreadable, not YAML, or not a valid suite.

    """
    return parse_suite(read_yaml(path, 'sensor-suite config'), str(path))


def read_yaml(path: str | Path, what: str) -> object:
    """Read a YAML file; a failure names the file and what it should have held.

    Raises:
        ConfigError: The file cannot be read or is not YAML.

    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f'{path}: cannot read {what}: {err.strerror}') from err
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f'{path}: not valid YAML: {err}') from err
