"""LeRobot v3 datasets merged into the dataset a single conversion of their episodes writes.

The converter packs staged episodes (``lerobot._Packer``); a merge packs the inputs'
episodes the same way, with the converter's own functions and rules:

- frames: each episode's rows of the inputs' data files, ``episode_index``, ``index``,
  ``task_index`` and ``subtask_index`` numbered again, its columns built as the converter
  builds them (``_vector``), data files cut at ``data_files_size_in_mb`` by the same rule;
- tasks and subtasks unified by their text, in order of first appearance (what the
  converter gives for the episodes in this order);
- videos: each input file split back into its episodes' packets (stream copy: the
  times ``join_videos`` shifted taken back, every episode starting on a keyframe), then
  joined by ``write_videos``, which groups them into files by ``video_files_size_in_mb``
  and writes each episode's file and time range into its row;
- statistics: every episode's part computed from its frames as the converter computes
  it (cameras: the episode row's statistics), then aggregated by ``_merge_stats``;
- sidecars copied under their new numbers, ``report.json`` and ``meta/labels.json``
  combined, the checksum manifest written anew.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from humanoid_data.dataset.checksums import check_manifest, write_manifest
from humanoid_data.dataset.config import DatasetConfig, LeRobotOptions
from humanoid_data.dataset.extrinsics import FEATURE_PREFIX, WRENCH_PREFIX
from humanoid_data.dataset.labels_provenance import LABELS_FILE, SUBTASKS_FILE
from humanoid_data.dataset.lerobot import (
    DATA_PATH, _index_table, _merge_image_stats, _merge_stats, _stats, _typed_lists, _vector,
    _write_data)
from humanoid_data.dataset.lerobot_video import write_videos
from humanoid_data.dataset.merge import MergeResult, build_in_place, refuse_difference, \
    refuse_duplicates
from humanoid_data.dataset.staging import write_json
from humanoid_data.errors import HumanoidDataError

#: The frame columns after the numeric keys, in the converter's order (``_Packer._columns``).
TAIL = ('observation.contact', 'phase_index', 'subtask_index', 'sync_flagged', 'timestamp',
        'frame_index', 'episode_index', 'index', 'task_index')
#: The features the converter declares last (``_Packer.finish``), in its order.
TAIL_FEATURES = ('phase_index', 'subtask_index', 'sync_flagged', 'frame_index',
                 'episode_index', 'index', 'task_index', 'timestamp')
#: Keys an episode may lack (NaN rows): a pose that could not be looked up.
OPTIONAL = (FEATURE_PREFIX, WRENCH_PREFIX)
#: info.json fields every input must share, in the order they are compared.
SAME_INFO = ('fps', 'codebase_version', 'robot_type', 'chunks_size', 'data_files_size_in_mb',
             'video_files_size_in_mb', 'data_path', 'video_path')
SAME_HUMANOID_DATA = ('version', 'taxonomy', 'config_digest')
STATS = ('min', 'max', 'mean', 'std', 'count')


@dataclass
class _Input:
    """One input dataset, its metadata read."""

    root: Path
    info: dict[str, Any]
    tasks: list[str]
    subtasks: list[str]
    rows: list[dict[str, Any]]          # meta/episodes, in episode order
    summaries: list[dict[str, Any]]     # each episode's sidecar episode.json
    labels: dict[str, Any]              # meta/labels.json
    report: list[dict[str, Any]]        # humanoid_data/report.json

    def sidecar(self, index: int) -> Path:
        """The sidecar folder of the input's episode ``index``."""
        return self.root / 'humanoid_data' / f'episode_{index:06d}'


def _index_column(root: Path, relative: str, name: str) -> list[str]:
    """The texts of tasks.parquet / subtasks.parquet, by their index."""
    table = pq.read_table(root / relative)
    pairs = sorted(zip(table[f'{name}_index'].to_pylist(), table[name].to_pylist()))
    if [i for i, _ in pairs] != list(range(len(pairs))):
        raise HumanoidDataError(f'{root / relative}: {name}_index is not 0..{len(pairs) - 1}')
    return [str(text) for _, text in pairs]


