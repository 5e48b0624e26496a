"""``config/dataset.yaml``: the timeline, each stream's dataset key and alignment, outputs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from humanoid_data.core.config import SuiteConfig, check_mapping, parse_enum, read_yaml
from humanoid_data.core.quality import QualityGates
from humanoid_data.core.settings import settings_from
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


@dataclass(frozen=True)
class VideoOptions:
    """Encoder settings of LeRobot videos."""

    codec: str = 'libsvtav1'
    pix_fmt: str = 'yuv420p'
    crf: int = 30
    gop: int = 2


@dataclass(frozen=True)
class LeRobotOptions:
    """File packing of the LeRobot writer."""

    chunks_size: int = 1000
    data_files_size_in_mb: int = 100
    video_files_size_in_mb: int = 500


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


_STREAM_KEYS = {'key', 'policy', 'tolerance_ms', 'as_of', 'required', 'stamps'}


def _stream(name: str, raw: object, where: str) -> StreamPlan:
    raw = check_mapping(raw, _STREAM_KEYS, where)
    key = raw.get('key')
    if not isinstance(key, str) or not key:
        raise ConfigError(f'{where}.key: expected a dataset key such as observation.state')
    tolerance = raw.get('tolerance_ms', 20)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance <= 0:
        raise ConfigError(f'{where}.tolerance_ms: expected a number > 0, got {tolerance!r}')
    spec = AlignSpec(parse_enum(Policy, raw.get('policy', 'nearest'), f'{where}.policy'),
                     int(tolerance * 1e6), bool(raw.get('as_of', False)))
    stamps = raw.get('stamps', 'header')
    if stamps not in ('header', 'receive'):
        raise ConfigError(f'{where}.stamps: expected header or receive, got {stamps!r}')
    return StreamPlan(name, key, spec, bool(raw.get('required', False)), stamps == 'receive')


def _section(cls: type, data: dict, key: str, source: str) -> object:
    raw = data.get(key, {})
    if not isinstance(raw, dict):
        raise ConfigError(f'{source}: {key}: expected a mapping, got {raw!r}')
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    if cls is LidarOptions:
        for name in ('crop_min', 'crop_max'):
            if name in values:
                box = values[name]
                if len(box) != 3 or not all(isinstance(x, (int, float)) for x in box):
                    raise ConfigError(f'{source}: lidar.{name}: expected [x, y, z] in m')
                values[name] = tuple(float(x) for x in box)
        known = {f: getattr(cls(), f) for f in ('crop_min', 'crop_max', 'voxel_m')}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f'{source}: lidar: unknown key {unknown[0]!r}')
        return cls(**values)
    return settings_from(cls, values, f'{source}: {key}')


def parse_dataset_config(data: object, source: str = '<memory>') -> DatasetConfig:
    """Build a ``DatasetConfig`` from parsed YAML.

    Raises:
        ConfigError: A missing or malformed key, naming the file and the key.

    """
    if not isinstance(data, dict):
        raise ConfigError(f'{source}: expected a mapping at the top level')
    allowed = {'fps', 'reference', 'streams', 'lidar', 'video', 'lerobot', 'quality'}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f'{source}: unknown key {unknown[0]!r}; allowed: '
                          f'{", ".join(sorted(allowed))}')
    fps = data.get('fps')
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or fps <= 0:
        raise ConfigError(f'{source}: fps: expected a number > 0, got {fps!r}')
    raw_streams = data.get('streams')
    if not isinstance(raw_streams, dict) or not raw_streams:
        raise ConfigError(f'{source}: streams: expected a mapping of stream name to plan')
    streams = tuple(_stream(str(n), r, f'{source}: streams.{n}') for n, r in raw_streams.items())
    reference = data.get('reference', '') or ''
    if reference and reference not in {s.stream for s in streams}:
        raise ConfigError(f'{source}: reference: {reference!r} is not one of the streams')
    keys = [s.key for s in streams]
    if len(set(keys)) != len(keys):
        raise ConfigError(f'{source}: streams: two streams share a dataset key')
    return DatasetConfig(
        float(fps), streams, str(reference),
        _section(LidarOptions, data, 'lidar', source),  # type: ignore[arg-type]
        _section(VideoOptions, data, 'video', source),  # type: ignore[arg-type]
        _section(LeRobotOptions, data, 'lerobot', source),  # type: ignore[arg-type]
        _section(QualityGates, data, 'quality', source),  # type: ignore[arg-type]
        source)


def load_dataset_config(path: str | Path) -> DatasetConfig:
    """Read and validate ``dataset.yaml``.

    Raises:
        ConfigError: The file is unreadable, not YAML, or not valid.

    """
    return parse_dataset_config(read_yaml(path, 'dataset config'), str(path))
