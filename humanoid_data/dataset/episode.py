"""One episode bag assembled into aligned, labelled frames (before any writer sees it).

``assemble`` runs pass 1 of the reader, puts every planned stream on the timeline of
``config/dataset.yaml`` (header stamps; receive time only for a stream without one),
builds the labels (from the bag's events, replaced by the best label set saved under
``<session>/labels/`` when there is one: ``labels_source``) and the quality report.
Images stay in the bag: for each camera it records which message every frame uses, and
a writer decodes them in pass 2. Each camera's intrinsics come from its paired
CameraInfo stream (``calibration``), its extrinsics from the episode's transforms
(``extrinsics``: a pose per episode or, for a moving camera, per frame), which can also
move the wrenches and the LiDAR scans into the base frame (``calibration`` of dataset.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from humanoid_data.bag.any_bag import episode_name
from humanoid_data.bag.episode_reader import LARGE, EpisodeReader
from humanoid_data.bag.given_labels import GivenLabels
from humanoid_data.bag.stream_samples import StreamSamples
from humanoid_data.bag.metadata import EpisodeMeta
from humanoid_data.core.config import Modality, SuiteConfig
from humanoid_data.core.contact_config import ContactConfig
from humanoid_data.core.intervals import Interval
from humanoid_data.core.labels import Segment
from humanoid_data.core.phases import Taxonomy
from humanoid_data.core.quality import QualityReport, assess
from humanoid_data.core.sync import Alignment, Policy, align, timeline
from humanoid_data.calibration.checks import check_episode
from humanoid_data.dataset.calibration import CAMERAS, episode_intrinsics
from humanoid_data.dataset.config import DatasetConfig, StreamPlan
from humanoid_data.dataset.episode_labels import (
    apply_verdict, flag_provenance, label_episode, label_from_store, resolve_task)
from humanoid_data.dataset.extrinsics import (
    CameraExtrinsics, episode_extrinsics, episode_transforms, wrenches_in_base)
from humanoid_data.dataset.labels_source import LabelProvenance
from humanoid_data.dataset.lidar_scans import ScanPoses, scan_poses
from humanoid_data.dataset.timing import CLOCK
from humanoid_data.errors import ConfigError


@dataclass
class FramePlan:
    """Which message of a large stream each frame shows."""

    stream: str
    topic: str
    key: str
    modality: Modality
    index: np.ndarray           # bag-order index per frame (nearest, even out of tolerance)
    valid: np.ndarray           # within tolerance
    width: int = 0
    height: int = 0


@dataclass
class EpisodeData:
    """Aligned frames, labels and quality of one episode."""

    reader: EpisodeReader
    episode_id: str
    session: str
    meta: EpisodeMeta
    instants_ns: np.ndarray
    task: str = ''                # empty: the episode names no task (flagged no_task_label)
    instruction: str = ''
    outcome: str = ''
    failure_mode: str = ''
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    valid: dict[str, np.ndarray] = field(default_factory=dict)
    stamps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    frames: list[FramePlan] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    truth_segments: list[Segment] = field(default_factory=list)
    contacts: dict[str, list[Interval]] = field(default_factory=dict)
    channels: list[str] = field(default_factory=list)
    phase_names: list[str] = field(default_factory=list)
    phase_index: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    contact: np.ndarray = field(default_factory=lambda: np.empty((0, 0), bool))
    disagreements: dict[str, object] = field(default_factory=dict)
    quality: QualityReport = field(default_factory=QualityReport)
    notes: list[str] = field(default_factory=list)
    provenance: LabelProvenance | None = None     # where the labels came from
    label_verdict: tuple[str, str, str] | None = None   # a person's (verdict, reason, who)
    window_ns: tuple[int, int] = (0, 0)           # (start, stop) on the robot clock
    intrinsics: dict[str, dict] = field(default_factory=dict)   # camera key -> record
    extrinsics: dict[str, CameraExtrinsics] = field(default_factory=dict)   # camera key
    scan_poses: dict[str, ScanPoses] = field(default_factory=dict)   # LiDAR key, in base

    @property
    def frame_count(self) -> int:
        """Frames on the timeline."""
        return len(self.instants_ns)


def _sorted_finite(entry: StreamSamples, use_receive: bool,
                   notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A stream's stamps sorted, non-finite samples left out, and each one's bag index."""
    header, receive = entry.arrays()
    stamps = receive if use_receive else header
    regressions = int(np.count_nonzero(np.diff(stamps) < 0))
    if regressions:
        notes.append(f'{entry.stream.topic}: {regressions} out-of-order stamps, sorted')
    order = np.argsort(stamps, kind='stable')
    if entry.width:
        finite = entry.finite()[order]
        bad = int(np.count_nonzero(~finite))
        if bad:
            notes.append(f'{entry.stream.topic}: {bad} samples with NaN or inf skipped')
            order = order[finite]
    return stamps[order], order


