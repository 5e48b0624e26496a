"""``config/dataset.yaml``: the timeline, each stream's dataset key and alignment, outputs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from humanoid_data.core.config import (
    Modality, SuiteConfig, check_mapping, check_number, parse_enum, parse_settings, read_yaml,
    short_repr)
from humanoid_data.core.quality import QualityGates
from humanoid_data.core.sync import AlignSpec, Policy
from humanoid_data.errors import ConfigError


@dataclass(frozen=True)
class StreamPlan:
    """How one suite stream enters the dataset."""

    stream: str
    key: str
    align: AlignSpec
    required: bool = False
    receive_time: bool = False    # align on receive time (a stream without a usable header)


@dataclass(frozen=True)
class LidarOptions:
    """Crop box (m, sensor frame) and voxel size of the point-cloud sidecar."""

    crop_min: tuple[float, float, float] = (-1.0, -1.5, -1.7)
    crop_max: tuple[float, float, float] = (2.0, 1.5, 0.5)
    voxel_m: float = 0.02

    def __post_init__(self) -> None:
        """Check the box is not empty and the voxel size positive."""
        if not all(low < high for low, high in zip(self.crop_min, self.crop_max)):
            raise ConfigError(f'crop_min {self.crop_min} must be below crop_max '
                              f'{self.crop_max} on every axis')
        if not self.voxel_m > 0:
            raise ConfigError(f'voxel_m must be > 0, got {self.voxel_m}')


@dataclass(frozen=True)
class VideoOptions:
    """Encoder settings of LeRobot videos."""

    codec: str = 'libsvtav1'
    pix_fmt: str = 'yuv420p'
    crf: int = 30
    gop: int = 2
    preset: str = ''     # '' = lerobot's choice: 12 for libsvtav1, else the encoder's own

    @property
    def encoder_options(self) -> dict[str, str]:
        """The options handed to the encoder (FFmpeg names)."""
        options = {'crf': str(self.crf), 'g': str(self.gop)}
        preset = self.preset or ('12' if self.codec == 'libsvtav1' else '')
        if preset:
            options['preset'] = preset
        return options

    def __post_init__(self) -> None:
        """Check names are given and numbers in range."""
        if not self.codec or not self.pix_fmt:
            raise ConfigError('codec and pix_fmt must not be empty')
        if self.crf < 0 or self.gop < 1:
            raise ConfigError(f'crf must be >= 0 and gop >= 1, got {self.crf} and {self.gop}')


@dataclass(frozen=True)
class LeRobotOptions:
    """File packing of the LeRobot writer."""

    chunks_size: int = 1000
    data_files_size_in_mb: int = 100
    video_files_size_in_mb: int = 500

    def __post_init__(self) -> None:
        """Check every size is positive."""
        for name in ('chunks_size', 'data_files_size_in_mb', 'video_files_size_in_mb'):
            if getattr(self, name) < 1:
                raise ConfigError(f'{name} must be >= 1, got {getattr(self, name)}')


@dataclass(frozen=True)
class CalibrationOptions:
    """Which frame the extrinsics are expressed in, and what else is moved into it."""

    base_frame: str = 'base_link'
    lidar_in_base: bool = False     # LiDAR sidecar points in base_frame, not the sensor's
    wrench_in_base: bool = False    # extra keys observation.wrench_base.<side>
    checks: bool = True             # LiDAR-to-camera and hand-eye checks in the quality report

    def __post_init__(self) -> None:
        """Check the base frame is a tf2 frame name (no leading slash, no spaces)."""
        frame = self.base_frame
        if not frame or frame.startswith('/') or any(c.isspace() for c in frame):
            raise ConfigError(f'base_frame must be a frame name such as base_link (no '
                              f'leading slash, no spaces), got {frame!r}')


@dataclass(frozen=True)
class DatasetConfig:
    """Everything ``dataset.yaml`` holds."""

    fps: float
    streams: tuple[StreamPlan, ...]
    reference: str = ''
    lidar: LidarOptions = field(default_factory=LidarOptions)
    video: VideoOptions = field(default_factory=VideoOptions)
    lerobot: LeRobotOptions = field(default_factory=LeRobotOptions)
    quality: QualityGates = field(default_factory=QualityGates)
    calibration: CalibrationOptions = field(default_factory=CalibrationOptions)
    source: str = '<memory>'

    @property
    def digest(self) -> str:
        """Hash of the settings (not the file name): part of an episode's resume key."""
        body = asdict(self)
        body.pop('source')
        text = json.dumps(body, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def plan(self, stream: str) -> StreamPlan | None:
        """The plan of a stream, if it goes into the dataset."""
        for plan in self.streams:
            if plan.stream == stream:
                return plan
        return None

    def check_against(self, suite: SuiteConfig, where: str) -> None:
        """Every planned stream must exist in the suite a bag was recorded with.

        Raises:
            ConfigError: A planned stream is missing, naming it and ``where``.

        """
        names = {s.name for s in suite.streams}
        missing = [p.stream for p in self.streams if p.stream not in names and p.required]
        if missing:
            raise ConfigError(f'{where}: required dataset stream(s) {", ".join(missing)} are '
                              f'not in the recorded suite (robot {suite.robot})')
        infos = {s.name for s in suite.streams if s.modality == Modality.CAMERA_INFO}
        listed = [p.stream for p in self.streams if p.stream in infos]
        if listed:
            raise ConfigError(f'{self.source}: streams.{listed[0]}: a camera_info stream is '
                              'not a dataset key; each camera\'s intrinsics go into the '
                              'calibration sidecar by themselves (docs/formats.md)')


_STREAM_KEYS = {'key', 'policy', 'tolerance_ms', 'as_of', 'required', 'stamps'}
_TOP_KEYS = {'fps', 'reference', 'streams', 'lidar', 'video', 'lerobot', 'quality',
             'calibration'}
#: Fastest timeline accepted; beyond it a typo (30000 for 30) would fill the disk.
MAX_FPS = 10_000.0
#: Widest alignment tolerance accepted (a day), which keeps it an integer of nanoseconds.
MAX_TOLERANCE_MS = 86_400_000.0


def _flag(raw: dict, key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f'{where}.{key}: expected true or false, got {short_repr(value)}')
    return value


def _stream(name: str, raw: object, where: str) -> StreamPlan:
    raw = check_mapping(raw, _STREAM_KEYS, where)
    key = raw.get('key')
    if not isinstance(key, str) or not key:
        raise ConfigError(f'{where}.key: expected a dataset key such as observation.state')
    tolerance = check_number(raw.get('tolerance_ms', 20), f'{where}.tolerance_ms', above=0,
                             maximum=MAX_TOLERANCE_MS)
    spec = AlignSpec(parse_enum(Policy, raw.get('policy', 'nearest'), f'{where}.policy'),
                     max(1, int(tolerance * 1e6)), _flag(raw, 'as_of', where))
    stamps = raw.get('stamps', 'header')
    if stamps not in ('header', 'receive'):
        raise ConfigError(f'{where}.stamps: expected header or receive, '
                          f'got {short_repr(stamps)}')
    return StreamPlan(name, key, spec, _flag(raw, 'required', where), stamps == 'receive')


def _point(raw: object, where: str) -> tuple[float, float, float]:
    if not isinstance(raw, list) or len(raw) != 3:
        raise ConfigError(f'{where}: expected [x, y, z] in m, got {short_repr(raw)}')
    x, y, z = (check_number(v, f'{where}[{i}]') for i, v in enumerate(raw))
    return x, y, z


def _lidar(raw: object, where: str) -> LidarOptions:
    raw = check_mapping(raw, {'crop_min', 'crop_max', 'voxel_m'}, where)
    values: dict[str, object] = {
        name: _point(raw[name], f'{where}.{name}')
        for name in ('crop_min', 'crop_max') if name in raw}
    if 'voxel_m' in raw:
        values['voxel_m'] = check_number(raw['voxel_m'], f'{where}.voxel_m', above=0)
    try:
        return LidarOptions(**values)  # type: ignore[arg-type]
    except ConfigError as err:
        raise ConfigError(f'{where}: {err}') from None


def _streams(raw: object, source: str) -> tuple[StreamPlan, ...]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f'{source}: streams: expected a mapping of stream name to plan')
    for name in raw:
        if not isinstance(name, str) or not name:
            raise ConfigError(f'{source}: streams: stream names are text, '
                              f'got {short_repr(name)}')
    streams = tuple(_stream(n, r, f'{source}: streams.{n}') for n, r in raw.items())
    keys = [s.key for s in streams]
    if len(set(keys)) != len(keys):
        raise ConfigError(f'{source}: streams: two streams share a dataset key')
    return streams


