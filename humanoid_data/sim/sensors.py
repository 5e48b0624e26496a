"""Proprioceptive and contact sensors of the simulated humanoid, derived from the scene.

Each function turns a ``SceneState`` into the numbers one sensor would report, with
Gaussian noise from a seeded generator. Noise levels are module constants scaled by the
``noise`` factor so tests and benchmarks can raise them (e.g. 3x).
"""

from __future__ import annotations

import zlib
from typing import Callable, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from humanoid_data.sim.body import Body
from humanoid_data.sim.scenario import CYCLE_S, HOME, Scenario, SceneState

FT_NOISE_N = 0.05          # force noise std per axis at noise=1
FT_BIAS_N = {'left': np.array([0.6, -0.3, 1.1]), 'right': np.array([-0.4, 0.5, 0.9])}
FT_LEVER_M = 0.06          # object load acts this far from the sensor origin
TACTILE_PEAK_KPA = 35.0
TACTILE_NOISE_KPA = 0.3
IMU_ACCEL_NOISE = 0.02
IMU_GYRO_NOISE = 0.002
COMMAND_LEAD_S = 0.03      # the robot tracks the operator's command this far behind


#: The right hand's orientation while it works: fingers forward and down (pitch, rad).
HAND_PITCH = -0.5
#: The head looks down at the table (head_pitch, rad); waist and head hold still.
HEAD_PITCH = 0.95
_HELD = {'waist_yaw': 0.0, 'waist_pitch': 0.0, 'head_yaw': 0.0, 'head_pitch': HEAD_PITCH}
_ARM = ('shoulder_pitch', 'shoulder_roll', 'shoulder_yaw', 'elbow', 'wrist_yaw',
        'wrist_pitch', 'wrist_roll')
_ARM_REST = {'shoulder_pitch': -0.3, 'elbow': -1.0}
IK_STEP_S = 0.01           # the right arm's joint angles are tabulated at this step


def _right_arm_table(body: Body, held: dict[str, float]) -> np.ndarray:
    """Right-arm joint angles (samples x 7) that put the hand on the task's path.

    Damped least squares on position and (weighted) orientation, all samples of one
    cycle solved together from the rest posture, with a weak pull back to it so the
    solution is unique and varies smoothly along the path.
    """
    times = np.arange(0.0, CYCLE_S + IK_STEP_S, IK_STEP_S)
    scenario = Scenario()
    scenario.schedule(0)
    targets = np.array([scenario.state(int(round(t * 1e9))).hand if t < CYCLE_S else HOME
                        for t in times])
    goal = Rotation.from_euler('y', HAND_PITCH)
    names = [f'right_{j}' for j in _ARM]
    rest = np.array([_ARM_REST.get(j, 0.0) for j in _ARM])
    q = np.tile(rest, (len(times), 1))
    chain = body.chain('right_hand_link')
    weight = np.array([1.0, 1.0, 1.0, 0.3, 0.3, 0.3])
    for _ in range(20):
        t = np.zeros((len(times), 3))
        r = Rotation.identity(len(times))
        axes, origins = [], []
        for joint in chain:
            jt, jr = joint.origin.translation, joint.origin.rotation
            t = t + r.apply(np.array(jt))
            r = r * jr
            if joint.kind == 'fixed':
                continue
            column = names.index(joint.name) if joint.name in names else -1
            angle = q[:, column] if column >= 0 else np.full(len(times), held[joint.name])
            if column >= 0:
                axes.append(r.apply(joint.axis))
                origins.append(t)
            r = r * Rotation.from_rotvec(angle[:, None] * joint.axis)
        error = np.concatenate([targets - t, (goal * r.inv()).as_rotvec()], axis=1)
        axis = np.stack(axes, axis=2)                                    # N x 3 x 7
        lever = t[:, :, None] - np.stack(origins, axis=2)
        jacobian = np.concatenate([np.cross(axis, lever, axis=1), axis], axis=1)
        jw = jacobian * weight[None, :, None]
        lhs = np.einsum('nki,nkj->nij', jw, jacobian) + 1e-4 * np.eye(7)
        rhs = np.einsum('nki,nk->ni', jw, error) + 1e-5 * (rest - q)
        q = q + np.linalg.solve(lhs, rhs[..., None])[..., 0]
    return q


