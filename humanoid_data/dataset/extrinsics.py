"""Each camera's extrinsics per episode: the pose of its optical frame in the base frame.

A camera's frame is the ``header.frame_id`` of its images (the first image the episode's
frames use). Its extrinsics are the pose of that frame in ``calibration.base_frame`` of
dataset.yaml, from the episode's transforms (``calibration.episode_tf``: /tf and
/tf_static, else the URDF's forward kinematics of the joint states):

- **fixed** (every edge between the two frames is static): one pose for the episode;
- **moving**: one pose per dataset frame, interpolated at the capture stamp of the image
  that frame uses; a frame without an image within tolerance takes its own instant and
  is invalid (the camera's ``valid`` in the stamps says which).

A pose is ``x, y, z, qx, qy, qz, qw``: metres and a unit quaternion, mapping points in
the camera's frame into base_frame (tf2's ``lookup_transform(base_frame, camera_frame)``).
A moving camera's quaternions keep one sign from frame to frame (the first has w >= 0).
When the pose cannot be looked up (unknown frame, gap, extrapolation, no transforms),
the record says ``none`` with the reason and the episode still converts.

The record sits beside the camera's intrinsics (``calibration.json``:
``cameras.<key>.extrinsics``; HDF5: ``calibration/<name>/extrinsics`` and its attrs). A
moving camera's poses are also the per-frame key ``observation.extrinsics.<name>``
(float32 in LeRobot's parquet) and, in float64, ``<stream>.extrinsics`` of the stamps.

With ``calibration.wrench_in_base``, each wrench key gets a twin
``observation.wrench_base.<side>``: force and torque rotated into base_frame at the
frame's instant (the torque stays about the sensor's origin; nothing is shifted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from humanoid_data.bag.stamps import header_frame_id
from humanoid_data.calibration.episode_tf import EpisodeTransforms, episode_buffer
from humanoid_data.core.config import Modality
from humanoid_data.core.rigid import TransformError
from humanoid_data.core.sync import Policy
from humanoid_data.core.transforms import TransformBuffer
from humanoid_data.dataset.calibration import CAMERAS, NONE, OK
from humanoid_data.errors import BagError, DecodeError

if TYPE_CHECKING:
    from humanoid_data.bag.episode_reader import EpisodeReader
    from humanoid_data.dataset.config import DatasetConfig
    from humanoid_data.dataset.episode import EpisodeData

NAMES = ['x', 'y', 'z', 'qx', 'qy', 'qz', 'qw']
FEATURE_PREFIX = 'observation.extrinsics.'
WRENCH_PREFIX = 'observation.wrench_base.'
STAMPS_NAME = 'extrinsics'          # stamps: <stream>.extrinsics (frames, 7) float64
UNIT_TOLERANCE = 1e-3               # |q| - 1 accepted by validate


@dataclass(frozen=True)
class CameraExtrinsics:
    """One camera's extrinsics in one episode (module docstring)."""

    key: str                        # the camera's dataset key
    stream: str
    frame: str                      # header.frame_id of its images ('' if unknown)
    base_frame: str
    status: str                     # ok | none
    moving: bool = False
    reason: str = ''
    pose: np.ndarray | None = None  # float64 (7,) fixed, (frames, 7) moving
    valid: np.ndarray | None = None  # moving: the frame's image stamp was used

    def to_json(self) -> dict[str, Any]:
        """The ``extrinsics`` entry of the camera's record in ``calibration.json``."""
        record: dict[str, Any] = {'frame': self.frame or None, 'base_frame': self.base_frame,
                                  'status': self.status, 'moving': self.moving,
                                  'reason': self.reason or None}
        if self.status == OK and self.pose is not None:
            if self.moving:
                record['feature'] = feature_key(self.key)
                record['frames'] = len(self.pose)
                record['invalid_frames'] = int(np.count_nonzero(~self.valid)) \
                    if self.valid is not None else 0
            else:
                record['translation'] = self.pose[:3].tolist()
                record['quaternion_xyzw'] = self.pose[3:].tolist()
        return record


