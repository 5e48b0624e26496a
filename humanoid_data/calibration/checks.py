"""Calibration checks of one recorded episode: do the sensors agree with /tf?

Every check compares what two sensors saw of the same scene after moving one into the
other through the episode's transforms (``episode_tf.episode_buffer``: /tf, /tf_static,
else the URDF). A bumped sensor mount shows as disagreement, because the recorded
transforms keep the nominal mount. On a sample of LiDAR scans inside the episode's
window (up to ``MAX_SCANS``, evenly spaced), each paired with the head depth image and
the head RGB image nearest in stamp (within ``PAIR_TOLERANCE_NS``):

- **LiDAR to depth.** Points are moved from the LiDAR frame at the scan's stamp into the
  depth camera's optical frame at the image's stamp (through the tree's root), projected
  with the depth camera's intrinsics (its paired CameraInfo). ``lidar_depth_in_image_
  fraction`` is the share of the points in front of the camera that land in the image.
  The depth residual is the depth image's z minus the point's z (metres) on valid depth
  pixels. A point whose residual is below ``-OCCLUSION_MARGIN_M`` is taken as occluded
  (the camera sees something nearer, the LiDAR saw behind it from its own viewpoint) and
  left out; everything else counts, including points the camera sees *behind* (positive
  residuals, the LiDAR point floats in front of what the camera sees, which is what a
  misaligned table edge looks like). ``lidar_depth_residual_median_m`` and
  ``lidar_depth_residual_p90_m`` are the median and 90th percentile of |residual|.
- **Edges.** LiDAR depth-edge points (visible points on the near side of a range jump of
  ``EDGE_JUMP_M`` in the camera's view, found from the LiDAR points alone) should lie on
  the image's edges: depth discontinuities in the depth image, Canny edges in the RGB
  image. ``lidar_depth_edge_px`` and ``lidar_rgb_edge_px`` are the median distance
  (pixels) from the projected edge points to the nearest image edge. A turned camera or
  LiDAR moves the projection off the edges whatever the axis; this is the RGB check, and
  it needs no knowledge of the scene beyond "it has edges".
- **Misalignment estimate.** Point-to-plane ICP (open3d) of the LiDAR points in the depth
  frame onto the depth image's back-projected cloud: ``lidar_depth_icp_deg`` and
  ``lidar_depth_icp_mm`` are the angle and the translation of the correction, the
  median over the sampled scans. A scene of parallel planes (a table over a floor)
  constrains only the tilt and the distance along their normal; rotations about the
  normal and slides along the planes come from the edges and objects alone and are
  underestimated.
- **Hand-eye.** A target of a known colour (``TARGET_RGB``, the simulator's red box) seen
  by the head RGB camera gives its centre from the LiDAR points landing on it; projected
  into each other camera with intrinsics (wrist cameras) through /tf at that image's
  stamp, it should fall on the target's centroid in that image. ``hand_eye_px.<stream>``
  is the median pixel distance over the frames where the target is fully in view; None
  with a note when the scene never allows it.

Gates (``core.quality.QualityGates``, ``calibration_flags``) turn the figures into flags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from humanoid_data.bag.decode import CameraModel, ImageArray, PointCloudArray
from humanoid_data.core.config import Modality, StreamConfig, SuiteConfig
from humanoid_data.core.quality import QualityGates, calibration_flags
from humanoid_data.core.rigid import Transform, TransformError
from humanoid_data.core.transforms import TransformBuffer
from humanoid_data.dataset.calibration import paired_info

if TYPE_CHECKING:
    from humanoid_data.bag.episode_reader import EpisodeReader
    from humanoid_data.calibration.episode_tf import EpisodeTransforms

MAX_SCANS = 10                  # LiDAR scans checked per episode
MAX_ICP_SCANS = 3               # of which this many also get the ICP estimate
PAIR_TOLERANCE_NS = 50_000_000  # an image this far from the scan's stamp at most
HAND_EYE_TOLERANCE_NS = 20_000_000  # a moving target: the wrist image this close only
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


@dataclass
class CalibrationReport:
    """Figures, flags and notes of the calibration checks of one episode."""

    metrics: dict[str, float | int | None] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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


# -- the episode --------------------------------------------------------------------------

def relative_pose(buffer: TransformBuffer, target: str, target_ns: int, source: str,
                  source_ns: int) -> Transform:
    """Pose of ``source`` at ``source_ns`` in ``target`` at ``target_ns``, via the root.

    Raises:
        TransformError: As ``TransformBuffer.lookup``.

    """
    root = buffer.root(target)
    return buffer.lookup(root, target, target_ns).inverse() * \
        buffer.lookup(root, source, source_ns)


@dataclass
class _Camera:
    stream: StreamConfig
    intrinsics: Intrinsics | None = None
    stamps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _inside(stamps: np.ndarray, window_ns: tuple[int, int]) -> np.ndarray:
    return np.flatnonzero((stamps >= window_ns[0]) & (stamps <= window_ns[1]))


def _nearest(stamps: np.ndarray, stamp_ns: int, tolerance_ns: int) -> int | None:
    if not len(stamps):
        return None
    k = int(np.argmin(np.abs(stamps - stamp_ns)))
    return k if abs(int(stamps[k]) - stamp_ns) <= tolerance_ns else None


def _intrinsics(reader: EpisodeReader, stream: StreamConfig, window_ns: tuple[int, int],
                notes: list[str]) -> Intrinsics | None:
    info = paired_info(reader.suite, stream)
    entry = reader.samples.get(info.topic) if info is not None else None
    if info is None or entry is None or not len(entry.header_ns):
        notes.append(f'{stream.name}: no CameraInfo for {stream.topic}')
        return None
    stamps = entry.arrays()[0]
    inside = _inside(stamps, window_ns)
    index = int(inside[0]) if len(inside) else int(np.argmin(np.abs(stamps - window_ns[0])))
    for _, value in reader.read(info.topic, {index}):
        if isinstance(value, CameraModel) and value.k[0, 0] > 0:
            return Intrinsics(value)
    notes.append(f'{stream.name}: {info.topic} holds no calibrated CameraInfo')
    return None


def _stream(reader: EpisodeReader, modality: Modality,
            name_hint: str = '') -> StreamConfig | None:
    found = [s for s in reader.suite.streams if s.modality == modality
             and s.topic in reader.samples and len(reader.samples[s.topic].header_ns)]
    hinted = [s for s in found if name_hint and name_hint in s.name]
    return (hinted or found)[0] if found else None


def _median(values: list[np.ndarray] | list[float], q: float = 50.0) -> float | None:
    flat = np.concatenate([np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in values]) \
        if values else np.zeros(0)
    return round(float(np.percentile(flat, q)), 6) if len(flat) else None


def check_episode(reader: EpisodeReader, transforms: EpisodeTransforms,
                  window_ns: tuple[int, int], gates: QualityGates) -> CalibrationReport:
    """Run the calibration checks (module docstring) on one scanned episode.

    Args:
        reader: The episode, after ``scan`` (pass 1: stamps of every stream).
        transforms: Its transforms (``episode_tf.episode_buffer``).
        window_ns: (start, stop) on the robot clock; scans outside are not used.
        gates: The limits that turn figures into flags.

    Returns:
        Figures (None where the episode does not allow one, with a note), flags, notes.

    Raises:
        BagError: The bag cannot be read, naming it and the topic.

    """
    report = CalibrationReport()
    m, notes = report.metrics, report.notes
    for key in ('calib_scans', 'lidar_depth_in_image_fraction', 'lidar_depth_residual_median_m',
                'lidar_depth_residual_p90_m', 'lidar_depth_occluded_fraction',
                'lidar_depth_edge_px', 'lidar_rgb_in_image_fraction', 'lidar_rgb_edge_px',
                'lidar_depth_icp_deg', 'lidar_depth_icp_mm'):
        m[key] = None
    m['calib_scans'] = 0
    lidar = _stream(reader, Modality.LIDAR)
    depth_stream = _stream(reader, Modality.DEPTH, 'head')
    if lidar is None:
        notes.append('calibration: no LiDAR scans in the episode, nothing to check against')
        return report
    if transforms.source == 'none':
        notes.append('calibration: the episode has no transforms')
        return report
    depth = _Camera(depth_stream) if depth_stream is not None else None
    rgb_stream = None
    if depth is not None:
        depth.intrinsics = _intrinsics(reader, depth.stream, window_ns, notes)
        depth.stamps = reader.samples[depth.stream.topic].arrays()[0]
        info = paired_info(reader.suite, depth.stream)
        rgb_stream = next((s for s in reader.suite.streams if s.modality == Modality.RGB
                           and s.topic in reader.samples
                           and len(reader.samples[s.topic].header_ns)
                           and info is not None and paired_info(reader.suite, s) == info),
                          None)
    else:
        notes.append('calibration: no depth camera in the episode')
    rgb = _Camera(rgb_stream) if rgb_stream is not None else None
    if rgb is not None:
        rgb.intrinsics = _intrinsics(reader, rgb.stream, window_ns, notes)
        rgb.stamps = reader.samples[rgb.stream.topic].arrays()[0]
    others = [_Camera(s) for s in reader.suite.streams
              if s.modality == Modality.RGB and s is not rgb_stream
              and s.topic in reader.samples and len(reader.samples[s.topic].header_ns)]
    for cam in others:
        cam.intrinsics = _intrinsics(reader, cam.stream, window_ns, [])
        cam.stamps = reader.samples[cam.stream.topic].arrays()[0]
        m[f'hand_eye_px.{cam.stream.name}'] = None

    scan_stamps = reader.samples[lidar.topic].arrays()[0]
    inside = _inside(scan_stamps, window_ns)
    if not len(inside):
        notes.append(f'calibration: no LiDAR scan on {lidar.topic} inside the episode')
        return report
    order = inside[np.argsort(scan_stamps[inside], kind='stable')]
    chosen = order[np.unique(np.round(np.linspace(0, len(order) - 1,
                                                  min(MAX_SCANS, len(order)))).astype(int))]

    def pairs(cam: _Camera | None, tolerance_ns: int) -> dict[int, int]:
        if cam is None or cam.intrinsics is None:
            return {}
        found = {}
        for scan in chosen:
            k = _nearest(cam.stamps, int(scan_stamps[scan]), tolerance_ns)
            if k is not None:
                found[int(scan)] = k
        return found

    depth_pairs = pairs(depth, PAIR_TOLERANCE_NS)
    rgb_pairs = pairs(rgb, PAIR_TOLERANCE_NS)
    other_pairs = {cam.stream.name: pairs(cam, HAND_EYE_TOLERANCE_NS) for cam in others}
    # One read for all of them: a scan and the images paired with it share a chunk.
    wanted: dict[str, set[int]] = {lidar.topic: {int(i) for i in chosen}}
    paired_cams: list[tuple[_Camera | None, dict[int, int]]] = [
        (depth, depth_pairs), (rgb, rgb_pairs)]
    for camera, paired in paired_cams + [(c, other_pairs[c.stream.name]) for c in others]:
        if camera is not None:
            wanted.setdefault(camera.stream.topic, set()).update(paired.values())
    read = reader.read_sparse(wanted)
    scans = read[lidar.topic]
    depths = read[depth.stream.topic] if depth else {}
    rgbs = read[rgb.stream.topic] if rgb else {}
    other_images = {cam.stream.name: read[cam.stream.topic] for cam in others}

    acc: dict[str, list[Any]] = {k: [] for k in (
        'd_front', 'd_in', 'residual', 'occluded', 'compared', 'd_edge', 'r_front', 'r_in',
        'r_edge', 'icp_deg', 'icp_mm')}
    hand_eye: dict[str, list[float]] = {cam.stream.name: [] for cam in others}
    buffer = transforms.buffer
    failed: set[str] = set()

    def pose(frame: str, frame_ns: int, cloud: PointCloudArray) -> Transform | None:
        try:
            return relative_pose(buffer, frame, frame_ns, cloud.frame_id, cloud.header_ns)
        except TransformError as err:
            failed.add(str(err))
            return None

    for scan in (int(s) for s in chosen):
        cloud = scans.get(scan)
        if not isinstance(cloud, PointCloudArray):
            continue
        xyz = lidar_xyz(cloud)
        if len(xyz) < MIN_POINTS:
            continue
        m['calib_scans'] = int(m['calib_scans'] or 0) + 1
        image = depths.get(depth_pairs.get(scan, -1))
        if depth is not None and depth.intrinsics is not None and \
                isinstance(image, ImageArray):
            t = pose(image.frame_id, image.header_ns, cloud)
            if t is not None:
                d = depth_metres(image)
                proj = project_points(t.apply(xyz), depth.intrinsics)
                acc['d_front'].append(int(proj.front.sum()))
                acc['d_in'].append(int(proj.inside.sum()))
                cmp = compare_depth(proj, d)
                acc['residual'].append(np.abs(cmp.residuals))
                acc['occluded'].append(cmp.occluded)
                acc['compared'].append(cmp.compared)
                edge = lidar_edge_points(proj, d.shape)
                acc['d_edge'].append(edge_distances(depth_edges(d), proj.row[edge],
                                                    proj.col[edge]))
                if len(acc['icp_deg']) < MAX_ICP_SCANS:
                    _icp(proj, d, depth.intrinsics, acc)
        image = rgbs.get(rgb_pairs.get(scan, -1))
        if rgb is None or rgb.intrinsics is None or not isinstance(image, ImageArray):
            continue
        t = pose(image.frame_id, image.header_ns, cloud)
        if t is None:
            continue
        proj = project_points(t.apply(xyz), rgb.intrinsics)
        acc['r_front'].append(int(proj.front.sum()))
        acc['r_in'].append(int(proj.inside.sum()))
        edge = lidar_edge_points(proj, image.pixels.shape[:2])
        acc['r_edge'].append(edge_distances(rgb_edges(image.pixels), proj.row[edge],
                                            proj.col[edge]))
        centre = target_centre(proj, target_mask(image.pixels))
        if centre is None:
            continue
        centre_lidar = t.inverse().apply(centre)
        for cam in others:
            seen = other_images[cam.stream.name].get(other_pairs[cam.stream.name].get(scan, -1))
            if cam.intrinsics is None or not isinstance(seen, ImageArray):
                continue
            found = mask_centroid(target_mask(seen.pixels))
            t_cam = pose(seen.frame_id, seen.header_ns, cloud)
            if found is None or t_cam is None:
                continue
            p = t_cam.apply(centre_lidar)
            if p[2] <= MIN_Z_M:
                continue
            hand_eye[cam.stream.name].append(
                float(np.linalg.norm(cam.intrinsics.project(p[None, :])[0] - found)))

    _summarize(m, acc, hand_eye, notes)
    for err in sorted(failed)[:3]:
        notes.append(f'calibration: a transform lookup failed: {err}')
    report.flags.extend(calibration_flags(m, gates))
    return report


def _icp(proj: Projection, depth: np.ndarray, camera: Intrinsics,
         acc: dict[str, list[Any]]) -> None:
    inside = np.flatnonzero(proj.inside)
    seen = depth[proj.row[inside], proj.col[inside]]
    residual = seen - proj.points[inside, 2]
    keep = inside[np.isfinite(residual) & (np.abs(residual) < 2 * OCCLUSION_MARGIN_M)]
    correction = icp_correction(proj.points[keep], depth_cloud(depth, camera))
    if correction is not None:
        acc['icp_deg'].append(math.degrees(float(correction.rotation.magnitude())))
        acc['icp_mm'].append(1000.0 * float(np.linalg.norm(correction.translation)))


def _fraction(part: list[int], whole: list[int]) -> float | None:
    return round(sum(part) / sum(whole), 4) if sum(whole) else None


def _summarize(m: dict[str, float | int | None], acc: dict[str, list[Any]],
               hand_eye: dict[str, list[float]], notes: list[str]) -> None:
    m['lidar_depth_in_image_fraction'] = _fraction(acc['d_in'], acc['d_front'])
    m['lidar_rgb_in_image_fraction'] = _fraction(acc['r_in'], acc['r_front'])
    if sum(acc['compared']) >= MIN_POINTS:
        m['lidar_depth_residual_median_m'] = _median(acc['residual'])
        m['lidar_depth_residual_p90_m'] = _median(acc['residual'], 90.0)
    m['lidar_depth_occluded_fraction'] = _fraction(
        acc['occluded'], [a + b for a, b in zip(acc['occluded'], acc['compared'])])
    for key, name in (('d_edge', 'lidar_depth_edge_px'), ('r_edge', 'lidar_rgb_edge_px')):
        if sum(len(v) for v in acc[key]) >= MIN_POINTS:
            value = _median(acc[key])
            m[name] = round(value, 3) if value is not None else None
        elif acc[key]:
            notes.append(f'calibration: too few LiDAR edge points for {name}')
    if acc['icp_deg']:
        m['lidar_depth_icp_deg'] = round(float(np.median(acc['icp_deg'])), 4)
        m['lidar_depth_icp_mm'] = round(float(np.median(acc['icp_mm'])), 2)
    for name, errors in hand_eye.items():
        if errors:
            m[f'hand_eye_px.{name}'] = round(float(np.median(errors)), 3)
            m[f'hand_eye_frames.{name}'] = len(errors)
        else:
            notes.append(f'calibration: hand-eye of {name} not checked: the target '
                         f'(RGB {TARGET_RGB}) is never fully in its view and in the head '
                         'camera\'s with LiDAR points on it at the same time')
    if m['lidar_depth_in_image_fraction'] is None and m['lidar_rgb_in_image_fraction'] is None:
        notes.append('calibration: no LiDAR scan paired with a head camera image')


def episode_window(reader: EpisodeReader) -> tuple[int, int]:
    """The episode's (start, stop): from its metadata, else its LiDAR scans' stamps."""
    start, stop = reader.meta.start_ns, reader.meta.stop_ns
    if start is not None and stop is not None:
        return int(start), int(stop)
    lidar = _stream(reader, Modality.LIDAR)
    stamps = reader.samples[lidar.topic].arrays()[0] if lidar is not None else np.zeros(1)
    return (int(start) if start is not None else int(stamps.min()),
            int(stop) if stop is not None else int(stamps.max()))


def check_folder(episode_dir: str | Path, gates: QualityGates,
                 suite: SuiteConfig | None = None) -> CalibrationReport:
    """Scan the episode at ``episode_dir`` and run ``check_episode`` on its window.

    Raises:
        BagError: The bag cannot be read or decoded, naming it and the topic.
        ConfigError: No suite for it (``suite`` is the fallback).
        TransformError: Its transforms contradict each other.

    """
    from humanoid_data.bag.episode_reader import EpisodeReader
    from humanoid_data.calibration.episode_tf import episode_buffer
    reader = EpisodeReader(episode_dir, suite)
    reader.scan()
    try:
        return check_episode(reader, episode_buffer(reader), episode_window(reader), gates)
    finally:
        reader.close_samples()
