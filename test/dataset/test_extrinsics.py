"""Each camera's extrinsics in the converted datasets: fixed, moving, none.

Unit tests run on a synthetic ``TransformBuffer``. End to end, an episode is recorded
with the simulated humanoid (its /tf, /tf_static and robot description, as the robot
node publishes them) and converted to LeRobot and HDF5; the wrist camera's per-frame
extrinsics must be the simulator's true camera poses. A suite without transforms falls
back to the URDF's forward kinematics of the joint states.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from scipy.spatial.transform import Rotation

from humanoid_data.bag import encode
from humanoid_data.core.config import load_suite
from humanoid_data.core.rigid import Transform
from humanoid_data.core.transforms import TransformBuffer
from humanoid_data.core.urdf import load_urdf
from humanoid_data.dataset import extrinsics
from humanoid_data.dataset.validate import validate
from humanoid_data.resources import default_suite, default_urdf
from test.dataset.recording import DATASET, convert_with
from test.recording.rig import Rig

pytest.importorskip('av')

MS = 1_000_000
KEY = 'observation.images.wrist_right'
SIDECAR = Path('humanoid_data') / 'episode_000000'


# -- unit: a synthetic tree ------------------------------------------------------------

def _buffer() -> TransformBuffer:
    """base_footprint -> base_link (static) -> arm (moving) -> cam (static); head fixed."""
    buf = TransformBuffer(max_extrapolation_ns=0, max_gap_ns=50 * MS)
    buf.add_static('base_footprint', 'base_link', Transform.from_quat([0, 0, 0.8],
                                                                      [0, 0, 0, 1]))
    buf.add_static('base_link', 'head', Transform.from_quat([0.1, 0, 0.5], [0, 0, 0, 1]))
    buf.add_static('head', 'head_cam', Transform(np.array([0.05, 0, 0]),
                                                 Rotation.from_euler('y', 30, degrees=True)))
    stamps = np.arange(0, 1000 * MS + 1, 10 * MS)
    angles = np.linspace(0, 1.8 * np.pi, len(stamps))     # past 180 degrees: w < 0
    buf.add_many('base_link', 'arm', stamps, np.stack([0.3 + 0.1 * angles, -0.2 + 0 * angles,
                                                       0.1 * angles], 1),
                 Rotation.from_euler('z', angles[:, None]).as_quat())
    buf.add_static('arm', 'cam', Transform(np.array([0, 0, 0.1]),
                                           Rotation.from_euler('x', -90, degrees=True)))
    return buf


def test_a_fixed_camera_has_one_pose_the_lookup():
    buf = _buffer()
    stamps = np.array([5 * MS, 15 * MS], np.int64)
    record = extrinsics.camera_extrinsics(buf, '', 'k', 's', 'head_cam', 'base_link', stamps,
                                          np.ones(2, bool))
    expected = buf.lookup('base_link', 'head_cam', 0)
    assert record.status == 'ok' and not record.moving and record.pose.shape == (7,)
    np.testing.assert_allclose(record.pose[:3], expected.translation, atol=1e-12)
    assert (Rotation.from_quat(record.pose[3:]) * expected.rotation.inv()).magnitude() < 1e-9
    doc = record.to_json()
    assert doc['moving'] is False and doc['quaternion_xyzw'] == record.pose[3:].tolist()


def test_a_moving_camera_has_a_pose_per_frame_at_its_image_stamps():
    buf = _buffer()
    instants = np.arange(0, 900 * MS, 33 * MS).astype(np.int64)
    stamps = instants + 3 * MS                      # images captured 3 ms after the instant
    valid = np.ones(len(stamps), bool)
    valid[4] = False                                # no image: the instant is used
    at = np.where(valid, stamps, instants)
    record = extrinsics.camera_extrinsics(buf, '', 'k', 's', 'cam', 'base_footprint', at,
                                          valid)
    assert record.status == 'ok' and record.moving and record.pose.shape == (len(at), 7)
    for row, stamp in zip(record.pose, at):
        expected = buf.lookup('base_footprint', 'cam', int(stamp))
        np.testing.assert_allclose(row[:3], expected.translation, atol=1e-12)
        assert (Rotation.from_quat(row[3:]) * expected.rotation.inv()).magnitude() < 1e-9
    quats = record.pose[:, 3:]
    assert quats[0, 3] >= 0 and np.all(np.sum(quats[1:] * quats[:-1], axis=1) > 0)
    assert record.to_json()['invalid_frames'] == 1
    assert extrinsics.check_record('w', {**record.to_json(), 'moving': True}, record.pose,
                                   len(at)) == []


@pytest.mark.parametrize(('frame', 'stamps', 'match'), [
    ('nowhere', [0], "unknown frame 'nowhere'; known frames: 'arm', 'base_footprint'"),
    ('cam', [2000 * MS], "edge 'base_link' -> 'arm' has samples from 0 to 1000000000 ns"),
    ('', [0], 'empty header.frame_id'),
])
def test_a_failed_lookup_is_none_with_the_reason(frame, stamps, match):
    record = extrinsics.camera_extrinsics(_buffer(), '', 'k', 's', frame, 'base_link',
                                          np.array(stamps, np.int64), np.ones(1, bool))
    assert record.status == 'none' and match in record.reason and record.pose is None
    assert extrinsics.check_record('w', record.to_json(), None, 1) == []


def test_no_transforms_is_none_with_why():
    record = extrinsics.camera_extrinsics(None, 'the episode has no transforms', 'k', 's',
                                          'cam', 'base_link', np.zeros(1, np.int64),
                                          np.ones(1, bool))
    assert (record.status, record.reason) == ('none', 'the episode has no transforms')


@pytest.mark.parametrize(('record', 'poses', 'match'), [
    (None, None, 'no extrinsics record'),
    ({'status': 'none'}, None, 'none without a reason'),
    ({'status': 'maybe'}, None, "status 'maybe'"),
    ({'status': 'ok', 'frame': 'c', 'base_frame': 'b'}, None, 'no poses stored'),
    ({'status': 'ok', 'frame': 'c', 'base_frame': 'b'}, [0, 0, 0, 0, 0, 0, 2],
     'quaternion 0 has norm 2'),
    ({'status': 'ok', 'frame': 'c', 'base_frame': 'b'}, [0, 0, np.nan, 0, 0, 0, 1],
     'not finite'),
    ({'status': 'ok', 'frame': 'c', 'base_frame': 'b', 'moving': True},
     np.tile([0, 0, 0, 0, 0, 0, 1.0], (4, 1)), r'shape \(4, 7\), expected \(5, 7\)'),
])
def test_check_record_finds_bad_records(record, poses, match):
    [problem] = extrinsics.check_record('cam', record, poses, 5)
    assert problem.startswith('cam: ') and re.search(match, problem)


# -- end to end ----------------------------------------------------------------------

STREAMS = ('wrist_left_rgb', 'wrist_right_rgb', 'joint_states', 'joint_command',
           'wrist_right_ft', 'lidar')


def _suite(root: Path, transforms: bool, description: bool):
    """The shipped suite cut to the streams used here (a file: the session copies it)."""
    data = yaml.safe_load(default_suite().read_text())
    keep = STREAMS + (('tf', 'tf_static') if transforms else ()) + (
        ('robot_description',) if description else ())
    data['streams'] = [s for s in data['streams'] if s['name'] in keep]
    path = root / f'suite_{transforms}_{description}.yaml'
    path.write_text(yaml.safe_dump(data))
    return load_suite(path)


def _record(root: Path, transforms: bool, description: bool = True) -> Rig:
    """A 2.5 s episode; the latched streams offered as the robot node publishes them."""
    rig = Rig(root / f'rec_{transforms}_{description}',
              _suite(root, transforms, description), preroll_s=0.2)
    rig.run_ms(100)
    if transforms:
        rig.engine.offer(rig.index['/tf_static'], rig.sim.static_transforms(rig.now))
    if description:
        rig.engine.offer(rig.index['/robot_description'],
                         encode.string(default_urdf().read_text(encoding='utf-8')))
    rig.run_ms(300)
    rig.sim.play_cycle(rig.now + 100 * MS)
    rig.engine.start_episode()
    rig.run_ms(2500)
    rig.engine.stop_episode()
    rig.run_ms(200)
    rig.finish()
    return rig


def _config(root: Path, name: str, **calibration) -> Path:
    data = dict(DATASET)
    data['streams'] = {k: v for k, v in DATASET['streams'].items() if k in STREAMS}
    data['streams']['wrist_left_rgb'] = {'key': 'observation.images.wrist_left',
                                         'policy': 'nearest', 'tolerance_ms': 20}
    data['calibration'] = calibration
    path = root / f'{name}.yaml'
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope='module')
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp('extrinsics')
    rig = _record(root, transforms=True)
    config = _config(root, 'in_base', lidar_in_base=True, wrench_in_base=True)
    outputs = {}
    for fmt in ('lerobot', 'hdf5'):
        result = convert_with(config, [rig.session.path], root / fmt, fmt)
        assert result.failed == {} and len(result.converted) == 1
        outputs[fmt] = root / fmt
    return root, rig, outputs


def _truth_in_base_link(rig: Rig, stream: str) -> dict[int, Transform]:
    """The simulator's true optical-frame poses, from base_footprint into base_link."""
    [base] = [t for parent, child, t in load_urdf(default_urdf()).fixed()
              if (parent, child) == ('base_footprint', 'base_link')]
    truth = rig.sim.camera_truth[stream]
    return {int(s): base.inverse() * Transform.from_quat(p[:3], p[3:])
            for s, p in zip(truth.stamps, truth.poses)}


