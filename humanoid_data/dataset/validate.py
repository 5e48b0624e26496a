"""Check a converted dataset: checksums, structure, indices, timestamps, videos, labels.

Labels: phase indices against the segment tables, subtasks against the phases, and every
episode's labels provenance (a known source, its taxonomy the dataset's or flagged).
Calibration: every camera of every episode has its intrinsics or an explicit ``none``
record; K a finite 3x3 with positive focal lengths, the principal point inside the image,
the size the video's (``dataset/calibration.py``); every camera has its extrinsics or an
explicit ``none``: finite, unit quaternions, a moving camera's one row per frame
(``dataset/extrinsics.py``).
HDF5, robomimic's keys: every demo's ``next_obs`` has the keys of its ``obs``, each frame k
the obs frame k + 1 (the last repeated; a virtual key reads its own demo's ``obs``),
``rewards`` and ``dones`` as the converter makes them from the outcome, ``states`` one row
per frame, and ``env_args`` parses.

``validate(path)`` returns the list of problems (empty when the dataset is sound). A
LeRobot v3 folder (meta/info.json) and an HDF5 file (or a folder holding
``dataset.hdf5``) are both understood. Every file's bytes are checked against the
checksums the converter wrote, and a dataset without a single frame is a problem, not a
valid dataset.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from humanoid_data.dataset import calibration, extrinsics
from humanoid_data.dataset.checksums import check_file_checksum, check_manifest
from humanoid_data.dataset.labels_provenance import (
    check_episode_subtasks, check_hdf5_labels, check_lerobot_labels, read_subtasks)

#: What pyarrow, PyAV and h5py raise on a damaged file (their errors derive from these).
UNREADABLE = (OSError, ValueError, KeyError, TypeError, IndexError)
#: h5py also raises RuntimeError on damaged metadata (an attribute's datatype, say).
HDF5_UNREADABLE = (*UNREADABLE, RuntimeError)


def validate(path: str | Path) -> list[str]:
    """Return every problem found in the dataset at ``path``."""
    path = Path(path)
    if (path / 'meta' / 'info.json').is_file():
        return _lerobot(path)
    target = path / 'dataset.hdf5' if path.is_dir() else path
    if target.is_file() and target.suffix in ('.hdf5', '.h5'):
        return _hdf5(target)
    return [f'{path}: neither a LeRobot dataset (meta/info.json) nor an HDF5 file']


def _lerobot(root: Path) -> list[str]:
    problems = check_manifest(root)
    try:
        info = json.loads((root / 'meta' / 'info.json').read_text(encoding='utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return problems + [f'meta/info.json: not JSON ({err})']
    if not isinstance(info, dict):
        return problems + ['meta/info.json: not a JSON object']
    missing = [key for key in ('codebase_version', 'fps', 'features', 'data_path',
                               'total_episodes', 'total_frames', 'chunks_size')
               if key not in info]
    if missing:
        return problems + [f'meta/info.json: missing {key!r}' for key in missing]
    if not info['total_episodes'] or not info['total_frames']:
        return problems + [f'{root}: an empty dataset ({info["total_episodes"]} episodes, '
                           f'{info["total_frames"]} frames)']
    try:
        return problems + _lerobot_structure(root, info)
    except UNREADABLE as err:     # a damaged file; the checksum problems above say which
        return problems + [f'{root}: the structure checks stopped at an unreadable file: '
                           f'{err}']


def _lerobot_structure(root: Path, info: dict) -> list[str]:
    import pyarrow.parquet as pq
    problems: list[str] = []
    if info['codebase_version'] != 'v3.0':
        problems.append(f'meta/info.json: codebase_version {info["codebase_version"]!r}')
    fps = float(info['fps'])
    for name in ('stats.json', 'tasks.parquet'):
        if not (root / 'meta' / name).is_file():
            problems.append(f'meta/{name}: missing')
    episodes_files = sorted((root / 'meta' / 'episodes').glob('chunk-*/file-*.parquet'))
    data_files = sorted((root / 'data').glob('chunk-*/file-*.parquet'))
    if not episodes_files or not data_files:
        return problems + ['meta/episodes or data parquet files missing']
    episodes = [row for f in episodes_files for row in pq.read_table(f).to_pylist()]
    data: dict[str, list[np.ndarray]] = {}
    wanted = ['index', 'episode_index', 'frame_index', 'timestamp', 'phase_index',
              'task_index', 'subtask_index',
              *(k for k in info['features'] if k.startswith(extrinsics.FEATURE_PREFIX))]
    for f in data_files:
        present = set(pq.read_schema(f).names)     # subtask_index may be missing
        table = pq.read_table(f, columns=[c for c in wanted if c in present])
        for column in table.column_names:
            values = table[column].combine_chunks()
            data.setdefault(column, []).append(
                values.flatten().to_numpy().reshape(len(values), -1)
                if column.startswith(extrinsics.FEATURE_PREFIX) else values.to_numpy())
    columns = {k: np.concatenate(v) for k, v in data.items()}
    n = len(columns['index'])
    if n != info['total_frames']:
        problems.append(f'data: {n} frames, info.json says {info["total_frames"]}')
    if not np.array_equal(columns['index'], np.arange(n)):
        problems.append('data: index is not contiguous from 0')
    if [e['episode_index'] for e in episodes] != list(range(len(episodes))):
        problems.append('meta/episodes: episode_index is not contiguous from 0')
    if len(episodes) != info['total_episodes']:
        problems.append(f'meta/episodes: {len(episodes)} rows, info.json says '
                        f'{info["total_episodes"]}')
    stats = json.loads((root / 'meta' / 'stats.json').read_text()) \
        if (root / 'meta' / 'stats.json').is_file() else {}
    for key, feature in info['features'].items():
        if feature['dtype'] in ('float32', 'video') and key not in stats:
            problems.append(f'meta/stats.json: no statistics for {key}')
    problems.extend(_tasks(root, episodes, columns['task_index']))
    problems.extend(check_lerobot_labels(root, info, episodes))
    subtask_problems, subtasks = read_subtasks(root, info, columns.get('subtask_index'))
    problems.extend(subtask_problems)
    for episode in episodes:
        problems.extend(_episode(root, info, episode, columns, fps, subtasks))
    return problems


def _tasks(root: Path, episodes: list[dict], task_index: np.ndarray) -> list[str]:
    """Every frame's task_index and every episode's tasks are in meta/tasks.parquet.

    A task may be the empty string (an episode that names no task).
    """
    import pyarrow.parquet as pq
    path = root / 'meta' / 'tasks.parquet'
    if not path.is_file():
        return []
    table = pq.read_table(path)
    tasks = dict(zip(table['task'].to_pylist(), table['task_index'].to_pylist()))
    problems = []
    unknown = sorted(set(task_index.tolist()) - set(tasks.values()))
    if unknown:
        problems.append(f'data: task_index {unknown[0]} is not in meta/tasks.parquet')
    for episode in episodes:
        missing = [t for t in episode['tasks'] if t not in tasks]
        if missing:
            problems.append(f'episode {episode["episode_index"]}: task {missing[0]!r} is not '
                            'in meta/tasks.parquet')
    return problems


def _episode(root: Path, info: dict, episode: dict, columns: dict[str, np.ndarray],
             fps: float, subtasks: list[str] | None) -> list[str]:
    problems = []
    index = episode['episode_index']
    lo, hi = episode['dataset_from_index'], episode['dataset_to_index']
    where = f'episode {index}'
    if hi - lo != episode['length']:
        problems.append(f'{where}: length {episode["length"]} but indices {lo}..{hi}')
    if not np.all(columns['episode_index'][lo:hi] == index):
        problems.append(f'{where}: frames {lo}..{hi} carry another episode_index')
    frames = columns['frame_index'][lo:hi]
    if not np.array_equal(frames, np.arange(hi - lo)):
        problems.append(f'{where}: frame_index is not 0..{hi - lo - 1}')
    grid = (np.arange(hi - lo) / fps).astype(np.float32)
    if not np.allclose(columns['timestamp'][lo:hi], grid, atol=1e-4):
        problems.append(f'{where}: timestamps are not frame_index / fps')
    sidecar = root / 'humanoid_data' / f'episode_{index:06d}'
    labels_file = sidecar / 'labels.json'
    if not labels_file.is_file():
        problems.append(f'{where}: sidecar {labels_file.relative_to(root)} missing')
    else:
        summary = json.loads((sidecar / 'episode.json').read_text())
        problems.extend(_labels(where, json.loads(labels_file.read_text()), summary,
                                columns['phase_index'][lo:hi], fps))
        if subtasks is not None:
            problems.extend(check_episode_subtasks(
                where, subtasks, columns['subtask_index'][lo:hi],
                columns['phase_index'][lo:hi], summary['phase_names']))
    problems.extend(_calibration(root, info, sidecar, {
        key: values[lo:hi] for key, values in columns.items()
        if key.startswith(extrinsics.FEATURE_PREFIX)}, hi - lo))
    for key, feature in info['features'].items():
        if feature['dtype'] != 'video':
            continue
        video = root / info['video_path'].format(
            video_key=key, chunk_index=episode[f'videos/{key}/chunk_index'],
            file_index=episode[f'videos/{key}/file_index'])
        problems.extend(_video(where, video, episode, key, hi - lo, fps))
    return problems


def _calibration(root: Path, info: dict, sidecar: Path, moving: dict[str, np.ndarray],
                 frames: int) -> list[str]:
    """The episode's calibration.json covers every camera, each record sound.

    ``moving`` holds the episode's rows of the per-frame extrinsics columns.
    """
    path = sidecar / calibration.FILE
    where = str(path.relative_to(root))
    cameras: list[tuple[str, int | None, int | None]] = []
    for key, feature in info['features'].items():
        if feature['dtype'] == 'video':
            video = feature.get('info') or {}
            cameras.append((key, video.get('video.width'), video.get('video.height')))
    summary_file = sidecar / 'episode.json'
    if summary_file.is_file():
        summary = json.loads(summary_file.read_text())
        for key, image in (summary.get('images') or {}).items():   # depth, in depth.h5
            height, width = image['shape']
            cameras.append((key, width, height))
    if not path.is_file():
        return [f'{where}: missing (the intrinsics of {", ".join(k for k, _, _ in cameras)})'
                ] if cameras else []
    try:
        document = json.loads(path.read_text(encoding='utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return [f'{where}: not JSON ({err})']
    problems = calibration.check_document(where, document, cameras)
    records = document.get('cameras') if isinstance(document, dict) else None
    if not isinstance(records, dict):
        return problems
    for key, _, _ in cameras:
        record = records.get(key)
        if record is None:               # check_document said so
            continue
        pose = record.get('extrinsics') if isinstance(record, dict) else None
        poses = None
        if isinstance(pose, dict):
            poses = moving.get(extrinsics.feature_key(key)) if pose.get('moving') \
                else extrinsics.json_poses(pose)
        problems.extend(extrinsics.check_record(f'{where}: {key}', pose, poses, frames))
    return problems


def _labels(where: str, labels: dict, summary: dict, phase_index: np.ndarray,
            fps: float) -> list[str]:
    problems = []
    names = summary['phase_names']
    if len(phase_index) and (phase_index.max() >= len(names) or phase_index.min() < -1):
        problems.append(f'{where}: phase_index outside -1..{len(names) - 1}')
    # The frames' instants as the converter's timeline makes them (core.sync.timeline).
    instants = (summary.get('start_ns') or 0) + np.round(
        np.arange(len(phase_index)) * (1e9 / fps)).astype(np.int64)
    for segment in labels['phase_segments']:
        if segment['name'] not in names:
            continue
        inside = phase_index[(instants >= segment['begin_ns']) & (instants < segment['end_ns'])]
        if len(inside) and not np.all(inside == names.index(segment['name'])):
            problems.append(f'{where}: phase_index disagrees with segment '
                            f'{segment["name"]} ({segment["source"]})')
    return problems


@functools.lru_cache(maxsize=8)
def _decoded_times(path: str, size: int, mtime_ns: int) -> np.ndarray:
    """Presentation times of every decoded frame, sorted.

    A file holds many episodes, so it is decoded once; size and time are in the key, so a
    rewritten file is decoded again.
    """
    import av
    with av.open(path) as container:
        base = container.streams.video[0].time_base
        return np.sort([float(f.pts * base) for f in container.decode(video=0)])


def _video(where: str, video: Path, episode: dict, key: str, length: int,
           fps: float) -> list[str]:
    if not video.is_file():
        return [f'{where}: video {video} missing']
    start = episode[f'videos/{key}/from_timestamp']
    end = episode[f'videos/{key}/to_timestamp']
    stat = video.stat()
    times = _decoded_times(str(video), stat.st_size, stat.st_mtime_ns)
    inside = times[np.searchsorted(times, start - 1e-6):np.searchsorted(times, end - 1e-6)]
    problems = []
    if len(inside) != length:
        problems.append(f'{where}: {key} has {len(inside)} frames in '
                        f'[{start:.3f}, {end:.3f}) s, the episode {length}')
    elif not np.allclose(np.array(inside) - start, np.arange(length) / fps, atol=0.5 / fps):
        problems.append(f'{where}: {key} frame times are off the 1/fps grid')
    return problems


def _hdf5(path: Path) -> list[str]:
    problems = check_file_checksum(path)
    try:
        return problems + _hdf5_structure(path)
    except HDF5_UNREADABLE as err:   # a damaged file; the checksum problem above says so
        return problems + [f'{path}: not a readable HDF5 file ({err})']


def _hdf5_structure(path: Path) -> list[str]:
    import h5py
    problems: list[str] = []
    with h5py.File(path, 'r') as h5:
        if 'data' not in h5 or 'mask' not in h5:
            return [f'{path}: missing data/ or mask/']
        demos = list(h5['data'].keys())
        if not demos:
            return [f'{path}: an empty dataset (0 demos)']
        total = 0
        for name in demos:
            group = h5['data'][name]
            n = int(group.attrs.get('num_samples', -1))
            total += max(n, 0)
            for dataset_name in ('actions', 'timestamps', 'labels/phase_index', 'rewards',
                                 'dones', 'states'):
                if dataset_name == 'states' and dataset_name not in group:
                    continue                         # only where a flat state exists
                if dataset_name not in group:
                    problems.append(f'{path}: {name}/{dataset_name} missing')
                elif len(group[dataset_name]) != n:
                    problems.append(f'{path}: {name}/{dataset_name} has '
                                    f'{len(group[dataset_name])} rows, num_samples {n}')
            for obs_name, dataset in group['obs'].items():
                if len(dataset) != n:
                    problems.append(f'{path}: {name}/obs/{obs_name} has {len(dataset)} rows, '
                                    f'num_samples {n}')
            problems.extend(_hdf5_calibration(path, name, group))
            problems.extend(_hdf5_next_obs(path, name, group))
            problems.extend(_hdf5_rewards(path, name, group, n))
        if not total:
            problems.append(f'{path}: an empty dataset (0 frames)')
        if int(h5['data'].attrs.get('total', -1)) != total:
            problems.append(f'{path}: data.attrs total != sum of num_samples')
        problems.extend(_hdf5_env_args(path, h5['data'].attrs.get('env_args')))
        masked = {m.decode() for key in ('train', 'valid') for m in h5['mask'][key][()]}
        if masked != set(demos):
            problems.append(f'{path}: mask/train + mask/valid do not cover every demo')
        problems.extend(check_hdf5_labels(path, h5['data']))
    return problems


def _hdf5_calibration(path: Path, name: str, group) -> list[str]:
    """Every camera of a demo (obs images_* and depth_*) has a sound calibration group."""
    problems = []
    cameras = [(obs_name, dataset) for obs_name, dataset in group['obs'].items()
               if obs_name.startswith(('images_', 'depth_')) and dataset.ndim >= 3]
    for obs_name, dataset in cameras:
        where = f'{path}: {name}/{calibration.GROUP}/{obs_name}'
        if f'{calibration.GROUP}/{obs_name}' not in group:
            problems.append(f'{where}: missing: no intrinsics and no "none" record')
            continue
        record = calibration.hdf5_record(group[calibration.GROUP][obs_name])
        key = record.get('key') or obs_name
        problems.extend(calibration.check_record(where, key, record, int(dataset.shape[2]),
                                                 int(dataset.shape[1])))
        pose, poses = extrinsics.hdf5_extrinsics(group[calibration.GROUP][obs_name])
        problems.extend(extrinsics.check_record(where, pose, poses, len(dataset)))
    return problems


def _hdf5_next_obs(path: Path, name: str, group) -> list[str]:
    """``next_obs`` is ``obs`` shifted by one frame, the last repeated, key by key.

    Numeric keys are compared whole; images and depth at their first, middle and last
    frames, and a virtual key must read its own demo's ``obs`` (a demo copied under another
    name reads another demo's frames until ``link_next_obs`` makes its ``next_obs`` again).
    """
    where = f'{path}: {name}/next_obs'
    if 'next_obs' not in group:
        return [f'{where}: missing']
    obs, next_obs = group['obs'], group['next_obs']
    problems = []
    if set(obs) != set(next_obs):
        problems.append(f'{where}: keys {sorted(next_obs)}, obs has {sorted(obs)}')
    for key in sorted(set(obs) & set(next_obs)):
        source, shifted = obs[key], next_obs[key]
        if shifted.shape != source.shape or shifted.dtype != source.dtype:
            problems.append(f'{where}/{key}: {shifted.shape} {shifted.dtype}, obs/{key} '
                            f'{source.shape} {source.dtype}')
            continue
        if shifted.is_virtual:
            elsewhere = sorted({f'{m.file_name}:{m.dset_name}'
                                for m in shifted.virtual_sources()
                                if (m.file_name, m.dset_name) != ('.', source.name)})
            if elsewhere:
                problems.append(f'{where}/{key}: reads {", ".join(elsewhere)}, not '
                                f'{source.name} (remake it with hdf5.link_next_obs)')
                continue
        n = len(source)
        if not n:
            continue
        if source.ndim <= 2:
            same = np.array_equal(shifted[()], source[()][np.minimum(np.arange(n) + 1, n - 1)],
                                  equal_nan=True)
        else:
            same = all(np.array_equal(shifted[k], source[min(k + 1, n - 1)])
                       for k in sorted({0, n // 2, n - 1}))
        if not same:
            problems.append(f'{where}/{key}: not obs/{key} shifted by one frame '
                            '(the last repeated)')
    return problems


def _hdf5_rewards(path: Path, name: str, group, n: int) -> list[str]:
    """Sparse rewards (1 at the last step of a success) and dones (1 at the last step)."""
    from humanoid_data.dataset.hdf5 import dones, rewards
    problems = []
    outcome = str(group.attrs.get('outcome', ''))
    if 'rewards' in group and len(group['rewards']) == n and not np.array_equal(
            group['rewards'][()], rewards(n, outcome)):
        problems.append(f'{path}: {name}/rewards are not 1 at the last step of a success and '
                        f'0 elsewhere (outcome {outcome!r})')
    if 'dones' in group and len(group['dones']) == n and not np.array_equal(
            group['dones'][()], dones(n)):
        problems.append(f'{path}: {name}/dones are not 1 at the last step and 0 elsewhere')
    return problems


def _hdf5_env_args(path: Path, env_args) -> list[str]:
    """``data.attrs['env_args']`` is robomimic's JSON: env_name, type and env_kwargs."""
    try:
        env = json.loads(env_args if isinstance(env_args, (str, bytes)) else '')
    except json.JSONDecodeError as err:
        return [f'{path}: data.attrs env_args is not JSON ({err})']
    missing = [k for k in ('env_name', 'type', 'env_kwargs')
               if not isinstance(env, dict) or k not in env]
    return [f'{path}: data.attrs env_args has no {", ".join(missing)}'] if missing else []
