"""The simulated humanoid's body: its URDF, the poses of its sensors and mount faults.

Every camera and the LiDAR are rendered from the pose the URDF gives their frame at the
current joint positions, the same forward kinematics ``/tf`` is published from, so what a
sensor shows and what the transforms say agree, unless a mount fault says otherwise: a
faulted fixed joint (a camera knocked by a degree, a LiDAR shifted by millimetres) moves
the sensor in the rendering while ``/tf_static`` keeps publishing the nominal mount, which
is what a bumped sensor on a real robot looks like in its data.

Fault mapping (YAML or JSON, a ROS parameter string or a file), fixed joint -> offset in
the joint's own frame, applied after its ``origin``::

    {head_camera_mount: {rpy_deg: [0, 1, 0]}, lidar_mount: {xyz_mm: [5, 0, 0]}}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from humanoid_data.core.checks import check_mapping, short_repr
from humanoid_data.core.rigid import Transform
from humanoid_data.core.urdf import Joint, Robot, parse_urdf
from humanoid_data.core.yaml_file import parse_yaml_mapping
from humanoid_data.errors import ConfigError
from humanoid_data.resources import default_urdf

#: The frame the scene (table, object, hand path) is built in: the URDF's root.
SCENE_FRAME = 'base_footprint'


@dataclass(frozen=True)
class MountFault:
    """How far a fixed joint's true mount is from its nominal one."""

    rpy_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    xyz_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def transform(self) -> Transform:
        """Return the offset as a rigid motion (in the joint frame, after ``origin``)."""
        rotation = Rotation.from_euler('xyz', self.rpy_deg, degrees=True)
        return Transform(np.asarray(self.xyz_mm, dtype=np.float64) / 1000.0, rotation)

    @property
    def angle_deg(self) -> float:
        """The rotation's angle (degrees)."""
        return float(np.degrees(self.transform().rotation.magnitude()))


def _triple(value: object, where: str) -> tuple[float, float, float]:
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and np.isfinite(v) for v in value)):
        raise ConfigError(f'{where}: expected three finite numbers, got {short_repr(value)}')
    return (float(value[0]), float(value[1]), float(value[2]))


def parse_mount_faults(text: str, robot: Robot) -> dict[str, MountFault]:
    """Parse a mount fault mapping (see the module docstring); empty text: no fault.

    Raises:
        ConfigError: Not YAML, a joint that is not a fixed joint of ``robot``, an unknown
            key or a value that is not three finite numbers, named in the message.

    """
    data = parse_yaml_mapping(text, 'mount_faults',
                              'a mapping from fixed joint to {rpy_deg, xyz_mm}')
    fixed = sorted(j.name for j in robot.joints.values() if j.kind == 'fixed')
    faults = {}
    for name, settings in data.items():
        if name not in fixed:
            raise ConfigError(f'mount_faults: {short_repr(name)} is not a fixed joint of '
                              f'robot {robot.name!r}; fixed joints: {", ".join(fixed)}')
        where = f'mount_faults.{name}'
        settings = check_mapping(settings, {'rpy_deg', 'xyz_mm'}, where)
        faults[name] = MountFault(**{k: _triple(v, f'{where}.{k}') for k, v in settings.items()})
    return faults


def with_faults(robot: Robot, faults: Mapping[str, MountFault]) -> Robot:
    """``robot`` with each faulted fixed joint's origin moved by its fault."""
    if not faults:
        return robot
    joints = dict(robot.joints)
    for name, fault in faults.items():
        joint = joints[name]
        joints[name] = replace(joint, origin=joint.origin * fault.transform())
    return replace(robot, joints=joints)


