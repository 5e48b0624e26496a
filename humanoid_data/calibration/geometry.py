"""Camera geometry of the calibration checks: projection, depth, edges, ICP, the target.

Pure functions over arrays and one camera model (``Intrinsics``, from a CameraInfo);
``checks`` runs them on an episode's scans and images. The module docstring of
``checks`` says what each figure means.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from humanoid_data.bag.decode import CameraModel, ImageArray, PointCloudArray
from humanoid_data.core.rigid import Transform
from humanoid_data.core.transforms import TransformBuffer

MIN_Z_M = 0.05                  # points nearer to the camera than this are ignored
OCCLUSION_MARGIN_M = 0.05       # residual below minus this: the point is occluded
EDGE_JUMP_M = 0.10              # a range jump this large makes an edge
EDGE_CELL_PX = 4                # LiDAR points are rasterized in cells of this size
ICP_MAX_DISTANCE_M = 0.05       # correspondences farther apart are not pairs
ICP_VOXEL_M = 0.01
DEPTH_STEP_PX = 4               # the depth cloud keeps every 4th pixel in u and v
MIN_POINTS = 50                 # fewer usable points: the figure is None
TARGET_RGB = (200, 40, 40)      # the hand-eye target's colour
TARGET_TOLERANCE = 40.0         # RGB distance to TARGET_RGB that still counts
MIN_TARGET_PIXELS = 30
MIN_TARGET_POINTS = 20


# -- camera geometry ----------------------------------------------------------------------

class Intrinsics:
    """A camera's projection from a CameraInfo (pinhole, plumb_bob, rational, equidistant)."""

    def __init__(self, model: CameraModel) -> None:
        """Keep K and the distortion; no distortion when every coefficient is zero."""
        self.width = int(model.width)
        self.height = int(model.height)
        self.k = np.asarray(model.k, dtype=np.float64).reshape(3, 3)
        d = np.asarray(model.distortion, dtype=np.float64).reshape(-1)
        self.fisheye = model.distortion_model == 'equidistant'
        self.d = d if d.size and np.any(d) else None

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) of camera-frame points (N, 3) with z > 0."""
        if not len(points):
            return np.zeros((0, 2))
        if self.d is None:
            uvw = points @ self.k.T
            return uvw[:, :2] / uvw[:, 2:3]
        obj = points.reshape(-1, 1, 3).astype(np.float64)
        zero = np.zeros(3)
        if self.fisheye:
            uv, _ = cv2.fisheye.projectPoints(obj, zero, zero, self.k, self.d[:4])
        else:
            uv, _ = cv2.projectPoints(obj, zero, zero, self.k, self.d)
        return np.asarray(uv, dtype=np.float64).reshape(-1, 2)

    def rays(self, step: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the rays with unit z through every ``step``-th pixel, with their rows, cols.

        Returns:
            (rows (N,), cols (N,), rays (N, 3)).

        """
        rows, cols = np.mgrid[0:self.height:step, 0:self.width:step]
        pixels = np.stack([cols.ravel(), rows.ravel()], axis=1).astype(np.float64)
        xy: np.ndarray
        if self.d is None:
            xy = (pixels - self.k[:2, 2]) / np.diag(self.k)[:2]
        elif self.fisheye:
            xy = np.asarray(cv2.fisheye.undistortPoints(pixels.reshape(-1, 1, 2), self.k,
                                                        self.d[:4])).reshape(-1, 2)
        else:
            xy = np.asarray(cv2.undistortPoints(pixels.reshape(-1, 1, 2), self.k,
                                                self.d)).reshape(-1, 2)
        rays = np.column_stack([xy, np.ones(len(xy))])
        return rows.ravel(), cols.ravel(), rays


@dataclass(frozen=True)
class Projection:
    """Points in a camera's frame and where they land in its image."""

    points: np.ndarray     # (N, 3) camera frame
    front: np.ndarray      # (N,) z > MIN_Z_M
    inside: np.ndarray     # (N,) in front and within the image
    col: np.ndarray        # (N,) pixel column (rounded; -1 outside)
    row: np.ndarray        # (N,) pixel row

    @property
    def in_image_fraction(self) -> float | None:
        """Share of the points in front of the camera that land in the image."""
        front = int(np.count_nonzero(self.front))
        return float(np.count_nonzero(self.inside)) / front if front else None


