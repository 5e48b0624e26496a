"""LiDAR sidecar of an episode: the scans its frames use, cropped and voxel-downsampled.

Each scan is cropped to the box of ``dataset.yaml`` (``lidar.crop_min``/``crop_max``)
before open3d sees it, then voxel-downsampled (``lidar.voxel_m``) and appended to one
HDF5 file, so memory holds one scan at a time; the scans come from the same pass over
the bag that feeds the cameras. With ``calibration.lidar_in_base`` the kept points are
then moved into the base frame at each scan's stamp (``scan_poses``, looked up when the
episode is assembled); the crop box stays in the sensor frame. The file's ``frame``
attribute says which frame the points are in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.transform import Rotation

from humanoid_data.bag.decode import ImageArray, PointCloudArray
from humanoid_data.core.rigid import TransformError
from humanoid_data.core.transforms import TransformBuffer
from humanoid_data.dataset.config import DatasetConfig
from humanoid_data.dataset.extrinsics import message_frame_id
from humanoid_data.errors import BagError

if TYPE_CHECKING:
    from humanoid_data.dataset.episode import EpisodeData, FramePlan


@dataclass(frozen=True)
class ScanPoses:
    """The LiDAR's pose in the base frame at each scan the frames use."""

    frame: str                  # the scans' header.frame_id
    base_frame: str
    index: np.ndarray           # bag-order index of each scan, sorted
    translations: np.ndarray    # (S, 3) m
    rotations: Rotation         # S rotations


def scan_poses(data: EpisodeData, plan: FramePlan, base_frame: str,
               buffer: TransformBuffer | None, why_none: str) -> ScanPoses | None:
    """Where the LiDAR was at each scan the frames use; None (and a note) if unknown.

    Raises:
        BagError: The bag cannot be read, naming it and the topic.

    """
    wanted = np.unique(plan.index.astype(np.int64))
    if buffer is None or not len(wanted):
        data.notes.append(f'{plan.topic}: scans stay in the sensor frame: '
                          f'{why_none or "no scans"}')
        return None
    stamps = data.reader.samples[plan.topic].arrays()[0][wanted]
    try:
        frame = message_frame_id(data.reader, plan.topic, int(wanted[0]))
        translations, rotations = buffer.lookup_many(base_frame, frame, stamps)
    except (TransformError, BagError) as err:
        data.notes.append(f'{plan.topic}: scans stay in the sensor frame: {err}')
        return None
    return ScanPoses(frame, base_frame, wanted, translations, rotations)


class LidarSink:
    """The LiDAR sidecar, fed the scans the frames use in frame order (one pass, shared).

    Each scan is cropped to the box of ``dataset.yaml`` (a NaN fails it) before open3d
    sees it, voxel-downsampled (open3d), moved into the base frame when
    ``data.scan_poses`` holds this stream's poses, and appended to ``path``, so memory
    holds one scan at a time.

    Layout: ``points`` (P, 3) float32 of all scans one after another, ``offsets`` (S + 1,)
    where scan s is ``points[offsets[s]:offsets[s + 1]]``, ``scan_index`` (S,) the scan's
    index in the bag, ``frame_scan`` (frames,) which stored scan each frame uses; attrs
    ``frame`` (the points' frame: the sensor's, or the base frame) and ``sensor_frame``.
    """

    stage = 'lidar'

    def __init__(self, data: EpisodeData, plan: FramePlan, config: DatasetConfig,
                 path: Path) -> None:
        """Open ``path`` for writing."""
        import h5py
        import open3d as o3d
        self.o3d = o3d
        self.plan, self.config = plan, config
        self.low = np.array(config.lidar.crop_min)
        self.high = np.array(config.lidar.crop_max)
        self.poses = data.scan_poses.get(plan.key)
        self.row = ({int(i): k for k, i in enumerate(self.poses.index)}
                    if self.poses is not None else {})
        self.h5 = h5py.File(path, 'w')
        self.points = self.h5.create_dataset('points', shape=(0, 3), maxshape=(None, 3),
                                             dtype=np.float32, chunks=(8192, 3),
                                             compression='gzip')
        self.offsets: list[int] = [0]
        self.stored: list[int] = []
        self.sensor_frame = ''

    def feed(self, frame: int, index: int, cloud: PointCloudArray | ImageArray) -> None:
        """Frame ``frame`` uses scan ``index``; a scan is stored once, at its first frame."""
        del frame
        if self.stored and self.stored[-1] == index:
            return
        assert isinstance(cloud, PointCloudArray)
        xyz = np.stack([cloud.points[c].astype(np.float64) for c in ('x', 'y', 'z')], 1)
        # The crop box as a mask before open3d sees the points: building its point cloud
        # is the costly step, and most of a scan is outside the box.
        inside = xyz[np.all((xyz >= self.low) & (xyz <= self.high), axis=1)]
        pcd = self.o3d.geometry.PointCloud(self.o3d.utility.Vector3dVector(inside))
        kept64 = np.asarray(pcd.voxel_down_sample(self.config.lidar.voxel_m).points)
        if self.poses is not None:
            k = self.row[index]
            kept64 = self.poses.rotations[k].apply(kept64.reshape(-1, 3)) + \
                self.poses.translations[k]
        kept = kept64.astype(np.float32).reshape(-1, 3)
        self.sensor_frame = self.sensor_frame or cloud.frame_id
        self.points.resize(self.offsets[-1] + len(kept), axis=0)
        self.points[self.offsets[-1]:] = kept
        self.offsets.append(self.offsets[-1] + len(kept))
        self.stored.append(index)

    def finish(self) -> int:
        """Write the index datasets and attributes, close the file; the points kept."""
        h5, config = self.h5, self.config
        try:
            h5.create_dataset('offsets', data=np.array(self.offsets, dtype=np.int64))
            h5.create_dataset('scan_index', data=np.array(self.stored, dtype=np.int64))
            position = {scan: i for i, scan in enumerate(self.stored)}
            h5.create_dataset('frame_scan', data=np.array(
                [position.get(int(i), -1) for i in self.plan.index], dtype=np.int64))
            h5.attrs['voxel_m'] = config.lidar.voxel_m
            h5.attrs['crop_min'] = config.lidar.crop_min
            h5.attrs['crop_max'] = config.lidar.crop_max
            h5.attrs['sensor_frame'] = self.sensor_frame
            h5.attrs['frame'] = (self.poses.base_frame if self.poses is not None
                                 else self.sensor_frame)
        finally:
            h5.close()
        return self.offsets[-1]

    def close(self) -> None:
        """Close the file (after an error)."""
        self.h5.close()
