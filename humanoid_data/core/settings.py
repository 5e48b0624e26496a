"""Recorder and simulator settings: frozen dataclasses that are also the ROS parameters.

Each field's metadata holds the parameter description; the nodes declare one ROS parameter
per field from these classes, so a parameter file, a launch argument and the CLI all land
in the same validated value.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Mapping, TypeVar

from humanoid_data.errors import ConfigError

S = TypeVar('S')


def _param(default: Any, description: str) -> Any:
    return field(default=default, metadata={'description': description})


def _file_param(name: str, what: str = '') -> Any:
    """A path parameter whose empty default means the installed ``config/<name>``."""
    return _param('', f'{what} (default: the installed {name})'.strip())


def _events_param() -> Any:
    return _param('/humanoid_data/events', 'topic of episode and label events')


def _status_param() -> Any:
    return _param(1.0, 'period of the /diagnostics status (s)')


@dataclass(frozen=True)
class RecorderSettings:
    """Parameters of the recorder node."""

    config: str = _file_param('humanoid.yaml', 'sensor-suite YAML file')
    output_dir: str = _param('recordings', 'folder that holds session folders')
    session: str = _param('', 'session folder name (default: session_<UTC time>)')
    events_topic: str = _events_param()
    queue_mib: float = _param(512.0, 'budget of the queue between executor and writer (MiB)')
    preroll_s: float = _param(1.0, 'seconds before a start that go into the episode')
    stop_grace_s: float = _param(
        10.0, 'longest wait after a stop for messages still in flight (s)')
    silence_s: float = _param(1.0, 'a stream without messages this long is reported silent')
    operator: str = _param('', 'default operator name written to episode.yaml')
    task: str = _param('', 'default task written to episode.yaml')
    instruction: str = _param('', 'default language instruction written to episode.yaml')
    status_period_s: float = _status_param()
    taxonomy: str = _file_param('phases.yaml', 'phase-taxonomy YAML')
    sync_config: str = _file_param('sync.yaml', 'sync-health thresholds YAML')
    live_sync: bool = _param(
        True, 'grade every stream\'s sync live from the messages the recorder receives and '
              'publish it on /diagnostics (sync_monitor then need not receive them again)')
    contacts: bool = _param(
        False, 'detect contacts from the force-torque and tactile messages the recorder '
               'receives and publish them on the events topic, with ~/tare (contact_monitor '
               'then need not receive them again)')
    contact_config: str = _file_param('contact.yaml', 'contact thresholds YAML (contacts)')
    flush_period_s: float = _param(
        0.25, 'open chunks go to disk at least this often: a killed recorder loses at '
              'most about this much (s)')
    stop_hold_s: float = _param(
        0.25, 'messages wait this long before they are written, so a stop that arrives '
              'up to this late still ends the episode exactly (s)')
    fsync: str = _param(
        'close', 'when written data is forced to the disk: never, close (each episode) '
                 'or flush (every flush period: survives a power cut)')
    compression: str = _param('', 'MCAP chunk compression: none, lz4 or zstd; empty: the '
                                  'suite\'s compression key, else none')
    disk_warn_minutes: float = _param(
        5.0, 'report WARN when less recording time than this is left on the disk (min)')
    disk_min_free_mib: float = _param(
        256.0, 'refuse to start an episode with less free space than this (MiB)')
    disk_reserve_mib: float = _param(
        32.0, 'space held back to close episodes cleanly when the disk fills (MiB)')
    watchdog_s: float = _param(
        5.0, 'report ERROR when the writer has not taken queued messages for this long (s)')

    def __post_init__(self) -> None:
        """Check ranges and vocabularies."""
        for name in ('queue_mib', 'status_period_s', 'flush_period_s', 'watchdog_s'):
            if not getattr(self, name) > 0:
                raise ConfigError(f'recorder parameter {name} must be > 0')
        for name in ('preroll_s', 'stop_grace_s', 'silence_s', 'stop_hold_s',
                     'disk_warn_minutes', 'disk_min_free_mib', 'disk_reserve_mib'):
            if not getattr(self, name) >= 0:
                raise ConfigError(f'recorder parameter {name} must be >= 0')
        if not self.events_topic.startswith('/'):
            raise ConfigError('recorder parameter events_topic must be absolute')
        for name, allowed in (('fsync', ('never', 'close', 'flush')),
                              ('compression', ('', 'none', 'lz4', 'zstd'))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f'recorder parameter {name} is {getattr(self, name)!r}; '
                                  f'allowed: {", ".join(allowed)}')


@dataclass(frozen=True)
class SimSettings:
    """Parameters of the simulated humanoid."""

    config: str = _file_param('humanoid.yaml', 'sensor-suite YAML file')
    events_topic: str = _param('/humanoid_data/events', 'topic for ground-truth events')
    autoplay: bool = _param(False, 'loop pick-and-place cycles instead of one per episode')
    cycle_gap_s: float = _param(1.5, 'idle time between autoplay cycles (s)')
    task_lead_s: float = _param(0.5, 'delay from an episode start to the task motion (s)')
    rate_scale: float = _param(1.0, 'multiply every stream rate (benchmarks)')
    noise: float = _param(1.0, 'sensor noise multiplier')
    seed: int = _param(0, 'random seed')
    faults: str = _param('', 'YAML mapping stream -> faults (docs/config.md)')
    truth_dir: str = _param('', 'folder for truth.jsonl and the published ledger')
    urdf: str = _file_param('humanoid.urdf', 'URDF published once on the suite\'s '
                                             'description streams; the body the '
                                             'sensors are rendered from')
    mount_faults: str = _param('', 'YAML mapping fixed joint -> {rpy_deg, xyz_mm}: the '
                                   'sensor is rendered off its mount, /tf_static stays '
                                   'nominal (docs/config.md)')
    max_lag_s: float = _param(
        0.5, 'a sample this overdue is skipped, as a real sensor would (CPU-starved '
             'simulator); larger values publish late instead')

    def __post_init__(self) -> None:
        """Check ranges."""
        if not self.rate_scale > 0:
            raise ConfigError('sim parameter rate_scale must be > 0')
        if self.noise < 0 or self.cycle_gap_s < 0 or self.task_lead_s < 0:
            raise ConfigError('sim parameters noise, cycle_gap_s, task_lead_s must be >= 0')
        if not self.max_lag_s > 0:
            raise ConfigError('sim parameter max_lag_s must be > 0')


@dataclass(frozen=True)
class ContactMonitorSettings:
    """Parameters of the contact monitor."""

    config: str = _file_param('humanoid.yaml', 'sensor-suite YAML file')
    contact_config: str = _file_param('contact.yaml', 'contact thresholds YAML')
    taxonomy: str = _file_param('phases.yaml', 'phase-taxonomy YAML')
    events_topic: str = _events_param()
    tare_on_start: bool = _param(True, 're-estimate biases at every episode start')
    status_period_s: float = _status_param()


@dataclass(frozen=True)
class SyncMonitorSettings:
    """Parameters of the sync monitor."""

    config: str = _file_param('humanoid.yaml', 'sensor-suite YAML file')
    sync_config: str = _file_param('sync.yaml', 'sync-health thresholds YAML')
    period_s: float = _param(1.0, 'period of the /diagnostics publication (s)')

    def __post_init__(self) -> None:
        """Check ranges."""
        if not self.period_s > 0:
            raise ConfigError('sync_monitor parameter period_s must be > 0')


@dataclass(frozen=True)
class TeleopSettings:
    """Parameters of marker_teleop."""

    taxonomy: str = _file_param('phases.yaml', 'phase-taxonomy YAML')
    teleop_config: str = _file_param('teleop.yaml', 'key and button map')
    events_topic: str = _events_param()
    joy_topic: str = _param('/joy', 'sensor_msgs/Joy topic of the pedal or controller')
    recorder: str = _param('/recorder', 'recorder node, whose status the UI shows')
    contact_monitor: str = _param(
        '/recorder', 'node whose ~/tare re-estimates the contact biases: the recorder '
                     '(its contacts parameter) or /contact_monitor')
    task: str = _param('', 'task of the episodes (default: the taxonomy default task)')
    instruction: str = _param('', 'language instruction (default: the task instruction)')
    operator: str = _param('', 'operator name written into episode_start events')
    tags: str = _param('', 'comma-separated tags written into episode_start events')
    ui: bool = _param(False, 'show the terminal UI and read keys (needs a terminal)')


def settings_from(cls: type[S], values: Mapping[str, Any], source: str) -> S:
    """Build settings of type ``cls`` from a mapping, converting numbers as declared.

    Raises:
        ConfigError: Unknown key or a value of the wrong type, naming ``source``.

    """
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f'{source}: unknown parameter {key!r}')
        default = known[key].default
        expected = type(default) if default is not MISSING else str
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is not bool
                                               and isinstance(value, bool)):
            raise ConfigError(f'{source}: parameter {key!r} expects {expected.__name__}, '
                              f'got {value!r}')
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(f'{source}: {err}') from None