def feature_key(camera_key: str) -> str:
    """``observation.images.head`` -> ``observation.extrinsics.images_head``."""
    return FEATURE_PREFIX + camera_key.removeprefix('observation.').replace('.', '_')


def message_frame_id(reader: EpisodeReader, topic: str, index: int = 0) -> str:
    """The frame_id of the message at bag-order ``index`` of ``topic``.

    Raises:
        BagError: The bag cannot be read, the message is not there or has no header.

    """
    entry = reader.samples.get(topic)
    if entry is not None and entry.frame_id is not None and 0 <= index < len(entry.header_ns):
        return entry.frame_id           # pass 1 saw the same frame_id in every message
    for position, (_, _, raw) in enumerate(reader.messages_of(topic)):
        if position == index:
            try:
                return header_frame_id(raw)
            except DecodeError as err:
                raise BagError(f'{reader.path}: topic {topic}: {err}') from err
    raise BagError(f'{reader.path}: topic {topic} has no message {index}')


def episode_transforms(reader: EpisodeReader, notes: list[str]
                       ) -> tuple[EpisodeTransforms | None, str]:
    """The episode's transforms, or None and why; ``episode_tf``'s notes go to ``notes``."""
    try:
        found: EpisodeTransforms = episode_buffer(reader)
    except (TransformError, BagError) as err:
        notes.append(f'transforms unusable, no extrinsics: {err}')
        return None, f'the episode\'s transforms are unusable: {err}'
    notes.extend(found.notes)
    if found.source == 'none':
        why = '; '.join(found.notes) or 'no /tf, /tf_static or robot description'
        return None, f'the episode has no transforms ({why})'
    return found, ''


def pose_rows(buffer: TransformBuffer, target: str, source: str,
              stamps: np.ndarray) -> np.ndarray:
    """Poses of ``source`` in ``target`` at ``stamps``: (N, 7) float64, one quaternion sign.

    Raises:
        TransformError: The lookup fails (its message names the frames or the edge).

    """
    translations, rotations = buffer.lookup_many(target, source, stamps)
    quats = rotations.as_quat()
    if len(quats):
        flips = np.einsum('ij,ij->i', quats[1:], quats[:-1]) < 0
        signs = np.cumprod(np.concatenate([[-1.0 if quats[0, 3] < 0 else 1.0],
                                           np.where(flips, -1.0, 1.0)]))
        quats = quats * signs[:, None]
    return np.concatenate([translations, quats], axis=1)


def camera_extrinsics(buffer: TransformBuffer | None, why_none: str, key: str, stream: str,
                      frame: str, base_frame: str, stamps: np.ndarray,
                      valid: np.ndarray) -> CameraExtrinsics:
    """One camera's extrinsics at ``stamps`` (its images' capture stamps, per frame).

    Args:
        buffer: The episode's transforms (None: there are none, ``why_none`` says why).
        why_none: The reason recorded when ``buffer`` is None.
        key: The camera's dataset key.
        stream: Its suite stream.
        frame: header.frame_id of its images.
        base_frame: The frame the poses are expressed in.
        stamps: int64 nanoseconds per dataset frame.
        valid: Per frame, whether ``stamps`` is the stamp of the image used.

    Returns:
        The record; ``none`` with the TransformError's text when the lookup fails.

    """
    def none(reason: str) -> CameraExtrinsics:
        return CameraExtrinsics(key, stream, frame, base_frame, NONE, reason=reason)

    if buffer is None:
        return none(why_none)
    if not frame:
        return none(f'{stream}: its images have an empty header.frame_id')
    try:
        rows = pose_rows(buffer, base_frame, frame, stamps)
        fixed = buffer.is_fixed(base_frame, frame)
    except TransformError as err:
        return none(str(err))
    if fixed:
        return CameraExtrinsics(key, stream, frame, base_frame, OK, False, pose=rows[0])
    return CameraExtrinsics(key, stream, frame, base_frame, OK, True, pose=rows,
                            valid=np.asarray(valid, dtype=bool))


