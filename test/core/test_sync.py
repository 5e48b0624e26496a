"""Alignment onto the dataset timeline: offsets, jitter, causality, missing samples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from humanoid_data.core.sync import AlignSpec, Policy, align, timeline
from humanoid_data.errors import ConfigError

MS = 1_000_000


def test_timeline_is_exact_multiples_of_the_period():
    grid = timeline(5 * MS, 5 * MS + 10**9, 30.0)
    assert len(grid) == 31 and grid[0] == 5 * MS
    np.testing.assert_array_equal(grid - grid[0], np.round(np.arange(31) * 1e9 / 30))
    with pytest.raises(ConfigError):
        timeline(0, 1, 0.0)


@given(st.integers(-15, 15), st.integers(0, 2**32 - 1))
def test_camera_offset_is_recovered_as_residual(offset_ms, seed):
    grid = timeline(0, 2 * 10**9, 30.0)
    jitter = np.random.default_rng(seed).integers(-MS, MS, len(grid))
    stamps = grid + offset_ms * MS + jitter
    al = align(grid, stamps, AlignSpec(Policy.NEAREST, 20 * MS))
    assert al.valid.all()
    np.testing.assert_array_equal(al.index(), np.arange(len(grid)))
    np.testing.assert_array_equal(al.residual_ns, -(offset_ms * MS + jitter))


@given(st.integers(0, 2**32 - 1), st.floats(0.0, 0.9))
def test_interpolation_recovers_a_smooth_signal_under_jitter(seed, jitter_fraction):
    rng = np.random.default_rng(seed)
    period = 2 * MS                                   # 500 Hz
    stamps = np.arange(0, 2 * 10**9, period)
    stamps = stamps + (rng.uniform(-0.5, 0.5, len(stamps)) * jitter_fraction * period)
    stamps = np.sort(stamps.astype(np.int64))
    values = np.sin(2 * np.pi * 1.5 * stamps / 1e9)[:, None]
    grid = timeline(10 * MS, 19 * 10**8, 30.0)
    out = align(grid, stamps, AlignSpec(Policy.INTERPOLATE, 10 * MS)).take(values)
    truth = np.sin(2 * np.pi * 1.5 * grid / 1e9)
    assert np.max(np.abs(out[:, 0] - truth)) < 1e-3


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=60),
       st.lists(st.integers(0, 10**9), min_size=1, max_size=60),
       st.sampled_from(list(Policy)))
def test_as_of_never_uses_a_later_sample(stamps, instants, policy):
    stamps = np.sort(np.array(stamps, dtype=np.int64))
    instants = np.array(instants, dtype=np.int64)
    al = align(instants, stamps, AlignSpec(policy, 10**9, as_of=True))
    used = np.maximum(stamps[al.before], stamps[al.after])
    assert np.all(used[al.valid] <= instants[al.valid])
    assert np.all(al.residual_ns[al.valid] >= 0)
    assert np.all(al.weight == 0)


def test_missing_samples_are_flagged_not_invented():
    stamps = np.arange(0, 10**9, 2 * MS)
    hole = (stamps > 400 * MS) & (stamps < 500 * MS)
    stamps = stamps[~hole]
    values = np.arange(len(stamps), dtype=float)[:, None]
    grid = timeline(0, 10**9 - 2 * MS, 30.0)
    for policy in Policy:
        al = align(grid, stamps, AlignSpec(policy, 10 * MS))
        out = al.take(values)
        inside = (grid > 412 * MS) & (grid < 488 * MS)
        assert not al.valid[inside].any(), policy
        assert np.isnan(out[inside]).all()
        assert al.valid[~inside & (grid < 390 * MS)].all()
    assert align(grid, np.empty(0, np.int64), AlignSpec(Policy.HOLD, MS)).missing == len(grid)


def test_unsorted_stamps_are_refused():
    with pytest.raises(ValueError, match='sorted'):
        align(np.array([0]), np.array([5, 1]), AlignSpec(Policy.NEAREST, MS))


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=80, unique=True),
       st.lists(st.integers(-10**8, 11 * 10**8), min_size=1, max_size=40),
       st.sampled_from(list(Policy)), st.booleans())
def test_taking_only_the_used_rows_gives_the_same_values(stamps, instants, policy, as_of):
    stamps = np.sort(np.array(stamps, dtype=np.int64))
    values = np.random.default_rng(len(stamps)).normal(size=(len(stamps), 3))
    al = align(np.array(instants, dtype=np.int64), stamps, AlignSpec(policy, 10**8, as_of))
    used = al.used(len(stamps))
    assert np.all(np.diff(used) > 0) and used[0] >= 0 and used[-1] < len(stamps)
    np.testing.assert_array_equal(al.take(values[used], used), al.take(values))
