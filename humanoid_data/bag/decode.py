"""CDR bytes -> numpy values for the supported message types.

``decode(raw, msgtype)`` returns one of the small frozen value types below. Arrays are
numpy views or copies with the right dtype and shape; stamps are integer nanoseconds.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Union

import numpy as np

from humanoid_data.bag.fastcdr import image_array, imu_arrays, joint_arrays, wrench_arrays
from humanoid_data.bag.typestore import typestore_for
from humanoid_data.errors import DecodeError

_POINTFIELD_DTYPES = {1: 'i1', 2: 'u1', 3: 'i2', 4: 'u2', 5: 'i4', 6: 'u4', 7: 'f4', 8: 'f8'}
_IMAGE_DTYPES = {  # encoding -> (numpy dtype, channels)
    'rgb8': ('u1', 3), 'bgr8': ('u1', 3), 'mono8': ('u1', 1), '8UC1': ('u1', 1),
    '16UC1': ('u2', 1), 'mono16': ('u2', 1), '32FC1': ('f4', 1),
}


class ImageArray(NamedTuple):
    """An image as an HxW or HxWxC array."""

    header_ns: int
    frame_id: str
    encoding: str
    pixels: np.ndarray


class JointArrays(NamedTuple):
    """A joint state or joint command."""

    header_ns: int
    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray


class WrenchSample(NamedTuple):
    """One force-torque reading (N, N*m)."""

    header_ns: int
    frame_id: str
    force: np.ndarray
    torque: np.ndarray


class ImuSample(NamedTuple):
    """One IMU reading; orientation as x, y, z, w."""

    header_ns: int
    frame_id: str
    orientation: np.ndarray
    angular_velocity: np.ndarray
    linear_acceleration: np.ndarray


class PointCloudArray(NamedTuple):
    """A point cloud as a structured array with one field per PointField."""

    header_ns: int
    frame_id: str
    points: np.ndarray


class CameraModel(NamedTuple):
    """Intrinsics from a CameraInfo."""

    header_ns: int
    frame_id: str
    width: int
    height: int
    k: np.ndarray
    distortion: np.ndarray


class PoseSample(NamedTuple):
    """A stamped pose; orientation as x, y, z, w."""

    header_ns: int
    frame_id: str
    position: np.ndarray
    orientation: np.ndarray


Decoded = Union[ImageArray, JointArrays, WrenchSample, ImuSample, PointCloudArray,
                CameraModel, PoseSample, str]


def _stamp(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def _vec(v: Any) -> np.ndarray:
    return np.array([v.x, v.y, v.z], dtype=np.float64)


def _quat(q: Any) -> np.ndarray:
    return np.array([q.x, q.y, q.z, q.w], dtype=np.float64)


def _image(msg: Any) -> ImageArray:
    try:
        dtype, channels = _IMAGE_DTYPES[msg.encoding]
    except KeyError:
        raise DecodeError(f'unsupported image encoding {msg.encoding!r}') from None
    dt = np.dtype(dtype).newbyteorder('>' if msg.is_bigendian else '<')
    row_bytes = msg.width * channels * dt.itemsize
    if msg.step < row_bytes or len(msg.data) < msg.step * msg.height:
        raise DecodeError(f'image data of {len(msg.data)} bytes does not fit '
                          f'{msg.height}x{msg.width} {msg.encoding} with step {msg.step}')
    rows = np.asarray(msg.data[:msg.step * msg.height]).reshape(msg.height, msg.step)
    flat = np.ascontiguousarray(rows[:, :row_bytes]).view(dt).astype(dt.newbyteorder('='))
    shape = (msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels)
    return ImageArray(_stamp(msg), msg.header.frame_id, msg.encoding, flat.reshape(shape))


def _compressed(msg: Any) -> ImageArray:
    import cv2  # only needed for compressed streams

    pixels = cv2.imdecode(np.asarray(msg.data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise DecodeError(f'cannot decode compressed image of format {msg.format!r}')
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
        return ImageArray(_stamp(msg), msg.header.frame_id, 'rgb8', pixels)
    return ImageArray(_stamp(msg), msg.header.frame_id, 'mono8', pixels)


def _joints(msg: Any) -> JointArrays:
    return JointArrays(_stamp(msg), tuple(msg.name),
                       np.asarray(msg.position, dtype=np.float64),
                       np.asarray(msg.velocity, dtype=np.float64),
                       np.asarray(msg.effort, dtype=np.float64))


def _wrench(msg: Any) -> WrenchSample:
    return WrenchSample(_stamp(msg), msg.header.frame_id, _vec(msg.wrench.force),
                        _vec(msg.wrench.torque))


def _imu(msg: Any) -> ImuSample:
    return ImuSample(_stamp(msg), msg.header.frame_id, _quat(msg.orientation),
                     _vec(msg.angular_velocity), _vec(msg.linear_acceleration))


def _cloud(msg: Any) -> PointCloudArray:
    order = '>' if msg.is_bigendian else '<'
    try:
        dtype = np.dtype({
            'names': [f.name for f in msg.fields],
            'formats': [(order + _POINTFIELD_DTYPES[f.datatype], (f.count,))
                        if f.count > 1 else order + _POINTFIELD_DTYPES[f.datatype]
                        for f in msg.fields],
            'offsets': [f.offset for f in msg.fields],
            'itemsize': msg.point_step,
        })
    except KeyError as err:
        raise DecodeError(f'unsupported PointField datatype {err.args[0]}') from None
    count = msg.width * msg.height
    if len(msg.data) < count * msg.point_step:
        raise DecodeError(f'point cloud data of {len(msg.data)} bytes is short for '
                          f'{count} points of {msg.point_step} bytes')
    points = np.frombuffer(np.asarray(msg.data).tobytes()[:count * msg.point_step],
                           dtype=dtype)
    return PointCloudArray(_stamp(msg), msg.header.frame_id, points)


def _camera_info(msg: Any) -> CameraModel:
    return CameraModel(_stamp(msg), msg.header.frame_id, int(msg.width), int(msg.height),
                       np.asarray(msg.k, dtype=np.float64).reshape(3, 3),
                       np.asarray(msg.d, dtype=np.float64))


def _pose(msg: Any) -> PoseSample:
    p = msg.pose.position
    return PoseSample(_stamp(msg), msg.header.frame_id,
                      np.array([p.x, p.y, p.z], dtype=np.float64), _quat(msg.pose.orientation))


_DECODERS: dict[str, Callable[[Any], Decoded]] = {
    'sensor_msgs/msg/Image': _image,
    'sensor_msgs/msg/CompressedImage': _compressed,
    'sensor_msgs/msg/JointState': _joints,
    'geometry_msgs/msg/WrenchStamped': _wrench,
    'sensor_msgs/msg/Imu': _imu,
    'sensor_msgs/msg/PointCloud2': _cloud,
    'sensor_msgs/msg/CameraInfo': _camera_info,
    'geometry_msgs/msg/PoseStamped': _pose,
    'std_msgs/msg/String': lambda msg: str(msg.data),
}

SUPPORTED_TYPES = tuple(_DECODERS)


def decode(raw: bytes | memoryview, msgtype: str) -> Decoded:
    """Decode CDR bytes of ``msgtype`` into its numpy value type.

    Args:
        raw: Serialized message.
        msgtype: ROS 2 long type name, e.g. ``sensor_msgs/msg/Image``.

    Returns:
        The decoded value.

    Raises:
        DecodeError: Unsupported type, or bytes that do not deserialize.

    """
    if msgtype == 'geometry_msgs/msg/WrenchStamped':
        fast = wrench_arrays(raw)
        if fast is not None:
            return WrenchSample(*fast)
    elif msgtype == 'sensor_msgs/msg/Image':
        image = image_array(raw)
        if image is not None:
            return ImageArray(*image)
    elif msgtype == 'sensor_msgs/msg/JointState':
        joints = joint_arrays(raw)
        if joints is not None:
            stamp, _, names, position, velocity, effort = joints
            return JointArrays(stamp, names, position, velocity, effort)
    elif msgtype == 'sensor_msgs/msg/Imu':
        imu = imu_arrays(raw)
        if imu is not None:
            return ImuSample(*imu)
    try:
        convert = _DECODERS[msgtype]
    except KeyError:
        raise DecodeError(f'no decoder for message type {msgtype!r}') from None
    try:
        msg = typestore_for().deserialize_cdr(raw, msgtype)
    except Exception as err:  # rosbags raises several types for corrupt input
        raise DecodeError(f'cannot deserialize {msgtype}: {err}') from err
    return convert(msg)