def episode_extrinsics(data: EpisodeData, base_frame: str, buffer: TransformBuffer | None,
                       why_none: str) -> dict[str, CameraExtrinsics]:
    """Every camera's extrinsics, added to ``data`` (intrinsics records, columns, stamps).

    Raises:
        BagError: The bag cannot be read, naming it and the topic.

    """
    found: dict[str, CameraExtrinsics] = {}
    instants = data.instants_ns
    for plan in data.frames:
        if plan.modality not in CAMERAS:
            continue
        used = data.stamps[plan.stream]
        valid = np.asarray(used['valid'], dtype=bool)
        stamps = np.where(valid, used['stamp_ns'], instants).astype(np.int64)
        if not len(stamps):          # no frames: the episode is rejected; one lookup
            stamps, valid = np.array([data.window_ns[0]], np.int64), np.zeros(1, bool)
        first = plan.index[valid][0] if valid.any() else plan.index[0]
        frame = message_frame_id(data.reader, plan.topic, int(first)) if len(plan.index) \
            else ''
        record = camera_extrinsics(buffer, why_none, plan.key, plan.stream, frame,
                                   base_frame, stamps, valid)
        found[plan.key] = record
        if record.status == NONE:
            data.notes.append(f'{plan.key}: no extrinsics: {record.reason}')
        elif record.moving and record.pose is not None and data.frame_count:
            data.columns[feature_key(plan.key)] = record.pose
            data.names[feature_key(plan.key)] = list(NAMES)
            used[STAMPS_NAME] = record.pose
        if plan.key in data.intrinsics:
            data.intrinsics[plan.key]['extrinsics'] = record.to_json()
    return found


def wrench_key(key: str) -> str:
    """``observation.wrench.left`` -> ``observation.wrench_base.left``."""
    side = key.removeprefix('observation.wrench.') if key.startswith('observation.wrench.') \
        else key.removeprefix('observation.').replace('.', '_')
    return WRENCH_PREFIX + side


def wrenches_in_base(data: EpisodeData, config: DatasetConfig,
                     buffer: TransformBuffer | None, why_none: str) -> None:
    """Add ``observation.wrench_base.<side>`` for every wrench key (module docstring).

    A wrench whose sensor frame cannot be looked up gets no twin key, and a note.

    Raises:
        BagError: The bag cannot be read, naming it and the topic.

    """
    streams = {s.name: s for s in data.reader.suite.streams}
    base = config.calibration.base_frame
    for plan in config.streams:
        stream = streams.get(plan.stream)
        if stream is None or stream.modality != Modality.WRENCH or plan.key not in data.columns:
            continue
        if buffer is None:
            data.notes.append(f'{plan.key}: not in {base}: {why_none}')
            continue
        used = data.stamps[plan.stream]
        # An interpolated wrench is the value at the frame's instant; a held or nearest
        # one is the sample's, measured where the sensor was at its stamp.
        stamps = data.instants_ns if plan.align.policy == Policy.INTERPOLATE else \
            np.where(used['valid'], used['stamp_ns'], data.instants_ns)
        try:
            frame = message_frame_id(data.reader, stream.topic)
            _, rotations = buffer.lookup_many(base, frame, np.asarray(stamps, np.int64))
        except (TransformError, BagError) as err:
            data.notes.append(f'{plan.key}: not in {base}: {err}')
            continue
        values = np.asarray(data.columns[plan.key], dtype=np.float64)
        twin = wrench_key(plan.key)
        data.columns[twin] = np.concatenate(
            [rotations.apply(values[:, :3]), rotations.apply(values[:, 3:6])], axis=1)
        data.names[twin] = ['fx', 'fy', 'fz', 'tx', 'ty', 'tz']