class JointKinematics:
    """Joint angles of the whole body from the scene, vectorized over joints.

    The right arm follows the task's hand path through the URDF's inverse kinematics
    (tabulated once per cycle shape, interpolated), the right fingers close with the
    grasp, waist and head hold still (the head looking at the table), every other joint
    sways slightly (balance and breathing).
    """

    _FINGERS = ('thumb_rot', 'thumb', 'index', 'middle', 'ring', 'pinky')

    def __init__(self, names: Sequence[str], body: Body) -> None:
        """Precompute which joint follows which rule."""
        n = len(names)
        self.names = tuple(names)
        self._bias = np.zeros(n)
        self._finger = np.zeros(n)
        self._sway = np.ones(n)
        self._arm_columns = []
        arm_names = [f'right_{j}' for j in _ARM]
        for i, name in enumerate(names):
            side, _, joint = name.partition('_')
            if name in _HELD:
                self._bias[i] = _HELD[name]
                self._sway[i] = 0.0
            elif name in arm_names:
                self._sway[i] = 0.0
                self._arm_columns.append((i, arm_names.index(name)))
            elif side == 'right' and joint in self._FINGERS:
                self._finger[i] = 1.2
                self._sway[i] = 0.0
        # a joint's sway phase depends on its name only: two tables agree joint for joint
        self._phase = np.array([zlib.crc32(name.encode()) % 628 / 100.0 for name in names])
        self._table = _arm_table(body) if self._arm_columns else np.zeros((1, 7))

    def _arm(self, cycle_s: float) -> np.ndarray:
        if cycle_s < 0:
            return self._table[0]
        x = min(cycle_s / IK_STEP_S, len(self._table) - 1.0)
        k = min(int(x), len(self._table) - 2)
        w = x - k
        return self._table[k] * (1.0 - w) + self._table[k + 1] * w

    def positions(self, state: SceneState, t_ns: int) -> np.ndarray:
        """Return joint angles (rad) at ``t_ns`` for scene ``state``."""
        t = (t_ns % 3_600_000_000_000) / 1e9   # keep sin arguments small
        q = (self._bias + self._finger * state.closure
             + self._sway * 0.01 * np.sin(2 * np.pi * 0.25 * t + self._phase))
        if self._arm_columns:
            arm = self._arm(state.cycle_s)
            for column, k in self._arm_columns:
                q[column] = arm[k]
        return q


_TABLES: dict[tuple, np.ndarray] = {}


def _arm_table(body: Body) -> np.ndarray:
    key = tuple((j.name, tuple(j.origin.translation), tuple(j.origin.quat), tuple(j.axis))
                for j in body.chain('right_hand_link'))
    if key not in _TABLES:
        _TABLES[key] = _right_arm_table(body, _HELD)
    return _TABLES[key]


def joint_state(positions: Callable[[int], np.ndarray], t_ns: int, rng: np.random.Generator,
                noise: float, columns: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Return position, velocity and effort of the joints at ``columns`` (all by default).

    ``positions`` gives the true joint angles at an instant (the simulator's, computed
    once per instant for /tf, the cameras and this).
    """
    q = positions(t_ns)
    q_next = positions(t_ns + 1_000_000)
    if columns is not None:
        q, q_next = q[columns], q_next[columns]
    velocity = (q_next - q) / 1e-3
    n = len(q)
    effort = 2.0 * q + rng.normal(0.0, 0.05 * noise, n)
    return q + rng.normal(0.0, 1e-4 * noise, n), velocity, effort


def joint_command(positions: Callable[[int], np.ndarray], t_ns: int) -> np.ndarray:
    """Return the operator's commanded joint angles: where the robot will be shortly."""
    return positions(t_ns + int(COMMAND_LEAD_S * 1e9))


def wrench(side: str, state: SceneState, rng: np.random.Generator,
           noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Return force (N) and torque (N*m) at one wrist sensor."""
    load = state.load_n if side == 'right' else np.zeros(3)
    force = FT_BIAS_N[side] + load + rng.normal(0.0, FT_NOISE_N * noise, 3)
    # torque of the load about the sensor: (lever, 0, 0) x load, written out (np.cross
    # costs more than the rest of the sample)
    torque = np.array([0.0, -FT_LEVER_M * load[2], FT_LEVER_M * load[1]])
    torque += rng.normal(0.0, FT_NOISE_N * FT_LEVER_M * noise, 3)
    return force, torque


_GRID = np.stack(np.meshgrid(np.arange(4), np.arange(4), indexing='ij'), -1).astype(float)


def tactile(side: str, finger: str, state: SceneState, rng: np.random.Generator,
            noise: float, rows: int = 4, cols: int = 4) -> np.ndarray:
    """Return one pad's taxel pressures (kPa, float32, rows x cols)."""
    scale = state.pads[finger] if side == 'right' else 0.0
    pressure = np.abs(rng.normal(0.0, TACTILE_NOISE_KPA * noise, (rows, cols)))
    if scale > 0.0:
        if (rows, cols) == (4, 4):
            grid = _GRID
        else:
            grid = np.stack(np.meshgrid(np.arange(rows), np.arange(cols), indexing='ij'),
                            -1).astype(float)
        centre = np.array([(rows - 1) / 2, (cols - 1) / 2 + 0.3 * (state.closure - 0.5)])
        blob = np.exp(-np.sum((grid - centre) ** 2, axis=-1) / 2.0)
        pressure += TACTILE_PEAK_KPA * scale * blob
    return pressure.astype(np.float32)


def imu(state: SceneState, t_ns: int, rng: np.random.Generator,
        noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return orientation (x, y, z, w), angular velocity and linear acceleration of the torso."""
    t = (t_ns % 3_600_000_000_000) / 1e9
    sway = 0.004 * np.sin(2 * np.pi * 0.25 * t) + 0.002 * state.hand_velocity[0]
    orientation = np.array([sway / 2, 0.0, 0.0, 1.0])
    orientation /= np.linalg.norm(orientation)
    gyro = np.array([0.004 * 2 * np.pi * 0.25 * np.cos(2 * np.pi * 0.25 * t), 0.0, 0.0])
    gyro += rng.normal(0.0, IMU_GYRO_NOISE * noise, 3)
    accel = np.array([-0.05 * state.hand_velocity[0], 0.0, 9.81])
    accel += rng.normal(0.0, IMU_ACCEL_NOISE * noise, 3)
    return orientation, gyro, accel
