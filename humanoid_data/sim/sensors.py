"""Proprioceptive and contact sensors of the simulated humanoid, derived from the scene.

Each function turns a ``SceneState`` into the numbers one sensor would report, with
Gaussian noise from a seeded generator. Noise levels are module constants scaled by the
``noise`` factor so tests and benchmarks can raise them (e.g. 3x).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from humanoid_data.sim.scenario import HOME, SceneState

FT_NOISE_N = 0.05          # force noise std per axis at noise=1
FT_BIAS_N = {'left': np.array([0.6, -0.3, 1.1]), 'right': np.array([-0.4, 0.5, 0.9])}
FT_LEVER_M = 0.06          # object load acts this far from the sensor origin
TACTILE_PEAK_KPA = 35.0
TACTILE_NOISE_KPA = 0.3
IMU_ACCEL_NOISE = 0.02
IMU_GYRO_NOISE = 0.002
COMMAND_LEAD_S = 0.03      # the robot tracks the operator's command this far behind


class JointKinematics:
    """Joint angles of the whole body from the scene, vectorized over joints.

    The right arm follows the hand through a smooth made-up inverse kinematics, the
    right fingers close with the grasp, every other joint sways slightly (balance and
    breathing).
    """

    # d(angle)/d(hand offset from HOME) per right-arm joint: rows x, y, z
    _ARM_GAIN = {
        'shoulder_pitch': (-1.8, 0.0, -1.2), 'shoulder_roll': (0.0, 1.5, 0.0),
        'shoulder_yaw': (0.0, 0.6, 0.0), 'elbow': (-2.2, 0.0, 0.8),
        'wrist_yaw': (0.0, -0.5, 0.0), 'wrist_pitch': (0.0, 0.0, 0.9),
        'wrist_roll': (0.2, 0.0, 0.0),
    }
    _ARM_BIAS = {'elbow': 1.0}
    _FINGERS = ('thumb_rot', 'thumb', 'index', 'middle', 'ring', 'pinky')

    def __init__(self, names: tuple[str, ...]) -> None:
        """Precompute which joint follows which rule."""
        n = len(names)
        self.names = names
        self._gain = np.zeros((n, 3))
        self._bias = np.zeros(n)
        self._finger = np.zeros(n)
        self._sway = np.ones(n)
        for i, name in enumerate(names):
            side, _, joint = name.partition('_')
            if side == 'right' and joint in self._ARM_GAIN:
                self._gain[i] = self._ARM_GAIN[joint]
                self._bias[i] = self._ARM_BIAS.get(joint, 0.0)
                self._sway[i] = 0.0
            elif side == 'right' and joint in self._FINGERS:
                self._finger[i] = 1.2
                self._sway[i] = 0.0
        self._phase = np.arange(n, dtype=float)

    def positions(self, state: SceneState, t_ns: int) -> np.ndarray:
        """Return joint angles (rad) at ``t_ns`` for scene ``state``."""
        t = (t_ns % 3_600_000_000_000) / 1e9   # keep sin arguments small
        sway = 0.01 * np.sin(2 * np.pi * 0.25 * t + self._phase)
        return (self._gain @ (state.hand - HOME) + self._bias + self._finger * state.closure
                + self._sway * sway)


def joint_state(kinematics: JointKinematics, scene: Callable[[int], SceneState], t_ns: int,
                rng: np.random.Generator, noise: float) -> tuple[np.ndarray, ...]:
    """Return position, velocity and effort of every joint at ``t_ns``."""
    q = kinematics.positions(scene(t_ns), t_ns)
    q_next = kinematics.positions(scene(t_ns + 1_000_000), t_ns + 1_000_000)
    velocity = (q_next - q) / 1e-3
    n = len(q)
    effort = 2.0 * q + rng.normal(0.0, 0.05 * noise, n)
    return q + rng.normal(0.0, 1e-4 * noise, n), velocity, effort


def joint_command(kinematics: JointKinematics, scene: Callable[[int], SceneState],
                  t_ns: int) -> np.ndarray:
    """Return the operator's commanded joint angles: where the robot will be shortly."""
    lead = t_ns + int(COMMAND_LEAD_S * 1e9)
    return kinematics.positions(scene(lead), lead)


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
