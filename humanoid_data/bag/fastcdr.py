"""Fast paths for the message types read at hundreds of hertz or more.

WrenchStamped, Image (tactile pads), JointState and Imu: rosbags deserializes a
message into Python objects (30-100 us each); the contact monitor reads about 4000
force and tactile messages a second, and the converter's first pass every message of
the episode. These readers walk the little-endian CDR layout directly
(header stamp, frame_id, then the fields) and build the numpy arrays from the bytes.
Anything they do not expect (big-endian data, a truncated payload) returns None, and
``decode`` falls back to rosbags.
"""

from __future__ import annotations

import struct

import numpy as np

_STAMP = struct.Struct('<iI')
_U32 = struct.Struct('<I')


def _string_end(raw: bytes | memoryview, at: int) -> tuple[str, int] | None:
    """Read a CDR string at body offset ``at``; return it and the offset after it."""
    at = (at + 3) & ~3
    if 4 + at + 4 > len(raw):
        return None
    (size,) = _U32.unpack_from(raw, 4 + at)
    start = 4 + at + 4
    if size == 0 or start + size > len(raw):
        return None
    return bytes(raw[start:start + size - 1]).decode('utf-8', 'replace'), at + 4 + size


def _header(raw: bytes | memoryview) -> tuple[int, str, int] | None:
    if len(raw) < 16 or raw[0] != 0 or raw[1] != 1:   # little-endian CDR only
        return None
    sec, nanosec = _STAMP.unpack_from(raw, 4)
    frame = _string_end(raw, 8)
    if frame is None:
        return None
    return sec * 1_000_000_000 + nanosec, frame[0], frame[1]


def wrench_arrays(raw: bytes | memoryview) -> tuple[int, str, np.ndarray, np.ndarray] | None:
    """Stamp, frame_id, force and torque of a serialized WrenchStamped, or None."""
    header = _header(raw)
    if header is None:
        return None
    stamp, frame, at = header
    at = (at + 7) & ~7
    if 4 + at + 48 > len(raw):
        return None
    values = np.frombuffer(raw, dtype='<f8', count=6, offset=4 + at).astype(np.float64)
    return stamp, frame, values[:3], values[3:]


_DTYPES = {'rgb8': ('u1', 3), 'bgr8': ('u1', 3), 'mono8': ('u1', 1), 'mono16': ('<u2', 1),
           '16UC1': ('<u2', 1), '32FC1': ('<f4', 1)}


def image_array(raw: bytes | memoryview) -> tuple[int, str, str, np.ndarray] | None:
    """Stamp, frame_id, encoding and pixels of a serialized Image, or None."""
    header = _header(raw)
    if header is None:
        return None
    stamp, frame, at = header
    at = (at + 3) & ~3
    if 4 + at + 8 > len(raw):
        return None
    height, width = struct.unpack_from('<II', raw, 4 + at)
    encoding = _string_end(raw, at + 8)
    if encoding is None or encoding[0] not in _DTYPES:
        return None
    name, at = encoding
    if 4 + at + 1 > len(raw) or raw[4 + at] != 0:     # is_bigendian
        return None
    at = ((at + 1) + 3) & ~3
    if 4 + at + 8 > len(raw):
        return None
    step, size = struct.unpack_from('<II', raw, 4 + at)
    start = 4 + at + 8
    dtype, channels = _DTYPES[name]
    row = width * channels * np.dtype(dtype).itemsize
    if step < row or size < step * height or start + step * height > len(raw):
        return None
    rows = np.frombuffer(raw, dtype=np.uint8, count=step * height, offset=start)
    rows = rows.reshape(height, step)[:, :row]
    pixels = np.ascontiguousarray(rows).view(dtype).astype(np.dtype(dtype).newbyteorder('='))
    shape = (height, width) if channels == 1 else (height, width, channels)
    return stamp, frame, name, pixels.reshape(shape)


def _align8_doubles(raw: bytes | memoryview, at: int, count: int) -> tuple[np.ndarray, int] | None:
    """``count`` float64 at body offset ``at`` (aligned to 8 first), the offset after."""
    if count:
        at = (at + 7) & ~7
    end = at + 8 * count
    if 4 + end > len(raw):
        return None
    return np.frombuffer(raw, dtype='<f8', count=count, offset=4 + at).astype(np.float64), end


def _double_sequence(raw: bytes | memoryview, at: int) -> tuple[np.ndarray, int] | None:
    at = (at + 3) & ~3
    if 4 + at + 4 > len(raw):
        return None
    (count,) = _U32.unpack_from(raw, 4 + at)
    return _align8_doubles(raw, at + 4, count)


_last_names: tuple[bytes, tuple[str, ...]] = (b'', ())


def _names(raw: bytes | memoryview, at: int) -> tuple[tuple[str, ...], int] | None:
    """The ``name`` sequence of a JointState, and the offset after it.

    A robot sends the same names in every message: when the bytes here equal the last
    parsed sequence's, they are not parsed again (the same bytes from the same 4-byte
    alignment parse the same).
    """
    global _last_names
    at = (at + 3) & ~3
    section, names = _last_names
    if section and bytes(raw[4 + at:4 + at + len(section)]) == section:
        return names, at + len(section)
    if 4 + at + 4 > len(raw):
        return None
    (count,) = _U32.unpack_from(raw, 4 + at)
    start, parsed, at = at, [], at + 4
    for _ in range(count):
        name = _string_end(raw, at)
        if name is None:
            return None
        parsed.append(name[0])
        at = name[1]
    _last_names = (bytes(raw[4 + start:4 + at]), tuple(parsed))
    return _last_names[1], at


def joint_arrays(raw: bytes | memoryview) -> tuple[int, str, tuple[str, ...], np.ndarray,
                                                   np.ndarray, np.ndarray] | None:
    """Stamp, frame_id, names, positions, velocities and efforts of a JointState, or None."""
    header = _header(raw)
    if header is None:
        return None
    stamp, frame, at = header
    names = _names(raw, at)
    if names is None:
        return None
    arrays = []
    at = names[1]
    for _ in range(3):
        sequence = _double_sequence(raw, at)
        if sequence is None:
            return None
        arrays.append(sequence[0])
        at = sequence[1]
    return stamp, frame, names[0], arrays[0], arrays[1], arrays[2]


def imu_arrays(raw: bytes | memoryview) -> tuple[int, str, np.ndarray, np.ndarray,
                                                 np.ndarray] | None:
    """Stamp, frame_id, orientation (xyzw), angular velocity, acceleration of an Imu."""
    header = _header(raw)
    if header is None:
        return None
    stamp, frame, at = header
    # orientation[4], covariance[9], angular_velocity[3], covariance[9],
    # linear_acceleration[3], covariance[9]: 37 doubles in a row.
    values = _align8_doubles(raw, at, 37)
    if values is None:
        return None
    v = values[0]
    return stamp, frame, v[0:4], v[13:16], v[25:28]