def parse_dataset_config(data: object, source: str = '<memory>') -> DatasetConfig:
    """Build a ``DatasetConfig`` from parsed YAML.

    Raises:
        ConfigError: An unknown, missing or malformed key, a number that is NaN or
            infinite, naming the file and the key.

    """
    data = check_mapping(data, _TOP_KEYS, source)
    fps = check_number(data.get('fps'), f'{source}: fps', above=0, maximum=MAX_FPS)
    streams = _streams(data.get('streams'), source)
    reference = data.get('reference') or ''
    if not isinstance(reference, str) or (
            reference and reference not in {s.stream for s in streams}):
        raise ConfigError(f'{source}: reference: {short_repr(reference)} is not one of the '
                          'streams')
    return DatasetConfig(
        fps, streams, reference, _lidar(data.get('lidar', {}), f'{source}: lidar'),
        parse_settings(VideoOptions, data.get('video', {}), f'{source}: video'),
        parse_settings(LeRobotOptions, data.get('lerobot', {}), f'{source}: lerobot'),
        parse_settings(QualityGates, data.get('quality', {}), f'{source}: quality'),
        parse_settings(CalibrationOptions, data.get('calibration', {}),
                       f'{source}: calibration'),
        source)


def load_dataset_config(path: str | Path) -> DatasetConfig:
    """Read and validate ``dataset.yaml``.

    Raises:
        ConfigError: The file is unreadable, too large, not YAML, or not valid.

    """
    return parse_dataset_config(read_yaml(path, 'dataset config'), str(path))