def _names(entry: StreamSamples) -> list[str]:
    modality = entry.stream.modality
    if modality in (Modality.JOINT_STATE, Modality.COMMAND):
        velocities = [f'{n}.vel' for n in entry.names] \
            if entry.width == 2 * len(entry.names) else []
        return [f'{n}.pos' for n in entry.names] + velocities
    if modality == Modality.WRENCH:
        return ['fx', 'fy', 'fz', 'tx', 'ty', 'tz']
    if modality == Modality.IMU:
        return ['qx', 'qy', 'qz', 'qw', 'wx', 'wy', 'wz', 'ax', 'ay', 'az']
    if modality == Modality.TACTILE:
        return [f'taxel_{i}' for i in range(entry.width)]
    return []


def assemble(episode_dir: str | Path, config: DatasetConfig, taxonomy: Taxonomy,
             contact_config: ContactConfig, suite: SuiteConfig | None = None,
             scratch: Path | None = None, labels: GivenLabels | None = None) -> EpisodeData:
    """Read, align and label one episode (pass 1 keeps its values under ``scratch``).

    ``suite`` stands in for a missing ``suite.yaml`` (without either the suite is guessed
    from the bag); ``labels`` fill in what a bag without episode.yaml does not name.

    Raises:
        BagError: The bag cannot be read (truncated, corrupt), naming it.
        ConfigError: The dataset plan needs streams the recorded suite does not have.
        HumanoidDataError: ``scratch`` cannot take pass 1's values (full disk).

    """
    reader = EpisodeReader(episode_dir, suite, scratch, labels)
    try:
        config.check_against(reader.suite, str(reader.path))
    except ConfigError as err:
        if not reader.suite_guessed:
            raise
        names = ', '.join(sorted(st.name for st in reader.suite.streams))
        raise ConfigError(f'{err}; that suite was guessed from the bag, its streams: {names} '
                          f'(humanoid-data suite-from-bag {reader.path} writes it to edit; '
                          'pass it with --suite)') from err
    with CLOCK.timed('read'):
        reader.scan()
    CLOCK.add('read', -reader.decode_s)
    CLOCK.add('decode', reader.decode_s)
    try:
        with CLOCK.timed('align'):
            return _build(reader, config, taxonomy, contact_config)
    finally:
        reader.close_samples()     # the frames hold their values; the scratch files go


def _window(reader: EpisodeReader, config: DatasetConfig,
            by_name: dict[str, StreamSamples]) -> tuple[int, int]:
    """(start, stop) of the episode on the robot clock; (0, 0) when it has no data.

    From episode.yaml (the operator's start and stop) or, without it, the episode events
    in the bag; an end neither gives is the first or last stamp of the required streams.
    """
    required = [by_name[p.stream].arrays()[0] for p in config.streams
                if p.required and p.stream in by_name and by_name[p.stream].header_ns]
    meta = reader.meta
    start_ns = meta.start_ns if meta.start_ns is not None else (
        min(int(h.min()) for h in required) if required else 0)
    stop_ns = meta.stop_ns if meta.stop_ns is not None else (
        max(int(h.max()) for h in required) if required else 0)
    reference = by_name.get(config.reference)
    if reference is not None and reference.header_ns:
        # Start on the reference stream's first sample (a camera trigger), so its frames
        # land on the grid with no residual.
        stamps = np.sort(reference.arrays()[0])
        after = stamps[stamps >= int(start_ns)]
        if len(after):
            start_ns = int(after[0])
    return int(start_ns), int(stop_ns)


def _build(reader: EpisodeReader, config: DatasetConfig, taxonomy: Taxonomy,
           contact_config: ContactConfig) -> EpisodeData:
    meta = reader.meta
    notes: list[str] = [f'labels: {note}' for note in reader.label_notes]
    if reader.suite_guessed:
        notes.append('no suite.yaml: the suite was guessed from the bag\'s topics '
                     '(humanoid-data suite-from-bag shows the guess)')
    by_name = {s.stream.name: s for s in reader.samples.values()}
    start_ns, stop_ns = _window(reader, config, by_name)
    instants = timeline(start_ns, stop_ns, config.fps) if stop_ns else np.empty(0, np.int64)
    task, instruction, definition = resolve_task(meta, taxonomy)
    data = EpisodeData(reader, meta.episode_id or episode_name(reader.path),
                       reader.path.parent.name, meta, instants, task, instruction,
                       meta.outcome, meta.failure_mode,
                       notes=notes, window_ns=(start_ns, stop_ns))
    missing_required = np.zeros(len(instants), dtype=bool)
    residuals_ms: dict[str, np.ndarray] = {}
    silent: list[str] = []
    for plan in config.streams:
        entry = by_name.get(plan.stream)
        if entry is None or not entry.header_ns:
            if plan.required:
                missing_required[:] = True
                silent.append(plan.stream)
                notes.append(f'required stream {plan.stream} has no messages')
            continue
        al = _align_stream(data, plan, entry, notes)
        residuals_ms[plan.stream] = np.abs(al.residual_ns[al.valid]) / 1e6
        if plan.required:
            missing_required |= ~al.valid
    label_episode(data, definition, contact_config, stop_ns)
    label_from_store(data, taxonomy, stop_ns)     # the best label set saved, if any
    _assess(data, config, missing_required, residuals_ms)
    data.intrinsics = episode_intrinsics(data)    # after _assess: it may add a flag
    with CLOCK.timed('calibrate'):
        _calibrate(data, config)                  # extrinsics join the intrinsics records
    apply_verdict(data)
    for stream in silent:
        data.quality.rejected.append(f'required stream {stream} has no messages '
                                     f'(dataset.yaml streams.{stream}.required = true)')
    flag_provenance(data)
    return data