def _read(root: Path) -> _Input:
    try:
        info = json.loads((root / 'meta' / 'info.json').read_text(encoding='utf-8'))
        files = sorted((root / 'meta' / 'episodes').glob('chunk-*/file-*.parquet'))
        rows = sorted((r for f in files for r in pq.read_table(f).to_pylist()),
                      key=lambda r: r['episode_index'])
        if [r['episode_index'] for r in rows] != list(range(len(rows))) or not rows:
            raise HumanoidDataError(f'{root}: meta/episodes is not episodes 0..n-1')
        summaries = [json.loads((root / 'humanoid_data' / f'episode_{i:06d}' /
                                 'episode.json').read_text()) for i in range(len(rows))]
        return _Input(root, info, _index_column(root, 'meta/tasks.parquet', 'task'),
                      _index_column(root, SUBTASKS_FILE, 'subtask'), rows, summaries,
                      json.loads((root / LABELS_FILE).read_text()),
                      json.loads((root / 'humanoid_data' / 'report.json').read_text()))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise HumanoidDataError(f'{root}: not a readable LeRobot dataset of humanoid_data '
                                f'({type(err).__name__}: {err}); humanoid-data validate '
                                'says more') from err


def _check_compatible(inputs: list[_Input]) -> None:
    first = inputs[0]
    for other in inputs[1:]:
        a, b, ia, ib = first.root, other.root, first.info, other.info
        for key in SAME_INFO:
            refuse_difference(key, a, ia.get(key), b, ib.get(key))
        fa, fb = ia['features'], ib['features']
        refuse_difference('features', a, {k: v for k, v in fa.items()
                                          if k in fb or not k.startswith(OPTIONAL)},
                          b, {k: v for k, v in fb.items()
                              if k in fa or not k.startswith(OPTIONAL)})
        ha, hb = ia.get('humanoid_data') or {}, ib.get('humanoid_data') or {}
        for key in SAME_HUMANOID_DATA:
            refuse_difference(f'humanoid_data.{key}', a, ha.get(key), b, hb.get(key))


def _merged_features(inputs: list[_Input]) -> dict[str, Any]:
    """Features in order of first appearance, the converter's last ones at the end."""
    features: dict[str, Any] = {}
    for source in inputs:
        for key, feature in source.info['features'].items():
            if key not in TAIL_FEATURES:
                features.setdefault(key, feature)
    for key in TAIL_FEATURES:
        features[key] = inputs[0].info['features'][key]
    return features


def _matrix(column: Any, n: int) -> np.ndarray:
    """A fixed-size-list column of ``n`` rows as an (n, width) array of its type."""
    values = column.combine_chunks()
    return values.flatten().to_numpy(zero_copy_only=False).reshape(n, -1)


