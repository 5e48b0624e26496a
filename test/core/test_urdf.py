"""URDF kinematics: rpy convention, forward kinematics against poses computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from humanoid_data.core.transforms import TransformBuffer, TransformError
from humanoid_data.core.urdf import UrdfError, load_urdf, parse_urdf

HALF_PI = np.pi / 2

ARM = """<?xml version="1.0"?>
<robot name="arm">
  <link name="base"/>
  <link name="upper"/>
  <link name="fore"/>
  <link name="camera"/>
  <link name="finger_a"/>
  <link name="finger_b"/>
  <joint name="shoulder" type="revolute">
    <parent link="base"/><child link="upper"/>
    <origin xyz="0 0 0.5" rpy="0 0 0"/>
    <axis xyz="0 0 2"/>
    <limit lower="-3" upper="3" effort="10" velocity="1"/>
  </joint>
  <joint name="elbow" type="continuous">
    <parent link="upper"/><child link="fore"/>
    <origin xyz="0.3 0 0"/>
    <axis xyz="0 1 0"/>
  </joint>
  <joint name="camera_mount" type="fixed">
    <parent link="fore"/><child link="camera"/>
    <origin xyz="0.2 0 0.05" rpy="0 1.5707963267948966 0"/>
  </joint>
  <joint name="grip" type="prismatic">
    <parent link="fore"/><child link="finger_a"/>
    <origin xyz="0.25 0 0"/>
    <axis xyz="0 0 1"/>
  </joint>
  <joint name="grip_mirror" type="prismatic">
    <parent link="fore"/><child link="finger_b"/>
    <origin xyz="0.25 0 0"/>
    <axis xyz="0 0 1"/>
    <mimic joint="grip" multiplier="-1" offset="0.001"/>
  </joint>
