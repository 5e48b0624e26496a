"""Images, depth and LiDAR points of the simulated workspace: a table, a box and a hand.

Every view renders from the pose of its sensor's frame that the body's forward kinematics
gives (sim/body.py): cameras from their optical frames (z forward, x right, y down), the
LiDAR in its own frame. The head holds still, so the static parts of its view (floor and
table) are computed once from its pose; a frame only draws the moving box and hand, and
the wrist cameras draw the box from wherever the arm has put them, so rendering stays
cheap at 30 Hz for three cameras.
"""

from __future__ import annotations

import cv2
import numpy as np

from humanoid_data.core.rigid import Transform
from humanoid_data.sim.body import optical_view
from humanoid_data.sim.scenario import TABLE_Z, SceneState

TABLE_X = (0.30, 0.95)
TABLE_Y = (-0.55, 0.55)
BOX_HALF = np.array([0.03, 0.03, 0.05])
BOX_RGB = (200, 40, 40)
HAND_RGB = (225, 180, 150)
TABLE_RGB = np.array([150, 110, 70], dtype=np.uint8)
FLOOR_RGB = np.array([90, 90, 95], dtype=np.uint8)
HEAD_HFOV_DEG = 70.0     # the head RGB-D camera's horizontal field of view
WRIST_HFOV_DEG = 90.0    # the wrist cameras'

_CORNERS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)],
                    dtype=float)


