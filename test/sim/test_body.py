"""The simulated body: mount faults, forward kinematics and the arm on the task's path."""

from __future__ import annotations

import numpy as np
import pytest

from humanoid_data.errors import ConfigError
from humanoid_data.sim.body import Body, MountFault, load_body_robot, parse_mount_faults
from humanoid_data.sim.scenario import CYCLE_S, Scenario
from humanoid_data.sim.sensors import JointKinematics


@pytest.fixture(scope='module')
def robot():
    return load_body_robot()


def test_mount_faults_parse_and_name_what_is_wrong(robot):
    faults = parse_mount_faults('{lidar_mount: {rpy_deg: [0, 1, 0]}, '
                                'head_camera_mount: {xyz_mm: [5, 0, 0]}}', robot)
    assert faults['lidar_mount'].angle_deg == pytest.approx(1.0)
    assert faults['head_camera_mount'].transform().translation.tolist() == [0.005, 0, 0]
    assert parse_mount_faults('  # nothing\n', robot) == {}
    for text, match in [
            ('{head_yaw: {rpy_deg: [0, 1, 0]}}', "'head_yaw' is not a fixed joint of robot"),
            ('{lidar_mount: {rpy: [0, 1, 0]}}', "mount_faults.lidar_mount: unknown key 'rpy'"),
            ('{lidar_mount: {rpy_deg: [0, .nan, 0]}}', 'rpy_deg: expected three finite'),
            ('[lidar_mount]', 'mount_faults: expected a mapping from fixed joint')]:
        with pytest.raises(ConfigError, match=match):
            parse_mount_faults(text, robot)


def test_a_fault_moves_the_true_sensor_and_leaves_the_nominal_mount(robot):
    nominal, faulted = Body(robot), Body(robot, {'lidar_mount': MountFault((0, 1.0, 0))})
    q = {name: 0.1 for name in nominal.moving_names}
    a, b = nominal.pose('lidar_link', q), faulted.pose('lidar_link', q)
    angle = np.degrees((a.rotation.inv() * b.rotation).magnitude())
    assert angle == pytest.approx(1.0, abs=1e-9)
    assert faulted.static_transforms() == nominal.static_transforms()   # /tf_static
    # /tf is the same: faults only touch fixed joints.
    positions = np.full(len(nominal.moving_names), 0.3)
    for x, y in zip(nominal.moving_transforms(positions), faulted.moving_transforms(positions)):
        assert np.array_equal(x, y)


def test_pose_and_vectorized_poses_agree_with_the_urdf(robot):
    body = Body(robot)
    rng = np.random.default_rng(1)
    q = {name: rng.uniform(-1, 1) for name in body.moving_names}
    for frame in ('wrist_right_rgb_link', 'head_depth_link', 'tactile_left_index_link'):
        single = body.pose(frame, q)
        t, r = body.poses(frame, {k: np.array([v]) for k, v in q.items()})
        assert np.allclose(single.translation, t[0], atol=1e-12)
        assert (single.rotation.inv() * r[0]).magnitude() < 1e-9


def test_the_right_hand_follows_the_task_within_a_millimetre(robot):
    body = Body(robot)
    kinematics = JointKinematics(body.moving_names, body)
    scenario = Scenario()
    scenario.schedule(0)
    errors = []
    for t in np.linspace(0.0, CYCLE_S - 1e-3, 97):
        state = scenario.state(int(t * 1e9))
        q = dict(zip(body.moving_names, kinematics.positions(state, int(t * 1e9))))
        errors.append(np.linalg.norm(body.pose('right_hand_link', q).translation - state.hand))
    assert max(errors) < 1e-3