def write_hdf5(camera: Any, record: dict[str, Any], per_frame: np.ndarray | None) -> None:
    """Write a camera's ``extrinsics`` (h5py group ``calibration/<name>``) and its attrs.

    ``per_frame`` is a moving camera's (frames, 7) float64 poses.
    """
    values = per_frame if record.get('moving') else (
        np.concatenate([record['translation'], record['quaternion_xyzw']])
        if record.get('status') == OK else None)
    if values is None:                      # none: no rows, the attrs say why
        values = np.zeros((0, 7))
    dataset = camera.create_dataset(STAMPS_NAME, data=np.asarray(values, np.float64))
    dataset.attrs['names'] = NAMES
    for name in ('frame', 'base_frame', 'status', 'reason'):
        dataset.attrs[name] = record.get(name) or ''
    dataset.attrs['moving'] = bool(record.get('moving'))


def check_poses(where: str, values: Any, rows: int | None) -> list[str]:
    """Problems of poses: (7,) or (``rows``, 7), finite, unit quaternions."""
    try:
        poses = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return [f'{where}: poses are not numbers']
    shape = (7,) if rows is None else (rows, 7)
    if poses.shape != shape:
        return [f'{where}: poses of shape {poses.shape}, expected {shape}']
    poses = poses.reshape(-1, 7)
    if not np.all(np.isfinite(poses)):
        return [f'{where}: {int(np.count_nonzero(~np.isfinite(poses).all(1)))} pose(s) not '
                'finite']
    norms = np.linalg.norm(poses[:, 3:], axis=1)
    bad = np.flatnonzero(np.abs(norms - 1) > UNIT_TOLERANCE)
    if bad.size:
        return [f'{where}: quaternion {int(bad[0])} has norm {norms[bad[0]]:.6g}, not 1 '
                f'(within {UNIT_TOLERANCE})']
    return []


def json_poses(record: dict[str, Any]) -> list[Any] | None:
    """A fixed camera's pose from its JSON record (translation + quaternion), if any."""
    translation, quaternion = record.get('translation'), record.get('quaternion_xyzw')
    if not isinstance(translation, list) or not isinstance(quaternion, list):
        return None
    return [*translation, *quaternion]


def hdf5_extrinsics(camera: Any) -> tuple[dict[str, Any] | None, np.ndarray | None]:
    """A camera's extrinsics record (attrs) and poses read back from its HDF5 group."""
    if STAMPS_NAME not in camera:
        return None, None
    dataset = camera[STAMPS_NAME]
    record = {name: value.item() if isinstance(value, np.generic) else value
              for name, value in dataset.attrs.items()}
    return record, dataset[()]


def check_record(where: str, record: Any, poses: Any, frames: int) -> list[str]:
    """Problems of one camera's extrinsics record and its poses.

    Args:
        where: Names the camera in the problems.
        record: The ``extrinsics`` record (JSON, or the HDF5 attrs as a dict).
        poses: Its poses as stored: (7,) for a fixed camera, (frames, 7) for a moving
            one; None when absent.
        frames: The episode's frame count.

    """
    if not isinstance(record, dict):
        return [f'{where}: no extrinsics record (neither poses nor an explicit none)']
    status = record.get('status')
    if status == NONE:
        return [] if record.get('reason') else [f'{where}: extrinsics none without a reason']
    if status != OK:
        return [f'{where}: extrinsics status {status!r}, expected ok or none']
    if not record.get('frame') or not record.get('base_frame'):
        return [f'{where}: extrinsics name no frame or base_frame']
    if poses is None:
        return [f'{where}: extrinsics ok but no poses stored']
    return check_poses(f'{where}: extrinsics', poses,
                       frames if record.get('moving') else None)