def _errors(poses: np.ndarray, stamps: np.ndarray, truth: dict[int, Transform]
            ) -> tuple[float, float]:
    """Max translation (mm) and rotation (degrees) error of poses against the truth."""
    assert np.all(stamps >= 0) and all(int(s) in truth for s in stamps)
    expected = [truth[int(s)] for s in stamps]
    mm = 1000 * np.linalg.norm(poses[:, :3] - [t.translation for t in expected], axis=1)
    deg = np.degrees((Rotation.from_quat(poses[:, 3:]) * Rotation.from_quat(
        [t.quat for t in expected]).inv()).magnitude())
    return float(mm.max()), float(deg.max())


def test_moving_camera_extrinsics_are_the_true_poses_in_both_formats(recorded):
    root, rig, outputs = recorded
    assert validate(outputs['lerobot']) == [] and validate(outputs['hdf5']) == []
    truth = _truth_in_base_link(rig, 'wrist_right_rgb')
    out = outputs['lerobot']
    doc = json.loads((out / SIDECAR / 'calibration.json').read_text())
    record = doc['cameras'][KEY]['extrinsics']
    feature = 'observation.extrinsics.images_wrist_right'
    assert record == {'frame': 'wrist_right_rgb_link', 'base_frame': 'base_link',
                      'status': 'ok', 'moving': True, 'reason': None, 'feature': feature,
                      'frames': record['frames'], 'invalid_frames': 0}
    info = json.loads((out / 'meta' / 'info.json').read_text())
    assert info['features'][feature] == {'dtype': 'float32', 'shape': [7],
                                         'names': ['x', 'y', 'z', 'qx', 'qy', 'qz', 'qw']}
    table = pq.read_table(out / 'data' / 'chunk-000' / 'file-000.parquet')
    column = table[feature].combine_chunks()
    parquet = column.flatten().to_numpy().reshape(-1, 7).astype(np.float64)
    stamps = np.load(out / SIDECAR / 'stamps.npz')
    used = stamps['wrist_right_rgb.stamp_ns']
    assert len(parquet) == len(used) == record['frames'] == info['total_frames'] > 60
    full = stamps['wrist_right_rgb.extrinsics']
    assert full.dtype == np.float64 and full.shape == (len(used), 7)
    with h5py.File(outputs['hdf5'] / 'dataset.hdf5', 'r') as h5:
        demo = h5['data/demo_0']
        dataset = demo['calibration/images_wrist_right/extrinsics']
        assert dataset.dtype == np.float64 and bool(dataset.attrs['moving'])
        assert dataset.attrs['frame'] == 'wrist_right_rgb_link'
        assert dataset.attrs['status'] == 'ok' and dataset.attrs['base_frame'] == 'base_link'
        hdf5, hdf5_used = dataset[()], demo['stamps/wrist_right_rgb.stamp_ns'][()]
        assert 'extrinsics_images_wrist_right' not in demo['obs']
        assert 'wrist_right_rgb.extrinsics' not in demo['stamps']
    for poses, at in ((parquet, used), (full, used), (hdf5, hdf5_used)):
        mm, deg = _errors(poses, at, truth)
        assert mm < 1.0 and deg < 0.1, (mm, deg)
    assert _errors(full, used, truth) < (1e-6, 1e-6)       # float64: exact up to rounding


