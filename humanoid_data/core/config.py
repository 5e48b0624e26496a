"""Sensor-suite configuration: one entry per recorded stream, checked once at load.

A suite file (``config/humanoid.yaml``) lists every stream of the robot with its topic,
message type, modality, expected rate, QoS and whether it is required. It is parsed into
frozen dataclasses; anything wrong raises ``ConfigError`` naming the file, the key and what
was expected.

The file is read by ``core.yaml_file.read_yaml`` and its values checked with
``core.checks``; both are re-exported here for the loaders that import them from this
module.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Mapping

import yaml

from humanoid_data.core.checks import (
    check_int, check_mapping, check_number, parse_enum, parse_settings, short_repr)
from humanoid_data.core.yaml_file import (
    MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_NODES, parse_yaml_text, read_yaml)
from humanoid_data.errors import ConfigError

__all__ = [
    'HEADERLESS_TYPES', 'IMAGE_ENCODINGS', 'LATCHED_MODALITIES', 'MAX_CONFIG_BYTES',
    'MAX_CONFIG_DEPTH', 'MAX_CONFIG_NODES',
    'MODALITY_TYPES', 'Modality', 'QosConfig', 'Reliability', 'StreamConfig', 'SuiteConfig',
    'check_int', 'check_mapping', 'check_number', 'load_suite', 'parse_enum',
    'parse_settings', 'parse_suite', 'parse_yaml_text', 'read_yaml', 'short_repr',
]


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
    DESCRIPTION = 'description'     # robot description (URDF text), latched
    TRANSFORM = 'transform'         # /tf (moving joints) or, latched, /tf_static (mounts)


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
    Modality.DESCRIPTION: ('std_msgs/msg/String',),
    Modality.TRANSFORM: ('tf2_msgs/msg/TFMessage',),
}

#: Message types without a ``std_msgs/Header``: their stamp is the receive time.
HEADERLESS_TYPES = ('std_msgs/msg/String',)

#: Where ``header.stamp`` sits in the CDR bytes of a type, when not right after the
#: four-byte encapsulation: a TFMessage is stamped by its first transform's header,
#: after the four-byte length of the transforms sequence.
STAMP_OFFSETS = {'tf2_msgs/msg/TFMessage': 8}

#: Modalities that only make sense as latched streams (published once, kept).
LATCHED_MODALITIES = (Modality.DESCRIPTION,)

IMAGE_ENCODINGS = ('rgb8', 'bgr8', 'mono8', '16UC1', '32FC1')

#: MCAP chunk compressions a suite may ask for ('' leaves it to the recorder: none).
COMPRESSIONS = ('', 'none', 'lz4', 'zstd')


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
    #: Published once and kept (TRANSIENT_LOCAL): repeated into every episode bag.
    latched: bool = False

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
        if self.modality in LATCHED_MODALITIES and not self.latched:
            raise ConfigError(f'modality {self.modality.value!r} is published once: the '
                              'stream needs latched: true')
        if self.latched:
            if self.rate_hz != 0:
                raise ConfigError('a latched stream is published once and has no rate_hz '
                                  f'(got {self.rate_hz!r}); leave rate_hz out')
        elif not self.rate_hz > 0:
            raise ConfigError(f'rate_hz must be > 0, got {self.rate_hz!r}')
        if self.msgtype == 'sensor_msgs/msg/Image':
            if self.width <= 0 or self.height <= 0:
                raise ConfigError('image streams need positive width and height')
            if self.encoding not in IMAGE_ENCODINGS:
                raise ConfigError(
                    f'encoding {self.encoding!r} is not one of: {", ".join(IMAGE_ENCODINGS)}')

    @property
    def period_ns(self) -> int:
        """Nominal time between two messages, in nanoseconds (0 for a latched stream)."""
        return round(1e9 / self.rate_hz) if self.rate_hz > 0 else 0

    @property
    def has_header(self) -> bool:
        """Whether the message type carries a ``std_msgs/Header`` stamp to peek."""
        return self.msgtype not in HEADERLESS_TYPES

    @property
    def stamp_offset(self) -> int:
        """Byte offset of the header stamp in the CDR payload (see ``STAMP_OFFSETS``)."""
        return STAMP_OFFSETS.get(self.msgtype, 4)


@dataclass(frozen=True)
class SuiteConfig:
    """The whole sensor suite of one robot."""

    robot: str
    joints: tuple[str, ...]
    streams: tuple[StreamConfig, ...]
    source: str = '<memory>'
    digest: str = ''
    compression: str = ''      # MCAP chunk compression of the bags: none, lz4, zstd ('': none)

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

    @property
    def streamed(self) -> tuple[StreamConfig, ...]:
        """The streams published continuously (every stream but the latched ones)."""
        return tuple(s for s in self.streams if not s.latched)

    def by_topic(self) -> dict[str, StreamConfig]:
        """Map topic name to stream."""
        return {s.topic: s for s in self.streams}


_STREAM_KEYS = {
    'name', 'topic', 'type', 'modality', 'rate_hz', 'qos', 'required', 'trigger',
    'width', 'height', 'encoding', 'points', 'latched',
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
        latched = _optional(raw, 'latched', bool, False, f'{where}.latched')
        if latched:
            # Published once with TRANSIENT_LOCAL durability: no rate, and the recorder
            # subscribes reliable, transient local, depth 1 whatever qos would say.
            for key in ('rate_hz', 'qos'):
                if key in raw:
                    raise ConfigError(f'{where}.{key}: a latched stream takes no {key} '
                                      '(it is published once; the recorder subscribes '
                                      'reliable, transient local, depth 1)')
            rate_hz = 0.0
        else:
            rate_hz = check_number(_require(raw, 'rate_hz', (int, float), where),
                                   f'{where}.rate_hz', above=0)
        return StreamConfig(
            name=name,
            topic=_require(raw, 'topic', str, where),
            msgtype=_require(raw, 'type', str, where),
            modality=parse_enum(Modality, _require(raw, 'modality', str, where),
                                f'{where}.modality'),
            rate_hz=rate_hz,
            qos=_parse_qos(raw.get('qos', {}), f'{where}.qos'),
            required=_optional(raw, 'required', bool, True, f'{where}.required'),
            trigger=_optional(raw, 'trigger', (str, type(None)), None,
                              f'{where}.trigger') or None,
            width=check_int(raw.get('width', 0), f'{where}.width', minimum=0),
            height=check_int(raw.get('height', 0), f'{where}.height', minimum=0),
            encoding=_optional(raw, 'encoding', str, '', f'{where}.encoding'),
            points=check_int(raw.get('points', 0), f'{where}.points', minimum=0),
            latched=latched,
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
    data = check_mapping(data, {'robot', 'joints', 'streams', 'compression'}, source)
    compression = _optional(data, 'compression', str, '', f'{source}: compression')
    if compression not in COMPRESSIONS:
        raise ConfigError(f'{source}: compression: {compression!r} is not one of: '
                          f'{", ".join(c for c in COMPRESSIONS if c)}')
    robot = _require(data, 'robot', str, source, f'{source}: robot')
    joints = _require(data, 'joints', list, source, f'{source}: joints')
    if not all(isinstance(j, str) for j in joints) or len(set(joints)) != len(joints):
        raise ConfigError(f'{source}: joints: expected a list of unique joint names')
    streams_raw = _require(data, 'streams', list, source, f'{source}: streams')
    streams = tuple(_parse_stream(s, f'{source}: streams[{i}]')
                    for i, s in enumerate(streams_raw))
    canonical = yaml.dump(data, Dumper=_PlainDumper, sort_keys=True).encode()
    return SuiteConfig(robot=robot, joints=tuple(joints), streams=streams, source=source,
                       digest=hashlib.sha256(canonical).hexdigest()[:16],
                       compression=compression)


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