def project_points(points: np.ndarray, camera: Intrinsics) -> Projection:
    """Project camera-frame ``points`` (N, 3) into ``camera``'s image."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    front = np.isfinite(points).all(axis=1) & (points[:, 2] > MIN_Z_M)
    col = np.full(len(points), -1, dtype=np.int64)
    row = np.full(len(points), -1, dtype=np.int64)
    uv = camera.project(points[front])
    with np.errstate(invalid='ignore'):
        c, r = np.round(uv[:, 0]), np.round(uv[:, 1])
        ok = np.isfinite(c) & np.isfinite(r) & (c >= 0) & (c < camera.width) & \
            (r >= 0) & (r < camera.height)
    index = np.flatnonzero(front)
    col[index[ok]] = c[ok].astype(np.int64)
    row[index[ok]] = r[ok].astype(np.int64)
    inside = col >= 0
    return Projection(points, front, inside, col, row)


def depth_metres(image: ImageArray) -> np.ndarray:
    """A depth image in metres (float64), NaN where it has no reading.

    16UC1 is millimetres (0: no reading); 32FC1 metres (NaN, inf or <= 0: none).
    """
    pixels = np.asarray(image.pixels)
    if pixels.ndim == 3:
        pixels = pixels[..., 0]
    depth = pixels.astype(np.float64)
    if image.encoding.upper() in ('16UC1', 'MONO16'):
        depth /= 1000.0
    depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
    return depth


def lidar_xyz(cloud: PointCloudArray) -> np.ndarray:
    """The finite x, y, z of a point cloud (N, 3) float64."""
    names = cloud.points.dtype.names or ()
    if not all(c in names for c in 'xyz'):
        return np.zeros((0, 3))
    xyz = np.stack([cloud.points[c].astype(np.float64) for c in 'xyz'], axis=1)
    return xyz[np.isfinite(xyz).all(axis=1)]


@dataclass(frozen=True)
class DepthComparison:
    """LiDAR points against a depth image: residuals where both see the same surface."""

    residuals: np.ndarray     # depth z - point z (m), of the points compared
    compared: int             # points on a valid depth pixel, not occluded
    occluded: int             # points behind what the camera sees (left out)


def compare_depth(projection: Projection, depth: np.ndarray) -> DepthComparison:
    """Residuals of the projected points on valid pixels of ``depth`` (metres)."""
    inside = np.flatnonzero(projection.inside)
    seen = depth[projection.row[inside], projection.col[inside]]
    valid = np.isfinite(seen)
    residual = seen[valid] - projection.points[inside[valid], 2]
    occluded = residual < -OCCLUSION_MARGIN_M
    return DepthComparison(residual[~occluded], int(np.count_nonzero(~occluded)),
                           int(np.count_nonzero(occluded)))


# -- edges --------------------------------------------------------------------------------

def _grid_extreme(cells: tuple[np.ndarray, np.ndarray], values: np.ndarray,
                  shape: tuple[int, int], lowest: bool) -> np.ndarray:
    grid = np.full(shape, np.inf if lowest else 0.0)
    (np.minimum if lowest else np.maximum).at(grid, cells, values)
    return grid


def lidar_edge_points(projection: Projection, shape: tuple[int, int]) -> np.ndarray:
    """Indices of projected points on the near side of a range jump, from the LiDAR alone.

    Points are rasterized in cells of ``EDGE_CELL_PX``. A point is visible when no point
    within one cell is more than ``OCCLUSION_MARGIN_M`` nearer (the LiDAR sees behind
    things the camera does not); a visible point is an edge point when a visible point
    within two cells is more than ``EDGE_JUMP_M`` farther.
    """
    inside = np.flatnonzero(projection.inside)
    if not len(inside):
        return inside
    grid = (-(-shape[0] // EDGE_CELL_PX), -(-shape[1] // EDGE_CELL_PX))
    cells = (projection.row[inside] // EDGE_CELL_PX, projection.col[inside] // EDGE_CELL_PX)
    z = projection.points[inside, 2]
    nearest = cv2.erode(_grid_extreme(cells, z, grid, True).astype(np.float32),
                        np.ones((3, 3), np.uint8), borderValue=np.inf)
    visible = z <= nearest[cells] + OCCLUSION_MARGIN_M
    vis_cells = (cells[0][visible], cells[1][visible])
    farthest = cv2.dilate(_grid_extreme(vis_cells, z[visible], grid, False).astype(
        np.float32), np.ones((5, 5), np.uint8), borderValue=0)
    edge = visible & (farthest[cells] - z > EDGE_JUMP_M)
    return np.asarray(inside[edge])


def depth_edges(depth: np.ndarray) -> np.ndarray:
    """Pixels on the near side of a depth jump of more than ``EDGE_JUMP_M`` (bool image)."""
    filled = np.nan_to_num(depth, nan=0.0).astype(np.float32)
    farthest = cv2.dilate(filled, np.ones((3, 3), np.uint8))
    return np.asarray((filled > 0) & (farthest - filled > EDGE_JUMP_M))


def rgb_edges(rgb: np.ndarray) -> np.ndarray:
    """Canny edges of an RGB (or mono) image (bool image)."""
    gray = rgb if rgb.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]),
                                                  cv2.COLOR_RGB2GRAY)
    if gray.dtype != np.uint8:
        low, high = float(np.min(gray)), float(np.max(gray))
        gray = ((gray - low) * (255.0 / (high - low or 1.0))).astype(np.uint8)
    return np.asarray(cv2.Canny(gray, 50, 150) > 0)


def edge_distances(edges: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Distance (pixels) from each pixel (rows, cols) to the nearest edge pixel."""
    if not edges.any():
        return np.zeros(0)
    far = np.where(edges, 0, 255).astype(np.uint8)
    distance = cv2.distanceTransform(far, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.asarray(distance[rows, cols], dtype=np.float64)


# -- ICP ----------------------------------------------------------------------------------

def depth_cloud(depth: np.ndarray, camera: Intrinsics, step: int = DEPTH_STEP_PX) -> np.ndarray:
    """The depth image back-projected into its camera's frame (N, 3), every ``step`` px."""
    rows, cols, rays = camera.rays(step)
    z = depth[rows, cols]
    ok = np.isfinite(z)
    return np.asarray(rays[ok] * z[ok, None])


def icp_correction(source: np.ndarray, target: np.ndarray) -> Transform | None:
    """Point-to-point ICP (open3d) moving ``source`` points onto ``target``'s points.

    Point-to-point rather than point-to-plane: on a scene of parallel planes the
    point-to-plane system is singular along the planes and its solution drifts by
    decimetres; point-to-point stays put in those directions.

    Returns the correction (a source point p belongs at ``correction.apply(p)``), or
    None with fewer than ``MIN_POINTS`` on either side or no overlap.
    """
    import open3d as o3d
    if len(source) < MIN_POINTS or len(target) < MIN_POINTS:
        return None
    src = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(source))
    src = src.voxel_down_sample(ICP_VOXEL_M)
    dst = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(target))
    result = o3d.pipelines.registration.registration_icp(
        src, dst, ICP_MAX_DISTANCE_M, np.eye(4),
        o3d.pipelines.registration.TransformationEstimationPointToPoint(),
        o3d.pipelines.registration.ICPConvergenceCriteria(max_iteration=30))
    if result.fitness <= 0:
        return None
    return Transform.from_matrix(np.asarray(result.transformation), 'ICP correction')


