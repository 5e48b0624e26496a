"""Per-episode conversion into a staging folder; the writers pack staged episodes.

Converting an episode is the expensive, parallel part (reading the bag, aligning,
decoding and encoding images); packing many staged episodes into LeRobot's multi-episode
files or one HDF5 file is cheap and runs once, in episode order, so the output does not
depend on which worker finished first. A staged episode is keyed by its bag (folder, file
names, sizes, modification times) and the conversion settings, so a rerun skips it. The
bag's checksums are verified first, in the episode's process.

Staged episode folder::

    episode.json        summary: ids, source id and path, whether the bag's checksums
                        were verified, task, instruction, outcome, verdict and reasons,
                        frames, fps, per camera pixel stats and shape, keys and names,
                        ``labels`` (where the labels came from), the taxonomy in force
                        and ``calibration`` (per camera key its intrinsics or a ``none``
                        record: dataset/calibration.py)
    frames.npz          per-frame columns (timeline, numeric keys, labels, validity)
    stamps.npz          per stream: stamp used, residual, valid (sidecar)
    labels.json         phase segments, contact intervals, disagreements, events
    quality.json        metrics, flags, rejections
    <key>.mp4           one video per camera (LeRobot)
    images.h5           depth frames, and for HDF5 the camera frames, one chunk per frame
    lidar.h5            cropped, voxel-downsampled scans the frames use, appended per scan
"""

from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from humanoid_data import __version__
from humanoid_data.bag.any_bag import episode_name
from humanoid_data.bag.metadata import read_episode_yaml
from humanoid_data.bag.given_labels import GivenLabels
from humanoid_data.core.config import Modality, SuiteConfig
from humanoid_data.core.contact_config import ContactConfig
from humanoid_data.core.events import encode_event
from humanoid_data.core.phases import Taxonomy
from humanoid_data.dataset.config import DatasetConfig
from humanoid_data.dataset.episode import EpisodeData, assemble
from humanoid_data.dataset.image_sinks import ImageSink, VideoSink, feed_sinks
from humanoid_data.dataset.labels_source import LabelOrigin, LabelProvenance, label_files
from humanoid_data.dataset.lidar_scans import LidarSink
from humanoid_data.dataset.timing import CLOCK
from humanoid_data.dataset.sources import EpisodeSource, verify_source
from humanoid_data.errors import BagError, HumanoidDataError

SUMMARY = 'episode.json'
#: Of the staged files: a change stages every episode again (3: the summary holds the
#: cameras' intrinsics, ``calibration``).
STAGE_LAYOUT = 3
LIDAR = 'lidar.h5'
IMAGES = 'images.h5'      # depth (both formats) and, for HDF5, the camera images


def _plain(value: Any) -> Any:
    """JSON fallback for numpy scalars and arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f'{type(value).__name__} is not JSON serializable')


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as indented JSON; numpy values become plain numbers."""
    path.write_text(json.dumps(value, indent=1, default=_plain))


def _label_id(episode_dir: Path) -> str:
    """The id the episode's label sets are saved under (episode.yaml's, else the folder's)."""
    try:
        meta = read_episode_yaml(episode_dir)
    except BagError:
        meta = None
    return (meta.episode_id if meta else '') or episode_name(episode_dir)


def episode_key(episode_dir: Path, config: DatasetConfig, fmt: str,
                settings: str = '') -> str:
    """Resume key: the folder, its files (names, sizes, times), the settings and the format.

    The folder's own path is in it, so two copies of a bag never share a staging folder;
    the episode's label files under ``<session>/labels/`` are in it, so saving labels
    stages the episode again; ``settings`` (a digest of the taxonomy and contact files)
    too, so an episode staged under another guideline is staged again.
    """
    h = hashlib.sha256(f'{fmt}/{config.digest}/{__version__}/{STAGE_LAYOUT}/{settings}/'
                       f'{episode_dir.resolve()}'.encode())
    files = [episode_dir] if episode_dir.is_file() else [
        p for p in sorted(episode_dir.iterdir()) if p.is_file()]
    for path in files + label_files(episode_dir.parent, _label_id(episode_dir)):
        stat = path.stat()
        h.update(f'{path.parent.name}/{path.name}:{stat.st_size}:{stat.st_mtime_ns}'.encode())
    return h.hexdigest()[:20]


