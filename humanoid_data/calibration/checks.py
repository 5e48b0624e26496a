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
- **Misalignment estimate.** Point-to-point ICP (open3d) of the LiDAR points in the depth
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

import numpy as np

from humanoid_data.bag.decode import CameraModel, ImageArray, PointCloudArray
from humanoid_data.calibration.geometry import (  # noqa: F401 - the checks' geometry, here too
    MIN_POINTS, MIN_Z_M, OCCLUSION_MARGIN_M, TARGET_RGB, Intrinsics, Projection,
    compare_depth, depth_cloud, depth_edges, depth_metres, edge_distances, icp_correction,
    lidar_edge_points, lidar_xyz, mask_centroid, project_points, relative_pose, rgb_edges,
    target_centre, target_mask)
from humanoid_data.core.config import Modality, StreamConfig, SuiteConfig
from humanoid_data.core.quality import QualityGates, calibration_flags
from humanoid_data.core.rigid import Transform, TransformError
from humanoid_data.dataset.calibration import paired_info

if TYPE_CHECKING:
    from humanoid_data.bag.episode_reader import EpisodeReader
    from humanoid_data.calibration.episode_tf import EpisodeTransforms

MAX_SCANS = 10                  # LiDAR scans checked per episode
MAX_ICP_SCANS = 3               # of which this many also get the ICP estimate
PAIR_TOLERANCE_NS = 50_000_000  # an image this far from the scan's stamp at most
HAND_EYE_TOLERANCE_NS = 20_000_000  # a moving target: the wrist image this close only


@dataclass
class CalibrationReport:
    """Figures, flags and notes of the calibration checks of one episode."""

    metrics: dict[str, float | int | None] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- the episode --------------------------------------------------------------------------

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


def _cameras(reader: EpisodeReader, window_ns: tuple[int, int], notes: list[str]
             ) -> tuple[_Camera | None, _Camera | None, list[_Camera]]:
    """(head depth camera, the RGB camera paired with it, every other RGB camera).

    Each with its intrinsics (None with a note when its CameraInfo is missing) and its
    stamps.
    """
    def camera(stream: StreamConfig, notes: list[str]) -> _Camera:
        found = _Camera(stream)
        found.intrinsics = _intrinsics(reader, stream, window_ns, notes)
        found.stamps = reader.samples[stream.topic].arrays()[0]
        return found

    depth_stream = _stream(reader, Modality.DEPTH, 'head')
    rgb_stream = None
    if depth_stream is not None:
        info = paired_info(reader.suite, depth_stream)
        rgb_stream = next((s for s in reader.suite.streams if s.modality == Modality.RGB
                           and s.topic in reader.samples
                           and len(reader.samples[s.topic].header_ns)
                           and info is not None and paired_info(reader.suite, s) == info),
                          None)
    else:
        notes.append('calibration: no depth camera in the episode')
    depth = camera(depth_stream, notes) if depth_stream is not None else None
    rgb = camera(rgb_stream, notes) if rgb_stream is not None else None
    others = [camera(s, []) for s in reader.suite.streams
              if s.modality == Modality.RGB and s is not rgb_stream
              and s.topic in reader.samples and len(reader.samples[s.topic].header_ns)]
    return depth, rgb, others


def _pairs(cam: _Camera | None, chosen: np.ndarray, scan_stamps: np.ndarray,
           tolerance_ns: int) -> dict[int, int]:
    """Scan index -> index of ``cam``'s image nearest in stamp (within the tolerance)."""
    if cam is None or cam.intrinsics is None:
        return {}
    found = {}
    for scan in chosen:
        k = _nearest(cam.stamps, int(scan_stamps[scan]), tolerance_ns)
        if k is not None:
            found[int(scan)] = k
    return found


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
    if lidar is None:
        notes.append('calibration: no LiDAR scans in the episode, nothing to check against')
        return report
    if transforms.source == 'none':
        notes.append('calibration: the episode has no transforms')
        return report
    depth, rgb, others = _cameras(reader, window_ns, notes)
    for cam in others:
        m[f'hand_eye_px.{cam.stream.name}'] = None

    scan_stamps = reader.samples[lidar.topic].arrays()[0]
    inside = _inside(scan_stamps, window_ns)
    if not len(inside):
        notes.append(f'calibration: no LiDAR scan on {lidar.topic} inside the episode')
        return report
    order = inside[np.argsort(scan_stamps[inside], kind='stable')]
    chosen = order[np.unique(np.round(np.linspace(0, len(order) - 1,
                                                  min(MAX_SCANS, len(order)))).astype(int))]

    depth_pairs = _pairs(depth, chosen, scan_stamps, PAIR_TOLERANCE_NS)
    rgb_pairs = _pairs(rgb, chosen, scan_stamps, PAIR_TOLERANCE_NS)
    other_pairs = {cam.stream.name: _pairs(cam, chosen, scan_stamps, HAND_EYE_TOLERANCE_NS)
                   for cam in others}
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
                _depth_figures(t.apply(xyz), depth_metres(image), depth.intrinsics, acc)
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
            error = _hand_eye_px(seen, cam.intrinsics, centre_lidar,
                                 pose(seen.frame_id, seen.header_ns, cloud))
            if error is not None:
                hand_eye[cam.stream.name].append(error)

    _summarize(m, acc, hand_eye, notes)
    for err in sorted(failed)[:3]:
        notes.append(f'calibration: a transform lookup failed: {err}')
    report.flags.extend(calibration_flags(m, gates))
    return report


def _depth_figures(points: np.ndarray, depth: np.ndarray, camera: Intrinsics,
                   acc: dict[str, list[Any]]) -> None:
    """One scan against the depth image: points already in the depth optical frame."""
    proj = project_points(points, camera)
    acc['d_front'].append(int(proj.front.sum()))
    acc['d_in'].append(int(proj.inside.sum()))
    cmp = compare_depth(proj, depth)
    acc['residual'].append(np.abs(cmp.residuals))
    acc['occluded'].append(cmp.occluded)
    acc['compared'].append(cmp.compared)
    edge = lidar_edge_points(proj, depth.shape)
    acc['d_edge'].append(edge_distances(depth_edges(depth), proj.row[edge], proj.col[edge]))
    if len(acc['icp_deg']) < MAX_ICP_SCANS:
        _icp(proj, depth, camera, acc)


def _hand_eye_px(image: ImageArray, camera: Intrinsics, centre_lidar: np.ndarray,
                 lidar_in_camera: Transform | None) -> float | None:
    """Pixels between the target's centre seen by the LiDAR and by ``image``'s camera."""
    found = mask_centroid(target_mask(image.pixels))
    if found is None or lidar_in_camera is None:
        return None
    p = lidar_in_camera.apply(centre_lidar)
    if p[2] <= MIN_Z_M:
        return None
    return float(np.linalg.norm(camera.project(p[None, :])[0] - found))


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