# -- hand-eye -----------------------------------------------------------------------------

def target_mask(rgb: np.ndarray, colour: tuple[int, int, int] = TARGET_RGB,
                tolerance: float = TARGET_TOLERANCE) -> np.ndarray:
    """Pixels within ``tolerance`` (RGB distance) of the target's colour (bool image)."""
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        return np.zeros(rgb.shape[:2], dtype=bool)
    diff = rgb[..., :3].astype(np.float32) - np.asarray(colour, dtype=np.float32)
    return np.asarray(np.einsum('...c,...c->...', diff, diff) <= tolerance ** 2)


def mask_centroid(mask: np.ndarray) -> np.ndarray | None:
    """The centroid (u, v) of a mask fully inside the image; None if too small or cut."""
    rows, cols = np.nonzero(mask)
    if len(rows) < MIN_TARGET_PIXELS:
        return None
    if rows.min() == 0 or cols.min() == 0 or rows.max() == mask.shape[0] - 1 or \
            cols.max() == mask.shape[1] - 1:
        return None
    return np.array([cols.mean(), rows.mean()])


def target_centre(projection: Projection, mask: np.ndarray) -> np.ndarray | None:
    """Indices-free centre (camera frame) of the LiDAR points landing on ``mask``.

    The median of those points, then again of those within 0.1 m of it (points seen
    through the target's silhouette, on the table behind it, are few and far).
    """
    inside = np.flatnonzero(projection.inside)
    on = inside[mask[projection.row[inside], projection.col[inside]]]
    if len(on) < MIN_TARGET_POINTS:
        return None
    points = projection.points[on]
    centre = np.median(points, axis=0)
    near = points[np.linalg.norm(points - centre, axis=1) < 0.1]
    return np.asarray(np.median(near, axis=0)) if len(near) >= MIN_TARGET_POINTS else None


def relative_pose(buffer: TransformBuffer, target: str, target_ns: int, source: str,
                  source_ns: int) -> Transform:
    """Pose of ``source`` at ``source_ns`` in ``target`` at ``target_ns``, via the root.

    Raises:
        TransformError: As ``TransformBuffer.lookup``.

    """
    root = buffer.root(target)
    return buffer.lookup(root, target, target_ns).inverse() * \
        buffer.lookup(root, source, source_ns)
