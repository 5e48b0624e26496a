"""Pack staged episodes into a LeRobot v3.0 dataset (pyarrow for parquet, PyAV for video).

Layout (docs/formats.md)::

    meta/info.json  meta/stats.json  meta/tasks.parquet
    meta/subtasks.parquet                      the phases as subtasks (subtask_index)
    meta/labels.json                           where every episode's labels came from
    meta/episodes/chunk-000/file-000.parquet   a row per episode, with its source_id and
                                               source_path (the bag it came from) and its
                                               labels provenance (labels/<field>)
    meta/humanoid_data_checksums.json          sha256 of every other file (validate)
    data/chunk-000/file-000.parquet            frames of many episodes, global index
    videos/<key>/chunk-000/file-NNN.mp4        episodes one after another, per camera,
                                               up to video_files_size_in_mb a file
    humanoid_data/episode_NNNNNN/              sidecars: stamps.npz, labels.json,
                                               quality.json, calibration.json (each
                                               camera's intrinsics and extrinsics),
                                               depth.h5, lidar.h5
    humanoid_data/report.json                  every episode's verdict and reasons, and
                                               the episodes that failed, with why

Episodes are numbered contiguously in (session, episode folder) order; rejected episodes
are left out (their reasons stay in the report). ``timestamp`` is exactly
``frame_index / fps``; the original stamps and residuals are in the sidecars. Each
video's ``from_timestamp``/``to_timestamp`` come from the encoded frames' times. A moving
camera's per-frame extrinsics are a float32 feature ``observation.extrinsics.<camera>``
like any numeric key (float64 in stamps.npz; dataset/extrinsics.py), NaN in an episode
whose pose of that camera is none; so is ``observation.wrench_base.<side>``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from humanoid_data import __version__
from humanoid_data.dataset import calibration
from humanoid_data.dataset.checksums import MANIFEST, write_manifest
from humanoid_data.dataset.config import DatasetConfig
from humanoid_data.dataset.extrinsics import FEATURE_PREFIX, WRENCH_PREFIX
from humanoid_data.dataset.labels_provenance import (
    LABELS_FILE, SUBTASKS_FILE, dataset_taxonomy, labels_summary, lerobot_columns,
    subtask_index, subtask_names)
from humanoid_data.dataset.lerobot_video import VIDEO_PATH, write_videos
from humanoid_data.dataset.staging import IMAGES, LIDAR, write_json

CODEBASE_VERSION = 'v3.0'
DATA_PATH = 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
CODEC_NAMES = {'libsvtav1': 'av1', 'libaom-av1': 'av1', 'libx264': 'h264',
               'libx265': 'hevc', 'ffv1': 'ffv1'}


def _vector(values: np.ndarray) -> pa.Array:
    width = values.shape[1] if values.ndim == 2 else 1
    flat = pa.array(values.astype(np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, width)


def _stats(values: np.ndarray) -> dict[str, list[float] | list[int]]:
    finite = np.where(np.isfinite(values), values, np.nan)
    return {'min': np.nanmin(finite, axis=0).tolist(), 'max': np.nanmax(finite, axis=0).tolist(),
            'mean': np.nanmean(finite, axis=0).tolist(), 'std': np.nanstd(finite, axis=0).tolist(),
            'count': [int(len(values))]}


def _merge_stats(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]]
                 ) -> dict[str, list]:
    """Combine per-episode (min, max, mean, std, count) into dataset statistics."""
    counts = np.array([p[4] for p in parts], dtype=float)
    total = counts.sum()
    means = np.array([p[2] for p in parts])
    mean = (means * counts[:, None]).sum(0) / total
    var = ((np.array([p[3] for p in parts]) ** 2 + (means - mean) ** 2)
           * counts[:, None]).sum(0) / total
    return {'min': np.min([p[0] for p in parts], 0).tolist(),
            'max': np.max([p[1] for p in parts], 0).tolist(),
            'mean': mean.tolist(), 'std': np.sqrt(var).tolist(), 'count': [int(total)]}


def _index_table(name: str, values: list[str]) -> pa.Table:
    """tasks/subtasks.parquet as pandas writes a frame indexed by text (lerobot reads so)."""
    index = f'{name}_index'
    table = pa.table({index: pa.array(range(len(values)), pa.int64()),
                      name: pa.array(values, pa.string())})
    pandas_meta = {
        'index_columns': [name],
        'column_indexes': [{'name': None, 'field_name': None, 'pandas_type': 'unicode',
                            'numpy_type': 'object', 'metadata': {'encoding': 'UTF-8'}}],
        'columns': [
            {'name': index, 'field_name': index, 'pandas_type': 'int64',
             'numpy_type': 'int64', 'metadata': None},
            {'name': name, 'field_name': name, 'pandas_type': 'unicode',
             'numpy_type': 'object', 'metadata': None}],
        'creator': {'library': 'pyarrow', 'version': pa.__version__},
        'pandas_version': '2.2.0'}
    return table.replace_schema_metadata({b'pandas': json.dumps(pandas_meta).encode()})


class _Packer:
    """Frames, episode rows, features and statistics of the kept episodes, in order."""

    def __init__(self, out: Path, config: DatasetConfig, tasks: list[str],
                 subtasks: list[str], taxonomy: str, poses: dict[str, int]) -> None:
        self.out, self.config, self.tasks = out, config, tasks
        self.poses = poses     # keys needing a pose (and their widths): NaN where none
        self.subtasks, self.taxonomy = subtasks, taxonomy
        self.features: dict[str, Any] = {}
        self.stats_parts: dict[str, list] = {}
        self.rows: list[dict[str, Any]] = []
        self.videos: dict[str, list[tuple[dict[str, Any], Path, int]]] = {}  # key: row, mp4, n
        self.tables: list[pa.Table] = []
        self.data_file, self.data_bytes, self.index = 0, 0, 0

    def _add_stats(self, key: str, values: np.ndarray, n: int,
                   row: dict[str, Any] | None = None) -> None:
        s = _stats(values)
        if row is not None:
            for stat, v in s.items():
                row[f'stats/{key}/{stat}'] = v
        self.stats_parts.setdefault(key, []).append(
            (np.array(s['min']), np.array(s['max']), np.array(s['mean']),
             np.array(s['std']), n))

    def _columns(self, frames: Any, summary: dict[str, Any], ep_index: int, n: int,
                 row: dict[str, Any]) -> dict[str, pa.Array]:
        columns: dict[str, pa.Array] = {}
        keys = {k[4:] for k in frames.files if k.startswith('col:')}
        for key in sorted(keys | set(self.poses)):
            if key not in keys:     # no pose in this episode (calibration.json, notes: why)
                columns[key] = _vector(np.full((n, self.poses[key]), np.nan))
                continue
            values = frames[f'col:{key}']
            columns[key] = _vector(values)
            self.features.setdefault(key, {'dtype': 'float32', 'shape': [values.shape[1]],
                                           'names': summary['names'].get(key) or None})
            self._add_stats(key, values, n, row)
        contact = frames['contact'].astype(np.float32)
        if contact.ndim == 2 and contact.shape[1]:      # none without wrench or tactile
            columns['observation.contact'] = _vector(contact)
            self.features.setdefault('observation.contact', {
                'dtype': 'float32', 'shape': [contact.shape[1]], 'names': summary['channels']})
        columns['phase_index'] = pa.array(frames['phase_index'].astype(np.int64))
        columns['subtask_index'] = pa.array(subtask_index(
            frames['phase_index'], summary['phase_names'], self.subtasks))
        flagged = np.zeros(n, dtype=np.int64)
        for name in frames.files:
            if name.startswith('valid:'):
                flagged |= ~frames[name]
        columns['sync_flagged'] = pa.array(flagged)
        columns['timestamp'] = pa.array((np.arange(n) / self.config.fps).astype(np.float32))
        columns['frame_index'] = pa.array(np.arange(n, dtype=np.int64))
        columns['episode_index'] = pa.array(np.full(n, ep_index, dtype=np.int64))
        columns['index'] = pa.array(np.arange(self.index, self.index + n, dtype=np.int64))
        columns['task_index'] = pa.array(np.full(n, self.tasks.index(summary['instruction']),
                                                 dtype=np.int64))
        for key in ('observation.contact', 'phase_index', 'subtask_index', 'sync_flagged',
                    'timestamp', 'frame_index', 'episode_index', 'index', 'task_index'):
            if key not in columns:
                continue
            values = np.asarray(columns[key].flatten() if key == 'observation.contact'
                                else columns[key]).astype(np.float64)
            self._add_stats(key, values.reshape(n, -1), n)
        return columns

    def add(self, ep_index: int, stage: Path, summary: dict[str, Any]) -> None:
        """Take one staged episode: its frames, its row, its videos and sidecars."""
        n = int(summary['frames'])
        row: dict[str, Any] = {'episode_index': ep_index, 'tasks': [summary['instruction']],
                               'length': n}
        table = pa.table(self._columns(np.load(stage / 'frames.npz'), summary, ep_index, n,
                                       row))
        if self.tables and self.data_bytes + table.nbytes > \
                self.config.lerobot.data_files_size_in_mb * 1_000_000:
            self.flush()
            self.data_file += 1
        self.tables.append(table)
        self.data_bytes += table.nbytes
        chunk_size = self.config.lerobot.chunks_size
        row.update({'data/chunk_index': self.data_file // chunk_size,
                    'data/file_index': self.data_file % chunk_size,
                    'dataset_from_index': self.index, 'dataset_to_index': self.index + n})
        self.index += n
        for key, video in summary['videos'].items():
            self._add_video(key, video, row, stage / f'{key}.mp4', n)
        row.update({'meta/episodes/chunk_index': 0, 'meta/episodes/file_index': 0,
                    'outcome': summary['outcome'] or '', 'failure_mode':
                    summary['failure_mode'] or '', 'verdict': summary['verdict'],
                    'flags': summary['flags'], 'source_episode': summary['episode_id'],
                    'source_session': summary['session'],
                    'source_id': summary['source_id'], 'source_path': summary['source_path'],
                    'source_verified': summary['source_verified'],
                    **lerobot_columns(summary, self.taxonomy)})
        self.rows.append(row)
        _copy_sidecars(stage, self.out / 'humanoid_data' / f'episode_{ep_index:06d}', summary)

    def _add_video(self, key: str, video: dict[str, Any], row: dict[str, Any], mp4: Path,
                   n: int) -> None:
        self.videos.setdefault(key, []).append((row, mp4, n))
        for stat, v in video['stats'].items():
            row[f'stats/{key}/{stat}'] = v
        self.stats_parts.setdefault(key, []).append(video['stats'])
        height, width = video['shape']
        config = self.config
        self.features.setdefault(key, {
            'dtype': 'video', 'shape': [height, width, 3],
            'names': ['height', 'width', 'channels'],
            'info': {'video.fps': config.fps, 'video.height': height, 'video.width': width,
                     'video.channels': 3,
                     'video.codec': CODEC_NAMES.get(config.video.codec, config.video.codec),
                     'video.pix_fmt': config.video.pix_fmt, 'video.is_depth_map': False,
                     'has_audio': False}})

    def flush(self) -> None:
        """Write the frames gathered so far into the current data file."""
        if self.tables:
            _write_data(self.out, self.tables, self.data_file, self.config.lerobot.chunks_size)
        self.tables, self.data_bytes = [], 0

    def finish(self) -> None:
        """Write the last data file, the joined videos, the episodes table and stats."""
        self.flush()
        for key, episodes in self.videos.items():
            write_videos(self.out, key, episodes, self.config)
        for key in ('phase_index', 'subtask_index', 'sync_flagged', 'frame_index',
                    'episode_index', 'index', 'task_index'):
            self.features[key] = {'dtype': 'int64', 'shape': [1], 'names': None}
        self.features['timestamp'] = {'dtype': 'float32', 'shape': [1], 'names': None}
        if self.rows:
            pq.write_table(_typed_lists(pa.Table.from_pylist(self.rows)), self.out / 'meta' /
                           'episodes' / 'chunk-000' / 'file-000.parquet')
        stats = {key: _merge_image_stats(parts) if isinstance(parts[0], dict)
                 else _merge_stats(parts) for key, parts in self.stats_parts.items()}
        write_json(self.out / 'meta' / 'stats.json', stats)


def write_lerobot(out: Path, staged: Sequence[tuple[Path, dict[str, Any]]],
                  config: DatasetConfig,
                  failed: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
    """Write the dataset from staged episodes (already in order); return info.json.

    ``failed`` (episodes that could not be converted, with their reason) goes into the
    report beside the staged ones. The checksums of every file written go last, into
    ``meta/humanoid_data_checksums.json``.
    """
    kept = [(p, s) for p, s in staged if s['verdict'] != 'rejected']
    for folder in ('data', 'videos', 'meta', 'humanoid_data'):
        shutil.rmtree(out / folder, ignore_errors=True)
    (out / 'meta' / 'episodes' / 'chunk-000').mkdir(parents=True)
    # An episode without a task has an empty instruction: one task like any other.
    tasks = list(dict.fromkeys(summary['instruction'] for _, summary in kept))
    summaries = [summary for _, summary in kept]
    subtasks, taxonomy = subtask_names(summaries), dataset_taxonomy(summaries)
    # Every data file has the same columns: a key that needs a pose (a moving camera's
    # extrinsics, a wrench in the base frame) gets NaN rows in an episode without it.
    poses = {key: len(names) for summary in summaries
             for key, names in summary['names'].items()
             if key.startswith((FEATURE_PREFIX, WRENCH_PREFIX))}
    packer = _Packer(out, config, tasks, subtasks, taxonomy, poses)
    for ep_index, (stage, summary) in enumerate(kept):
        packer.add(ep_index, stage, summary)
    packer.finish()
    pq.write_table(_index_table('task', tasks), out / 'meta' / 'tasks.parquet')
    pq.write_table(_index_table('subtask', subtasks), out / SUBTASKS_FILE)
    write_json(out / LABELS_FILE, labels_summary(summaries, taxonomy))
    info = {
        'codebase_version': CODEBASE_VERSION, 'robot_type': kept[0][1]['robot'] if kept else '',
        'total_episodes': len(kept), 'total_frames': packer.index, 'total_tasks': len(tasks),
        'chunks_size': config.lerobot.chunks_size,
        'data_files_size_in_mb': config.lerobot.data_files_size_in_mb,
        'video_files_size_in_mb': config.lerobot.video_files_size_in_mb, 'fps': config.fps,
        'splits': {'train': f'0:{len(kept)}'}, 'data_path': DATA_PATH,
        'video_path': VIDEO_PATH if any(s['videos'] for _, s in kept) else None,
        'features': packer.features,
        'humanoid_data': {'version': __version__, 'config_digest': config.digest,
                          'taxonomy': taxonomy, 'sidecars': 'humanoid_data/episode_NNNNNN/',
                          'calibration': f'humanoid_data/episode_NNNNNN/{calibration.FILE}',
                          'checksums': MANIFEST},
    }
    (out / 'meta' / 'info.json').write_text(json.dumps(info, indent=1))
    (out / 'humanoid_data').mkdir(exist_ok=True)
    (out / 'humanoid_data' / 'report.json').write_text(json.dumps(
        [{'episode': s['episode_id'], 'session': s['session'], 'source_id': s['source_id'],
          'source_path': s['source_path'], 'source_verified': s['source_verified'],
          'verdict': s['verdict'], 'flags': s['flags'], 'rejected': s['rejected'],
          'notes': s['notes']} for _, s in staged] + list(failed), indent=1))
    write_manifest(out)
    return info


def _typed_lists(table: pa.Table) -> pa.Table:
    """Lists that are empty in every row typed as lists of text, not of nulls."""
    for i, column in enumerate(table.schema):
        if column.type == pa.list_(pa.null()):
            table = table.set_column(i, column.name, table[i].cast(pa.list_(pa.string())))
    return table


def _merge_image_stats(parts: list[dict[str, list]]) -> dict[str, list]:
    arrays = [(np.array(p['min']).ravel(), np.array(p['max']).ravel(),
               np.array(p['mean']).ravel(), np.array(p['std']).ravel(), p['count'][0])
              for p in parts]
    merged = _merge_stats(arrays)
    return {k: (np.array(v).reshape(3, 1, 1).tolist() if k != 'count' else v)
            for k, v in merged.items()}


def _write_data(out: Path, tables: list[pa.Table], file_number: int, chunk_size: int) -> None:
    path = out / DATA_PATH.format(chunk_index=file_number // chunk_size,
                                  file_index=file_number % chunk_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables(tables), path)


def _copy_sidecars(stage: Path, target: Path, summary: dict[str, Any]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ('stamps.npz', 'labels.json', 'quality.json', LIDAR):
        if (stage / name).is_file():
            shutil.copyfile(stage / name, target / name)
    if summary['images']:
        shutil.copyfile(stage / IMAGES, target / 'depth.h5')
    write_json(target / calibration.FILE, calibration.document(summary['calibration']))
    (target / 'episode.json').write_text(json.dumps(
        {k: v for k, v in summary.items() if k not in ('videos', 'calibration')}, indent=1))
