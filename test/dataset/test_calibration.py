"""Each camera's intrinsics in the converted datasets (LeRobot sidecar, HDF5 group).

The shared recording fixture leaves camera_info out; these sessions are recorded with the
wrist camera's CameraInfo stream as well (``KEEP`` extended here only).
"""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import yaml

from humanoid_data.bag import encode
from humanoid_data.bag.decode import decode
from humanoid_data.core.config import Modality, load_suite
from humanoid_data.core.quality import QualityReport
from humanoid_data.dataset import calibration
from humanoid_data.dataset.config import parse_dataset_config
from humanoid_data.dataset.episode import FramePlan
from humanoid_data.dataset.validate import validate
from humanoid_data.errors import ConfigError
from humanoid_data.sim.faults import StreamFault
from humanoid_data.sim.scene import WristView
from test.dataset import recording
from test.dataset.recording import DATASET, REPO, convert_with, record

pytest.importorskip('av')

KEY = 'observation.images.wrist_right'
INFO_TOPIC = '/camera/wrist_right/camera_info'
SIDECAR = 'humanoid_data/episode_000000/calibration.json'


def _record(root, name, faults=None):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recording, 'KEEP', recording.KEEP + ('wrist_right_camera_info',))
        return record(root, name, REPO / 'config' / 'humanoid.yaml', faults=faults)


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp('calibration')
    session, info = _record(root, 'with_info')
    config = root / 'dataset.yaml'
    config.write_text(yaml.safe_dump(DATASET))
    outputs = {}
    for fmt in ('lerobot', 'hdf5'):
        result = convert_with(config, [session], root / fmt, fmt)
        assert result.failed == {} and len(result.converted) == 1
        outputs[fmt] = root / fmt
    return root, info, config, outputs


def _sidecar(out):
    return json.loads((out / SIDECAR).read_text())


def test_intrinsics_are_those_the_bag_holds_in_both_formats(converted):
    _, info, _, outputs = converted
    sent = decode(info['sent'][INFO_TOPIC][0], 'sensor_msgs/msg/CameraInfo')
    assert validate(outputs['lerobot']) == []
    assert validate(outputs['hdf5']) == []
    doc = _sidecar(outputs['lerobot'])
    assert doc['schema'] == calibration.SCHEMA and list(doc['cameras']) == [KEY]
    record_ = doc['cameras'][KEY]
    assert record_['status'] == 'ok' and record_['changed'] is False
    assert (record_['width'], record_['height']) == (320, 240)
    assert record_['camera_info_stream'] == 'wrist_right_camera_info'
    assert record_['frame_id'] == sent.frame_id and record_['units'] == 'pixels'
    assert record_['distortion_model'] == 'plumb_bob'
    np.testing.assert_array_equal(record_['K'], sent.k)
    np.testing.assert_array_equal(record_['D'], np.zeros(5))
    np.testing.assert_array_equal(record_['P'], sent.p)
    with h5py.File(outputs['hdf5'] / 'dataset.hdf5', 'r') as h5:
        group = h5['data/demo_0/calibration/images_wrist_right']
        assert group.attrs['status'] == 'ok' and group.attrs['key'] == KEY
        assert (group.attrs['width'], group.attrs['height']) == (320, 240)
        np.testing.assert_array_equal(group['K'][()], sent.k)
        np.testing.assert_array_equal(group['P'][()], sent.p)
        assert group['D'].shape == (5,)
        # No /tf, no /tf_static, no robot description in this suite: no extrinsics, said.
        pose = group['extrinsics']
        assert pose.shape == (0, 7) and pose.attrs['status'] == 'none'
        assert pose.attrs['reason'].startswith('the episode has no transforms')
    assert record_['extrinsics'] == {
        'frame': 'wrist_right_rgb_link', 'base_frame': 'base_link', 'status': 'none',
        'moving': False, 'reason': 'the episode has no transforms (no /tf and no robot '
        'description: no extrinsics)'}
    # The episode summary does not repeat them.
    summary = json.loads((outputs['lerobot'] / SIDECAR).with_name('episode.json').read_text())
    assert 'calibration' not in summary