def _calibrate(data: EpisodeData, config: DatasetConfig) -> None:
    """The cameras' extrinsics; the wrenches and LiDAR scans in the base frame if asked."""
    options = config.calibration
    lidars = [p for p in data.frames if p.modality == Modality.LIDAR] \
        if options.lidar_in_base else []
    if not (any(p.modality in CAMERAS for p in data.frames) or lidars
            or options.wrench_in_base):
        return
    found, why_none = episode_transforms(data.reader, data.notes)
    buffer = found.buffer if found is not None else None
    data.extrinsics = episode_extrinsics(data, options.base_frame, buffer, why_none)
    if options.checks and found is not None and _has_lidar(data):
        report = check_episode(data.reader, found, data.window_ns, config.quality)
        data.quality.metrics['calibration'] = report.metrics
        data.quality.flags.extend(report.flags)
        data.notes.extend(report.notes)
    if options.wrench_in_base:
        wrenches_in_base(data, config, buffer, why_none)
    for plan in lidars:
        poses = scan_poses(data, plan, options.base_frame, buffer, why_none)
        if poses is not None:
            data.scan_poses[plan.key] = poses


def _has_lidar(data: EpisodeData) -> bool:
    """Whether the episode's suite has a LiDAR the calibration checks can work from."""
    return any(s.modality == Modality.LIDAR for s in data.reader.suite.streams)


def _assess(data: EpisodeData, config: DatasetConfig, missing_required: np.ndarray,
            residuals_ms: dict[str, np.ndarray]) -> None:
    """Quality metrics and gates of the aligned episode."""
    instants = data.instants_ns
    q = data.columns.get('observation.state')
    joints = len(data.names.get('observation.state', [])) // 2
    positions = q[:, :joints] if q is not None else np.zeros((len(instants), 0))
    t_s = (instants - instants[0]) / 1e9 if len(instants) else np.zeros(0)
    missing_fraction = float(np.mean(missing_required)) if len(instants) else 1.0
    data.quality = assess(
        t_s, positions, config.quality, missing_fraction=missing_fraction,
        residuals_ms=residuals_ms, dropped=data.meta.dropped,
        missing_by_stamps=data.meta.missing_by_stamps,
        contacts=len(data.contacts.get('recorded', [])))
    if not len(instants):
        data.quality.rejected.append('empty episode: no frames between start and stop')


def _align_stream(data: EpisodeData, plan: StreamPlan, entry: StreamSamples,
                  notes: list[str]) -> Alignment:
    stream = entry.stream
    stamps, order = _sorted_finite(entry, plan.receive_time, notes)
    if plan.receive_time:
        notes.append(f'{stream.topic}: aligned on receive time (dataset.yaml stamps: receive)')
    al = align(data.instants_ns, stamps, plan.align)
    data.stamps[plan.stream] = {'stamp_ns': np.where(al.valid, al.stamp_ns, -1),
                                'residual_ns': np.where(al.valid, al.residual_ns, 0),
                                'valid': al.valid}
    data.valid[plan.key] = al.valid
    if stream.modality in LARGE:
        # A video needs a picture for every frame: the nearest one, flagged when it is
        # outside the tolerance, as a bag-order index.
        if plan.align.policy == Policy.NEAREST and not plan.align.causal:
            nearest = al.before        # the nearest sample, whatever the tolerance
        else:
            nearest = align(data.instants_ns, stamps,
                            type(plan.align)(Policy.NEAREST, 10 ** 18)).before
        data.frames.append(FramePlan(plan.stream, stream.topic, plan.key, stream.modality,
                                     order[nearest], al.valid, stream.width, stream.height))
        return al
    used = al.used(len(stamps))
    data.columns[plan.key] = al.take(entry.rows(order[used]), used)
    data.names[plan.key] = _names(entry)
    return al
