"""What the review page shows of one episode, read from its bag: cameras, signals, events.

ROS-free. ``read_episode`` reads the bag once (``EpisodeReader.scan``: header stamps of
every stream, the small streams' values, the events) and keeps:

- the clock: the origin (``start_ns`` of episode.yaml, else the first message stamp; an
  episode without a bag takes the earliest stamp of its label sets, see
  ``review.clock``) and the duration;
- the cameras (``review.proxy.camera_streams``) with the header stamp of each image in
  log order, which is frame k of the proxy video;
- the signals: force per wrist ``|F - bias|`` (bias: mean of the first
  ``BIAS_WINDOW_NS``), total pressure per tactile pad, joint speed per arm (norm of the
  arm joints' velocities, or of the positions' finite differences when the joint states
  carry no velocities) and hand closure 0..1 per hand from the finger joints, each cut
  down to at most ``MAX_POINTS`` points by keeping the min and max of each bucket (a
  spike survives);
- the events: the operator's phase markers, notes and episode control.

``EpisodeCache`` keeps the last few episodes read, so a second request is cheap; an
episode whose bag or episode.yaml changed on disk is read again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from humanoid_data.bag.episode_reader import EpisodeReader, find_suite
from humanoid_data.bag.stream_samples import StreamSamples
from humanoid_data.bag.metadata import BAG_METADATA, EPISODE_YAML, load_yaml_file
from humanoid_data.core.config import Modality, SuiteConfig, load_suite
from humanoid_data.core.events import (
    Boundary, Discard, EpisodeEnd, EpisodeOutcome, EpisodeStart, EventBase, Note, Phase,
    Source)
from humanoid_data.errors import HumanoidDataError
from humanoid_data.resources import default_suite

#: Most points of one signal sent to the page.
MAX_POINTS = 4000
#: The force bias is the mean force over this first part of the stream.
BIAS_WINDOW_NS = 200_000_000
#: Finger joint angle (rad) of a fully closed hand: the simulated hand's fingers reach it.
FINGER_CLOSED_RAD = 1.2
ARM_JOINTS = ('shoulder_pitch', 'shoulder_roll', 'shoulder_yaw', 'elbow', 'wrist_yaw',
              'wrist_pitch', 'wrist_roll')
FINGER_JOINTS = ('thumb_rot', 'thumb', 'index', 'middle', 'ring', 'pinky')
SIDES = ('left', 'right')


@dataclass(frozen=True)
class Camera:
    """An RGB camera of the episode and the capture stamp of each image, in log order."""

    name: str
    topic: str
    fps: float
    stamps_ns: tuple[int, ...]       # absolute


@dataclass(frozen=True)
class Signal:
    """One plotted signal: absolute stamps and values (finite), at most ``MAX_POINTS``."""

    name: str
    group: str
    unit: str
    t_ns: np.ndarray                 # int64, absolute
    values: np.ndarray               # float64


@dataclass(frozen=True)
class TimelineEvent:
    """A marker, note or episode-control event of the bag."""

    kind: str
    stamp_ns: int                    # absolute
    text: str


@dataclass(frozen=True)
class Summary:
    """What episode.yaml says (empty values where it has none or is damaged)."""

    task: str = ''
    instruction: str = ''
    operator: str = ''
    outcome: str = ''
    failure_mode: str = ''
    episode_uuid: str = ''
    flags: tuple[str, ...] = ()
    sync_level: str = ''
    start_ns: int | None = None
    stop_ns: int | None = None
    duration_s: float | None = None
    problem: str = ''


@dataclass(frozen=True)
class EpisodeInfo:
    """What the bag of one episode gives the page."""

    folder: Path | None
    summary: Summary
    first_ns: int | None = None       # first message stamp of the bag
    last_ns: int | None = None
    cameras: tuple[Camera, ...] = ()
    signals: tuple[Signal, ...] = ()
    events: tuple[TimelineEvent, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def origin_ns(self) -> int | None:
        """The episode's start, else its first message stamp; None without either."""
        if self.summary.start_ns is not None:
            return self.summary.start_ns
        return self.first_ns

    @property
    def duration_ns(self) -> int | None:
        """From the start to the stop (episode.yaml), else to the last message."""
        origin = self.origin_ns
        if origin is None:
            return None
        if self.summary.stop_ns is not None and self.summary.start_ns is not None:
            return max(0, self.summary.stop_ns - origin)
        if self.last_ns is not None:
            return max(0, self.last_ns - origin)
        return None


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ''


