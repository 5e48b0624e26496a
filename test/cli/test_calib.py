"""``humanoid-data calib``: diff (intrinsics, URDF mounts, /tf_static) and check."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import yaml

import test.dataset.recording as recording
from humanoid_data.bag import encode
from humanoid_data.calibration.diff import CalibrationSnapshot, compare, differs, read_snapshot
from humanoid_data.cli.main import main
from humanoid_data.sim.humanoid import Outgoing, SimulatedHumanoid

SUITE = recording.REPO / 'config' / 'humanoid.yaml'
STOCK_URDF = (recording.REPO / 'config' / 'humanoid.urdf').read_text()
MOUNT = 'wrist_right_camera_mount'
STOCK_ORIGIN = '<origin xyz="0.04 0 0.02" rpy="0 1.0 0"/>'
TURNED_ORIGIN = f'<origin xyz="0.04 0 0.02" rpy="0 {1.0 + math.radians(1.0)!r} 0"/>'


def _turned(urdf: str) -> str:
    """``urdf`` with the right wrist camera's mount pitched up by 1 degree."""
    head, tail = urdf.split(f'<joint name="{MOUNT}"', 1)
    assert STOCK_ORIGIN in tail.split('</joint>', 1)[0]
    return f'{head}<joint name="{MOUNT}"' + tail.replace(STOCK_ORIGIN, TURNED_ORIGIN, 1)


def _with_description(urdf: str) -> type[SimulatedHumanoid]:
    """The simulated humanoid, publishing ``urdf`` on /robot_description once first."""

    class Described(SimulatedHumanoid):
        published = False

        def step(self, now_ns: int) -> list[Outgoing]:
            out = super().step(now_ns)
            if not self.published:
                self.published = True
                out.insert(0, Outgoing(now_ns, 0, '/robot_description', now_ns,
                                       encode.string(urdf)))
            return out

    return Described


def _record(root, name, urdf):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recording, 'KEEP', recording.KEEP + ('wrist_right_camera_info',
                                                           'robot_description'))
        patch.setattr(recording, 'SimulatedHumanoid', _with_description(urdf))
        session, _ = recording.record(root, name, SUITE, episodes=1)
    return session


@pytest.fixture(scope='module')
def sessions(tmp_path_factory):
    """A session with the stock URDF, its copy, and one with the wrist camera turned 1°."""
    root = tmp_path_factory.mktemp('calib')
    stock = _record(root, 'stock', STOCK_URDF)
    copy = root / 'copy'
    shutil.copytree(stock, copy)
    turned = _record(root, 'turned', _turned(STOCK_URDF))
    return stock, copy, turned


def test_identical_sessions_have_no_differences(sessions, capsys):
    stock, copy, _ = sessions
    assert main(['calib', 'diff', str(stock), str(copy)]) == 0
    out = capsys.readouterr().out
    assert 'no differences' in out
    snapshot = read_snapshot(stock)
    assert '/camera/wrist_right/camera_info' in snapshot.cameras
    assert snapshot.urdf == STOCK_URDF


def test_a_turned_sensor_mount_is_named_with_its_angle(sessions, capsys):
    stock, _, turned = sessions
    assert main(['calib', 'diff', str(stock), str(turned), '--json']) == 1
    body = json.loads(capsys.readouterr().out)
    assert body['differs'] is True
    joints = [f for f in body['findings'] if f['kind'] == 'joint']
    assert [f['item'] for f in joints] == [MOUNT]
    assert joints[0]['rotation_deg'] == pytest.approx(1.0, abs=1e-6)
    assert joints[0]['translation_mm'] == pytest.approx(0.0, abs=1e-9)
    assert any(f['what'] == 'sha256' and f['differs'] for f in body['findings'])
    # Within a looser tolerance the mount has not moved; the digest still differs.
    assert main(['calib', 'diff', str(stock), str(turned), '--json',
                 '--tolerance-deg', '2']) == 1
    body = json.loads(capsys.readouterr().out)
    assert not [f for f in body['findings'] if f['kind'] == 'joint']


def test_a_changed_focal_length_is_reported(sessions):
    stock, _, _ = sessions
    a = read_snapshot(stock)
    topic = '/camera/wrist_right/camera_info'
    model = a.cameras[topic]
    k = np.array(model.k, copy=True)
    k[0, 0] *= 1.01
    b = CalibrationSnapshot(a.episode, {topic: model._replace(k=k)}, a.urdf)
    changed = [f for f in compare(a, b) if f.differs]
    assert [(f.item, f.what) for f in changed] == [(topic, 'K fx')]
    assert changed[0].old == f'{model.k[0, 0]:.6g}'
    assert changed[0].new == f'{k[0, 0]:.6g}'


def test_a_side_without_camera_info_or_description_says_so(sessions):
    stock, _, _ = sessions
    a = read_snapshot(stock)
    b = CalibrationSnapshot(a.episode, {}, None)
    changed = [f for f in compare(a, b) if f.differs]
    assert {f.kind for f in changed} == {'camera', 'urdf'}
    assert all('no ' in f.new for f in changed)