def stage_episode(source: EpisodeSource, staging: Path, config: DatasetConfig,
                  taxonomy: Taxonomy, contact_config: ContactConfig, fmt: str,
                  suite: SuiteConfig | None = None,
                  labels: GivenLabels | None = None) -> dict[str, Any]:
    """Check one episode's bag, convert it into ``staging`` (created), return its summary.

    ``suite`` and ``labels`` as in ``assemble``.

    Raises:
        BagError: The bag fails its checksums, or cannot be read (naming the file).
        HumanoidDataError: The episode's streams do not fit.

    """
    staging.mkdir(parents=True, exist_ok=True)      # also the scratch folder of pass 1
    episode_dir = source.folder
    CLOCK.reset()
    with CLOCK.timed('verify'):
        verified, verify_notes = verify_source(episode_dir)
    data = assemble(episode_dir, config, taxonomy, contact_config, suite, staging, labels)
    meta = data.meta
    summary: dict[str, Any] = {
        'source': str(episode_dir), 'source_id': source.source_id,
        'source_path': source.path, 'source_verified': verified,
        'session': data.session, 'episode_id': data.episode_id,
        'task': data.task, 'instruction': data.instruction, 'operator': meta.operator,
        'outcome': data.outcome or None, 'failure_mode': data.failure_mode or None,
        'tags': list(meta.tags), 'taxonomy': meta.taxonomy or taxonomy.version,
        'dataset_taxonomy': taxonomy.version, 'labels': (data.provenance or LabelProvenance(
            LabelOrigin.BAG_EVENTS, meta.taxonomy or taxonomy.version)).to_json(),
        'robot': data.reader.suite.robot, 'fps': config.fps, 'frames': data.frame_count,
        'start_ns': int(data.instants_ns[0]) if data.frame_count else None,
        'verdict': data.quality.verdict, 'flags': data.quality.flags,
        'rejected': data.quality.rejected, 'notes': verify_notes + data.notes,
        'names': data.names, 'phase_names': data.phase_names, 'channels': data.channels,
        'bag_bytes': data.reader.bag_bytes, 'videos': {}, 'images': {},
        'calibration': data.intrinsics,
    }
    if data.quality.verdict != 'rejected':
        _stage_frames(data, staging, config, fmt, summary)
    summary['timings'] = CLOCK.result()
    write_json(staging / 'quality.json', {'metrics': data.quality.metrics,
                                          'flags': data.quality.flags,
                                          'rejected': data.quality.rejected})
    write_json(staging / SUMMARY, summary)
    return summary


def _stage_frames(data: EpisodeData, staging: Path, config: DatasetConfig, fmt: str,
                  summary: dict[str, Any]) -> None:
    with CLOCK.timed('write'):
        _write_frames(data, staging)
    _stage_large(data, staging, config, fmt, summary)


def _write_frames(data: EpisodeData, staging: Path) -> None:
    """Frames, stamps and labels of the episode into ``staging``."""
    columns: dict[str, Any] = {f'col:{k}': v.astype(np.float32)
                               for k, v in data.columns.items()}
    valid: dict[str, Any] = {f'valid:{k}': v for k, v in data.valid.items()}
    np.savez_compressed(staging / 'frames.npz', instants_ns=data.instants_ns,
                        phase_index=data.phase_index, contact=data.contact, **columns, **valid)
    stamps: dict[str, Any] = {f'{stream}.{name}': arr for stream, d in data.stamps.items()
                              for name, arr in d.items()}
    np.savez_compressed(staging / 'stamps.npz', **stamps)
    segments = [s._asdict() for s in data.segments]
    write_json(staging / 'labels.json', {
        'phase_segments': segments,
        'truth_phase_segments': [s._asdict() for s in data.truth_segments],
        'contacts': {k: [i._asdict() for i in v] for k, v in data.contacts.items()},
        'contact_disagreements': data.disagreements,
        'events': [json.loads(encode_event(e)) for e in data.reader.events],
    })


def _stage_large(data: EpisodeData, staging: Path, config: DatasetConfig, fmt: str,
                 summary: dict[str, Any]) -> None:
    """Images into images.h5 and videos, scans into the LiDAR sidecar: one bag pass."""
    import h5py
    plans = [p for p in data.frames if p.modality != Modality.LIDAR]
    to_h5 = [p for p in plans if p.modality == Modality.DEPTH or fmt == 'hdf5']
    sinks: list[Any] = []
    try:
        with CLOCK.timed(LidarSink.stage):     # open3d's import: about 1.7 s
            sinks += [LidarSink(data, p, config, staging / LIDAR) for p in data.frames
                      if p.modality == Modality.LIDAR]
        sinks += [VideoSink(p, staging / f'{p.key}.mp4', config) for p in plans
                  if p not in to_h5]
        with h5py.File(staging / IMAGES, 'a') if to_h5 else nullcontext() as h5:
            feed_sinks(data, [ImageSink(p, h5, data.frame_count) for p in to_h5] + sinks)
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    for plan in to_h5:
        summary['images'][plan.key] = {'modality': plan.modality.value,
                                       'shape': [plan.height, plan.width]}
    for lidar in (s for s in sinks if isinstance(s, LidarSink)):
        with CLOCK.timed(lidar.stage):
            kept = lidar.finish()
        if not kept:
            summary['notes'].append(f'{lidar.plan.topic}: every scan is empty inside the '
                                    'lidar crop box (dataset.yaml lidar.crop_min/max)')
    for video in (s for s in sinks if isinstance(s, VideoSink)):
        with CLOCK.timed(video.stage):
            times, stats = video.finish()
        plan = video.plan
        if len(times) != data.frame_count:
            raise HumanoidDataError(f'{plan.key}: encoded {len(times)} frames for '
                                    f'{data.frame_count}')
        summary['videos'][plan.key] = {'stats': stats, 'shape': [plan.height, plan.width]}
