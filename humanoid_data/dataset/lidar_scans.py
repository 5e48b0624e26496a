"""LiDAR sidecar of an episode: the scans its frames use, cropped and voxel-downsampled.

Each scan is cropped to the box of ``dataset.yaml`` (``lidar.crop_min``/``crop_max``)
before open3d sees it, then voxel-downsampled (``lidar.voxel_m``) and appended to one
HDF5 file, so memory holds one scan at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from humanoid_data.bag.decode import PointCloudArray
from humanoid_data.dataset.config import DatasetConfig
from humanoid_data.dataset.episode import EpisodeData, FramePlan


def write_lidar(data: EpisodeData, plan: FramePlan, config: DatasetConfig,
                path: Path) -> int:
    """Crop each scan the frames use, voxel-downsample it (open3d), append it to ``path``.

    Returns the number of points kept.

    Layout: ``points`` (P, 3) float32 of all scans one after another, ``offsets`` (S + 1,)
    where scan s is ``points[offsets[s]:offsets[s + 1]]``, ``scan_index`` (S,) the scan's
    index in the bag, ``frame_scan`` (frames,) which stored scan each frame uses.
    """
    import h5py
    import open3d as o3d
    low, high = np.array(config.lidar.crop_min), np.array(config.lidar.crop_max)
    wanted = sorted(set(int(i) for i in plan.index))
    with h5py.File(path, 'w') as h5:
        points = h5.create_dataset('points', shape=(0, 3), maxshape=(None, 3),
                                   dtype=np.float32, chunks=(8192, 3), compression='gzip')
        offsets, stored = [0], []
        for index, cloud in data.reader.read(plan.topic, set(wanted)):
            assert isinstance(cloud, PointCloudArray)
            xyz = np.stack([cloud.points[c].astype(np.float64) for c in ('x', 'y', 'z')], 1)
            # The crop box as a mask (NaN fails it) before open3d sees the points: building
            # its point cloud is the costly step, and most of a scan is outside the box.
            inside = xyz[np.all((xyz >= low) & (xyz <= high), axis=1)]
            pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(inside))
            kept = np.asarray(pcd.voxel_down_sample(config.lidar.voxel_m).points,
                              dtype=np.float32)
            points.resize(offsets[-1] + len(kept), axis=0)
            points[offsets[-1]:] = kept
            offsets.append(offsets[-1] + len(kept))
            stored.append(index)
        h5.create_dataset('offsets', data=np.array(offsets, dtype=np.int64))
        h5.create_dataset('scan_index', data=np.array(stored, dtype=np.int64))
        position = {scan: i for i, scan in enumerate(stored)}
        h5.create_dataset('frame_scan', data=np.array(
            [position.get(int(i), -1) for i in plan.index], dtype=np.int64))
        h5.attrs['voxel_m'] = config.lidar.voxel_m
        h5.attrs['crop_min'] = config.lidar.crop_min
        h5.attrs['crop_max'] = config.lidar.crop_max
    return offsets[-1]
