"""Read the header stamp and a String payload straight from CDR bytes.

The recorder must not deserialize what it writes, but it needs each message's
``header.stamp`` to place it in an episode and to measure transport latency. Every
supported sensor type begins with ``std_msgs/Header``, whose stamp is the first eight
bytes after the four-byte CDR encapsulation header, so peeking costs one ``struct`` call.
"""

from __future__ import annotations

import struct

from humanoid_data.errors import DecodeError

_LE = struct.Struct('<iI')
_BE = struct.Struct('>iI')
_LEN_LE = struct.Struct('<I')
_LEN_BE = struct.Struct('>I')


def _little_endian(raw: bytes | memoryview) -> bool:
    if len(raw) < 4 or raw[0] != 0:
        raise DecodeError(f'not a CDR payload (encapsulation {bytes(raw[:4])!r})')
    return bool(raw[1] & 1)


def header_stamp_ns(raw: bytes | memoryview, offset: int = 4) -> int:
    """Return ``header.stamp`` in nanoseconds of a serialized message that has a header.

    Args:
        raw: CDR bytes as received from DDS.
        offset: Where the stamp begins: 4, right after the encapsulation, for a message
            that begins with its header; 8 for the first element of a sequence of stamped
            messages (a TFMessage), whose length comes first and must not be zero.

    Returns:
        The stamp as integer nanoseconds.

    Raises:
        DecodeError: The bytes are too short or not CDR, or the sequence is empty.

    """
    if len(raw) < offset + 8:
        raise DecodeError(f'CDR payload of {len(raw)} bytes is too short for a header')
    little = _little_endian(raw)
    if offset == 8:
        (count,) = (_LEN_LE if little else _LEN_BE).unpack_from(raw, 4)
        if count == 0:
            raise DecodeError('an empty sequence of stamped messages has no stamp')
    sec: int
    nanosec: int
    sec, nanosec = (_LE if little else _BE).unpack_from(raw, offset)
    return sec * 1_000_000_000 + nanosec


def string_payload(raw: bytes | memoryview) -> str:
    """Return the text of a serialized ``std_msgs/String``.

    Raises:
        DecodeError: The bytes are not a well-formed String.

    """
    if len(raw) < 8:
        raise DecodeError(f'CDR payload of {len(raw)} bytes is too short for a String')
    (size,) = (_LEN_LE if _little_endian(raw) else _LEN_BE).unpack_from(raw, 4)
    if size == 0 or 8 + size > len(raw):
        raise DecodeError(f'String length {size} does not fit a {len(raw)}-byte payload')
    try:
        return bytes(raw[8:8 + size - 1]).decode('utf-8')
    except UnicodeDecodeError as err:
        raise DecodeError(f'String payload is not UTF-8: {err}') from err


def with_header_stamp(raw: bytes, stamp_ns: int) -> bytes:
    """Return a copy of a serialized message with ``header.stamp`` set to ``stamp_ns``.

    Raises:
        DecodeError: The bytes are too short or not CDR.

    """
    if len(raw) < 12:
        raise DecodeError(f'CDR payload of {len(raw)} bytes is too short for a header')
    out = bytearray(raw)
    (_LE if _little_endian(raw) else _BE).pack_into(out, 4, *divmod(stamp_ns, 1_000_000_000))
    return bytes(out)


def header_frame_id(raw: bytes | memoryview) -> str:
    """``header.frame_id`` of a serialized message that begins with a std_msgs/Header.

    Raises:
        DecodeError: The bytes are too short or not CDR.

    """
    if len(raw) < 16:
        raise DecodeError(f'a {len(raw)}-byte payload has no header.frame_id')
    (size,) = (_LEN_LE if _little_endian(raw) else _LEN_BE).unpack_from(raw, 12)
    if 16 + size > len(raw):
        raise DecodeError(f'header.frame_id of {size} bytes does not fit a {len(raw)}-byte '
                          'payload')
    return bytes(raw[16:16 + max(size - 1, 0)]).decode('utf-8', errors='replace')