def test_wrist_k_is_the_simulators_true_camera(converted):
    """K is the pinhole the wrist images were rendered with (sim/scene.py WristView)."""
    _, _, _, outputs = converted
    camera = WristView(320, 240).camera
    truth = [[camera.f, 0, (camera.width - 1) / 2], [0, camera.f, (camera.height - 1) / 2],
             [0, 0, 1]]
    np.testing.assert_allclose(_sidecar(outputs['lerobot'])['cameras'][KEY]['K'], truth)


@pytest.mark.parametrize('damage, expected', [
    (lambda r: r.update(K=[[1.0, 0.0, 2.0], [0.0, 1.0, 2.0]]), 'K is not a finite 3x3'),
    (lambda r: r['K'][0].__setitem__(0, 0.0), 'focal lengths fx 0'),
    (lambda r: r['K'][1].__setitem__(1, -5.0), 'must be > 0'),
    (lambda r: r['K'][0].__setitem__(2, 400.0), 'principal point (400'),
    (lambda r: r.update(width=640, height=480), 'the video is 320x240'),
    (lambda r: r.update(K=[[float('nan')] * 3] * 3), 'K is not a finite 3x3'),
    (lambda r: r.clear(), 'status None'),
])
def test_a_damaged_sidecar_is_named_with_its_camera(converted, tmp_path, damage, expected):
    out = tmp_path / 'lerobot'
    shutil.copytree(converted[3]['lerobot'], out)
    doc = _sidecar(out)
    damage(doc['cameras'][KEY])
    (out / SIDECAR).write_text(json.dumps(doc))
    problems = [p for p in validate(out) if 'checksum' not in p and 'sha256' not in p]
    assert any(p.startswith(f'{SIDECAR}: {KEY}: ') and expected in p for p in problems), \
        problems


def test_a_missing_record_or_file_is_reported(converted, tmp_path):
    out = tmp_path / 'lerobot'
    shutil.copytree(converted[3]['lerobot'], out)
    doc = _sidecar(out)
    doc['cameras'].clear()
    (out / SIDECAR).write_text(json.dumps(doc))
    assert f'{SIDECAR}: {KEY}: no intrinsics and no "none" record' in validate(out)
    (out / SIDECAR).unlink()
    assert any(p.startswith(f'{SIDECAR}: missing') and KEY in p for p in validate(out))


def test_a_damaged_hdf5_calibration_is_named(converted, tmp_path):
    path = tmp_path / 'dataset.hdf5'
    shutil.copyfile(converted[3]['hdf5'] / 'dataset.hdf5', path)
    with h5py.File(path, 'a') as h5:
        group = h5['data/demo_0/calibration/images_wrist_right']
        k = group['K'][()]
        k[0, 0] = -1.0
        group['K'][...] = k
        group.attrs['height'] = 480
    problems = validate(path)
    where = f'{path}: demo_0/calibration/images_wrist_right: {KEY}: '
    assert any(p.startswith(where) and 'fx -1' in p for p in problems), problems
    assert any(p.startswith(where) and 'the video is 320x240' in p for p in problems)
    with h5py.File(path, 'a') as h5:
        del h5['data/demo_0/calibration/images_wrist_right']
    assert any('images_wrist_right: missing' in p for p in validate(path))


def test_an_episode_without_camera_info_converts_with_a_none_record(tmp_path):
    silent = {'wrist_right_camera_info': StreamFault(silent_after_s=0.0)}
    session, info = _record(tmp_path, 'silent', faults=silent)
    assert not info['sent'].get(INFO_TOPIC)
    config = tmp_path / 'dataset.yaml'
    config.write_text(yaml.safe_dump(DATASET))
    for fmt in ('lerobot', 'hdf5'):
        out = tmp_path / fmt
        result = convert_with(config, [session], out, fmt)
        assert result.failed == {} and len(result.converted) == 1
        assert validate(out) == []
    record_ = _sidecar(tmp_path / 'lerobot')['cameras'][KEY]
    assert record_['status'] == 'none' and 'K' not in record_
    assert record_['reason'] == f'{INFO_TOPIC}: no CameraInfo message in the bag'
    with h5py.File(tmp_path / 'hdf5' / 'dataset.hdf5', 'r') as h5:
        group = h5['data/demo_0/calibration/images_wrist_right']
        assert group.attrs['status'] == 'none' and 'K' not in group
        assert INFO_TOPIC in group.attrs['reason']