@lru_cache(maxsize=4)
def load_body_robot(text: str | None = None) -> Robot:
    """The URDF ``text`` parsed (default: the simulated humanoid's own)."""
    if text is None:
        return parse_urdf(default_urdf().read_text(encoding='utf-8'), str(default_urdf()))
    return parse_urdf(text)


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton products of quaternions (x, y, z, w), broadcast over leading axes."""
    ax, ay, az, aw = np.moveaxis(a, -1, 0)
    bx, by, bz, bw = np.moveaxis(b, -1, 0)
    return np.stack([aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw,
                     aw * bw - ax * bx - ay * by - az * bz], axis=-1)


class Body:
    """Forward kinematics of the true body (faults applied) and of its nominal URDF."""

    def __init__(self, robot: Robot, faults: Mapping[str, MountFault] | None = None) -> None:
        """Prepare the moving joints' arrays and each frame's chain from the root."""
        self.nominal = robot
        self.faults = dict(faults or {})
        self.true = with_faults(robot, self.faults)
        self.moving: list[Joint] = [j for j in robot.joints.values() if j.kind != 'fixed']
        self.moving_names = [j.name for j in self.moving]
        self._t0 = np.array([j.origin.translation for j in self.moving]).reshape(-1, 3)
        self._q0 = np.array([j.origin.quat for j in self.moving]).reshape(-1, 4)
        self._axis = np.array([j.axis for j in self.moving]).reshape(-1, 3)
        self._prismatic = np.array([j.kind == 'prismatic' for j in self.moving], dtype=bool)
        # q0 * m as a matrix product L(q0) m: one einsum per /tf message
        eye = np.eye(4)
        self._left = np.stack([_quat_mul(np.repeat(self._q0[j:j + 1], 4, axis=0), eye).T
                               for j in range(len(self.moving))]).reshape(-1, 4, 4)
        self._by_child = {j.child: j for j in self.true.joints.values()}
        self._origins = {j.name: j.origin.as_matrix() for j in self.true.joints.values()}
        self._cross = {j.name: np.array([[0.0, -j.axis[2], j.axis[1]],
                                         [j.axis[2], 0.0, -j.axis[0]],
                                         [-j.axis[1], j.axis[0], 0.0]])
                       for j in self.true.joints.values()}

    # -- /tf --------------------------------------------------------------------------

    def moving_transforms(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Translations (J, 3) and quaternions (J, 4, x y z w) of every moving joint.

        ``positions`` holds one value per ``moving_names`` entry. Mount faults only touch
        fixed joints, so these are the same for the true and the nominal body.
        """
        q = np.asarray(positions, dtype=np.float64)
        half = 0.5 * q[:, None]
        motion = np.concatenate([self._axis * np.sin(half), np.cos(half)], axis=1)
        motion[self._prismatic] = (0.0, 0.0, 0.0, 1.0)
        quats = np.einsum('jik,jk->ji', self._left, motion)
        translations = self._t0.copy()
        if self._prismatic.any():
            slide = self._axis[self._prismatic] * q[self._prismatic, None]
            rotations = Rotation.from_quat(self._q0[self._prismatic])
            translations[self._prismatic] += rotations.apply(slide)
        return translations, quats

    def static_transforms(self) -> list[tuple[str, str, Transform]]:
        """``(parent, child, transform)`` of every fixed joint as the URDF states it."""
        return self.nominal.fixed()

    # -- poses ------------------------------------------------------------------------

    def chain(self, frame: str, root: str = SCENE_FRAME) -> list[Joint]:
        """The joints from ``root`` down to ``frame``."""
        joints = []
        while frame != root:
            joint = self._by_child.get(frame)
            if joint is None:
                raise ConfigError(f'robot {self.nominal.name!r}: no chain from {root!r} '
                                  f'to frame {frame!r}')
            joints.append(joint)
            frame = joint.parent
        return joints[::-1]

    def pose(self, frame: str, positions: Mapping[str, float],
             root: str = SCENE_FRAME) -> Transform:
        """The true pose of ``frame`` in ``root`` at joint ``positions`` (by name).

        4x4 matrices along the chain (Rodrigues for each joint's motion): a camera's pose
        is needed for every rendered frame, so this avoids a rotation object per joint.
        """
        m = np.eye(4)
        for joint in self.chain(frame, root):
            m = m @ self._origins[joint.name]
            if joint.kind == 'fixed':
                continue
            q = float(positions[joint.name])
            motion = np.eye(4)
            if joint.kind == 'prismatic':
                motion[:3, 3] = joint.axis * q
            else:
                k = self._cross[joint.name]
                motion[:3, :3] += np.sin(q) * k + (1.0 - np.cos(q)) * (k @ k)
            m = m @ motion
        return Transform(m[:3, 3].copy(), Rotation.from_matrix(m[:3, :3]))

    def poses(self, frame: str, positions: Mapping[str, np.ndarray],
              root: str = SCENE_FRAME) -> tuple[np.ndarray, Rotation]:
        """Vectorized ``pose``: translations (N, 3) and rotations (N) at N positions."""
        n = len(next(iter(positions.values())))
        t = np.zeros((n, 3))
        r = Rotation.identity(n)
        for joint in self.chain(frame, root):
            q = np.zeros(n) if joint.kind == 'fixed' else positions[joint.name]
            jt, jr = joint.at(q)
            t = t + r.apply(jt)
            r = r * jr
        return t, r


def optical_view(pose: Transform) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera rotation (rows: x right, y down, z forward) and camera position."""
    return pose.rotation.as_matrix().T, np.asarray(pose.translation, dtype=np.float64)


def names_in(joints: Sequence[str], robot: Robot) -> list[str]:
    """The movable joints of ``robot`` followed by the names of ``joints`` it lacks."""
    movable = [j.name for j in robot.joints.values() if j.kind != 'fixed']
    return movable + [name for name in joints if name not in robot.joints]