def _stamp(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** 63:
        return None
    return value


def read_summary(folder: Path) -> Summary:
    """What episode.yaml of ``folder`` says; a missing file gives empty values.

    A damaged file is not an error here (the page still shows the episode): its reason
    is in ``problem``.
    """
    path = folder / EPISODE_YAML
    if not path.is_file():
        return Summary()
    try:
        data = load_yaml_file(path)
    except HumanoidDataError as err:
        return Summary(problem=str(err))
    if not isinstance(data, dict):
        return Summary(problem=f'{path}: expected a mapping')
    sync = data.get('sync')
    level = sync.get('level') if isinstance(sync, dict) else None
    flags = data.get('flags')
    duration = data.get('duration_s')
    return Summary(
        task=_text(data, 'task'), instruction=_text(data, 'instruction'),
        operator=_text(data, 'operator'), outcome=_text(data, 'outcome'),
        failure_mode=_text(data, 'failure_mode'), episode_uuid=_text(data, 'episode_uuid'),
        flags=tuple(f for f in flags if isinstance(f, str)) if isinstance(flags, list) else (),
        sync_level=level if isinstance(level, str) else '',
        start_ns=_stamp(data, 'start_ns'), stop_ns=_stamp(data, 'stop_ns'),
        duration_s=float(duration) if isinstance(duration, (int, float))
        and not isinstance(duration, bool) else None)


def has_bag(folder: Path) -> bool:
    """Whether ``folder`` looks like an episode bag (``metadata.yaml`` or an MCAP file)."""
    return (folder / BAG_METADATA).is_file() or any(folder.glob('*.mcap'))


def downsample(t_ns: np.ndarray, values: np.ndarray,
               limit: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` points: each of ``limit // 2`` buckets keeps its min and its max.

    The two points of a bucket stay in time order, so the plot keeps every spike.
    """
    count = len(values)
    if count <= limit:
        return t_ns, values
    buckets = max(1, limit // 2)
    edges = np.linspace(0, count, buckets + 1).astype(np.int64)
    keep = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi <= lo:
            continue
        part = values[lo:hi]
        low, high = lo + int(np.argmin(part)), lo + int(np.argmax(part))
        keep += sorted({low, high})
    index = np.asarray(keep, dtype=np.int64)
    return t_ns[index], values[index]


def _stream_values(entry: StreamSamples) -> tuple[np.ndarray, np.ndarray]:
    """A small stream's stamps and values sorted by stamp, rows with NaN or inf left out."""
    stamps, rows = [], []
    for header, values in entry.blocks():
        stamps.append(np.asarray(header[:len(values)], dtype=np.int64))
        rows.append(values[:len(header)])
    if not stamps:
        return np.empty(0, np.int64), np.empty((0, entry.width))
    t_ns, values = np.concatenate(stamps), np.concatenate(rows)
    finite = np.isfinite(values).all(axis=1)
    t_ns, values = t_ns[finite], values[finite]
    order = np.argsort(t_ns, kind='stable')
    return t_ns[order], values[order]


def _signal(name: str, group: str, unit: str, t_ns: np.ndarray,
            values: np.ndarray) -> Signal:
    finite = np.isfinite(values)
    t, v = downsample(t_ns[finite], values[finite])
    return Signal(name, group, unit, t.astype(np.int64), v.astype(np.float64))


def _part(stream_name: str, drop: str) -> str:
    """``wrist_right_ft`` -> ``wrist/right``; ``tactile_right_index`` -> ``right/index``."""
    name = stream_name
    if drop.startswith('_') and name.endswith(drop):
        name = name[:-len(drop)]
    elif drop.endswith('_') and name.startswith(drop):
        name = name[len(drop):]
    return name.replace('_', '/', 1)


def force_signal(entry: StreamSamples) -> Signal:
    """``|F - bias|`` of a wrench stream, bias the mean force of its first 0.2 s."""
    t_ns, values = _stream_values(entry)
    force = values[:, :3] if values.shape[1] >= 3 else np.zeros((len(t_ns), 3))
    magnitude = np.zeros(len(t_ns))
    if len(t_ns):
        first = force[t_ns < t_ns[0] + BIAS_WINDOW_NS]
        magnitude = np.linalg.norm(force - first.mean(axis=0), axis=1)
    return _signal(_part(entry.stream.name, '_ft'), 'force', 'N', t_ns, magnitude)


def pressure_signal(entry: StreamSamples) -> Signal:
    """Total pressure (sum of the taxels, kPa) of a tactile pad."""
    t_ns, values = _stream_values(entry)
    return _signal(_part(entry.stream.name, 'tactile_'), 'pressure', 'kPa', t_ns,
                   values.sum(axis=1) if len(t_ns) else np.zeros(0))


def _speed(t_ns: np.ndarray, positions: np.ndarray,
           velocities: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if velocities is not None:
        return t_ns, np.linalg.norm(velocities, axis=1)
    if len(t_ns) < 2:
        return np.empty(0, np.int64), np.empty(0)
    dt = np.diff(t_ns) / 1e9
    moving = dt > 0
    rates = np.diff(positions, axis=0)[moving] / dt[moving][:, None]
    return t_ns[1:][moving], np.linalg.norm(rates, axis=1)


def joint_signals(entry: StreamSamples) -> list[Signal]:
    """Joint speed per arm and hand closure per hand, from a joint-state stream."""
    names = list(entry.names)
    if not names:
        return []
    t_ns, values = _stream_values(entry)
    count = len(names)
    has_velocity = values.shape[1] == 2 * count
    out = []
    for side in SIDES:
        arm = [names.index(f'{side}_{j}') for j in ARM_JOINTS if f'{side}_{j}' in names]
        if arm:
            velocities = values[:, [count + i for i in arm]] if has_velocity else None
            t, speed = _speed(t_ns, values[:, arm], velocities)
            out.append(_signal(f'arm/{side}', 'joint_speed', 'rad/s', t, speed))
    for side in SIDES:
        fingers = [names.index(f'{side}_{j}') for j in FINGER_JOINTS if f'{side}_{j}' in names]
        if fingers:
            closure = np.clip(values[:, fingers].mean(axis=1) / FINGER_CLOSED_RAD, 0.0, 1.0) \
                if len(t_ns) else np.zeros(0)
            out.append(_signal(f'hand/{side}', 'closure', '', t_ns, closure))
    return out


def timeline_events(events: Iterable[EventBase]) -> list[TimelineEvent]:
    """The operator's phase markers, notes and episode control (simulator truth left out)."""
    out = []
    for event in events:
        if event.source == Source.SIM_TRUTH:
            continue
        if isinstance(event, Phase):
            text = event.name if event.boundary == Boundary.BEGIN else f'{event.name} end'
            out.append(TimelineEvent('marker', event.stamp_ns, text))
        elif isinstance(event, Note):
            out.append(TimelineEvent('note', event.stamp_ns, event.text))
        elif isinstance(event, EpisodeStart):
            text = ' '.join(t for t in (event.task, event.instruction and
                                        f'"{event.instruction}"') if t)
            out.append(TimelineEvent('episode_start', event.stamp_ns, text))
        elif isinstance(event, (EpisodeEnd, EpisodeOutcome)):
            text = ' '.join(t for t in (event.outcome.value, event.failure_mode, event.note)
                            if t)
            out.append(TimelineEvent(event.kind, event.stamp_ns, text))
        elif isinstance(event, Discard):
            out.append(TimelineEvent('discard', event.stamp_ns, event.reason))
    return sorted(out, key=lambda e: e.stamp_ns)


def _suite_of(folder: Path) -> SuiteConfig:
    return find_suite(folder, load_suite(default_suite()))


def _cameras(folder: Path, samples: Mapping[str, StreamSamples]) -> list[Camera]:
    from humanoid_data.review.proxy import camera_streams
    out = []
    for camera in camera_streams(folder):
        entry = samples.get(camera.topic)
        stamps = tuple(int(s) for s in entry.arrays()[0]) if entry is not None else ()
        out.append(Camera(camera.name, camera.topic, float(camera.rate_hz), stamps))
    return out


def read_episode(folder: Path) -> EpisodeInfo:
    """Read what the page shows of the episode in ``folder`` (its bag is only read).

    A folder without a bag, or a bag that cannot be read, gives the episode.yaml part
    and the reason in ``problems``; never raises for the bag's content.
    """
    summary = read_summary(folder)
    problems = [summary.problem] if summary.problem else []
    if not has_bag(folder):
        return EpisodeInfo(folder, summary, problems=tuple(problems))
    try:
        reader = EpisodeReader(folder, _suite_of(folder))
        samples = reader.scan()
    except HumanoidDataError as err:
        return EpisodeInfo(folder, summary, problems=tuple(problems + [str(err)]))
    try:
        stamps = [entry.arrays()[0] for entry in samples.values() if len(entry.header_ns)]
        first = min((int(s.min()) for s in stamps), default=None)
        last = max((int(s.max()) for s in stamps), default=None)
        signals: list[Signal] = []
        for entry in samples.values():
            modality = entry.stream.modality
            if not entry.count:
                continue
            if modality == Modality.WRENCH:
                signals.append(force_signal(entry))
            elif modality == Modality.TACTILE:
                signals.append(pressure_signal(entry))
            elif modality == Modality.JOINT_STATE:
                signals += joint_signals(entry)
        try:
            cameras = _cameras(folder, samples)
        except HumanoidDataError as err:
            cameras = []
            problems.append(str(err))
    finally:
        reader.close_samples()
    order = {'force': 0, 'pressure': 1, 'joint_speed': 2, 'closure': 3}
    signals.sort(key=lambda s: (order.get(s.group, 9), s.name))
    if not summary.task and reader.meta.from_events:
        summary = Summary(task=reader.meta.task, instruction=reader.meta.instruction,
                          operator=reader.meta.operator, outcome=reader.meta.outcome,
                          failure_mode=reader.meta.failure_mode, flags=summary.flags,
                          sync_level=summary.sync_level, problem=summary.problem)
    return EpisodeInfo(folder, summary, first, last, tuple(cameras), tuple(signals),
                       tuple(timeline_events(reader.events)), tuple(problems))


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of the files the episode is read from."""
    out = []
    for path in sorted([folder / EPISODE_YAML, folder / BAG_METADATA,
                        *folder.glob('*.mcap')]):
        try:
            stat = path.stat()
        except OSError:
            continue
        out.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(out)


class EpisodeCache:
    """The last ``size`` episodes read, each read once even when asked for at once."""

    def __init__(self, size: int = 8) -> None:
        """Keep at most ``size`` episodes."""
        self.size = size
        self._entries: OrderedDict[Path, tuple[Any, EpisodeInfo]] = OrderedDict()
        self._lock = threading.Lock()
        self._reading: dict[Path, threading.Lock] = {}

    def get(self, folder: Path) -> EpisodeInfo:
        """The episode in ``folder``, read again only when its files changed."""
        with self._lock:
            gate = self._reading.setdefault(folder, threading.Lock())
        with gate:
            signature = _signature(folder)
            with self._lock:
                entry = self._entries.get(folder)
                if entry is not None and entry[0] == signature:
                    self._entries.move_to_end(folder)
                    return entry[1]
            info = read_episode(folder)
            with self._lock:
                self._entries[folder] = (signature, info)
                self._entries.move_to_end(folder)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            return info


__all__ = ['BIAS_WINDOW_NS', 'MAX_POINTS', 'Camera', 'EpisodeCache', 'EpisodeInfo',
           'Signal', 'Summary', 'TimelineEvent', 'downsample', 'has_bag', 'read_episode',
           'read_summary', 'timeline_events']
