"""Bags from other recorders convert with one command and no project files.

rosbag2 MCAP and SQLite3 folders, a single .mcap and a ROS 1 .bag, written by
``other_bags`` under their own topic names, with receive times out of stamp order and
missing camera frames: each converts without suite.yaml, dataset.yaml or episode.yaml,
and every frame matches the generator's truth.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import yaml

from humanoid_data.bag.given_labels import GivenLabels, load_label_map
from humanoid_data.bag.suite_guess import guess_suite
from humanoid_data.cli.main import main
from humanoid_data.core.config import Modality, load_suite
from humanoid_data.dataset.batch import GUESSED_CONFIG, convert
from humanoid_data.dataset.config import load_dataset_config
from humanoid_data.dataset.episode_labels import in_stamp_order
from humanoid_data.dataset.validate import validate
from humanoid_data.errors import ConfigError
from test.dataset import other_bags
from test.dataset.other_bags import T0, Truth
from test.dataset.recording import REPO

KINDS = {'mcap_folder': 'run_mcap', 'sqlite3_folder': 'run_sqlite', 'mcap_file': 'run.mcap',
         'ros1': 'run.bag'}


@pytest.fixture(scope='module')
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp('other_bags')
    truths = {
        'run_mcap': other_bags.write_rosbag2(root / 'run_mcap', 'mcap', seed=1),
        'run_sqlite': other_bags.write_rosbag2(root / 'run_sqlite', 'sqlite3', seed=2),
        'run.mcap': other_bags.write_mcap_file(root / 'run.mcap', seed=3),
        'run.bag': other_bags.write_ros1(root / 'run.bag', seed=4),
    }
    return root, truths


def _convert(sources, out, fmt='hdf5', **kwargs):
    return convert(sources, out, fmt, None, REPO / 'config' / 'phases.yaml',
                   REPO / 'config' / 'contact.yaml', 1, **kwargs)


@pytest.fixture(scope='module')
def converted(bags, tmp_path_factory):
    root, _ = bags
    out = tmp_path_factory.mktemp('converted')
    result = _convert([root], out)
    return out, result


def _demos(h5):
    return {h5[f'data/{d}'].attrs['source_path'].split('/')[-1]: h5[f'data/{d}']
            for d in h5['data']}


def test_every_kind_of_bag_is_found_and_converted_without_project_files(bags, converted):
    root, truths = bags
    out, result = converted
    assert sorted(s.folder.name for s in result.sources.values()) == sorted(truths)
    assert not result.failed and not result.rejected
    assert len(result.converted) == 4
    assert result.config_path == out / '.staging' / GUESSED_CONFIG
    assert validate(out) == []
    with h5py.File(out / 'dataset.hdf5') as h5:
        demos = _demos(h5)
        assert sorted(demos) == sorted(truths)
        verified = {name: demo.attrs['source_verified'] for name, demo in demos.items()}
    # rosbags writes MCAP chunks without CRCs; SQLite3 and ROS 1 have none to check.
    assert set(verified.values()) == {'no checksums'}


@pytest.mark.parametrize('name', sorted(KINDS.values()))
def test_frames_match_the_generators_truth(bags, converted, name):
    truth: Truth = bags[1][name]
    out, _ = converted
    with h5py.File(out / 'dataset.hdf5') as h5:
        demo = _demos(h5)[name]
        images = demo['obs/images_front'][()]
        state = demo['obs/state'][()]
        actions = demo['actions'][()]
        camera_ns = demo['stamps/front_cam_color.stamp_ns'][()]
        camera_valid = demo['stamps/front_cam_color.valid'][()]
        timestamps = demo['timestamps'][()]
    instants = T0 + np.round(timestamps * 1e9).astype(np.int64)   # the camera starts at T0
    sent = np.array(truth.camera_ns)
    for k, instant in enumerate(instants):
        nearest = sent[np.argmin(np.abs(sent - instant))]
        if abs(nearest - instant) <= 40_000_000:      # 0.6 of the 15 Hz period
            assert camera_valid[k] and camera_ns[k] == nearest
            assert (images[k] == truth.grey[int(nearest)]).all()
        else:
            assert not camera_valid[k]
    missed = [k for k in range(len(instants)) if not camera_valid[k]]
    assert set(truth.missing) <= set(missed)
    # Positions are linear in time: interpolation gives the truth at every instant.
    np.testing.assert_allclose(state[:, :3], Truth.position(instants), atol=1e-5)
    # The action is the last command stamped at or before the frame.
    commands = np.array(truth.command_ns)
    for k, instant in enumerate(instants):
        index = int(np.searchsorted(commands, instant, side='right')) - 1
        if index >= 0:
            np.testing.assert_allclose(actions[k], Truth.command(index), atol=1e-6)


def test_the_guessed_suite_measures_what_the_bag_tells(bags):
    root, _ = bags
    guess = guess_suite(root / 'run.bag')
    suite = guess.suite()
    streams = {s.topic: s for s in suite.streams}
    camera = streams[other_bags.CAMERA]
    assert (camera.modality, camera.width, camera.height, camera.encoding, camera.rate_hz) \
        == (Modality.RGB, other_bags.WIDTH, other_bags.HEIGHT, 'rgb8', 15.0)
    assert streams[other_bags.STATE].modality == Modality.JOINT_STATE
    assert streams[other_bags.STATE].rate_hz == 100.0
    assert streams[other_bags.COMMAND].modality == Modality.COMMAND
    assert streams[other_bags.WRENCH].rate_hz == 200.0
    assert suite.joints == other_bags.JOINTS


def test_suite_from_bag_writes_files_that_convert_the_bag(bags, tmp_path, capsys):
    root, _ = bags
    assert main(['suite-from-bag', str(root / 'run_sqlite'), '--out', str(tmp_path)]) == 0
    suite_text = (tmp_path / 'suite.yaml').read_text()
    assert '# sensor_msgs/msg/Image, 15.00 Hz' in suite_text       # each guess commented
    suite = load_suite(tmp_path / 'suite.yaml')
    config = load_dataset_config(tmp_path / 'dataset.yaml')
    assert config.reference == 'front_cam_color' and config.fps == 15
    assert {p.key for p in config.streams} >= {'observation.images.front', 'action',
                                               'observation.state'}
    assert {s.name for s in suite.streams} >= {p.stream for p in config.streams}
    # A second run refuses to overwrite what may have been edited.
    assert main(['suite-from-bag', str(root / 'run_sqlite'), '--out', str(tmp_path)]) == 2
    assert 'already exists' in capsys.readouterr().err


def test_a_partial_suite_is_completed_from_the_bag(bags, tmp_path):
    root, truths = bags
    suite = tmp_path / 'suite.yaml'
    suite.write_text(yaml.safe_dump({'streams': [
        {'name': 'scene', 'topic': other_bags.CAMERA},
        {'name': 'arm', 'topic': other_bags.STATE},
        {'name': 'teleop', 'topic': other_bags.COMMAND, 'modality': 'command'}]}))
    result = _convert([root / 'run.bag'], tmp_path / 'out', suite_path=suite)
    assert result.converted and not result.failed
    plan = load_dataset_config(result.config_path)
    assert {p.stream: p.key for p in plan.streams} == {
        'scene': 'observation.images.scene', 'arm': 'observation.state', 'teleop': 'action'}
    with h5py.File(tmp_path / 'out' / 'dataset.hdf5') as h5:
        shape = h5['data/demo_0/obs/images_scene'].shape
    assert shape[1:] == (other_bags.HEIGHT, other_bags.WIDTH, 3)


def test_a_suite_missing_what_the_bag_cannot_tell_is_refused_by_name(bags, tmp_path):
    root, _ = bags
    suite = tmp_path / 'suite.yaml'
    suite.write_text(yaml.safe_dump({'streams': [{'name': 'x', 'topic': '/not/in/bag'}]}))
    with pytest.raises(ConfigError, match=r'suite.yaml: streams\[0\] \(/not/in/bag\): no type'):
        _convert([root / 'run.bag'], tmp_path / 'out', suite_path=suite)


def test_given_labels_fill_bags_without_episode_yaml_and_never_leak(bags, tmp_path):
    root, _ = bags
    mapping = tmp_path / 'labels.csv'
    mapping.write_text('bag,task,instruction,outcome\n'
                       'run.bag,stack_cups,stack the red cup on the blue one,success\n'
                       'no_such_bag,x,,\n')
    labels = load_label_map(mapping)
    out = tmp_path / 'out'
    result = _convert([root / 'run.bag', root / 'run.mcap'], out, label_map=labels)
    assert len(result.converted) == 2
    with h5py.File(out / 'dataset.hdf5') as h5:
        demos = _demos(h5)
        mapped, other = demos['run.bag'], demos['run.mcap']
        assert (mapped.attrs['task'], mapped.attrs['instruction'], mapped.attrs['outcome']) \
            == ('stack_cups', 'stack the red cup on the blue one', 'success')
        assert mapped['rewards'][-1] == 1.0
        assert other.attrs['task'] == '' and other.attrs['instruction'] == ''
        assert 'no_task_label' in json.loads(other.attrs['flags'])
    # Flags on the command line label every bag that names nothing itself.
    out2 = tmp_path / 'out2'
    _convert([root / 'run.mcap'], out2, labels=GivenLabels('wipe', 'wipe the table', 'failure'))
    with h5py.File(out2 / 'dataset.hdf5') as h5:
        demo = h5['data/demo_0']
        assert (demo.attrs['task'], demo.attrs['outcome']) == ('wipe', 'failure')
        assert 'no_task_label' not in json.loads(demo.attrs['flags'])


def test_labels_files_are_checked_by_name(tmp_path):
    bad = tmp_path / 'labels.yaml'
    bad.write_text('run_1: {task: a, outcome: maybe}\n')
    with pytest.raises(ConfigError, match=r"labels.yaml: outcome 'maybe'"):
        load_label_map(bad)
    bad.write_text('run_1: {task: a, colour: red}\n')
    with pytest.raises(ConfigError, match=r"run_1: unknown key 'colour'"):
        load_label_map(bad)
    csv = tmp_path / 'labels.csv'
    csv.write_text('name,task\nrun_1,a\n')
    with pytest.raises(ConfigError, match=r'labels.csv: the first row must name the columns'):
        load_label_map(csv)


def test_the_lerobot_export_of_a_ros1_bag_is_valid(bags, tmp_path):
    root, _ = bags
    result = _convert([root / 'run.bag'], tmp_path / 'lr', 'lerobot')
    assert result.converted
    assert validate(tmp_path / 'lr') == []
    info = json.loads((tmp_path / 'lr' / 'meta' / 'info.json').read_text())
    assert 'observation.images.front' in info['features']


def test_a_file_that_is_not_a_bag_is_named(tmp_path):
    text = tmp_path / 'notes.txt'
    text.write_text('hello')
    with pytest.raises(ConfigError, match=r'notes.txt: not a bag'):
        _convert([text], tmp_path / 'out')


def test_samples_received_out_of_stamp_order_come_out_in_order():
    stamps = np.array([10, 30, 20, 40, 5], dtype=np.int64)       # 5 arrives far too late
    values = np.arange(5, dtype=float)[:, None]
    blocks = [(stamps[:3], values[:3]), (stamps[3:], values[3:])]
    ordered = list(in_stamp_order(blocks, window_ns=15))
    assert [s for s, _ in ordered] == [10, 20, 30, 40]
    assert [float(v[0]) for _, v in ordered] == [0.0, 2.0, 1.0, 3.0]
    # A window wide enough keeps the late one, in its place.
    assert [s for s, _ in in_stamp_order(blocks, window_ns=100)] == [5, 10, 20, 30, 40]


def test_the_command_line_converts_a_bag_with_labels_in_one_command(bags, tmp_path, capsys):
    root, _ = bags
    labels = tmp_path / 'labels.yaml'
    labels.write_text('run: {task: pour, instruction: pour the water}\ntypo_bag: {task: x}\n')
    out = tmp_path / 'out'
    assert main(['convert', str(root / 'run.bag'), '--format', 'hdf5', '--out', str(out),
                 '-j', '1', '--labels', str(labels), '--outcome', 'aborted']) == 0
    printed = capsys.readouterr().out
    assert "'typo_bag' names no bag" in printed
    assert 'guessed from the first bag' in ' '.join(printed.split())
    with h5py.File(out / 'dataset.hdf5') as h5:
        demo = h5['data/demo_0']
        # The file's entry wins for what it names; the flag fills in what it does not.
        assert (demo.attrs['task'], demo.attrs['instruction'], demo.attrs['outcome']) == (
            'pour', 'pour the water', 'aborted')


def test_a_camera_drivers_bag_converts_with_its_intrinsics_and_base(tmp_path):
    bag = tmp_path / 'driver_bag'
    other_bags.write_camera_bag(bag)
    guess = guess_suite(bag)
    assert guess.base_frame == 'base_footprint'          # no base_link in its /tf
    assert {t for t, _, _ in guess.skipped} == {'/rosout'}
    out = tmp_path / 'lr'
    result = _convert([bag], out, 'lerobot')
    assert result.converted and validate(out) == []
    calibration = json.loads(
        (out / 'humanoid_data' / 'episode_000000' / 'calibration.json').read_text())
    camera = next(iter(calibration['cameras'].values()))
    assert camera['status'] == 'ok' and camera['topic'] == '/camera/color/camera_info'
    extrinsics = camera['extrinsics']
    assert (extrinsics['status'], extrinsics['base_frame']) == ('ok', 'base_footprint')
    np.testing.assert_allclose(extrinsics['translation'], [0.3, 0.0, 0.0], atol=1e-9)
    info = json.loads((out / 'meta' / 'info.json').read_text())
    assert 'action' not in info['features'] and 'observation.contact' not in info['features']
    # robomimic's layout needs actions: the HDF5 export says so before converting.
    with pytest.raises(ConfigError, match=r'no stream is the action'):
        _convert([bag], tmp_path / 'h5', 'hdf5')


def test_a_plan_naming_streams_the_guess_lacks_lists_the_guessed_names(bags, tmp_path):
    root, _ = bags
    config = tmp_path / 'dataset.yaml'
    config.write_text(yaml.safe_dump({'fps': 15, 'streams': {
        'head_rgb': {'key': 'observation.images.head', 'required': True}}}))
    result = convert([root / 'run.bag'], tmp_path / 'out', 'lerobot', config,
                     REPO / 'config' / 'phases.yaml', REPO / 'config' / 'contact.yaml', 1)
    reason = next(iter(result.failed.values()))
    assert 'head_rgb' in reason and 'guessed from the bag' in reason
    assert 'front_cam_color' in reason and 'suite-from-bag' in reason