def test_links_and_joints_added_or_removed(sessions):
    stock, _, _ = sessions
    a = read_snapshot(stock)
    extra = STOCK_URDF.replace(
        '</robot>', '  <link name="extra_link"/>\n  <joint name="extra_mount" type="fixed">'
        '<parent link="wrist_right_camera_link"/><child link="extra_link"/></joint>\n</robot>')
    b = CalibrationSnapshot(a.episode, a.cameras, extra)
    changed = {(f.kind, f.item) for f in compare(a, b) if f.differs}
    assert ('link', 'extra_link') in changed
    assert ('joint', 'extra_mount') in changed


def test_missing_path_and_not_an_episode_exit_2(sessions, tmp_path, capsys):
    stock, _, _ = sessions
    missing = tmp_path / 'nowhere'
    assert main(['calib', 'diff', str(stock), str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert main(['calib', 'diff', str(empty), str(stock)]) == 2
    assert str(empty) in capsys.readouterr().err


# -- extrinsics (/tf_static) and the calibration checks ----------------------------------

@pytest.fixture(scope='module')
def episodes(tmp_path_factory):
    """Episodes with /tf_static: healthy, its LiDAR knocked by 1 degree, recalibrated."""
    from humanoid_data.sim.body import MountFault
    from test.calibration.episodes import record_episode
    root = tmp_path_factory.mktemp('extrinsics')
    healthy = record_episode(root / 'healthy')
    knocked = record_episode(root / 'knocked',
                             {'lidar_mount': MountFault(rpy_deg=(0.0, 1.0, 0.0))})
    recalibrated = record_episode(
        root / 'recalibrated',
        published={'lidar_mount': MountFault(rpy_deg=(0.0, 0.5, 0.0), xyz_mm=(3.0, 0.0, 4.0))})
    return healthy, knocked, recalibrated


def test_tf_static_edges_are_compared_in_mm_and_degrees(episodes, capsys):
    healthy, knocked, recalibrated = episodes
    snapshot = read_snapshot(healthy)
    assert snapshot.static is not None
    assert snapshot.static['lidar_link'][0] == 'torso_link'
    # A mount fault moves the sensor, not what /tf_static says: nothing differs.
    assert main(['calib', 'diff', str(healthy), str(knocked)]) == 0
    assert 'no differences' in capsys.readouterr().out
    assert main(['calib', 'diff', str(healthy), str(recalibrated), '--json']) == 1
    body = json.loads(capsys.readouterr().out)
    moved = [f for f in body['findings'] if f['kind'] == 'tf_static' and f['differs']]
    assert [f['item'] for f in moved] == ['lidar_link']
    assert moved[0]['translation_mm'] == pytest.approx(5.0, abs=1e-6)
    assert moved[0]['rotation_deg'] == pytest.approx(0.5, abs=1e-6)
    assert 'torso_link -> lidar_link moved 5.000 mm, 0.500 deg' in moved[0]['what']


def test_tf_static_edges_added_removed_or_reparented(episodes):
    healthy, _, _ = episodes
    a = read_snapshot(healthy)
    static = dict(a.static)
    parent, pose = static.pop('lidar_link')
    static['imu_link'] = ('base_link', static['imu_link'][1])
    static['extra_link'] = (parent, pose)
    b = CalibrationSnapshot(a.episode, a.cameras, a.urdf, static)
    changed = {(f.item, f.what) for f in compare(a, b) if f.differs}
    assert changed == {('lidar_link', 'edge'), ('imu_link', 'parent'), ('extra_link', 'edge')}
    none = CalibrationSnapshot(a.episode, a.cameras, a.urdf, None)
    assert [(f.kind, f.new) for f in compare(a, none) if f.differs] == [
        ('tf_static', 'no /tf_static')]
    assert not differs(compare(none, none))


def test_calib_check_flags_the_knocked_lidar_only(episodes, capsys):
    healthy, knocked, _ = episodes
    assert main(['calib', 'check', str(healthy)]) == 0
    out = capsys.readouterr().out
    assert 'lidar_depth_icp_deg' in out and 'no flags' in out
    assert main(['calib', 'check', str(healthy.parent), str(knocked), '--json']) == 1
    body = json.loads(capsys.readouterr().out)
    assert [e['episode'] for e in body['episodes']] == [str(healthy), str(knocked)]
    assert body['episodes'][0]['flags'] == []
    assert any('quality.max_calibration_angle_deg' in f for f in body['episodes'][1]['flags'])
    assert body['flagged'] == 1 and body['failed'] == 0


def test_calib_check_reads_gates_from_dataset_yaml(episodes, tmp_path, capsys):
    _, knocked, _ = episodes
    config = tmp_path / 'dataset.yaml'
    config.write_text(yaml.safe_dump({
        'quality': {'max_calibration_angle_deg': 0, 'max_lidar_depth_residual_m': 0,
                    'max_lidar_edge_px': 0, 'max_hand_eye_px': 0}}))
    assert main(['calib', 'check', str(knocked), '--config', str(config)]) == 0
    capsys.readouterr()
    assert main(['calib', 'check', str(tmp_path / 'nowhere')]) == 2
    assert 'nowhere' in capsys.readouterr().err