def test_wrench_and_lidar_in_base(recorded):
    root, rig, outputs = recorded
    out = outputs['lerobot']
    table = pq.read_table(out / 'data' / 'chunk-000' / 'file-000.parquet')

    def rows(key):
        return table[key].combine_chunks().flatten().to_numpy().reshape(len(table), -1)

    sensor, base = rows('observation.wrench.right'), rows('observation.wrench_base.right')
    stamps = np.load(out / SIDECAR / 'stamps.npz')
    instants = stamps['wrist_right_rgb.stamp_ns'] + stamps['wrist_right_rgb.residual_ns']
    rotations = Rotation.from_quat([rig.sim.true_pose('wrist_right_ft_link', int(t)).quat
                                    for t in instants])      # base_link is level: same axes
    np.testing.assert_allclose(base[:, :3], rotations.apply(sensor[:, :3]), atol=1e-3)
    np.testing.assert_allclose(base[:, 3:], rotations.apply(sensor[:, 3:]), atol=1e-3)
    # The same scans converted in the sensor's frame, moved with the LiDAR's true pose.
    plain = root / 'lidar_in_sensor'
    convert_with(_config(root, 'sensor'), [rig.session.path], plain, 'lerobot')
    [base_joint] = [t for parent, child, t in load_urdf(default_urdf()).fixed()
                    if (parent, child) == ('base_footprint', 'base_link')]
    with h5py.File(out / SIDECAR / 'lidar.h5', 'r') as moved, \
            h5py.File(plain / SIDECAR / 'lidar.h5', 'r') as lidar:
        assert (moved.attrs['frame'], moved.attrs['sensor_frame']) == ('base_link', 'lidar_link')
        assert lidar.attrs['frame'] == 'lidar_link'
        offsets = lidar['offsets'][()]
        np.testing.assert_array_equal(offsets, moved['offsets'][()])
        scan_stamps = {int(s): int(t) for s, t in zip(lidar['frame_scan'][()],
                                                      stamps['lidar.stamp_ns']) if t >= 0}
        assert len(scan_stamps) == len(offsets) - 1 >= 2
        for scan, stamp in scan_stamps.items():
            pose = base_joint.inverse() * rig.sim.true_pose('lidar_link', stamp)
            part = slice(offsets[scan], offsets[scan + 1])
            np.testing.assert_allclose(moved['points'][part],
                                       pose.apply(lidar['points'][part]), atol=1e-4)