class PinholeCamera:
    """A camera that projects world points to pixels."""

    def __init__(self, width: int, height: int, hfov_deg: float = HEAD_HFOV_DEG) -> None:
        """Create a camera of the given size and horizontal field of view."""
        self.width = width
        self.height = height
        self.f = (width / 2) / np.tan(np.radians(hfov_deg) / 2)

    def project(self, rotation: np.ndarray, position: np.ndarray,
                points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return pixel coordinates (N x 2) and depths (N) of world points."""
        cam = (points - position) @ rotation.T
        z = np.maximum(cam[:, 2], 1e-3)
        u = self.f * cam[:, 0] / z + (self.width - 1) / 2
        v = self.f * cam[:, 1] / z + (self.height - 1) / 2
        return np.stack([u, v], axis=1), z


def camera_of(stream_name: str, width: int, height: int) -> PinholeCamera:
    """The pinhole a stream's images are rendered with: wrist cameras are wider."""
    wrist = stream_name.startswith('wrist_')
    return PinholeCamera(width, height, WRIST_HFOV_DEG if wrist else HEAD_HFOV_DEG)


class HeadView:
    """The head RGB-D camera; RGB and depth come from one trigger and one render."""

    def __init__(self, width: int, height: int, pose: Transform) -> None:
        """Precompute the static floor and table for this resolution and optical pose."""
        self.camera = PinholeCamera(width, height)
        self.rotation, self.position = optical_view(pose)
        u, v = np.meshgrid(np.arange(width), np.arange(height))
        rays_cam = np.stack([(u - (width - 1) / 2) / self.camera.f,
                             (v - (height - 1) / 2) / self.camera.f,
                             np.ones_like(u, dtype=float)], axis=-1)
        rays = rays_cam @ self.rotation          # world directions, z-forward depth = 1
        rgb = np.empty((height, width, 3), dtype=np.uint8)
        depth = np.zeros((height, width), dtype=np.float64)
        for plane_z, colour, bounded in ((0.0, FLOOR_RGB, False), (TABLE_Z, TABLE_RGB, True)):
            with np.errstate(divide='ignore', invalid='ignore'):
                s = (plane_z - self.position[2]) / rays[..., 2]
            hit = self.position + rays * s[..., None]
            ok = s > 0
            if bounded:
                ok &= ((hit[..., 0] > TABLE_X[0]) & (hit[..., 0] < TABLE_X[1])
                       & (hit[..., 1] > TABLE_Y[0]) & (hit[..., 1] < TABLE_Y[1]))
            rgb[ok] = colour
            depth[ok] = s[ok]                    # z-depth because rays have unit z
        shade = np.clip(1.0 - depth / 6.0, 0.5, 1.0)[..., None]
        self._rgb = (rgb * shade).astype(np.uint8)
        self._depth_mm = np.clip(depth * 1000.0, 0, 65535).astype(np.uint16)

    def render(self, state: SceneState) -> tuple[np.ndarray, np.ndarray]:
        """Return the RGB frame (H x W x 3 uint8) and depth (H x W uint16, mm)."""
        rgb = self._rgb.copy()
        depth = self._depth_mm.copy()
        draw_box(self.camera, self.rotation, self.position, state.obj, rgb, depth)
        draw_hand(self.camera, self.rotation, self.position, state.hand, rgb, depth)
        return rgb, depth


def draw_box(camera: PinholeCamera, rotation: np.ndarray, position: np.ndarray,
             centre: np.ndarray, rgb: np.ndarray, depth: np.ndarray | None) -> None:
    """Draw the object as the convex hull of its projected corners."""
    pixels, z = camera.project(rotation, position, centre + _CORNERS * BOX_HALF)
    if np.any(z <= 1e-3):
        return
    hull = cv2.convexHull(np.round(pixels).astype(np.int32))
    cv2.fillConvexPoly(rgb, hull, BOX_RGB)
    if depth is not None:
        cv2.fillConvexPoly(depth, hull, int(min(z) * 1000.0))


def draw_hand(camera: PinholeCamera, rotation: np.ndarray, position: np.ndarray,
              hand: np.ndarray, rgb: np.ndarray, depth: np.ndarray | None) -> None:
    """Draw the hand as a disc of 4 cm radius."""
    pixel, z = camera.project(rotation, position, hand[None, :])
    radius = max(1, int(camera.f * 0.04 / z[0]))
    centre = (int(pixel[0, 0]), int(pixel[0, 1]))
    cv2.circle(rgb, centre, radius, HAND_RGB, -1)
    if depth is not None:
        cv2.circle(depth, centre, radius, int(z[0] * 1000.0), -1)


class WristView:
    """A camera on the back of a hand, looking past the fingers."""

    def __init__(self, width: int, height: int) -> None:
        """Precompute the background gradient."""
        self.camera = PinholeCamera(width, height, hfov_deg=WRIST_HFOV_DEG)
        rows = np.linspace(0.6, 1.0, height)[:, None, None]
        self._background = (TABLE_RGB[None, None, :] * rows).astype(np.uint8).repeat(
            width, axis=1)

    def render(self, state: SceneState, pose: Transform) -> np.ndarray:
        """Return the RGB frame of a wrist camera whose optical frame is at ``pose``."""
        rgb = self._background.copy()
        rotation, position = optical_view(pose)
        draw_box(self.camera, rotation, position, state.obj, rgb, None)
        return rgb


class LidarScan:
    """A head LiDAR: fixed room points plus the moving box."""

    def __init__(self, points: int, seed: int = 7) -> None:
        """Sample the static room and the box surface once."""
        rng = np.random.default_rng(seed)
        n_box = max(1, points // 10)
        n_table = (points - n_box) // 2
        n_room = points - n_box - n_table
        table = np.column_stack([rng.uniform(*TABLE_X, n_table), rng.uniform(*TABLE_Y, n_table),
                                 np.full(n_table, TABLE_Z)])
        floor = np.column_stack([rng.uniform(-3, 3, n_room), rng.uniform(-3, 3, n_room),
                                 np.zeros(n_room)])
        self._static = np.vstack([table, floor])
        self._static_intensity = np.concatenate([np.full(n_table, 0.6), np.full(n_room, 0.3)])
        faces = rng.integers(0, 3, n_box)
        local = rng.uniform(-1, 1, (n_box, 3))
        local[np.arange(n_box), faces] = np.sign(local[np.arange(n_box), faces])
        self._box = local * BOX_HALF
        self._rng = rng
        self._static_key: tuple[float, ...] = ()
        self._static_local = self._static

    def scan(self, state: SceneState, noise: float, pose: Transform) -> np.ndarray:
        """Return an N x 4 float32 array of x, y, z, intensity in the LiDAR frame at ``pose``."""
        inverse = pose.inverse()
        key = tuple(np.round(np.concatenate([pose.translation, pose.quat]), 12))
        if key != self._static_key:      # the torso holds still: transformed once
            self._static_key = key
            self._static_local = inverse.apply(self._static)
        xyz = np.vstack([self._static_local, inverse.apply(self._box + state.obj)])
        xyz = xyz + self._rng.normal(0.0, 0.005 * noise, xyz.shape)
        intensity = np.concatenate([self._static_intensity, np.full(len(self._box), 0.9)])
        return np.column_stack([xyz, intensity]).astype(np.float32)
