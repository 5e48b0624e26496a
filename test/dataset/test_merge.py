"""Merging datasets converted separately: the result is the dataset converted at once.

A session of three episodes (the second one with another task) is converted whole, and
as two shards (episode 1; episodes 2 and 3), to LeRobot and to HDF5; the shards are
merged. Videos go into files of two episodes (``video_files_size_in_mb`` 1 with a 100 kB
"MB"): the whole dataset has episodes 1 + 2 in one file and 3 in the next, shard B has 2 + 3
in one file, so the merge must split that file and join its episodes anew. The whole
conversion reuses the shards' staged episodes (as a rerun of convert does), so its
sidecars are byte for byte theirs; libx264 is deterministic anyway.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from humanoid_data.cli.main import main
from humanoid_data.dataset import lerobot_video
from humanoid_data.dataset.checksums import write_file_checksum, write_manifest
from humanoid_data.dataset.merge import merge
from humanoid_data.dataset.validate import validate
from humanoid_data.errors import ConfigError, HumanoidDataError
from test.dataset.recording import DATASET, REPO, convert_with, record

av = pytest.importorskip('av')
OTHER_TASK = 'stack the cube on the bowl'
CAMERA = 'observation.images.wrist_right'
FOLDERS = ('data', 'videos', 'meta', 'humanoid_data')


def _convert(config: Path, sources: list[Path], out: Path, fmt: str,
             staged_from: tuple[Path, ...] = ()) -> Path:
    for shard in staged_from:      # reuse the shards' staged episodes
        shutil.copytree(shard / '.staging', out / '.staging', dirs_exist_ok=True)
    result = convert_with(config, sources, out, fmt)
    assert not result.failed and len(result.converted) == len(sources), result
    return out


@pytest.fixture(scope='module')
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp('merge')
    session, _ = record(root, 'sess', REPO / 'config' / 'humanoid.yaml', episodes=3)
    episodes = sorted(session.glob('episode_*'))
    meta_file = episodes[1] / 'episode.yaml'
    meta = yaml.safe_load(meta_file.read_text())
    meta['instruction'] = OTHER_TASK
    meta_file.write_text(yaml.safe_dump(meta, sort_keys=False))
    config = root / 'dataset.yaml'
    config.write_text(yaml.safe_dump({**DATASET, 'lerobot': {'video_files_size_in_mb': 1}}))
    made = SimpleNamespace(root=root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lerobot_video, 'BYTES_PER_MB', 100_000)   # ~40 kB an episode
        for fmt in ('lerobot', 'hdf5'):
            a = _convert(config, episodes[:1], root / f'a_{fmt}', fmt)
            b = _convert(config, episodes[1:], root / f'b_{fmt}', fmt)
            whole = _convert(config, episodes, root / f'whole_{fmt}', fmt, (a, b))
            result = merge([a, b], root / f'merged_{fmt}')
            setattr(made, fmt, SimpleNamespace(a=a, b=b, whole=whole, result=result,
                                               merged=root / f'merged_{fmt}'))
    return made


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for folder in FOLDERS
                  for p in (root / folder).rglob('*') if p.is_file())


def _rows(root: Path) -> list[dict]:
    return pq.read_table(root / 'meta' / 'episodes' / 'chunk-000' /
                         'file-000.parquet').to_pylist()


def _tasks(root: Path) -> list[str]:
    table = pq.read_table(root / 'meta' / 'tasks.parquet')
    return [t for _, t in sorted(zip(table['task_index'].to_pylist(),
                                     table['task'].to_pylist()))]


def _data(root: Path) -> dict[str, np.ndarray]:
    tables = [pq.read_table(f) for f in sorted((root / 'data').rglob('*.parquet'))]
    return {c: np.concatenate([t[c].to_numpy() for t in tables])
            for c in ('index', 'episode_index', 'task_index', 'frame_index')}


def _packets(videos: list[Path]) -> list[tuple[bytes, bool]]:
    found = []
    for video in videos:
        with av.open(str(video)) as container:
            found += [(bytes(p), p.is_keyframe) for p in container.demux(video=0)
                      if p.dts is not None]
    return found


def _videos(root: Path) -> list[Path]:
    return sorted((root / 'videos' / CAMERA).rglob('*.mp4'))


def test_merged_lerobot_equals_the_dataset_converted_at_once(made):
    merged, whole = made.lerobot.merged, made.lerobot.whole
    assert _files(merged) == _files(whole)
    for name in _files(whole):
        a, b = merged / name, whole / name
        if name.endswith('.parquet'):
            ta, tb = pq.read_table(a), pq.read_table(b)
            assert ta.schema.equals(tb.schema, check_metadata=True), name
            assert ta.equals(tb), name
        elif name == 'meta/stats.json':
            sa, sb = json.loads(a.read_text()), json.loads(b.read_text())
            assert list(sa) == list(sb)
            for key in sb:
                assert list(sa[key]) == list(sb[key]), key
                for stat in sb[key]:
                    np.testing.assert_allclose(sa[key][stat], sb[key][stat], rtol=1e-12,
                                               err_msg=f'{key} {stat}')
        elif name.endswith('.json') and not name.startswith('humanoid_data/episode_'):
            assert json.loads(a.read_text()) == json.loads(b.read_text()), name
        else:     # videos and sidecars
            assert a.read_bytes() == b.read_bytes(), name


def test_merged_lerobot_is_valid_renumbered_and_its_tasks_unified(made):
    m = made.lerobot
    assert validate(m.merged) == []
    assert (m.result.episodes, m.result.tasks) == (3, 2)
    rows, data = _rows(m.merged), _data(m.merged)
    assert [r['episode_index'] for r in rows] == [0, 1, 2]
    assert m.result.frames == len(data['index']) == rows[-1]['dataset_to_index']
    np.testing.assert_array_equal(data['index'], np.arange(len(data['index'])))
    for row, nxt in zip(rows, rows[1:]):
        assert row['dataset_to_index'] == nxt['dataset_from_index']
    for row in rows:
        lo, hi = row['dataset_from_index'], row['dataset_to_index']
        assert set(data['episode_index'][lo:hi]) == {row['episode_index']}
        np.testing.assert_array_equal(data['frame_index'][lo:hi], np.arange(hi - lo))
    # One task in both shards gets one index; shard B listed the other task first.
    first = _tasks(m.a)
    assert len(first) == 1 and _tasks(m.b) == [OTHER_TASK, first[0]]
    assert _tasks(m.merged) == [first[0], OTHER_TASK]
    b_data = _data(m.b)
    b_last = _rows(m.b)[1]
    assert set(b_data['task_index'][b_last['dataset_from_index']:]) == {1}
    expected = {0: 0, 1: 1, 2: 0}
    for row in rows:
        lo, hi = row['dataset_from_index'], row['dataset_to_index']
        assert set(data['task_index'][lo:hi]) == {expected[row['episode_index']]}
        assert row['tasks'] == [_tasks(m.merged)[expected[row['episode_index']]]]
    # Sidecars and provenance follow their episodes.
    shards = [(m.a, 0), (m.b, 0), (m.b, 1)]
    assert [r['source_id'] for r in rows] == [_rows(s)[i]['source_id'] for s, i in shards]
    for number, (shard, index) in enumerate(shards):
        mine = m.merged / 'humanoid_data' / f'episode_{number:06d}'
        theirs = shard / 'humanoid_data' / f'episode_{index:06d}'
        assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in theirs.iterdir())
        for file in theirs.iterdir():
            assert (mine / file.name).read_bytes() == file.read_bytes(), (number, file.name)
    labels = json.loads((m.merged / 'meta' / 'labels.json').read_text())
    assert [e['episode_index'] for e in labels['episodes']] == [0, 1, 2]
    assert [e['source_id'] for e in labels['episodes']] == [r['source_id'] for r in rows]
    report = json.loads((m.merged / 'humanoid_data' / 'report.json').read_text())
    assert [e['source_id'] for e in report] == [r['source_id'] for r in rows]


def test_videos_are_split_and_joined_again_without_reencoding(made):
    m = made.lerobot
    key = f'videos/{CAMERA}/file_index'
    assert [r[key] for r in _rows(m.b)] == [0, 0]             # 2 + 3 in one file there
    assert [r[key] for r in _rows(m.merged)] == [0, 0, 1]     # 1 + 2, then 3, as at once
    assert len(_videos(m.merged)) == 2
    merged = _packets(_videos(m.merged))
    assert [p for p, _ in merged] == [p for p, _ in _packets(_videos(m.a) + _videos(m.b))]
    starts = np.cumsum([0] + [r['length'] for r in _rows(m.merged)])[:-1]
    assert all(merged[s][1] for s in starts)
    assert m.result.video_bytes == sum(v.stat().st_size for v in _videos(m.merged))


def _walk(h5: h5py.File) -> dict[str, object]:
    found: dict[str, object] = {}
    h5.visititems(lambda name, obj: found.setdefault(name, obj))
    return found


def _same_attrs(a, b, where: str) -> None:
    assert sorted(a.attrs) == sorted(b.attrs), where
    for key in b.attrs:
        va, vb = a.attrs[key], b.attrs[key]
        assert type(va) is type(vb) and np.array_equal(va, vb), (where, key)


def test_merged_hdf5_equals_the_file_converted_at_once(made):
    m = made.hdf5
    assert m.result.output == m.merged / 'dataset.hdf5'
    assert validate(m.merged) == []
    with h5py.File(m.merged / 'dataset.hdf5') as mine, \
            h5py.File(m.whole / 'dataset.hdf5') as theirs:
        assert (m.result.episodes, m.result.frames, m.result.tasks) == (
            3, theirs['data'].attrs['total'], 2)
        ours, expected = _walk(mine), _walk(theirs)
        assert sorted(ours) == sorted(expected)
        assert sorted(mine['data']) == ['demo_0', 'demo_1', 'demo_2']
        _same_attrs(mine['data'], theirs['data'], 'data')
        for name, obj in expected.items():
            got = ours[name]
            assert type(got) is type(obj), name
            _same_attrs(got, obj, name)
            if not isinstance(obj, h5py.Dataset):
                continue
            assert (got.dtype, got.shape, got.chunks, got.compression, got.shuffle,
                    got.is_virtual) == (obj.dtype, obj.shape, obj.chunks, obj.compression,
                                        obj.shuffle, obj.is_virtual), name
            if got.is_virtual:      # next_obs reads its own demo's obs
                sources = {(s.file_name, s.dset_name) for s in got.virtual_sources()}
                assert sources == {('.', '/' + name.replace('next_obs', 'obs'))}, name
            assert np.array_equal(got[()], obj[()], equal_nan=got.dtype.kind == 'f'), name
        for demo in ('demo_0', 'demo_1', 'demo_2'):
            group = mine['data'][demo]
            if 'states' in group:
                assert group['states'] == group['obs/state']     # still one dataset
        with h5py.File(m.b / 'dataset.hdf5') as b:
            assert mine['data/demo_2'].attrs['source_id'] == b['data/demo_1'].attrs['source_id']


def _copy(source: Path, target: Path) -> Path:
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns('.staging'))
    else:
        shutil.copyfile(source, target)
    return target


def _edit_info(root: Path, edit) -> None:
    info = json.loads((root / 'meta' / 'info.json').read_text())
    edit(info)
    (root / 'meta' / 'info.json').write_text(json.dumps(info, indent=1))
    write_manifest(root)


def _set(path: list[str], value):
    def edit(info):
        for key in path[:-1]:
            info = info[key]
        info[path[-1]] = value
    return edit


@pytest.mark.parametrize('path, value, field', [
    (['fps'], 15, 'fps'),
    (['features', CAMERA, 'info', 'video.codec'], 'av1',
     f'features.{CAMERA}.info.video.codec'),
    (['features', 'observation.state', 'shape'], [75], 'features.observation.state.shape'),
    (['robot_type'], 'another_robot', 'robot_type'),
    (['humanoid_data', 'config_digest'], '0123456789abcdef', 'humanoid_data.config_digest'),
])
def test_incompatible_lerobot_datasets_are_refused_naming_both(made, tmp_path, path, value,
                                                               field):
    other = _copy(made.lerobot.b, tmp_path / 'other')
    _edit_info(other, _set(path, value))
    with pytest.raises(ConfigError) as err:
        merge([made.lerobot.a, other], tmp_path / 'out')
    message = str(err.value)
    assert f' {field} differs' in message and repr(value) in message
    assert str(made.lerobot.a) in message and str(other) in message
    assert not (tmp_path / 'out').exists()


def test_incompatible_hdf5_files_are_refused_naming_both(made, tmp_path):
    other = _copy(made.hdf5.b / 'dataset.hdf5', tmp_path / 'other.hdf5')
    with h5py.File(other, 'r+') as h5:
        h5['data'].attrs['fps'] = 15.0
    write_file_checksum(other)
    with pytest.raises(ConfigError, match=r'data\.attrs\.fps differs') as err:
        merge([made.hdf5.a, other], tmp_path / 'out')
    assert str(made.hdf5.a / 'dataset.hdf5') in str(err.value) and str(other) in str(err.value)


@pytest.mark.parametrize('fmt', ['lerobot', 'hdf5'])
def test_the_same_shard_twice_is_refused_naming_the_episode(made, tmp_path, fmt):
    shards = getattr(made, fmt)
    with pytest.raises(ConfigError, match='cannot be merged twice') as err:
        merge([shards.a, shards.b, shards.a], tmp_path / 'out')
    if fmt == 'lerobot':
        source_id = _rows(shards.a)[0]['source_id']
    else:
        with h5py.File(shards.a / 'dataset.hdf5') as h5:
            source_id = h5['data/demo_0'].attrs['source_id']
    assert f'episode sess/episode_0001 (source_id {source_id})' in str(err.value)
    assert not (tmp_path / 'out').exists()


def test_a_non_empty_out_is_refused_and_left_alone(made, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
    for fmt in ('lerobot', 'hdf5'):
        with pytest.raises(ConfigError, match='exists and is not empty'):
            merge([getattr(made, fmt).a, getattr(made, fmt).b], out)
    assert [p.name for p in out.iterdir()] == ['notes.txt']


def test_an_input_that_fails_its_checksums_is_refused(made, tmp_path):
    other = _copy(made.lerobot.b, tmp_path / 'other')
    video = _videos(other)[0]
    body = bytearray(video.read_bytes())
    body[-100] ^= 0xFF
    video.write_bytes(bytes(body))
    with pytest.raises(HumanoidDataError, match='do not match its checksums') as err:
        merge([made.lerobot.a, other], tmp_path / 'out')
    assert str(other) in str(err.value) and video.name in str(err.value)


def test_cli_merges_into_an_empty_folder_and_reports_errors(made, tmp_path, capsys):
    out = tmp_path / 'cli'
    out.mkdir()
    assert main(['merge', str(made.hdf5.a), str(made.hdf5.b), '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'merged hdf5 dataset' in printed and validate(out) == []
    assert main(['merge', str(made.lerobot.a), str(made.hdf5.b), '--out',
                 str(tmp_path / 'mixed')]) == 2
    assert 'format differs' in capsys.readouterr().err
