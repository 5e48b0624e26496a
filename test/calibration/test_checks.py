"""Projection, residual, edge, ICP and hand-eye math of the calibration checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from humanoid_data.bag.decode import CameraModel
from humanoid_data.calibration import checks
from humanoid_data.core.quality import QualityGates, calibration_flags
from humanoid_data.core.rigid import Transform
from humanoid_data.core.transforms import TransformBuffer

W, H, F = 160, 120, 100.0


def _model(distortion=(0.0, 0.0, 0.0, 0.0, 0.0), kind='plumb_bob') -> CameraModel:
    k = np.array([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])
    return CameraModel(0, 'cam', W, H, k, np.array(distortion, dtype=float), kind)


CAMERA = checks.Intrinsics(_model())


def _step_scene(camera: checks.Intrinsics) -> np.ndarray:
    """Depth (m) of a wall at 2 m with a square plate at 1 m in its middle."""
    depth = np.full((H, W), 2.0)
    depth[40:80, 60:100] = 1.0
    return depth


def _points_of(depth: np.ndarray, camera: checks.Intrinsics, count: int,
               seed: int = 0) -> np.ndarray:
    """Points on the surface ``depth`` shows, sampled at random sub-pixel positions."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-0.5, W - 0.5, count)
    v = rng.uniform(-0.5, H - 0.5, count)
    z = depth[np.clip(np.round(v), 0, H - 1).astype(int),
              np.clip(np.round(u), 0, W - 1).astype(int)]
    x = (u - camera.k[0, 2]) / F * z
    y = (v - camera.k[1, 2]) / F * z
    return np.column_stack([x, y, z])


def test_pinhole_projection_and_rays_are_inverse():
    points = np.array([[0.0, 0.0, 2.0], [0.2, -0.1, 1.0], [-0.5, 0.3, 4.0]])
    uv = CAMERA.project(points)
    assert uv[0] == pytest.approx([(W - 1) / 2, (H - 1) / 2])
    assert uv[1] == pytest.approx([(W - 1) / 2 + 20, (H - 1) / 2 - 10])
    rows, cols, rays = CAMERA.rays(step=1)
    k = rows * W + cols
    centre = k == ((H - 1) // 2) * W + (W - 1) // 2
    assert rays[centre][0][2] == 1.0
    assert CAMERA.project(rays[:50] * 3.0) == pytest.approx(
        np.column_stack([cols[:50], rows[:50]]).astype(float), abs=1e-9)


def test_distorted_projection_round_trips_through_the_rays():
    camera = checks.Intrinsics(_model((-0.2, 0.05, 0.001, -0.001, 0.0)))
    rows, cols, rays = camera.rays(step=8)
    uv = camera.project(rays * 2.0)
    assert uv == pytest.approx(np.column_stack([cols, rows]).astype(float), abs=0.05)
    # The distortion moves the corners, not the centre.
    plain = CAMERA.project(rays * 2.0)
    assert np.abs(plain - uv).max() > 1.0


def test_points_behind_or_outside_are_not_in_the_image():
    points = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [10.0, 0.0, 1.0],
                       [np.nan, 0.0, 1.0], [0.1, 0.1, 1.0]])
    projection = checks.project_points(points, CAMERA)
    assert projection.front.tolist() == [True, False, True, False, True]
    assert projection.inside.tolist() == [True, False, False, False, True]
    assert projection.in_image_fraction == pytest.approx(2 / 3)
    assert checks.project_points(np.zeros((0, 3)), CAMERA).in_image_fraction is None


def test_depth_residuals_leave_out_occluded_points():
    depth = _step_scene(CAMERA)
    on_surface = _points_of(depth, CAMERA, 4000)
    # Points of the wall behind the plate: the LiDAR sees them, the camera cannot.
    hidden = _points_of(np.full((H, W), 2.0), CAMERA, 4000, seed=1)
    hidden = hidden[np.abs(CAMERA.project(hidden)[:, 0] - 80) < 15]
    hidden = hidden[np.abs(CAMERA.project(hidden)[:, 1] - 60) < 15]
    comparison = checks.compare_depth(
        checks.project_points(np.vstack([on_surface, hidden]), CAMERA), depth)
    assert comparison.occluded == len(hidden)
    assert comparison.compared == len(on_surface)
    assert np.abs(comparison.residuals).max() < 1e-9
    # The same points seen by a camera turned by 1 degree: the step edge moves.
    turned = Rotation.from_euler('y', 1.0, degrees=True).apply(on_surface)
    moved = checks.compare_depth(checks.project_points(turned, CAMERA), depth)
    assert np.percentile(np.abs(moved.residuals), 90) > 0.02


def test_16bit_depth_is_millimetres_and_zero_is_no_reading():
    from humanoid_data.bag.decode import ImageArray
    pixels = np.array([[0, 1500], [65535, 750]], dtype=np.uint16)
    depth = checks.depth_metres(ImageArray(0, 'cam', '16UC1', pixels))
    assert np.isnan(depth[0, 0])
    assert depth[0, 1] == 1.5 and depth[1, 1] == 0.75
    floats = np.array([[np.nan, 1.5], [-1.0, np.inf]], dtype=np.float32)
    depth = checks.depth_metres(ImageArray(0, 'cam', '32FC1', floats))
    assert np.isnan(depth).tolist() == [[True, False], [True, True]]