</robot>
"""


def rot_x(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def homogeneous(rotation, translation):
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rotation, translation
    return m


def fixed_joint(rpy: str) -> str:
    return f"""<robot name="r"><link name="a"/><link name="b"/>
      <joint name="j" type="fixed"><parent link="a"/><child link="b"/>
      <origin xyz="1 2 3" rpy="{rpy}"/></joint></robot>"""


angles = st.floats(-np.pi, np.pi, allow_nan=False)


@given(angles, angles, angles)
def test_rpy_is_fixed_axis_roll_pitch_yaw(roll, pitch, yaw):
    (parent, child, transform), = parse_urdf(fixed_joint(f'{roll!r} {pitch!r} {yaw!r}')).fixed()
    assert (parent, child) == ('a', 'b')
    expected = homogeneous(rot_z(yaw) @ rot_y(pitch) @ rot_x(roll), [1, 2, 3])
    np.testing.assert_allclose(transform.as_matrix(), expected, atol=1e-12)


def test_rpy_by_hand():
    # roll 90 deg about x, then yaw 90 deg about the fixed z: x stays x, then turns to y
    (_, _, t), = parse_urdf(fixed_joint('1.5707963267948966 0 1.5707963267948966')).fixed()
    np.testing.assert_allclose(t.rotation.apply([1, 0, 0]), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(t.rotation.apply([0, 1, 0]), [0, 0, 1], atol=1e-12)


def test_parse_the_arm():
    robot = parse_urdf(ARM)
    assert robot.name == 'arm' and robot.root == 'base'
    assert robot.movable == ['shoulder', 'elbow', 'grip']
    np.testing.assert_allclose(robot.joints['shoulder'].axis, [0, 0, 1])   # normalized
    assert [(p, c) for p, c, _ in robot.fixed()] == [('fore', 'camera')]


def test_forward_kinematics_by_hand():
    robot = parse_urdf(ARM)
    buf = TransformBuffer()
    robot.add_fixed_to(buf)
    for parent, child, transform in robot.forward({'shoulder': HALF_PI, 'elbow': -HALF_PI,
                                                   'grip': 0.01}):
        buf.add(parent, child, 0, transform)
    camera = buf.lookup('base', 'camera', 0)
    # shoulder turns upper's x to base y; elbow pitches fore's x up to base z and fore's z
    # to base -y; the camera sits 0.2 along fore x, 0.05 along fore z, looking along fore x
    np.testing.assert_allclose(camera.translation, [0, 0.25, 0.7], atol=1e-12)
    np.testing.assert_allclose(camera.rotation.as_matrix(),
                               [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    finger_a = buf.lookup('base', 'finger_a', 0).translation
    finger_b = buf.lookup('base', 'finger_b', 0).translation
    np.testing.assert_allclose(finger_a, [0, 0.3 - 0.01, 0.5 + 0.25], atol=1e-12)
    np.testing.assert_allclose(finger_b, [0, 0.3 + 0.01 - 0.001, 0.5 + 0.25], atol=1e-12)


@given(angles, angles, st.floats(-0.05, 0.05))
def test_forward_equals_the_product_of_joint_matrices(q1, q2, slide):
    robot = parse_urdf(ARM)
    poses = {child: t for _, child, t in robot.forward({'shoulder': q1, 'elbow': q2,
                                                        'grip': slide})}
    np.testing.assert_allclose(poses['upper'].as_matrix(),
                               homogeneous(rot_z(q1), [0, 0, 0.5]), atol=1e-12)
    np.testing.assert_allclose(poses['fore'].as_matrix(),
                               homogeneous(rot_y(q2), [0.3, 0, 0]), atol=1e-12)
    np.testing.assert_allclose(poses['finger_a'].translation, [0.25, 0, slide], atol=1e-12)
    np.testing.assert_allclose(poses['finger_b'].translation, [0.25, 0, 0.001 - slide],
                               atol=1e-12)


def test_forward_many_feeds_the_buffer():
    robot = parse_urdf(ARM)
    stamps = np.array([0, 10, 20], dtype=np.int64)
    positions = {'shoulder': np.array([0.0, 0.5, 1.0]), 'elbow': np.zeros(3),
                 'grip': np.zeros(3)}
    buf = TransformBuffer()
    robot.add_fixed_to(buf)
    robot.add_motion_to(buf, stamps, positions)
    for i, stamp in enumerate(stamps):
        single = {name: float(p[i]) for name, p in positions.items()}
        expected = {child: t for _, child, t in robot.forward(single)}
        np.testing.assert_allclose(buf.lookup('base', 'upper', int(stamp)).as_matrix(),
                                   expected['upper'].as_matrix(), atol=1e-12)
    # halfway between 0.0 and 0.5 rad about z, by slerp
    np.testing.assert_allclose(buf.lookup('base', 'upper', 5).as_matrix()[:3, :3],
                               rot_z(0.25), atol=1e-12)


def test_bad_positions():
    robot = parse_urdf(ARM)
    with pytest.raises(UrdfError, match=r"unknown joints \['wrist'\], missing for \['grip'\]"):
        robot.forward({'shoulder': 0, 'elbow': 0, 'wrist': 0})
    with pytest.raises(UrdfError, match="joint 'elbow' has a position that is not finite"):
        robot.forward({'shoulder': 0, 'elbow': float('nan'), 'grip': 0})
    assert issubclass(UrdfError, TransformError)


@pytest.mark.parametrize('change,says', [
    (('type="continuous"', 'type="floating"'), "joint 'elbow': type 'floating' is not"),
    (('<axis xyz="0 1 0"/>', '<axis xyz="0 0 0"/>'), "joint 'elbow': the axis is zero"),
    (('<origin xyz="0.3 0 0"/>', '<origin xyz="0.3 0"/>'), "'elbow': xyz='0.3 0' is not 3"),
    (('rpy="0 0 0"', 'rpy="0 nan 0"'), "'shoulder': rpy='0 nan 0' is not 3 finite"),
    (('<child link="fore"/>', '<child link="forearm"/>'), "child link 'forearm' is not"),
    (('<child link="finger_b"/>', '<child link="finger_a"/>'),
     "link 'finger_a' is the child of two joints: 'grip' and 'grip_mirror'"),
    (('mimic joint="grip"', 'mimic joint="gripper"'), "mimics unknown joint 'gripper'"),
    (('<parent link="base"/>', '<parent link="camera"/>'),
     r"links in a cycle, not reachable from 'base': \['upper', 'fore', 'camera'"),
    (('<link name="base"/>', '<link name="base"/><link name="lonely"/>'),
     r"one root link, found \['base', 'lonely'\]"),
    (('<robot name="arm">', '<robobt name="arm">'), 'not XML'),
])
def test_bad_urdfs_are_named(change, says):
    with pytest.raises(UrdfError, match=says):
        parse_urdf(ARM.replace(*change), 'arm.urdf')


def test_load_from_file(tmp_path):
    path = tmp_path / 'arm.urdf'
    path.write_text(ARM)
    assert load_urdf(path).root == 'base'
    with pytest.raises(UrdfError, match='cannot read URDF'):
        load_urdf(tmp_path / 'missing.urdf')
