"""Pack staged episodes into a LeRobot v3.0 dataset (pyarrow for parquet, PyAV for video).

Layout (docs/formats.md)::

    meta/info.json  meta/stats.json  meta/tasks.parquet
    meta/episodes/chunk-000/file-000.parquet
    data/chunk-000/file-000.parquet            frames of many episodes, global index
    videos/<key>/chunk-000/file-NNN.mp4        episodes one after another, per camera,
                                               up to video_files_size_in_mb a file
    humanoid_data/episode_NNNNNN/              sidecars: stamps.npz, labels.json,
                                               quality.json, depth.h5, lidar.h5
    humanoid_data/report.json                  every episode's verdict and reasons

Episodes are numbered contiguously in (session, episode id) order; rejected episodes
are left out (their reasons stay in the report). ``timestamp`` is exactly
``frame_index / fps``; the original stamps and residuals are in the sidecars. Each
video's ``from_timestamp``/``to_timestamp`` come from the encoded frames' times.
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
from humanoid_data.dataset.config import DatasetConfig
from humanoid_data.dataset.staging import IMAGES, LIDAR, packet_times, write_json
from humanoid_data.errors import HumanoidDataError

CODEBASE_VERSION = 'v3.0'
DATA_PATH = 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
VIDEO_PATH = 'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4'
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


def _tasks_table(tasks: list[str]) -> pa.Table:
    """tasks.parquet as pandas writes a frame indexed by task (lerobot reads it so)."""
    table = pa.table({'task_index': pa.array(range(len(tasks)), pa.int64()),
                      'task': pa.array(tasks, pa.string())})
    pandas_meta = {
        'index_columns': ['task'],
        'column_indexes': [{'name': None, 'field_name': None, 'pandas_type': 'unicode',
                            'numpy_type': 'object', 'metadata': {'encoding': 'UTF-8'}}],
        'columns': [
            {'name': 'task_index', 'field_name': 'task_index', 'pandas_type': 'int64',
             'numpy_type': 'int64', 'metadata': None},
            {'name': 'task', 'field_name': 'task', 'pandas_type': 'unicode',
             'numpy_type': 'object', 'metadata': None}],
        'creator': {'library': 'pyarrow', 'version': pa.__version__},
        'pandas_version': '2.2.0'}
    return table.replace_schema_metadata({b'pandas': json.dumps(pandas_meta).encode()})


def write_lerobot(out: Path, staged: Sequence[tuple[Path, dict[str, Any]]],
                  config: DatasetConfig) -> dict[str, Any]:
    """Write the dataset from staged episodes (already in order); return info.json."""
    kept = [(p, s) for p, s in staged if s['verdict'] != 'rejected']
    for folder in ('data', 'videos', 'meta', 'humanoid_data'):
        shutil.rmtree(out / folder, ignore_errors=True)
    (out / 'meta' / 'episodes' / 'chunk-000').mkdir(parents=True)
    tasks: list[str] = []
    for _, summary in kept:
        if summary['instruction'] not in tasks:
            tasks.append(summary['instruction'])
    chunk_size = config.lerobot.chunks_size
    features: dict[str, Any] = {}
    stats_parts: dict[str, list] = {}
    episodes_rows: list[dict[str, Any]] = []
    videos: dict[str, list[tuple[dict[str, Any], Path, int]]] = {}   # key -> (row, mp4, n)
    tables: list[pa.Table] = []
    data_file, data_bytes, index = 0, 0, 0
    limit = config.lerobot.data_files_size_in_mb * 1_000_000
    for ep_index, (stage, summary) in enumerate(kept):
        frames = np.load(stage / 'frames.npz')
        n = int(summary['frames'])
        columns: dict[str, pa.Array] = {}
        row: dict[str, Any] = {'episode_index': ep_index, 'tasks': [summary['instruction']],
                               'length': n}
        for name in sorted(k for k in frames.files if k.startswith('col:')):
            key = name[4:]
            values = frames[name]
            columns[key] = _vector(values)
            features.setdefault(key, {'dtype': 'float32', 'shape': [values.shape[1]],
                                      'names': summary['names'].get(key) or None})
            s = _stats(values)
            for stat, v in s.items():
                row[f'stats/{key}/{stat}'] = v
            stats_parts.setdefault(key, []).append(
                (np.array(s['min']), np.array(s['max']), np.array(s['mean']),
                 np.array(s['std']), n))
        contact = frames['contact'].astype(np.float32)
        columns['observation.contact'] = _vector(contact)
        features.setdefault('observation.contact', {
            'dtype': 'float32', 'shape': [contact.shape[1]], 'names': summary['channels']})
        columns['phase_index'] = pa.array(frames['phase_index'].astype(np.int64))
        flagged = np.zeros(n, dtype=np.int64)
        for name in frames.files:
            if name.startswith('valid:'):
                flagged |= ~frames[name]
        columns['sync_flagged'] = pa.array(flagged)
        columns['timestamp'] = pa.array((np.arange(n) / config.fps).astype(np.float32))
        columns['frame_index'] = pa.array(np.arange(n, dtype=np.int64))
        columns['episode_index'] = pa.array(np.full(n, ep_index, dtype=np.int64))
        columns['index'] = pa.array(np.arange(index, index + n, dtype=np.int64))
        columns['task_index'] = pa.array(np.full(n, tasks.index(summary['instruction']),
                                                 dtype=np.int64))
        for key in ('observation.contact', 'phase_index', 'sync_flagged', 'timestamp',
                    'frame_index', 'episode_index', 'index', 'task_index'):
            values = np.asarray(columns[key].flatten() if key == 'observation.contact'
                                else columns[key]).astype(np.float64)
            values = values.reshape(n, -1)
            s = _stats(values)
            stats_parts.setdefault(key, []).append(
                (np.array(s['min']), np.array(s['max']), np.array(s['mean']),
                 np.array(s['std']), n))
        table = pa.table(columns)
        if tables and data_bytes + table.nbytes > limit:
            _write_data(out, tables, data_file, chunk_size)
            tables, data_bytes, data_file = [], 0, data_file + 1
        tables.append(table)
        data_bytes += table.nbytes
        row.update({'data/chunk_index': data_file // chunk_size,
                    'data/file_index': data_file % chunk_size,
                    'dataset_from_index': index, 'dataset_to_index': index + n})
        index += n
        for key, video in summary['videos'].items():
            videos.setdefault(key, []).append((row, stage / f'{key}.mp4', n))
            for stat, v in video['stats'].items():
                row[f'stats/{key}/{stat}'] = v
            stats_parts.setdefault(key, []).append(video['stats'])
            height, width = video['shape']
            features.setdefault(key, {
                'dtype': 'video', 'shape': [height, width, 3],
                'names': ['height', 'width', 'channels'],
                'info': {'video.fps': config.fps, 'video.height': height, 'video.width': width,
                         'video.channels': 3,
                         'video.codec': CODEC_NAMES.get(config.video.codec, config.video.codec),
                         'video.pix_fmt': config.video.pix_fmt, 'video.is_depth_map': False,
                         'has_audio': False}})
        row.update({'meta/episodes/chunk_index': 0, 'meta/episodes/file_index': 0,
                    'outcome': summary['outcome'] or '', 'failure_mode':
                    summary['failure_mode'] or '', 'verdict': summary['verdict'],
                    'flags': summary['flags'], 'source_episode': summary['episode_id'],
                    'source_session': summary['session']})
        episodes_rows.append(row)
        _copy_sidecars(stage, out / 'humanoid_data' / f'episode_{ep_index:06d}', summary)
    if tables:
        _write_data(out, tables, data_file, chunk_size)
    for key, episodes in videos.items():
        _write_videos(out, key, episodes, config)
    for key, spec in (('phase_index', [1]), ('sync_flagged', [1]), ('frame_index', [1]),
                      ('episode_index', [1]), ('index', [1]), ('task_index', [1])):
        features[key] = {'dtype': 'int64', 'shape': spec, 'names': None}
    features['timestamp'] = {'dtype': 'float32', 'shape': [1], 'names': None}
    if episodes_rows:
        pq.write_table(pa.Table.from_pylist(episodes_rows),
                       out / 'meta' / 'episodes' / 'chunk-000' / 'file-000.parquet')
    pq.write_table(_tasks_table(tasks), out / 'meta' / 'tasks.parquet')
    stats = {}
    for key, parts in stats_parts.items():
        if isinstance(parts[0], dict):      # images: already per episode
            stats[key] = _merge_image_stats(parts)
        else:
            stats[key] = _merge_stats(parts)
    write_json(out / 'meta' / 'stats.json', stats)
    robot = kept[0][1]['robot'] if kept else ''
    info = {
        'codebase_version': CODEBASE_VERSION, 'robot_type': robot,
        'total_episodes': len(kept), 'total_frames': index, 'total_tasks': len(tasks),
        'chunks_size': chunk_size,
        'data_files_size_in_mb': config.lerobot.data_files_size_in_mb,
        'video_files_size_in_mb': config.lerobot.video_files_size_in_mb, 'fps': config.fps,
        'splits': {'train': f'0:{len(kept)}'}, 'data_path': DATA_PATH,
        'video_path': VIDEO_PATH if any(s['videos'] for _, s in kept) else None,
        'features': features,
        'humanoid_data': {'version': __version__, 'config_digest': config.digest,
                          'sidecars': 'humanoid_data/episode_NNNNNN/'},
    }
    (out / 'meta' / 'info.json').write_text(json.dumps(info, indent=1))
    (out / 'humanoid_data').mkdir(exist_ok=True)
    (out / 'humanoid_data' / 'report.json').write_text(json.dumps(
        [{'episode': s['episode_id'], 'session': s['session'], 'verdict': s['verdict'],
          'flags': s['flags'], 'rejected': s['rejected'], 'notes': s['notes']}
         for _, s in staged], indent=1))
    return info


def _merge_image_stats(parts: list[dict[str, list]]) -> dict[str, list]:
    arrays = [(np.array(p['min']).ravel(), np.array(p['max']).ravel(),
               np.array(p['mean']).ravel(), np.array(p['std']).ravel(), p['count'][0])
              for p in parts]
    merged = _merge_stats(arrays)
    return {k: (np.array(v).reshape(3, 1, 1).tolist() if k != 'count' else v)
            for k, v in merged.items()}


def _write_videos(out: Path, key: str, episodes: list[tuple[dict[str, Any], Path, int]],
                  config: DatasetConfig) -> None:
    """Join one camera's episode videos into files of up to the configured size.

    Episodes stay in order; each episode row gets its file and its time range in it.
    """
    limit = config.lerobot.video_files_size_in_mb * 1_000_000
    groups: list[list[tuple[dict[str, Any], Path, int]]] = []
    size = 0
    for episode in episodes:
        grow = episode[1].stat().st_size
        if not groups or size + grow > limit:
            groups.append([])
            size = 0
        groups[-1].append(episode)
        size += grow
    chunk_size = config.lerobot.chunks_size
    for number, group in enumerate(groups):
        chunk, file = number // chunk_size, number % chunk_size
        target = out / VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file)
        target.parent.mkdir(parents=True, exist_ok=True)
        times = join_videos([path for _, path, _ in group], [n for _, _, n in group],
                            config.fps, target)
        for (row, _, _), episode_times in zip(group, times):
            row.update({f'videos/{key}/chunk_index': chunk, f'videos/{key}/file_index': file,
                        f'videos/{key}/from_timestamp': episode_times[0],
                        f'videos/{key}/to_timestamp': episode_times[-1] + 1 / config.fps})


def join_videos(sources: list[Path], frames: list[int], fps: float,
                target: Path) -> list[list[float]]:
    """Copy the videos one after another into ``target`` without re-encoding.

    Each one starts ``frames / fps`` after the previous one. Returns every source's frame
    times in ``target`` (s), read back from the written file's packets.

    Raises:
        HumanoidDataError: A source's frame count differs from ``frames``.

    """
    import av
    offset_s = 0.0
    with av.open(str(target), 'w') as output:
        stream = None
        for source, count in zip(sources, frames):
            with av.open(str(source)) as video:
                origin = video.streams.video[0]
                if stream is None:
                    stream = output.add_stream_from_template(origin, opaque=True)
                shift = int(round(offset_s / origin.time_base))
                for packet in video.demux(origin):
                    if packet.dts is None:      # the demuxer's end-of-stream marker
                        continue
                    packet.pts += shift
                    packet.dts += shift
                    packet.stream = stream
                    output.mux(packet)
            offset_s += count / fps
    times = packet_times(target)
    if len(times) != sum(frames):
        raise HumanoidDataError(f'{target}: {len(times)} frames after joining '
                                f'{len(sources)} videos of {sum(frames)}')
    split = np.cumsum([0] + list(frames))
    return [times[a:b] for a, b in zip(split[:-1], split[1:])]


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
    (target / 'episode.json').write_text(json.dumps(
        {k: v for k, v in summary.items() if k != 'videos'}, indent=1))
