"""Fast reading of ``tf2_msgs/TFMessage`` CDR bytes into arrays.

``/tf`` comes at the joint-state rate with one ``TransformStamped`` per moving joint;
building a message object per transform would cost more than the rest of a conversion.
A publisher such as robot_state_publisher sends the same edges in the same order every
time, so the byte layout of the first message (where each stamp and each transform's
seven float64 sit) is found once by walking the CDR, and every later message with the
same frame strings is read with two numpy gathers. A message whose frames differ is
walked again. Big-endian payloads go through rosbags.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

import numpy as np

from humanoid_data.bag.typestore import typestore_for
from humanoid_data.errors import DecodeError

MSGTYPE = 'tf2_msgs/msg/TFMessage'


class TfArrays:
    """The transforms of one message: edges, stamps (N,) and values (N, 7: xyz, quat)."""

    __slots__ = ('edges', 'stamps', 'values')

    def __init__(self, edges: tuple[tuple[str, str], ...], stamps: np.ndarray,
                 values: np.ndarray) -> None:
        """Hold the arrays."""
        self.edges = edges
        self.stamps = stamps
        self.values = values


class _Layout(NamedTuple):
    edges: tuple[tuple[str, str], ...]
    size: int
    fixed: np.ndarray       # byte indices that must equal the template (the strings)
    template: np.ndarray    # the template's bytes at ``fixed``
    stamps: np.ndarray      # byte index of each stamp's sec (int32) and nanosec (uint32)
    values: np.ndarray      # (N, 56) byte indices of each transform's seven float64


def _aligned(pos: int, size: int) -> int:
    """``pos`` moved up to a multiple of ``size`` counted from after the 4-byte header."""
    return 4 + ((pos - 4 + size - 1) & ~(size - 1))


def _string(raw: bytes, pos: int) -> tuple[str, int]:
    """The CDR string at ``pos`` (aligned first) and the position after it."""
    pos = _aligned(pos, 4)
    if pos + 4 > len(raw):
        raise DecodeError('TFMessage: truncated before a frame string')
    (length,) = struct.unpack_from('<I', raw, pos)
    pos += 4
    if length == 0 or pos + length > len(raw):
        raise DecodeError(f'TFMessage: a frame string of {length} bytes does not fit')
    try:
        text = raw[pos:pos + length - 1].decode('utf-8')
    except UnicodeDecodeError as err:
        raise DecodeError(f'TFMessage: a frame name is not UTF-8: {err}') from err
    return text, pos + length


def _walk(raw: bytes) -> _Layout:
    """Find every field of a little-endian TFMessage."""
    end = len(raw)
    if end < 8:
        raise DecodeError(f'TFMessage of {end} bytes is too short')
    (count,) = struct.unpack_from('<I', raw, 4)
    if count > (end - 8) // 64:
        raise DecodeError(f'TFMessage claims {count} transforms in {end} bytes')
    pos = 8
    edges, stamps, values, fixed = [], [], [], [np.arange(4, 8)]
    for _ in range(count):
        pos = _aligned(pos, 4)
        stamps.append(pos)                 # Time: int32 sec, uint32 nanosec
        strings_at = pos + 8
        parent, pos = _string(raw, strings_at)
        child, pos = _string(raw, pos)
        fixed.append(np.arange(strings_at, pos))
        pos = _aligned(pos, 8)
        if pos + 56 > end:
            raise DecodeError('TFMessage: truncated inside a transform')
        values.append(pos)
        edges.append((parent, child))
        pos += 56
    if any(raw[pos:end]):
        raise DecodeError(f'TFMessage: {end - pos} unexpected bytes after the transforms')
    fixed_idx = np.concatenate(fixed)
    data = np.frombuffer(raw, dtype=np.uint8)
    value_idx = np.asarray(values, dtype=np.int64).reshape(-1, 1) + np.arange(56)
    return _Layout(tuple(edges), end, fixed_idx, data[fixed_idx].copy(),
                   np.asarray(stamps, dtype=np.int64), value_idx)


class TfDecoder:
    """Reads TFMessages into ``TfArrays``, reusing the layout of the previous message."""

    def __init__(self) -> None:
        """Start without a layout."""
        self._layout: _Layout | None = None

    def decode(self, raw: bytes | memoryview) -> TfArrays:
        """Decode one message.

        Raises:
            DecodeError: The bytes are not a well-formed TFMessage.

        """
        raw = bytes(raw)
        if len(raw) < 4 or raw[0] != 0:
            raise DecodeError(f'not a CDR payload (encapsulation {raw[:4]!r})')
        if not raw[1] & 1:
            return _slow(raw)
        data = np.frombuffer(raw, dtype=np.uint8)
        layout = self._layout
        if (layout is None or layout.size != len(raw)
                or not np.array_equal(data[layout.fixed], layout.template)):
            layout = self._layout = _walk(raw)
        if not layout.edges:
            return TfArrays((), np.empty(0, np.int64), np.empty((0, 7)))
        sec = data[(layout.stamps[:, None] + np.arange(4))].copy().view('<i4')[:, 0]
        nsec = data[(layout.stamps[:, None] + np.arange(4, 8))].copy().view('<u4')[:, 0]
        values = data[layout.values].copy().view('<f8').reshape(-1, 7)
        stamps = sec.astype(np.int64) * 1_000_000_000 + nsec.astype(np.int64)
        return TfArrays(layout.edges, stamps, values)


class TfSeries:
    """A /tf topic's messages decoded one by one, grouped by the edges each one holds.

    ``by_edges`` maps a message's (parent, child) edges to its stamp rows and value rows,
    so a buffer takes each group with one array call per edge.
    """

    def __init__(self) -> None:
        """Start empty."""
        self.decoder = TfDecoder()
        self.by_edges: dict[tuple[tuple[str, str], ...],
                            tuple[list[np.ndarray], list[np.ndarray]]] = {}

    def add(self, raw: bytes | memoryview) -> None:
        """Decode and keep one message.

        Raises:
            DecodeError: The bytes are not a well-formed TFMessage.

        """
        arrays = self.decoder.decode(raw)
        stamp_rows, value_rows = self.by_edges.setdefault(arrays.edges, ([], []))
        stamp_rows.append(arrays.stamps)
        value_rows.append(arrays.values)


def _slow(raw: bytes) -> TfArrays:
    try:
        msg: Any = typestore_for().deserialize_cdr(raw, MSGTYPE)
    except Exception as err:  # noqa: BLE001 - rosbags raises several types
        raise DecodeError(f'TFMessage does not decode: {err}') from err
    edges = tuple((str(t.header.frame_id), str(t.child_frame_id)) for t in msg.transforms)
    stamps = np.array([t.header.stamp.sec * 1_000_000_000 + t.header.stamp.nanosec
                       for t in msg.transforms], dtype=np.int64)
    values = np.array([[t.transform.translation.x, t.transform.translation.y,
                        t.transform.translation.z, t.transform.rotation.x,
                        t.transform.rotation.y, t.transform.rotation.z,
                        t.transform.rotation.w] for t in msg.transforms],
                      dtype=np.float64).reshape(-1, 7)
    return TfArrays(edges, stamps, values)


def restamp(raw: bytes, stamp_ns: int) -> bytes:
    """A copy of a little-endian TFMessage with every transform stamped ``stamp_ns``.

    Raises:
        DecodeError: Not a well-formed little-endian TFMessage.

    """
    raw = bytes(raw)
    if len(raw) < 4 or raw[0] != 0 or not raw[1] & 1:
        raise DecodeError('restamp takes a little-endian CDR TFMessage')
    out = bytearray(raw)
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    for at in _walk(raw).stamps:
        struct.pack_into('<iI', out, int(at), sec, nanosec)
    return bytes(out)
