"""The calibration checks on recorded episodes: a bumped sensor mount is flagged."""

from __future__ import annotations

import pytest

from humanoid_data.bag.episode_reader import EpisodeReader
from humanoid_data.calibration.checks import check_episode, check_folder, episode_window
from humanoid_data.calibration.episode_tf import episode_buffer
from humanoid_data.core.quality import QualityGates
from humanoid_data.sim.body import MountFault
from test.calibration.episodes import record_episode

GATES = QualityGates()


@pytest.fixture(scope='module')
def healthy(tmp_path_factory):
    """An episode whose sensors sit where /tf_static says."""
    return record_episode(tmp_path_factory.mktemp('healthy'))


@pytest.fixture(scope='module')
def lidar_pitched(tmp_path_factory):
    """The LiDAR knocked down by 1 degree (pitch), /tf_static unchanged."""
    return record_episode(tmp_path_factory.mktemp('lidar'),
                          {'lidar_mount': MountFault(rpy_deg=(0.0, 1.0, 0.0))})


@pytest.fixture(scope='module')
def camera_yawed(tmp_path_factory):
    """The head camera turned by 1 degree about its mount's z axis."""
    return record_episode(tmp_path_factory.mktemp('camera'),
                          {'head_camera_mount': MountFault(rpy_deg=(0.0, 0.0, 1.0))})


def test_a_healthy_episode_is_not_flagged(healthy):
    reader = EpisodeReader(healthy)
    reader.scan()
    report = check_episode(reader, episode_buffer(reader), episode_window(reader), GATES)
    m = report.metrics
    assert report.flags == [], report.flags
    assert m['calib_scans'] >= 5
    assert 0.3 < m['lidar_depth_in_image_fraction'] <= 1.0
    assert m['lidar_rgb_in_image_fraction'] == pytest.approx(
        m['lidar_depth_in_image_fraction'])
    assert m['lidar_depth_residual_median_m'] < 0.01
    assert m['lidar_depth_icp_deg'] < GATES.max_calibration_angle_deg / 2
    assert m['hand_eye_px.wrist_right_rgb'] is not None
    assert m['hand_eye_frames.wrist_right_rgb'] >= 1
    # The left wrist camera is not in the suite of these episodes: no figure for it.
    assert 'hand_eye_px.wrist_left_rgb' not in m


def test_a_one_degree_lidar_mount_fault_is_flagged(lidar_pitched):
    report = check_folder(lidar_pitched, GATES)
    m = report.metrics
    assert m['lidar_depth_icp_deg'] == pytest.approx(1.0, abs=0.3)
    assert m['lidar_depth_residual_p90_m'] > GATES.max_lidar_depth_residual_m
    assert any('(quality.max_calibration_angle_deg = ' in f for f in report.flags)
    assert any(f.startswith('calibration: LiDAR-to-depth p90 residual ') and
               '(quality.max_lidar_depth_residual_m = ' in f for f in report.flags)


def test_a_one_degree_camera_mount_fault_is_flagged(camera_yawed):
    report = check_folder(camera_yawed, GATES)
    assert report.metrics['lidar_depth_icp_deg'] > GATES.max_calibration_angle_deg
    assert any('(quality.max_calibration_angle_deg = ' in f for f in report.flags)


def test_outside_the_window_nothing_is_checked(healthy):
    reader = EpisodeReader(healthy)
    reader.scan()
    report = check_episode(reader, episode_buffer(reader), (0, 1), GATES)
    assert report.metrics['calib_scans'] == 0
    assert report.flags == []
    assert any('no LiDAR scan' in n for n in report.notes)


def _config():
    """The shipped dataset.yaml cut down to the streams these episodes carry."""
    import yaml

    from humanoid_data.dataset.config import parse_dataset_config
    from humanoid_data.resources import share_file
    data = yaml.safe_load(share_file('config/dataset.yaml').read_text())
    keep = ('head_rgb', 'wrist_right_rgb', 'head_depth', 'joint_states', 'lidar')
    data['streams'] = {name: plan for name, plan in data['streams'].items() if name in keep}
    return parse_dataset_config(data, 'dataset.yaml')


@pytest.mark.parametrize('fixture, flagged', [('healthy', False), ('lidar_pitched', True)])
def test_the_converter_puts_the_checks_in_the_quality_report(request, fixture, flagged):
    """What `convert` stages for an episode: the figures under metrics.calibration."""
    from humanoid_data.core.contact_config import load_contact_config
    from humanoid_data.core.phases import load_taxonomy
    from humanoid_data.dataset.episode import assemble
    from humanoid_data.resources import share_file
    data = assemble(request.getfixturevalue(fixture), _config(),
                    load_taxonomy(share_file('config/phases.yaml')),
                    load_contact_config(share_file('config/contact.yaml')))
    figures = data.quality.metrics['calibration']
    assert figures['calib_scans'] >= 5 and figures['lidar_depth_icp_deg'] is not None
    calibration_flags = [f for f in data.quality.flags if f.startswith('calibration')]
    assert bool(calibration_flags) == flagged, calibration_flags
    if flagged:
        assert data.quality.verdict == 'flagged'
