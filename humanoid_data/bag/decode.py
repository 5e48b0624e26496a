"""CDR bytes -> numpy values for the supported message types.

``decode(raw, msgtype)`` returns one of the small frozen value types below. Arrays are
numpy views or copies with the right dtype and shape; stamps are integer nanoseconds.
"""

from __future__ import annotations

import struct
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
    distortion_model: str = ''           # e.g. plumb_bob, rational_polynomial, equidistant
    r: np.ndarray | None = None          # (3, 3) rectification rotation
    p: np.ndarray | None = None          # (3, 4) projection of the rectified image


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


#: Most pixels a compressed image may declare: a 108-byte PNG can claim a gigapixel, and
#: the decoder allocates what the header says before it finds the data missing.
MAX_COMPRESSED_PIXELS = 1 << 25     # 8K UHD (7680 x 4320) fits
_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
_JPEG_SOF = {0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf}


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from IHDR, once every chunk is seen to fit the bytes."""
    at, size = len(_PNG_MAGIC), None
    while at + 8 <= len(data):
        length, kind = struct.unpack_from('>I4s', data, at)
        if at + 12 + length > len(data):
            raise DecodeError(f'PNG chunk {kind!r} of {length} bytes runs past the '
                              f'{len(data)}-byte image')
        if size is None:
            if kind != b'IHDR' or length != 13:
                raise DecodeError('PNG does not start with its IHDR chunk')
            size = struct.unpack_from('>II', data, at + 8)
        if kind == b'IEND':
            break
        at += 12 + length
    if size is None:
        raise DecodeError('PNG without an IHDR chunk')
    return size


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from the first start-of-frame marker."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xff:
            raise DecodeError(f'JPEG marker expected at byte {at}')
        marker = data[at + 1]
        if marker in (0xda, 0xd9):        # the scan or the end came first
            break
        if marker == 0xff or 0xd0 <= marker <= 0xd8 or marker == 0x01:   # fill, no length
            at += 1 if marker == 0xff else 2
            continue
        (length,) = struct.unpack_from('>H', data, at + 2)
        if marker in _JPEG_SOF and at + 9 <= len(data):
            height, width = struct.unpack_from('>HH', data, at + 5)
            return width, height
        at += 2 + length
    raise DecodeError('JPEG without a frame header before its scan')


def _compressed_size(data: bytes, fmt: str) -> tuple[int, int]:
    """Declared width and height of a PNG or JPEG; anything else is refused."""
    if data.startswith(_PNG_MAGIC):
        width, height = _png_size(data)
    elif data.startswith(b'\xff\xd8'):
        width, height = _jpeg_size(data)
    else:
        raise DecodeError(f'compressed image of format {fmt!r} is neither PNG nor JPEG')
    if width * height > MAX_COMPRESSED_PIXELS:
        raise DecodeError(f'compressed image declares {width}x{height} pixels, more than '
                          f'{MAX_COMPRESSED_PIXELS}')
    return width, height


def _compressed(msg: Any) -> ImageArray:
    import cv2  # only needed for compressed streams

    data = np.asarray(msg.data, dtype=np.uint8)
    _compressed_size(data.tobytes(), msg.format)
    try:
        pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        raise DecodeError(f'cannot decode compressed image of format {msg.format!r}: '
                          f'{str(err).strip()}') from None
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
    formats = []
    for f in msg.fields:
        if f.datatype not in _POINTFIELD_DTYPES:
            raise DecodeError(f'unsupported PointField datatype {f.datatype}')
        if f.count > msg.point_step:     # checked before numpy sizes a huge sub-array
            raise DecodeError(f'PointField {f.name!r} of {f.count} values does not fit a '
                              f'point of {msg.point_step} bytes')
        base = order + _POINTFIELD_DTYPES[f.datatype]
        formats.append((base, (f.count,)) if f.count > 1 else base)
    try:
        dtype = np.dtype({'names': [f.name for f in msg.fields], 'formats': formats,
                          'offsets': [f.offset for f in msg.fields],
                          'itemsize': msg.point_step})
    except (ValueError, TypeError) as err:   # a name twice, a field past the point's end
        raise DecodeError(f'PointFields do not lay out a {msg.point_step}-byte point: '
                          f'{err}') from None
    count = msg.width * msg.height
    if len(msg.data) < count * msg.point_step:
        raise DecodeError(f'point cloud data of {len(msg.data)} bytes is short for '
                          f'{count} points of {msg.point_step} bytes')
    if count and not msg.point_step:
        raise DecodeError(f'point cloud of {count} points of 0 bytes')
    points = (np.frombuffer(np.asarray(msg.data).tobytes()[:count * msg.point_step],
                            dtype=dtype) if count else np.zeros(0, dtype))
    return PointCloudArray(_stamp(msg), msg.header.frame_id, points)


def _camera_info(msg: Any) -> CameraModel:
    return CameraModel(_stamp(msg), msg.header.frame_id, int(msg.width), int(msg.height),
                       np.asarray(msg.k, dtype=np.float64).reshape(3, 3),
                       np.asarray(msg.d, dtype=np.float64), str(msg.distortion_model),
                       np.asarray(msg.r, dtype=np.float64).reshape(3, 3),
                       np.asarray(msg.p, dtype=np.float64).reshape(3, 4))


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
