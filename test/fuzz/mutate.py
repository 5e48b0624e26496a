"""Seeded mutations of valid inputs: bit flips, truncation, huge length fields, splices.

``mutate(seed, rng, pool, tokens)`` applies one to four operations chosen by ``rng`` (a
``random.Random``), so the same generator state always gives the same input. The
hypothesis suite drives it with ``st.randoms()``, ``bench/fuzz.py`` with a plain seeded
``random.Random`` per input.
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

import numpy as np

#: Values a corrupt or hostile length, count or size field tends to hold.
INTERESTING = (0, 1, 2, 3, 4, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
               0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff)
INTERESTING_64 = INTERESTING + (1 << 32, 1 << 40, 1 << 62, (1 << 63) - 1, 1 << 63,
                                (1 << 64) - 1)
#: No mutated input grows past this (inputs stay cheap to write and to run).
MAX_INPUT_BYTES = 1 << 18

Mutation = Callable[[bytearray, random.Random, Sequence[bytes], Sequence[bytes]], bytearray]


def length_fields(data: bytes) -> tuple[int, ...]:
    """Offsets holding a little-endian u32 that could be a length: 1..bytes left after it."""
    offsets: list[int] = []
    for shift in range(4):   # every alignment, since MCAP fields are not aligned
        view = np.frombuffer(data[shift:shift + (len(data) - shift) // 4 * 4], dtype='<u4')
        left = len(data) - (shift + 4 * np.arange(len(view)) + 4)
        hits = np.nonzero((view >= 1) & (view <= np.maximum(left, 0)))[0]
        offsets.extend((shift + 4 * hits).tolist())
    return tuple(sorted(offsets))


def _position(buf: bytearray, rng: random.Random, end: int = 0) -> int:
    return rng.randrange(len(buf) + end) if len(buf) + end > 0 else 0


def _flip_bits(buf: bytearray, rng: random.Random, pool: Sequence[bytes],
               tokens: Sequence[bytes]) -> bytearray:
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        if buf:
            buf[_position(buf, rng)] ^= 1 << rng.randrange(8)
    return buf


def _set_byte(buf: bytearray, rng: random.Random, pool: Sequence[bytes],
              tokens: Sequence[bytes]) -> bytearray:
    if buf:
        buf[_position(buf, rng)] = rng.choice((0, 1, 0x7f, 0x80, 0xff, rng.randrange(256)))
    return buf


def _set_word(buf: bytearray, rng: random.Random, pool: Sequence[bytes],
              tokens: Sequence[bytes]) -> bytearray:
    """A 4- or 8-byte field set to an interesting value, often at a probable length."""
    wide = rng.random() < 0.3
    size = 8 if wide else 4
    if len(buf) < size:
        return buf
    fields = length_fields(bytes(buf)) if rng.random() < 0.6 else ()
    at = rng.choice(fields) if fields else _position(buf, rng, 1 - size)
    if rng.random() < 0.5 and not fields:
        at -= at % 4
    old = int.from_bytes(buf[at:at + size], 'little')
    value = rng.choice((*(INTERESTING_64 if wide else INTERESTING), old + 1, max(old - 1, 0),
                        old * 2, len(buf), len(buf) - at, rng.getrandbits(8 * size)))
    value %= 1 << (8 * size)
    order = 'little' if rng.random() < 0.85 else 'big'
    buf[at:at + size] = value.to_bytes(size, order)
    return buf


def _truncate(buf: bytearray, rng: random.Random, pool: Sequence[bytes],
              tokens: Sequence[bytes]) -> bytearray:
    return buf[:_position(buf, rng, 1)]


def _cut(buf: bytearray, rng: random.Random, pool: Sequence[bytes],
         tokens: Sequence[bytes]) -> bytearray:
    start = _position(buf, rng, 1)
    del buf[start:start + rng.choice((1, 2, 4, 8, rng.randrange(1, 256)))]
    return buf


def _insert_random(buf: bytearray, rng: random.Random, pool: Sequence[bytes],
                   tokens: Sequence[bytes]) -> bytearray:
    at = _position(buf, rng, 1)
    buf[at:at] = rng.randbytes(rng.choice((1, 2, 4, 8, rng.randrange(1, 64))))
    return buf


def _repeat(buf: bytearray, rng: random.Random, pool: Sequence[bytes],
            tokens: Sequence[bytes]) -> bytearray:
    """A slice repeated many times (nesting, long runs, many records)."""
    start = _position(buf, rng, 1)
    piece = bytes(buf[start:start + rng.choice((1, 2, 4, 16, 64))])
    times = rng.choice((2, 16, 256, 4096))
    buf[start:start] = piece * times
    return buf


def _token(buf: bytearray, rng: random.Random, pool: Sequence[bytes],
           tokens: Sequence[bytes]) -> bytearray:
    """A format token (a bracket, an anchor, an escape) inserted, perhaps thousands of times."""
    if not tokens:
        return _insert_random(buf, rng, pool, tokens)
    at = _position(buf, rng, 1)
    times = rng.choice((1, 1, 1, 2, 8, 64, 1024, 16384, 40000))
    buf[at:at] = rng.choice(tokens) * times
    return buf


def _splice(buf: bytearray, rng: random.Random, pool: Sequence[bytes],
            tokens: Sequence[bytes]) -> bytearray:
    """A slice of another valid input written over or into this one."""
    other = rng.choice(pool) if pool else bytes(buf)
    if not other:
        return buf
    start = rng.randrange(len(other))
    piece = other[start:start + rng.choice((4, 16, 256, len(other)))]
    at = _position(buf, rng, 1)
    if rng.random() < 0.5:
        buf[at:at + len(piece)] = piece
    else:
        buf[at:at] = piece
    return buf


def _crossover(buf: bytearray, rng: random.Random, pool: Sequence[bytes],
               tokens: Sequence[bytes]) -> bytearray:
    """The head of this input and the tail of another."""
    other = rng.choice(pool) if pool else bytes(buf)
    return buf[:_position(buf, rng, 1)] + other[_position(bytearray(other), rng, 1):]


MUTATIONS: tuple[Mutation, ...] = (
    _flip_bits, _flip_bits, _set_byte, _set_word, _set_word, _set_word, _truncate, _cut,
    _insert_random, _repeat, _token, _token, _splice, _crossover)


def mutate(seed: bytes, rng: random.Random, pool: Sequence[bytes] = (),
           tokens: Sequence[bytes] = ()) -> bytes:
    """A mutated copy of ``seed`` (or, rarely, random bytes), at most ``MAX_INPUT_BYTES``.

    ``pool`` holds the other valid inputs to splice from; ``tokens`` the format's
    meaningful pieces of text.
    """
    if rng.random() < 0.02:
        return rng.randbytes(rng.choice((0, 1, 4, 12, 64, len(seed))))
    buf = bytearray(seed)
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        buf = rng.choice(MUTATIONS)(buf, rng, pool, tokens)[:MAX_INPUT_BYTES]
    return bytes(buf)
