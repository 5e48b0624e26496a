"""One episode bag assembled into aligned, labelled frames (before any writer sees it).

``assemble`` runs pass 1 of the reader, puts every planned stream on the timeline of
``config/dataset.yaml`` (header stamps; receive time only for a stream without one),
builds the labels and the quality report. Images stay in the bag: for each camera it
records which message every frame uses, and a writer decodes them in pass 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from humanoid_data.bag.episode_reader import LARGE, EpisodeReader, StreamSamples
from humanoid_data.core.config import Modality, SuiteConfig
from humanoid_data.core.contact import channel_of, make_detector
from humanoid_data.core.contact_config import ContactConfig
from humanoid_data.core.events import Source
from humanoid_data.core.intervals import Interval, intervals_from_events
from humanoid_data.core.labels import (
    Segment, auto_segments, contact_disagreements, contact_flags, phase_index, phase_segments)
from humanoid_data.core.phases import Taxonomy
from humanoid_data.core.quality import QualityReport, assess
from humanoid_data.core.sync import Alignment, Policy, align, timeline
from humanoid_data.dataset.config import DatasetConfig, StreamPlan


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
    meta: dict[str, Any]
    instants_ns: np.ndarray
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


def _offline_contacts(reader: EpisodeReader, config: ContactConfig,
                      end_ns: int) -> list[Interval]:
    changes = []
    for entry in reader.samples.values():
        stream = entry.stream
        if stream.modality not in (Modality.WRENCH, Modality.TACTILE) or not entry.count:
            continue
        detector = make_detector(stream, config)
        shape = (stream.height or 4, stream.width or 4)
        for stamps, values in entry.blocks():
            for stamp, value in zip(stamps.tolist(), values):
                sample = value[:3] if stream.modality == Modality.WRENCH else \
                    value.reshape(shape)
                changes.extend(detector.update(stamp, sample))
        changes.extend(detector.close())
    return intervals_from_events((c.to_event(source=Source.AUTO) for c in changes), end_ns=end_ns)


def assemble(episode_dir: str | Path, config: DatasetConfig, taxonomy: Taxonomy,
             contact_config: ContactConfig, suite: SuiteConfig | None = None,
             scratch: Path | None = None) -> EpisodeData:
    """Read, align and label one episode (pass 1 keeps its values under ``scratch``).

    Raises:
        BagError: The bag cannot be read (truncated, corrupt), naming it.
        ConfigError: The dataset plan needs streams the recorded suite does not have.
        HumanoidDataError: ``scratch`` cannot take pass 1's values (full disk).

    """
    reader = EpisodeReader(episode_dir, suite, scratch)
    config.check_against(reader.suite, str(reader.path))
    reader.scan()
    try:
        return _build(reader, config, taxonomy, contact_config)
    finally:
        reader.close_samples()     # the frames hold their values; the scratch files go


def _build(reader: EpisodeReader, config: DatasetConfig, taxonomy: Taxonomy,
           contact_config: ContactConfig) -> EpisodeData:
    samples = reader.samples
    meta = reader.meta
    notes: list[str] = []
    by_name = {s.stream.name: s for s in samples.values()}
    # Timeline: from the operator's start to stop; without episode.yaml, the first and
    # last stamps of the required streams.
    required = [by_name[p.stream].arrays()[0] for p in config.streams
                if p.required and p.stream in by_name and by_name[p.stream].header_ns]
    start_ns = meta.get('start_ns') or (min(int(h.min()) for h in required)
                                        if required else 0)
    stop_ns = meta.get('stop_ns') or (max(int(h.max()) for h in required)
                                      if required else 0)
    reference = by_name.get(config.reference)
    if reference is not None and reference.header_ns:
        # Start on the reference stream's first sample (a camera trigger), so its frames
        # land on the grid with no residual.
        stamps = np.sort(reference.arrays()[0])
        after = stamps[stamps >= int(start_ns)]
        if len(after):
            start_ns = int(after[0])
    instants = timeline(int(start_ns), int(stop_ns), config.fps) if stop_ns else \
        np.empty(0, np.int64)
    data = EpisodeData(reader, str(meta.get('episode_id') or reader.path.name),
                       reader.path.parent.name, meta, instants, notes=notes)
    missing_required = np.zeros(len(instants), dtype=bool)
    residuals_ms: dict[str, np.ndarray] = {}
    for plan in config.streams:
        entry = by_name.get(plan.stream)
        if entry is None or not entry.header_ns:
            if plan.required:
                missing_required[:] = True
                notes.append(f'required stream {plan.stream} has no messages')
            continue
        al = _align_stream(data, plan, entry, notes)
        residuals_ms[plan.stream] = np.abs(al.residual_ns[al.valid]) / 1e6
        if plan.required:
            missing_required |= ~al.valid
    _labels(data, taxonomy, contact_config, int(stop_ns))
    q = data.columns.get('observation.state')
    joints = len(data.names.get('observation.state', [])) // 2
    positions = q[:, :joints] if q is not None else np.zeros((len(instants), 0))
    t_s = (instants - instants[0]) / 1e9 if len(instants) else np.zeros(0)
    missing_fraction = float(np.mean(missing_required)) if len(instants) else 1.0
    data.quality = assess(
        t_s, positions, config.quality, missing_fraction=missing_fraction,
        residuals_ms=residuals_ms, dropped=int(meta.get('dropped') or 0),
        missing_by_stamps=int(meta.get('missing_by_stamps') or 0),
        contacts=len(data.contacts.get('recorded', [])))
    if not len(instants):
        data.quality.rejected.append('empty episode: no frames between start and stop')
    for note in notes:
        if note.startswith('required stream'):
            data.quality.rejected.append(note)
    return data


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


def _labels(data: EpisodeData, taxonomy: Taxonomy, contact_config: ContactConfig,
            stop_ns: int) -> None:
    events = data.reader.events
    task = taxonomy.task(data.meta.get('task') or '') if data.meta.get('task') in {
        t.name for t in taxonomy.tasks} else taxonomy.task()
    data.phase_names = list(task.phase_names)
    start = int(data.instants_ns[0]) if len(data.instants_ns) else 0
    recorded = intervals_from_events(events, Source.CONTACT_MONITOR, stop_ns)
    offline = _offline_contacts(data.reader, contact_config, stop_ns)
    truth = intervals_from_events(events, Source.SIM_TRUTH, stop_ns)
    data.contacts = {'recorded': recorded, 'offline': offline}
    if truth:
        data.contacts['sim_truth'] = truth
    data.disagreements = contact_disagreements(recorded, offline)
    operator = phase_segments(events, Source.OPERATOR, stop_ns)
    data.segments = operator or auto_segments(recorded or offline, data.phase_names,
                                              start, stop_ns)
    data.truth_segments = phase_segments(events, Source.SIM_TRUTH, stop_ns)
    data.phase_index = phase_index(data.instants_ns, data.segments, data.phase_names)
    data.channels = sorted({channel_of(s) for s in data.reader.suite.streams
                            if s.modality in (Modality.WRENCH, Modality.TACTILE)})
    data.contact = contact_flags(data.instants_ns, recorded or offline, data.channels, stop_ns)
