"""Offline conversion: recorded episodes -> LeRobot v3 and HDF5, read back; bad input.

The session is recorded without DDS (test/dataset/recording.py), so the bags are exactly
what the recorder writes.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from humanoid_data.bag.decode import decode
from humanoid_data.bag.verify import verify_bag
from humanoid_data.core.intervals import Interval, score_contacts
from humanoid_data.dataset.batch import convert
from humanoid_data.dataset.sources import source_id
from humanoid_data.dataset.validate import validate
from humanoid_data.sim.faults import StreamFault
from test.dataset.recording import (
    MS, REPO, convert_with, record, two_episode_session)

av = pytest.importorskip('av')


@pytest.fixture(scope='module')
def recorded(tmp_path_factory):
    return two_episode_session(tmp_path_factory.mktemp('sessions'))


def run_convert(recorded, sources, out, fmt, jobs=1):

    return convert_with(recorded[3], sources, out, fmt, jobs)


def test_lerobot_round_trip(recorded, tmp_path):
    root, session, info, _ = recorded
    out = tmp_path / 'lerobot'
    result = run_convert(recorded, [session], out, 'lerobot', jobs=2)
    assert result.failed == {} and len(result.converted) == 2
    assert validate(out) == []
    meta = json.loads((out / 'meta' / 'info.json').read_text())
    table = pq.read_table(out / 'data' / 'chunk-000' / 'file-000.parquet')
    assert meta['total_frames'] == table.num_rows and meta['total_episodes'] == 2
    np.testing.assert_array_equal(table['index'].to_numpy(), np.arange(table.num_rows))
    episodes = pq.read_table(out / 'meta' / 'episodes' / 'chunk-000' / 'file-000.parquet')
    first = episodes.to_pylist()[0]
    n = first['length']
    ts = table['timestamp'].to_numpy()[:n]
    np.testing.assert_allclose(ts, np.arange(n) / 30.0, atol=1e-6)
    # Video: both episodes one after another in one file; one decoded frame per data
    # frame, at from_timestamp + k / fps.
    key = 'observation.images.wrist_right'
    rows = episodes.to_pylist()
    assert {(r[f'videos/{key}/chunk_index'], r[f'videos/{key}/file_index'])
            for r in rows} == {(0, 0)}
    video = out / 'videos' / key / 'chunk-000' / 'file-000.mp4'
    with av.open(str(video)) as container:
        times = np.array([float(f.pts * f.time_base) for f in container.decode(video=0)])
    assert len(times) == sum(r['length'] for r in rows) == table.num_rows
    for r in rows:
        start, end = r[f'videos/{key}/from_timestamp'], r[f'videos/{key}/to_timestamp']
        mine = times[(times >= start - 1e-6) & (times < end - 1e-6)]
        np.testing.assert_allclose(mine - start, np.arange(r['length']) / 30.0, atol=1e-6)
    assert rows[1][f'videos/{key}/from_timestamp'] == pytest.approx(n / 30.0)
    # Values: the state at each frame is the published joint states interpolated there.
    stamps = np.load(out / 'humanoid_data' / 'episode_000000' / 'stamps.npz')
    sent = [decode(raw, 'sensor_msgs/msg/JointState') for raw in info['sent']['/joint_states']]
    sent_t = np.array([s.header_ns for s in sent])
    sent_q = np.array([s.position for s in sent])
    state = np.stack(table['observation.state'].to_numpy(zero_copy_only=False)[:n])
    used = stamps['joint_states.stamp_ns']
    frame_t = used + stamps['joint_states.residual_ns']
    expected = np.array([np.interp(frame_t, sent_t, sent_q[:, j]) for j in range(3)]).T
    np.testing.assert_allclose(state[:, :3], expected, atol=1e-5)
    # Labels: phases from the operator's markers, 40 ms after the truth.
    labels = json.loads((out / 'humanoid_data' / 'episode_000000' / 'labels.json').read_text())
    marks = {s['name']: s['begin_ns'] for s in labels['phase_segments']}
    truth = {s['name']: s['begin_ns'] for s in labels['truth_phase_segments']}
    assert set(marks) == set(truth) and all(marks[k] - truth[k] == 40 * MS for k in marks)
    assert table['phase_index'].to_numpy()[:n].max() == 6
    # Contacts re-detected offline agree with the ground truth.
    found = [Interval(**c) for c in labels['contacts']['offline']]
    watched = {'wrist/right', 'tactile/right/thumb', 'tactile/right/index'}
    true = [Interval(**c) for c in labels['contacts']['sim_truth'] if c['channel'] in watched]
    score = score_contacts(found, true)
    assert score.true_count == 3 and score.precision == score.recall == 1.0
    assert first['outcome'] == 'success'
    # Each row names the bag it came from: its folder under the source, and its id.
    assert [r['source_path'] for r in rows] == ['episode_0001', 'episode_0002']
    assert [r['source_id'] for r in rows] == [
        source_id(session / r['source_path']) for r in rows]
    checked = verify_bag(session / 'episode_0001').checksummed   # the recorder writes CRCs
    assert [r['source_verified'] for r in rows] == ['ok' if checked else 'no checksums'] * 2
    # LiDAR sidecar: every frame points at a stored, cropped and downsampled scan.
    with h5py.File(out / 'humanoid_data' / 'episode_000000' / 'lidar.h5') as lidar:
        offsets, frame_scan = lidar['offsets'][()], lidar['frame_scan'][()]
        assert len(frame_scan) == n and frame_scan.min() >= 0
        assert len(lidar['points']) == offsets[-1] > 0
        sizes = np.diff(offsets)
        assert sizes.min() > 0 and sizes.max() < 30_000     # downsampled from 30k points


def test_hdf5_round_trip_and_resume(recorded, tmp_path):
    root, session, info, _ = recorded
    out = tmp_path / 'h5'
    first = run_convert(recorded, [session], out, 'hdf5')
    again = run_convert(recorded, [session], out, 'hdf5')
    assert len(again.resumed) == 2 and again.converted == first.converted
    assert validate(out) == []
    with h5py.File(out / 'dataset.hdf5') as h5:
        demo = h5['data/demo_0']
        n = demo.attrs['num_samples']
        assert demo['obs/images_wrist_right'].shape == (n, 240, 320, 3)
        assert demo['obs/images_wrist_right'].chunks == (1, 240, 320, 3)
        assert demo['actions'].shape == (n, 38)
        assert demo['labels/phase_index'].shape == (n,)
        assert sorted(m.decode() for m in h5['mask/train'][()]) == ['demo_0', 'demo_1']


def test_bad_bags_are_isolated_with_reasons(recorded, tmp_path):

    root, good, _, _ = recorded
    suite_file = REPO / 'config' / 'humanoid.yaml'
    bad = tmp_path / 'bad'
    shutil.copytree(good, bad / 'truncated')
    mcap = next((bad / 'truncated' / 'episode_0001').glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    record(bad, 'nan_ft', suite_file, nan_ft=True, swap_imu=True)
    record(bad, 'empty', suite_file, empty=True)
    record(bad, 'no_command', suite_file,
           faults={'joint_command': StreamFault(silent_after_s=0.0)})
    other = bad / 'other_robot'
    shutil.copytree(good, other)
    data = yaml.safe_load((other / 'suite.yaml').read_text())
    data['robot'] = 'another_robot'
    data['streams'] = [s for s in data['streams'] if s['name'] != 'joint_command']
    (other / 'suite.yaml').write_text(yaml.safe_dump(data))
    result = run_convert(recorded, [bad], tmp_path / 'out', 'lerobot')
    failed = {Path(k).parent.name: v for k, v in result.failed.items()}
    assert 'truncated' in failed and 'damaged bag' in failed['truncated']
    assert str(mcap) in failed['truncated'] and 'file ends' in failed['truncated']
    assert 'other_robot' in failed and 'joint_command' in failed['other_robot']
    assert any(k.startswith('empty/') for k in result.rejected)
    [why] = [v for k, v in result.rejected.items() if k.startswith('no_command/')]
    assert any('required stream joint_command has no messages' in r for r in why)
    assert 'nan_ft/episode_0001' in result.converted
    assert validate(tmp_path / 'out') == []
    report = json.loads((tmp_path / 'out' / 'humanoid_data' / 'report.json').read_text())
    [nan_notes] = [r['notes'] for r in report if r['session'] == 'nan_ft']
    assert any('/wrist/right/ft' in n and 'NaN' in n for n in nan_notes)
    assert any('/imu' in n and 'out-of-order' in n for n in nan_notes)


@pytest.mark.skipif(importlib.util.find_spec('lerobot') is None,
                    reason='lerobot is not installed (it needs torch; not part of .[test])')
def test_lerobot_library_loads_the_export(recorded, tmp_path):
    """The lerobot library itself loads the export."""
    module = importlib.import_module('lerobot.datasets.lerobot_dataset')
    out = tmp_path / 'lerobot'
    run_convert(recorded, [recorded[1]], out, 'lerobot')
    # pyav: torchcodec, lerobot's default, needs FFmpeg's shared libraries on the system.
    dataset = module.LeRobotDataset('local/humanoid_data_test', root=out, video_backend='pyav')
    meta = json.loads((out / 'meta' / 'info.json').read_text())
    assert len(dataset) == meta['total_frames'] and dataset.num_episodes == 2
    item = dataset[5]
    assert tuple(item['observation.images.wrist_right'].shape) == (3, 240, 320)
    assert abs(float(item['timestamp']) - 5 / 30) < 1e-4
    assert tuple(item['observation.state'].shape) == (76,)


def test_same_input_gives_the_same_dataset(recorded, tmp_path):
    sources = [recorded[1]]
    config = yaml.safe_load(recorded[3].read_text())
    config['video'] = {'codec': 'libsvtav1', 'crf': 30, 'gop': 2}   # the shipped encoder
    av1 = tmp_path / 'dataset.yaml'
    av1.write_text(yaml.safe_dump(config))
    for fmt in ('lerobot', 'hdf5'):
        a, b = tmp_path / f'{fmt}_a', tmp_path / f'{fmt}_b'
        for out, jobs in ((a, 2), (b, 1)):
            convert(sources, out, fmt, av1, REPO / 'config' / 'phases.yaml',
                    REPO / 'config' / 'contact.yaml', jobs=jobs)
        if fmt == 'lerobot':
            for rel in ('data/chunk-000/file-000.parquet', 'meta/stats.json',
                        'meta/episodes/chunk-000/file-000.parquet', 'meta/info.json',
                        'videos/observation.images.wrist_right/chunk-000/file-000.mp4'):
                assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
        else:
            with h5py.File(a / 'dataset.hdf5') as ha, h5py.File(b / 'dataset.hdf5') as hb:
                names = []
                ha.visit(names.append)
                for name in names:
                    if isinstance(ha[name], h5py.Dataset):
                        np.testing.assert_array_equal(ha[name][()], hb[name][()], name)


def test_videos_go_into_files_by_size_without_reencoding(recorded, tmp_path, monkeypatch):
    from humanoid_data.dataset import lerobot_video
    config = yaml.safe_load(recorded[3].read_text())
    config['lerobot'] = {'video_files_size_in_mb': 1}
    path = tmp_path / 'dataset.yaml'
    path.write_text(yaml.safe_dump(config))
    split, joined = tmp_path / 'split', tmp_path / 'joined'
    for out, dataset in ((split, path), (joined, recorded[3])):
        taxonomy, contact = REPO / 'config' / 'phases.yaml', REPO / 'config' / 'contact.yaml'
        with monkeypatch.context() as patch:
            if out == split:      # the demo's videos are ~90 kB: a 10 kB "MB" splits them
                patch.setattr(lerobot_video, 'BYTES_PER_MB', 10_000)
            convert([recorded[1]], out, 'lerobot', dataset, taxonomy, contact)
        assert validate(out) == []
    key = 'observation.images.wrist_right'
    rows = pq.read_table(split / 'meta' / 'episodes' / 'chunk-000' /
                         'file-000.parquet').to_pylist()
    assert [r[f'videos/{key}/file_index'] for r in rows] == [0, 1]
    assert rows[1][f'videos/{key}/from_timestamp'] == 0.0

    def pictures(video: Path) -> list[np.ndarray]:
        with av.open(str(video)) as container:
            return [f.to_ndarray(format='rgb24') for f in container.decode(video=0)]
    folder = Path('videos') / key / 'chunk-000'
    apart = pictures(split / folder / 'file-000.mp4') + pictures(split / folder / 'file-001.mp4')
    together = pictures(joined / folder / 'file-000.mp4')
    assert len(apart) == len(together) == sum(r['length'] for r in rows)
    for a, b in zip(apart, together):
        np.testing.assert_array_equal(a, b)


def test_a_stuck_episode_is_stopped_retried_and_reported(recorded, tmp_path, monkeypatch):
    # The episode's process never answers (a hung encoder), so the deadline decides every
    # time: nothing races it.
    from humanoid_data.dataset import batch
    from test.dataset.stuck_worker import never_answers
    monkeypatch.setattr(batch, '_worker', never_answers)
    monkeypatch.setattr(batch, 'DEADLINE_BASE_S', 0.0)
    monkeypatch.setattr(batch, 'DEADLINE_S_PER_MB', 0.0)
    states = []
    out = tmp_path / 'out'
    result = convert([recorded[1]], out, 'hdf5', recorded[3], REPO / 'config' / 'phases.yaml',
                     REPO / 'config' / 'contact.yaml', jobs=2,
                     on_progress=lambda episode, state: states.append(state))
    assert len(result.failed) == 2 and not result.converted
    assert all('no result within 0 s, twice' in reason for reason in result.failed.values())
    assert states == ['failed', 'failed']
    assert not list((out / '.staging' / 'hdf5').iterdir())     # nothing half-staged kept


def test_receive_time_alignment_is_an_option(recorded, tmp_path):
    config = yaml.safe_load(recorded[3].read_text())
    config['streams']['imu']['stamps'] = 'receive'
    path = tmp_path / 'dataset.yaml'
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / 'out'
    convert([recorded[1]], out, 'lerobot', path, REPO / 'config' / 'phases.yaml',
            REPO / 'config' / 'contact.yaml')
    summary = json.loads((out / 'humanoid_data' / 'episode_000000' / 'episode.json')
                         .read_text())
    assert any('/imu: aligned on receive time' in n for n in summary['notes'])


def test_lerobot_phases_are_subtasks_and_labels_come_from_the_bag(recorded, tmp_path):
    import pandas as pd
    out = tmp_path / 'lerobot'
    run_convert(recorded, [recorded[1]], out, 'lerobot')
    assert validate(out) == []
    table = pq.read_table(out / 'data' / 'chunk-000' / 'file-000.parquet')
    phase, subtask = table['phase_index'].to_numpy(), table['subtask_index'].to_numpy()
    subtasks = pd.read_parquet(out / 'meta' / 'subtasks.parquet')    # as lerobot reads it
    rows = pq.read_table(out / 'meta' / 'episodes' / 'chunk-000' / 'file-000.parquet')
    names = [json.loads((out / 'humanoid_data' / f'episode_{i:06d}' / 'episode.json')
                        .read_text())['phase_names'] for i in range(2)]
    for row in rows.to_pylist():
        lo, hi = row['dataset_from_index'], row['dataset_to_index']
        expected = [names[row['episode_index']][p] if p >= 0 else '' for p in phase[lo:hi]]
        assert [subtasks.iloc[s].name for s in subtask[lo:hi]] == expected
        assert (row['labels/source'], row['labels/annotator'], row['labels/revision']) == (
            'bag_events', '', 0)
        assert json.loads(row['labels/agreement']) is None
    assert (phase == -1).any() and set(subtask[phase == -1].tolist()) == {0}
    summary = json.loads((out / 'meta' / 'labels.json').read_text())
    assert summary['sources'] == {'bag_events': 2}