class _Frames:
    """The merged frames: data files cut as the converter cuts them, and statistics parts."""

    def __init__(self, out: Path, info: dict[str, Any], numeric: list[str],
                 features: dict[str, Any]) -> None:
        self.out, self.numeric, self.features = out, numeric, features
        self.cameras = [k for k, f in features.items() if f['dtype'] == 'video']
        self.chunks_size = int(info['chunks_size'])
        self.limit = info['data_files_size_in_mb'] * 1_000_000
        self.tables: list[pa.Table] = []
        self.data_bytes, self.data_file, self.index = 0, 0, 0
        self.stats_parts: dict[str, list[Any]] = {}
        self._file: tuple[Path, pa.Table, int] | None = None   # the input file read last

    def _part(self, key: str, values: np.ndarray, n: int) -> None:
        """``_Packer._add_stats``: one episode's (min, max, mean, std, count) of ``key``."""
        s = _stats(values)
        self.stats_parts.setdefault(key, []).append(
            (np.array(s['min']), np.array(s['max']), np.array(s['mean']),
             np.array(s['std']), n))

    def _rows(self, path: Path, lo: int, n: int) -> pa.Table:
        """Frames ``lo .. lo + n`` (global index of its dataset) of an input data file."""
        if self._file is None or self._file[0] != path:
            table = pq.read_table(path)
            self._file = (path, table, int(table['index'][0].as_py()) if len(table) else 0)
        _, table, first = self._file
        part = table.slice(lo - first, n)
        if len(part) != n or (n and part['index'][0].as_py() != lo):
            raise HumanoidDataError(f'{path}: frames {lo}..{lo + n} of its episode are not '
                                    'there')
        return part

    def add(self, source: _Input, row: dict[str, Any], summary: dict[str, Any],
            tasks: list[int], subtasks: list[int]) -> None:
        """One episode of ``source`` as the episode ``row`` (its row there, renumbered).

        ``tasks`` and ``subtasks`` map the input's indices to the merged ones.
        """
        n, lo = int(row['length']), int(row['dataset_from_index'])
        path = source.root / source.info['data_path'].format(
            chunk_index=row['data/chunk_index'], file_index=row['data/file_index'])
        part = self._rows(path, lo, n)
        columns: dict[str, pa.Array] = {}
        for key in self.numeric:     # sorted, the keys needing a pose among them
            present = key in part.column_names and (
                not key.startswith(OPTIONAL) or key in summary['names'])
            if not present:
                columns[key] = _vector(np.full((n, self.features[key]['shape'][0]), np.nan))
                continue
            values = _matrix(part[key], n)
            columns[key] = _vector(values)
            self._part(key, values, n)
        if 'observation.contact' in part.column_names:     # none without contact channels
            columns['observation.contact'] = _vector(_matrix(part['observation.contact'], n))
        plain = {key: part[key].to_numpy() for key in TAIL[1:]}
        plain['subtask_index'] = np.asarray(subtasks, dtype=np.int64)[plain['subtask_index']]
        plain['episode_index'] = np.full(n, row['episode_index'], dtype=np.int64)
        plain['index'] = np.arange(self.index, self.index + n, dtype=np.int64)
        plain['task_index'] = np.asarray(tasks, dtype=np.int64)[plain['task_index']]
        for key, values in plain.items():
            columns[key] = pa.array(values)
        for key in [k for k in TAIL if k in columns]:
            values = np.asarray(columns[key].flatten() if key == 'observation.contact'
                                else columns[key]).astype(np.float64)
            self._part(key, values.reshape(n, -1), n)
        for key in self.cameras:     # _Packer._add_video: the episode's own statistics
            self.stats_parts.setdefault(key, []).append(
                {stat: row[f'stats/{key}/{stat}'] for stat in STATS})
        table = pa.table(columns)
        if self.tables and self.data_bytes + table.nbytes > self.limit:     # _Packer.add
            self.flush()
            self.data_file += 1
        self.tables.append(table)
        self.data_bytes += table.nbytes
        row.update({'data/chunk_index': self.data_file // self.chunks_size,
                    'data/file_index': self.data_file % self.chunks_size,
                    'dataset_from_index': self.index, 'dataset_to_index': self.index + n})
        self.index += n

    def flush(self) -> None:
        """Write the frames gathered so far into the current data file."""
        if self.tables:
            _write_data(self.out, self.tables, self.data_file, self.chunks_size)
        self.tables, self.data_bytes = [], 0

    def stats(self) -> dict[str, Any]:
        """meta/stats.json: every key's parts aggregated (``_Packer.finish``)."""
        return {key: _merge_image_stats(parts) if isinstance(parts[0], dict)
                else _merge_stats(parts) for key, parts in self.stats_parts.items()}


