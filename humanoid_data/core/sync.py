"""Aligning streams onto one timeline, numpy only.

A dataset frame ``k`` of an episode stands for the instant ``t0 + k / fps`` on the robot
clock (header stamps). Each stream is brought onto those instants by a policy:

- ``nearest``: the sample whose stamp is closest (images, depth, point clouds);
- ``interpolate``: linear between the samples just before and just after (joints,
  force-torque, IMU, tactile);
- ``hold``: the latest sample at or before the instant (operator commands).

``as_of`` makes any policy causal: only samples stamped at or before the instant are
used (nearest and interpolate then become hold), so a frame never sees the future.
A frame is valid for a stream when the sample(s) it uses lie within ``tolerance`` of the
instant (for interpolation: both neighbours); otherwise the stream's value at that frame
is missing (NaN or a -1 index), never invented. Every frame keeps, per stream, the
stamp it used and the residual (instant minus that stamp).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from humanoid_data.errors import ConfigError


class Policy(str, Enum):
    """How a stream is sampled at the timeline's instants."""

    NEAREST = 'nearest'
    INTERPOLATE = 'interpolate'
    HOLD = 'hold'


@dataclass(frozen=True)
class AlignSpec:
    """A stream's alignment policy."""

    policy: Policy
    tolerance_ns: int
    as_of: bool = False

    def __post_init__(self) -> None:
        """Check the tolerance."""
        if self.tolerance_ns <= 0:
            raise ConfigError(f'alignment tolerance must be > 0 ns, got {self.tolerance_ns}')

    @property
    def causal(self) -> bool:
        """Whether only past samples are used."""
        return self.as_of or self.policy == Policy.HOLD


def timeline(start_ns: int, end_ns: int, fps: float) -> np.ndarray:
    """Instants ``start + k / fps`` (ns) for every k with the instant at or before ``end``."""
    if not fps > 0:
        raise ConfigError(f'fps must be > 0, got {fps}')
    if end_ns < start_ns:
        return np.empty(0, dtype=np.int64)
    count = int(np.floor((end_ns - start_ns) * fps / 1e9 + 1e-9)) + 1
    return start_ns + np.round(np.arange(count) * (1e9 / fps)).astype(np.int64)


@dataclass(frozen=True)
class Alignment:
    """Where each timeline instant takes a stream's value from.

    ``before`` and ``after`` index the samples used (equal unless interpolating);
    ``weight`` is the share of ``after`` (0 for a single sample); ``stamp_ns`` is the
    stamp used (the nearer one when interpolating); ``residual_ns`` = instant - stamp;
    ``valid`` is False where the policy found nothing within tolerance.
    """

    before: np.ndarray
    after: np.ndarray
    weight: np.ndarray
    stamp_ns: np.ndarray
    residual_ns: np.ndarray
    valid: np.ndarray

    @property
    def missing(self) -> int:
        """Instants without a valid value."""
        return int(np.count_nonzero(~self.valid))

    def index(self) -> np.ndarray:
        """Per instant, the single sample used (-1 where invalid); for nearest and hold."""
        use_after = self.weight >= 0.5
        chosen = np.where(use_after, self.after, self.before)
        return np.where(self.valid, chosen, -1)

    def used(self, count: int) -> np.ndarray:
        """Sample positions (sorted, unique) any instant reads, of ``count`` samples.

        With these, a caller can fetch just the rows it needs and pass them to ``take``.
        """
        if not count:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.clip(np.concatenate([self.before, self.after]), 0, count - 1))

    def take(self, values: np.ndarray, used: np.ndarray | None = None) -> np.ndarray:
        """Values at every instant (rows of ``values`` per sample), NaN where invalid.

        If ``used`` (from ``used()``) is given, ``values`` holds only those samples' rows.
        """
        values = np.asarray(values, dtype=np.float64)
        if len(values) == 0:
            return np.full((len(self.valid),) + values.shape[1:], np.nan)
        if used is None:
            lo = values[np.clip(self.before, 0, len(values) - 1)]
            hi = values[np.clip(self.after, 0, len(values) - 1)]
        else:
            first, last = int(used[0]), int(used[-1])
            lo = values[np.searchsorted(used, np.clip(self.before, first, last))]
            hi = values[np.searchsorted(used, np.clip(self.after, first, last))]
        w = self.weight.reshape((-1,) + (1,) * (values.ndim - 1))
        out: np.ndarray = lo + (hi - lo) * w
        out[~self.valid] = np.nan
        return out


def align(instants_ns: np.ndarray, stamps_ns: np.ndarray, spec: AlignSpec) -> Alignment:
    """Align one stream (stamps sorted ascending) onto the instants.

    Raises:
        ValueError: ``stamps_ns`` is not sorted (sort the samples first).

    """
    t = np.asarray(instants_ns, dtype=np.int64)
    s = np.asarray(stamps_ns, dtype=np.int64)
    n = len(s)
    if n and np.any(np.diff(s) < 0):
        raise ValueError('stamps must be sorted ascending')
    empty = np.zeros(len(t), dtype=np.int64)
    if n == 0:
        return Alignment(empty - 1, empty - 1, np.zeros(len(t)), empty, empty,
                         np.zeros(len(t), dtype=bool))
    # prev: the last sample at or before the instant; nxt: the first one after it
    prev = np.searchsorted(s, t, side='right') - 1
    nxt = prev + 1
    has_prev = prev >= 0
    has_next = nxt < n
    prev_c = np.clip(prev, 0, n - 1)
    next_c = np.clip(nxt, 0, n - 1)
    gap_prev = np.where(has_prev, t - s[prev_c], np.iinfo(np.int64).max)
    gap_next = np.where(has_next, s[next_c] - t, np.iinfo(np.int64).max)
    tol = spec.tolerance_ns
    weight = np.zeros(len(t))
    if spec.causal:
        before = after = prev_c
        valid = has_prev & (gap_prev <= tol)
        stamp = s[prev_c]
    elif spec.policy == Policy.NEAREST:
        take_next = gap_next < gap_prev
        before = after = np.where(take_next, next_c, prev_c)
        stamp = s[before]
        valid = np.minimum(gap_prev, gap_next) <= tol
    else:
        exact = has_prev & (gap_prev == 0)
        both = has_prev & has_next
        span = np.where(both, s[next_c] - s[prev_c], 1)
        weight = np.where(both & ~exact, gap_prev / np.maximum(span, 1), 0.0)
        before, after = prev_c, np.where(both & ~exact, next_c, prev_c)
        near_next = gap_next < gap_prev
        stamp = np.where(near_next, s[next_c], s[prev_c])
        # Both neighbours within tolerance: a value across a hole is not invented.
        valid = exact | (both & (np.maximum(gap_prev, gap_next) <= tol))
    residual = t - stamp
    return Alignment(np.asarray(before), np.asarray(after), weight, stamp, residual, valid)