def test_pairing_follows_the_suite():
    suite = load_suite(REPO / 'config' / 'humanoid.yaml')
    streams = {s.name: s for s in suite.streams}
    paired = {name: calibration.paired_info(suite, streams[name]).name
              for name in ('head_rgb', 'head_depth', 'wrist_left_rgb', 'wrist_right_rgb')}
    assert paired == {'head_rgb': 'head_camera_info', 'head_depth': 'head_camera_info',
                      'wrist_left_rgb': 'wrist_left_camera_info',
                      'wrist_right_rgb': 'wrist_right_camera_info'}
    without = type(suite)(suite.robot, suite.joints, tuple(
        s for s in suite.streams if s.modality != Modality.CAMERA_INFO))
    assert calibration.paired_info(without, streams['head_rgb']) is None


class _Reader:
    """The part of EpisodeReader that episode_intrinsics uses, over given messages."""

    def __init__(self, suite, topic, messages):
        self.suite = suite
        self.messages = messages
        header = np.array([decode(m, 'sensor_msgs/msg/CameraInfo').header_ns
                           for m in messages], dtype=np.int64)
        self.samples = {topic: SimpleNamespace(arrays=lambda: (header, header))}

    def read(self, topic, wanted):
        for index, raw in enumerate(self.messages):
            if index in wanted:
                yield index, decode(raw, 'sensor_msgs/msg/CameraInfo')


def _episode(messages, window=(100, 200)):
    suite = load_suite(REPO / 'config' / 'humanoid.yaml')
    plan = FramePlan('wrist_right_rgb', '/camera/wrist_right/image_raw', KEY, Modality.RGB,
                     np.zeros(1, np.int64), np.ones(1, bool), 320, 240)
    return SimpleNamespace(reader=_Reader(suite, INFO_TOPIC, messages), frames=[plan],
                           window_ns=window, quality=QualityReport(), notes=[])


def test_intrinsics_that_change_keep_the_first_and_flag_it():
    messages = [encode.camera_info(stamp, 'cam', 320, 240, f, f)
                for stamp, f in ((90, 100.0), (120, 160.0), (150, 161.0), (180, 160.0))]
    data = _episode(messages)
    records = calibration.episode_intrinsics(data)
    assert records[KEY]['K'][0][0] == 160.0 and records[KEY]['changed'] is True
    assert records[KEY]['samples'] == 3      # those stamped inside the window
    assert [f for f in data.quality.flags if f.startswith('intrinsics_changed: ')]
    assert data.quality.verdict == 'flagged'


def test_a_latched_camera_info_before_the_window_is_used_and_noted():
    data = _episode([encode.camera_info(50, 'cam', 320, 240, 160.0, 160.0)])
    records = calibration.episode_intrinsics(data)
    assert records[KEY]['status'] == 'ok' and data.quality.flags == []
    assert any('before its start' in n for n in data.notes)


def test_uncalibrated_or_other_size_camera_info_is_no_intrinsics():
    zero = calibration.episode_intrinsics(_episode([encode.camera_info(150, 'c', 320, 240,
                                                                       0.0, 0.0)]))
    assert zero[KEY]['status'] == 'none' and 'uncalibrated' in zero[KEY]['reason']
    other = calibration.episode_intrinsics(_episode([encode.camera_info(150, 'c', 640, 480,
                                                                        1.0, 1.0)]))
    assert other[KEY]['status'] == 'none' and '640x480' in other[KEY]['reason']


def test_a_camera_info_stream_is_not_a_dataset_key():
    suite = load_suite(REPO / 'config' / 'humanoid.yaml')
    config = parse_dataset_config({'fps': 30, 'streams': {
        'wrist_right_camera_info': {'key': 'observation.intrinsics'}}}, 'dataset.yaml')
    with pytest.raises(ConfigError, match=r'dataset.yaml: streams.wrist_right_camera_info: '
                                          'a camera_info stream is not a dataset key'):
        config.check_against(suite, 'episode_0001')
