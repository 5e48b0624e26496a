"""numpy arrays -> CDR bytes for the supported message types.

Used by the simulated humanoid to publish pre-serialized messages (cheaper than building
rclpy message objects at 5 kHz) and by tests to make known input. Serialization itself is
rosbags' generated CDR code; this module only fills the message fields.
"""

from __future__ import annotations

import struct
from typing import Any, Sequence

import numpy as np

from humanoid_data.bag.typestore import typestore_for

_STORE = typestore_for()
_T = _STORE.types
_Time = _T['builtin_interfaces/msg/Time']
_Header = _T['std_msgs/msg/Header']
_Vector3 = _T['geometry_msgs/msg/Vector3']
_Quaternion = _T['geometry_msgs/msg/Quaternion']
_PointField = _T['sensor_msgs/msg/PointField']
_RegionOfInterest = _T['sensor_msgs/msg/RegionOfInterest']

_IMAGE_LAYOUT = {  # encoding -> (dtype, channels)
    'rgb8': (np.uint8, 3),
    'bgr8': (np.uint8, 3),
    'mono8': (np.uint8, 1),
    '16UC1': (np.uint16, 1),
    '32FC1': (np.float32, 1),
}


def header(stamp_ns: int, frame_id: str) -> Any:
    """Return a ``std_msgs/Header`` for an integer-nanosecond stamp."""
    return _Header(_Time(stamp_ns // 1_000_000_000, stamp_ns % 1_000_000_000), frame_id)


def _serialize(msg: object, msgtype: str) -> bytes:
    return _STORE.serialize_cdr(msg, msgtype).tobytes()


def image(stamp_ns: int, frame_id: str, pixels: np.ndarray, encoding: str) -> bytes:
    """Serialize an ``Image``; ``pixels`` is HxW or HxWxC of the encoding's dtype."""
    dtype, channels = _IMAGE_LAYOUT[encoding]
    pixels = np.ascontiguousarray(pixels, dtype=dtype)
    height, width = pixels.shape[:2]
    step = width * channels * pixels.itemsize
    data = pixels.reshape(-1).view(np.uint8)
    msg = _T['sensor_msgs/msg/Image'](header(stamp_ns, frame_id), height, width, encoding,
                                      0, step, data)
    return _serialize(msg, 'sensor_msgs/msg/Image')


def camera_info(stamp_ns: int, frame_id: str, width: int, height: int,
                fx: float, fy: float) -> bytes:
    """Serialize a pinhole ``CameraInfo`` without distortion, centred principal point."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    k = np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], dtype=np.float64)
    r = np.eye(3).reshape(-1)
    p = np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0], dtype=np.float64)
    msg = _T['sensor_msgs/msg/CameraInfo'](
        header(stamp_ns, frame_id), height, width, 'plumb_bob', np.zeros(5), k, r, p, 0, 0,
        _RegionOfInterest(0, 0, 0, 0, False))
    return _serialize(msg, 'sensor_msgs/msg/CameraInfo')


def joint_state(stamp_ns: int, names: Sequence[str], position: np.ndarray,
                velocity: np.ndarray | None = None,
                effort: np.ndarray | None = None) -> bytes:
    """Serialize a ``JointState``; missing velocity or effort are sent empty."""
    empty = np.zeros(0, dtype=np.float64)
    msg = _T['sensor_msgs/msg/JointState'](
        header(stamp_ns, ''), list(names), np.asarray(position, dtype=np.float64),
        empty if velocity is None else np.asarray(velocity, dtype=np.float64),
        empty if effort is None else np.asarray(effort, dtype=np.float64))
    return _serialize(msg, 'sensor_msgs/msg/JointState')


def wrench(stamp_ns: int, frame_id: str, force: Sequence[float] | np.ndarray,
           torque: Sequence[float] | np.ndarray) -> bytes:
    """Serialize a ``WrenchStamped`` (N, N*m)."""
    msg = _T['geometry_msgs/msg/WrenchStamped'](
        header(stamp_ns, frame_id),
        _T['geometry_msgs/msg/Wrench'](_Vector3(*map(float, force)),
                                       _Vector3(*map(float, torque))))
    return _serialize(msg, 'geometry_msgs/msg/WrenchStamped')


def imu(stamp_ns: int, frame_id: str, orientation_xyzw: Sequence[float] | np.ndarray,
        angular_velocity: Sequence[float] | np.ndarray,
        linear_acceleration: Sequence[float] | np.ndarray) -> bytes:
    """Serialize an ``Imu`` with small fixed covariances."""
    cov = np.diag([1e-4, 1e-4, 1e-4]).reshape(-1)
    msg = _T['sensor_msgs/msg/Imu'](
        header(stamp_ns, frame_id), _Quaternion(*map(float, orientation_xyzw)), cov,
        _Vector3(*map(float, angular_velocity)), cov,
        _Vector3(*map(float, linear_acceleration)), cov)
    return _serialize(msg, 'sensor_msgs/msg/Imu')


def point_cloud(stamp_ns: int, frame_id: str, xyzi: np.ndarray) -> bytes:
    """Serialize an unorganized ``PointCloud2`` of float32 x, y, z, intensity (N x 4)."""
    points = np.ascontiguousarray(xyzi, dtype=np.float32)
    fields = [_PointField(name, 4 * i, 7, 1) for i, name in enumerate('xyz')]
    fields.append(_PointField('intensity', 12, 7, 1))
    msg = _T['sensor_msgs/msg/PointCloud2'](
        header(stamp_ns, frame_id), 1, len(points), fields, False, 16, 16 * len(points),
        points.reshape(-1).view(np.uint8), True)
    return _serialize(msg, 'sensor_msgs/msg/PointCloud2')


def tf_message(transforms: Sequence[tuple[int, str, str, Any, Any]]) -> bytes:
    """Serialize a ``tf2_msgs/TFMessage``.

    Args:
        transforms: ``(stamp_ns, parent, child, translation (3), quaternion x y z w)``
            for each ``TransformStamped``, in order.

    """
    items = [_T['geometry_msgs/msg/TransformStamped'](
        header(stamp, parent), child,
        _T['geometry_msgs/msg/Transform'](_Vector3(*map(float, translation)),
                                          _Quaternion(*map(float, quat))))
        for stamp, parent, child, translation, quat in transforms]
    return _serialize(_T['tf2_msgs/msg/TFMessage'](items), 'tf2_msgs/msg/TFMessage')


def string(text: str) -> bytes:
    """Serialize a ``std_msgs/String``."""
    return _serialize(_T['std_msgs/msg/String'](text), 'std_msgs/msg/String')


class FixedLayout:
    """Fast re-serialization of a message whose size never changes.

    rosbags serializes one template message whose variable fields hold unique sentinel
    values; the byte offsets of the stamp and of each field are found once. Filling a
    copy of the template is then a few memory copies, about ten times cheaper than
    building and serializing a message, which is what lets the simulator publish
    5,000 messages per second from Python.
    """

    def __init__(self, template: bytes, sentinels: Sequence[np.ndarray]) -> None:
        """Locate each sentinel array (float64 or float32) in the template bytes."""
        self._template = template
        self._fields = []
        for sentinel in sentinels:
            offset = template.find(sentinel.tobytes())
            if offset < 0:
                raise ValueError('sentinel not found in template')
            self._fields.append((offset, sentinel.dtype, sentinel.size))

    def fill(self, stamp_ns: int, *values: np.ndarray) -> bytes:
        """Return the template with a new header stamp and field values."""
        out = bytearray(self._template)
        struct.pack_into('<iI', out, 4, stamp_ns // 1_000_000_000, stamp_ns % 1_000_000_000)
        for (offset, dtype, size), value in zip(self._fields, values):
            raw = np.asarray(value, dtype=dtype).tobytes()
            if len(raw) != size * dtype.itemsize:
                raise ValueError('value does not match the template field size')
            out[offset:offset + len(raw)] = raw
        return bytes(out)


def _sentinel(n: int, base: float, dtype: type = np.float64) -> np.ndarray:
    return (base + np.arange(n) * 0.0625 + 1e-3).astype(dtype) * 1.0e3


def wrench_layout(frame_id: str) -> FixedLayout:
    """Layout of a ``WrenchStamped``: fill(stamp, force, torque)."""
    force, torque = _sentinel(3, 101.0), _sentinel(3, 211.0)
    return FixedLayout(wrench(0, frame_id, force, torque), [force, torque])


def imu_layout(frame_id: str) -> FixedLayout:
    """Layout of an ``Imu``: fill(stamp, orientation_xyzw, angular_velocity, accel)."""
    q, w, a = _sentinel(4, 307.0), _sentinel(3, 401.0), _sentinel(3, 503.0)
    return FixedLayout(imu(0, frame_id, q, w, a), [q, w, a])


def float_image_layout(frame_id: str, height: int, width: int) -> FixedLayout:
    """Layout of a 32FC1 ``Image`` (taxel grids): fill(stamp, pixels)."""
    pixels = _sentinel(height * width, 601.0, np.float32).reshape(height, width)
    return FixedLayout(image(0, frame_id, pixels, '32FC1'), [pixels.reshape(-1)])


def joint_state_layout(names: Sequence[str], with_state: bool = True) -> FixedLayout:
    """Layout of a ``JointState`` for fixed names: fill(stamp, position[, vel, effort])."""
    n = len(names)
    p, v, e = _sentinel(n, 701.0), _sentinel(n, 1301.0), _sentinel(n, 1901.0)
    if with_state:
        return FixedLayout(joint_state(0, names, p, v, e), [p, v, e])
    return FixedLayout(joint_state(0, names, p), [p])


class TfLayout:
    """Fast re-serialization of a ``TFMessage`` for fixed parent and child frames.

    Like ``FixedLayout`` but every ``TransformStamped`` has its own header: the offsets
    of each stamp and of each transform's seven numbers (translation, then quaternion
    x y z w, contiguous float64 in CDR) are found once in a template.
    """

    def __init__(self, edges: Sequence[tuple[str, str]]) -> None:
        """Serialize a template for ``(parent, child)`` edges and locate its fields."""
        values = _sentinel(7 * len(edges), 2503.0).reshape(-1, 7)
        stamps = [(1_000_003 + i) * 1_000_000_000 + 7 for i in range(len(edges))]
        template = tf_message([(stamp, parent, child, v[:3], v[3:])
                               for stamp, (parent, child), v in zip(stamps, edges, values)])
        self._template = np.frombuffer(template, dtype=np.uint8)
        stamp_at = [template.find(struct.pack('<iI', stamp // 1_000_000_000, 7))
                    for stamp in stamps]
        value_at = [template.find(v.tobytes()) for v in values]
        if min(stamp_at + value_at, default=0) < 0:
            raise ValueError('sentinel not found in the TFMessage template')
        # byte indices of every stamp (8 bytes each) and of every transform (56 bytes)
        self._stamp_idx = (np.asarray(stamp_at, dtype=np.int64)[:, None]
                           + np.arange(8)).reshape(-1)
        self._value_idx = (np.asarray(value_at, dtype=np.int64)[:, None]
                           + np.arange(56)).reshape(-1)
        self.size = len(edges)

    def fill(self, stamp_ns: int, translations: np.ndarray, quats: np.ndarray) -> bytes:
        """The template with every stamp set to ``stamp_ns`` and (N, 3), (N, 4) values."""
        out = self._template.copy()
        rows = np.concatenate([np.asarray(translations, dtype=np.float64).reshape(-1, 3),
                               np.asarray(quats, dtype=np.float64).reshape(-1, 4)], axis=1)
        if len(rows) != self.size:
            raise ValueError(f'{len(rows)} transforms for a layout of {self.size}')
        stamp = np.frombuffer(struct.pack('<iI', *divmod(stamp_ns, 1_000_000_000)),
                              dtype=np.uint8)
        out[self._stamp_idx] = np.tile(stamp, self.size)
        out[self._value_idx] = np.ascontiguousarray(rows, dtype='<f8').view(np.uint8).reshape(-1)
        return bytes(out.tobytes())