def _split_video(source: Path, episodes: list[tuple[Path, int]], fps: float) -> None:
    """Each episode's packets of a joined video into a file of its own, not re-encoded.

    ``episodes`` are (target, frame count) in the file's order. ``join_videos`` shifted
    each episode by the frames before it over ``fps``; that shift is taken back, so each
    file holds the packets the episode was encoded to, at their times.

    Raises:
        HumanoidDataError: The file holds other frames than its episodes, or an episode
            does not start on a keyframe.

    """
    import av
    with av.open(str(source)) as video:
        origin = video.streams.video[0]
        packets = (p for p in video.demux(origin) if p.dts is not None)
        offset_s = 0.0
        for number, (target, count) in enumerate(episodes):
            shift = int(round(offset_s / origin.time_base))
            with av.open(str(target), 'w') as output:
                stream = output.add_stream_from_template(origin, opaque=True)
                for k in range(count):
                    packet = next(packets, None)
                    if packet is None or packet.pts is None:
                        raise HumanoidDataError(
                            f'{source}: ends in its episode {number + 1} of {len(episodes)} '
                            f'({k} of its {count} frames); the file does not hold its '
                            'episodes')
                    if k == 0 and not packet.is_keyframe:
                        raise HumanoidDataError(
                            f'{source}: its episode {number + 1} of {len(episodes)} does not '
                            'start on a keyframe; it cannot be split without re-encoding')
                    packet.pts -= shift
                    packet.dts -= shift
                    packet.stream = stream
                    output.mux(packet)
            offset_s += count / fps
        if next(packets, None) is not None:
            raise HumanoidDataError(f'{source}: holds more frames than its '
                                    f'{len(episodes)} episodes')


def _videos(work: Path, order: list[tuple[_Input, int, dict[str, Any]]],
            features: dict[str, Any], info: dict[str, Any]) -> int:
    """Every camera's videos split per episode and joined again; bytes written.

    ``order`` holds each merged episode's input, its number there and its merged row
    (which gets its video file and times). The pieces live in ``work/.split`` until
    joined.
    """
    config = DatasetConfig(fps=info['fps'], streams=(), lerobot=LeRobotOptions(
        chunks_size=info['chunks_size'], data_files_size_in_mb=info['data_files_size_in_mb'],
        video_files_size_in_mb=info['video_files_size_in_mb']))
    scratch = work / '.split'
    for key in (k for k, f in features.items() if f['dtype'] == 'video'):
        folder = scratch / key
        folder.mkdir(parents=True)
        files: dict[Path, list[tuple[Path, int]]] = {}
        episodes = []
        for source, old, row in order:
            old_row = source.rows[old]
            path = source.root / source.info['video_path'].format(
                video_key=key, chunk_index=old_row[f'videos/{key}/chunk_index'],
                file_index=old_row[f'videos/{key}/file_index'])
            piece = folder / f'{row["episode_index"]:06d}.mp4'
            files.setdefault(path, []).append((piece, int(row['length'])))
            episodes.append((row, piece, int(row['length'])))
        for path, pieces in files.items():
            _split_video(path, pieces, float(info['fps']))
        write_videos(work, key, episodes, config)
        shutil.rmtree(folder)
    shutil.rmtree(scratch, ignore_errors=True)
    return sum(f.stat().st_size for f in (work / 'videos').rglob('*.mp4')) \
        if (work / 'videos').is_dir() else 0


def merge_lerobot(roots: list[Path], out: Path) -> MergeResult:
    """Merge LeRobot datasets ``roots`` (in this order) into the new folder ``out``."""
    inputs = [_read(root) for root in roots]
    _check_compatible(inputs)
    refuse_duplicates((number, source.root, row['source_id'],
                       f'{row["source_session"]}/{row["source_episode"]}')
                      for number, source in enumerate(inputs) for row in source.rows)
    for source in inputs:
        problems = check_manifest(source.root)
        if problems:
            raise HumanoidDataError(f'{source.root}: its files do not match its checksums '
                                    f'({len(problems)} problems, first: {problems[0]}); '
                                    'humanoid-data validate lists them')
    result = MergeResult('lerobot', out, len(inputs), 0, 0, 0)
    build_in_place(out, lambda work: _write(work, inputs, result))
    return result