def test_lidar_edges_land_on_depth_edges_until_the_camera_turns():
    depth = _step_scene(CAMERA)
    points = _points_of(depth, CAMERA, 20000)
    edges = checks.depth_edges(depth)
    assert edges[40:80, 60].all() and not edges[40:80, 58].any()

    def median_distance(rotation_deg: float) -> float:
        turned = Rotation.from_euler('y', rotation_deg, degrees=True).apply(points)
        projection = checks.project_points(turned, CAMERA)
        index = checks.lidar_edge_points(projection, depth.shape)
        assert len(index) > 50
        near_side = projection.points[index, 2]
        assert np.all(near_side < 1.5)          # the plate's rim, not the wall
        return float(np.median(checks.edge_distances(edges, projection.row[index],
                                                     projection.col[index])))

    assert median_distance(0.0) <= 1.0
    assert median_distance(2.0) >= F * math.radians(2.0) - 1.5


def test_rgb_edges_find_a_colour_step():
    rgb = np.zeros((H, W, 3), dtype=np.uint8)
    rgb[:, 80:] = (200, 40, 40)
    edges = checks.rgb_edges(rgb)
    assert edges[:, 78:82].any(axis=1).all()
    assert not edges[:, :70].any()


def _corner_scene() -> np.ndarray:
    """A floor, a wall and a box's faces: non-planar enough to pin down every axis."""
    rng = np.random.default_rng(3)
    floor = np.column_stack([rng.uniform(-1, 1, 3000), np.full(3000, 0.8),
                             rng.uniform(1.5, 3, 3000)])
    wall = np.column_stack([rng.uniform(-1, 1, 3000), rng.uniform(-0.6, 0.8, 3000),
                            np.full(3000, 3.0)])
    side = np.column_stack([np.full(1500, -0.4), rng.uniform(0.2, 0.8, 1500),
                            rng.uniform(1.8, 2.4, 1500)])
    front = np.column_stack([rng.uniform(-0.4, 0.0, 1500), rng.uniform(0.2, 0.8, 1500),
                             np.full(1500, 1.8)])
    return np.vstack([floor, wall, side, front])


@pytest.mark.parametrize('axis', ['x', 'y', 'z'])
def test_icp_recovers_a_one_degree_turn(axis):
    target = _corner_scene()
    pivot = Transform(np.zeros(3), Rotation.from_euler(axis, 1.0, degrees=True))
    source = pivot.apply(target[::2]) + np.random.default_rng(4).normal(0, 0.002, (len(
        target[::2]), 3))
    correction = checks.icp_correction(source, target)
    assert correction is not None
    angle = math.degrees(correction.rotation.magnitude())
    assert angle == pytest.approx(1.0, abs=0.25)
    same = checks.icp_correction(target[::2], target)
    assert math.degrees(same.rotation.magnitude()) < 0.1
    assert checks.icp_correction(target[:10], target) is None


def test_target_mask_centroid_and_centre():
    rgb = np.zeros((H, W, 3), dtype=np.uint8)
    rgb[50:60, 70:90] = checks.TARGET_RGB
    mask = checks.target_mask(rgb)
    assert mask.sum() == 200
    assert checks.mask_centroid(mask) == pytest.approx([79.5, 54.5])
    cut = np.zeros_like(mask)
    cut[0:10, 70:90] = True
    assert checks.mask_centroid(cut) is None          # touches the border
    assert checks.mask_centroid(mask[:, :, None][:5, :5, 0]) is None   # too small
    # LiDAR points on the target (a 10 cm cube at 1 m) and a few on the wall behind it.
    rng = np.random.default_rng(5)
    cube = rng.uniform(-0.05, 0.05, (400, 3)) + [0.0, 0.0, 1.0]
    wall = np.column_stack([rng.uniform(-0.05, 0.05, (20, 2)), np.full(20, 2.0)])
    box = np.zeros((H, W), dtype=bool)
    box[44:76, 64:96] = True
    centre = checks.target_centre(checks.project_points(np.vstack([cube, wall]), CAMERA), box)
    assert centre == pytest.approx([0.0, 0.0, 1.0], abs=0.01)


def test_relative_pose_goes_through_the_root_at_two_stamps():
    buffer = TransformBuffer(0, 10**9)
    buffer.add('world', 'head', 0, Transform.identity())
    buffer.add('world', 'head', 100, Transform.from_quat([1, 0, 0], [0, 0, 0, 1]))
    buffer.add_static('world', 'lidar', Transform.from_quat([0, 0, 1], [0, 0, 0, 1]))
    pose = checks.relative_pose(buffer, 'head', 100, 'lidar', 0)
    assert pose.apply([0.0, 0.0, 0.0]) == pytest.approx([-1.0, 0.0, 1.0])


def test_flags_name_the_figure_the_limit_and_the_gate():
    gates = QualityGates()
    metrics = {'lidar_depth_residual_p90_m': 0.043, 'lidar_depth_in_image_fraction': 0.01,
               'lidar_depth_icp_deg': None, 'hand_eye_px.wrist_right_rgb': 99.0,
               'hand_eye_frames.wrist_right_rgb': 3}
    flags = calibration_flags(metrics, gates)
    assert flags[0] == ('calibration: LiDAR-to-depth p90 residual 0.043 m above the maximum '
                        f'(quality.max_lidar_depth_residual_m = '
                        f'{gates.max_lidar_depth_residual_m:g})')
    assert any('(quality.min_lidar_in_image_fraction = ' in f for f in flags)
    assert any('hand-eye' in f and 'wrist_right_rgb' in f for f in flags)
    assert len(flags) == 3
    off = QualityGates(max_lidar_depth_residual_m=0, max_hand_eye_px=0,
                       min_lidar_in_image_fraction=0)
    assert calibration_flags(metrics, off) == []
    assert calibration_flags({k: None for k in metrics}, gates) == []