def test_an_unknown_base_frame_still_converts_with_none(recorded):
    root, rig, _ = recorded
    config = _config(root, 'nowhere', base_frame='nowhere_link', lidar_in_base=True,
                     wrench_in_base=True)
    out = root / 'nowhere'
    result = convert_with(config, [rig.session.path], out, 'lerobot')
    assert result.failed == {} and len(result.converted) == 1
    assert validate(out) == []
    doc = json.loads((out / SIDECAR / 'calibration.json').read_text())
    for key in (KEY, 'observation.images.wrist_left'):
        record = doc['cameras'][key]['extrinsics']
        assert record['status'] == 'none' and record['base_frame'] == 'nowhere_link'
        assert record['reason'].startswith("unknown frame 'nowhere_link'; known frames:")
    info = json.loads((out / 'meta' / 'info.json').read_text())
    assert not [k for k in info['features'] if k.startswith(('observation.extrinsics.',
                                                             'observation.wrench_base.'))]
    [summary] = json.loads((out / 'humanoid_data' / 'report.json').read_text())
    assert any(n.startswith(f'{KEY}: no extrinsics: unknown frame') for n in summary['notes'])
    with h5py.File(out / SIDECAR / 'lidar.h5', 'r') as lidar:
        assert lidar.attrs['frame'] == 'lidar_link'