def _write(work: Path, inputs: list[_Input], result: MergeResult) -> None:
    info = inputs[0].info
    tasks = list(dict.fromkeys(t for source in inputs for t in source.tasks))
    subtasks = list(dict.fromkeys(s for source in inputs for s in source.subtasks))
    features = _merged_features(inputs)
    numeric = sorted({k for source in inputs for k in source.info['features']
                      if source.info['features'][k]['dtype'] != 'video'} - set(TAIL))
    (work / 'meta' / 'episodes' / 'chunk-000').mkdir(parents=True)
    frames = _Frames(work, info, numeric, features)
    order: list[tuple[_Input, int, dict[str, Any]]] = []
    sidecars = work / 'humanoid_data'
    for source in inputs:
        task_map = [tasks.index(t) for t in source.tasks]
        subtask_map = [subtasks.index(s) for s in source.subtasks]
        for old, (row, summary) in enumerate(zip(source.rows, source.summaries)):
            merged = dict(row, episode_index=len(order))
            try:
                frames.add(source, merged, summary, task_map, subtask_map)
            except (KeyError, IndexError, ValueError, pa.ArrowException) as err:
                raise HumanoidDataError(
                    f'{source.root}: episode {old}: its frames do not fit its metadata '
                    f'({type(err).__name__}: {err}); humanoid-data validate says more'
                ) from err
            shutil.copytree(source.sidecar(old), sidecars / f'episode_{len(order):06d}')
            order.append((source, old, merged))
    frames.flush()
    start = time.perf_counter()
    result.video_bytes = _videos(work, order, features, info)
    result.video_seconds = time.perf_counter() - start
    rows = [row for _, _, row in order]
    pq.write_table(_typed_lists(pa.Table.from_pylist(rows)),
                   work / 'meta' / 'episodes' / 'chunk-000' / 'file-000.parquet')
    write_json(work / 'meta' / 'stats.json', frames.stats())
    pq.write_table(_index_table('task', tasks), work / 'meta' / 'tasks.parquet')
    pq.write_table(_index_table('subtask', subtasks), work / SUBTASKS_FILE)
    write_json(work / LABELS_FILE, _labels(inputs))
    merged_info = {
        'codebase_version': info['codebase_version'], 'robot_type': info['robot_type'],
        'total_episodes': len(rows), 'total_frames': frames.index, 'total_tasks': len(tasks),
        'chunks_size': info['chunks_size'],
        'data_files_size_in_mb': info['data_files_size_in_mb'],
        'video_files_size_in_mb': info['video_files_size_in_mb'], 'fps': info['fps'],
        'splits': {'train': f'0:{len(rows)}'}, 'data_path': DATA_PATH,
        'video_path': info['video_path'], 'features': features,
        'humanoid_data': info['humanoid_data']}
    (work / 'meta' / 'info.json').write_text(json.dumps(merged_info, indent=1))
    (sidecars / 'report.json').write_text(json.dumps(_report(inputs), indent=1))
    write_manifest(work)
    result.episodes, result.frames, result.tasks = len(rows), frames.index, len(tasks)


def _labels(inputs: list[_Input]) -> dict[str, Any]:
    """meta/labels.json of the merged episodes (``labels_summary``'s document)."""
    episodes: list[dict[str, Any]] = []
    for source in inputs:
        for entry in source.labels['episodes']:
            episodes.append({**entry, 'episode_index': len(episodes)})
    first = inputs[0].labels
    return {'schema': first['schema'], 'taxonomy': first['taxonomy'],
            'sources': dict(Counter(e['source'] for e in episodes)), 'episodes': episodes}


def _report(inputs: list[_Input]) -> list[dict[str, Any]]:
    """report.json: every input's staged episodes in order, then those that failed."""
    entries = [entry for source in inputs for entry in source.report]
    return [e for e in entries if e.get('verdict') != 'failed'] + \
        [e for e in entries if e.get('verdict') == 'failed']