def test_without_tf_the_urdf_gives_the_extrinsics(tmp_path):
    """No /tf in the suite: forward kinematics of the recorded joint states and URDF."""
    rig = _record(tmp_path, transforms=False)
    config = _config(tmp_path, 'plain')
    out = tmp_path / 'h5'
    result = convert_with(config, [rig.session.path], out, 'hdf5')
    assert result.failed == {} and validate(out) == []
    with h5py.File(out / 'dataset.hdf5', 'r') as h5:
        demo = h5['data/demo_0']
        dataset = demo['calibration/images_wrist_right/extrinsics']
        assert dataset.attrs['status'] == 'ok' and bool(dataset.attrs['moving'])
        poses, used = dataset[()], demo['stamps/wrist_right_rgb.stamp_ns'][()]
    # The joint states are measured (noisy), so the poses follow them, not the truth.
    mm, deg = _errors(poses, used, _truth_in_base_link(rig, 'wrist_right_rgb'))
    assert mm < 2 and deg < 0.3, (mm, deg)     # measured: 0.26 mm, 0.03 degrees


@pytest.mark.parametrize(('damage', 'expected'), [
    (lambda r: r.pop('extrinsics'), 'no extrinsics record'),
    (lambda r: r['extrinsics'].update(status='none', reason=None), 'none without a reason'),
    (lambda r: r['extrinsics'].update(moving=False, translation=[0, 0, 0],
                                      quaternion_xyzw=[0, 0, 0, 2]), 'has norm 2'),
    (lambda r: r['extrinsics'].update(frame=None), 'no frame or base_frame'),
])
def test_a_damaged_extrinsics_record_is_named(recorded, tmp_path, damage, expected):
    out = tmp_path / 'lerobot'
    shutil.copytree(recorded[2]['lerobot'], out)
    path = out / SIDECAR / 'calibration.json'
    doc = json.loads(path.read_text())
    damage(doc['cameras'][KEY])
    path.write_text(json.dumps(doc))
    problems = [p for p in validate(out) if 'checksum' not in p and 'sha256' not in p]
    assert any(p.startswith(f'{SIDECAR / "calibration.json"}: {KEY}: ') and expected in p
               for p in problems), problems


def test_damaged_hdf5_extrinsics_are_named(recorded, tmp_path):
    path = tmp_path / 'dataset.hdf5'
    shutil.copyfile(recorded[2]['hdf5'] / 'dataset.hdf5', path)
    with h5py.File(path, 'a') as h5:
        group = h5['data/demo_0/calibration/images_wrist_right']
        poses, attrs = group['extrinsics'][()], dict(group['extrinsics'].attrs)
        del group['extrinsics']
        group.create_dataset('extrinsics', data=poses[:-1]).attrs.update(attrs)
        left = h5['data/demo_0/calibration/images_wrist_left/extrinsics']
        left[3, 6] = 5.0
    problems = validate(path)
    where = f'{path}: demo_0/calibration/images_'
    assert any(p.startswith(f'{where}wrist_right: extrinsics: poses of shape')
               for p in problems), problems
    assert any(p.startswith(f'{where}wrist_left: extrinsics: quaternion 3 has norm')
               for p in problems), problems


def test_episodes_with_and_without_extrinsics_pack_together(recorded, tmp_path):
    """An episode without transforms: none, and NaN rows in the shared LeRobot column."""
    root, rig, _ = recorded
    bare = _record(tmp_path, transforms=False, description=False)
    out = tmp_path / 'mixed'
    result = convert_with(_config(root, 'in_base_too', lidar_in_base=True,
                                  wrench_in_base=True),
                          [rig.session.path, bare.session.path], out, 'lerobot')
    assert result.failed == {} and len(result.converted) == 2
    assert validate(out) == []
    second = json.loads((out / 'humanoid_data' / 'episode_000001' / 'calibration.json'
                         ).read_text())['cameras'][KEY]['extrinsics']
    assert second['status'] == 'none'
    assert second['reason'] == ('the episode has no transforms (no /tf and no robot '
                                'description: no extrinsics)')
    table = pq.read_table(out / 'data' / 'chunk-000' / 'file-000.parquet')
    poses = table['observation.extrinsics.images_wrist_right'].combine_chunks()
    poses = poses.flatten().to_numpy().reshape(-1, 7)
    episode = table['episode_index'].to_numpy()
    assert np.isfinite(poses[episode == 0]).all() and np.isnan(poses[episode == 1]).all()
    wrench = table['observation.wrench_base.right'].combine_chunks().flatten().to_numpy()
    assert np.isnan(wrench.reshape(-1, 6)[episode == 1]).all()
