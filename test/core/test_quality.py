"""Quality metrics and gates on synthetic demonstrations."""

from __future__ import annotations

import numpy as np

from humanoid_data.core.quality import QualityGates, assess

FPS = 30.0


def min_jerk(t, duration):
    s = np.clip(t / duration, 0, 1)
    return s ** 3 * (10 - 15 * s + 6 * s * s)


def motion(pauses=()):
    """Seven joints moving smoothly over 4 s, with optional still pauses (start, length)."""
    t = np.arange(0, 6.0, 1 / FPS)
    clock = t.copy()
    for start, length in pauses:
        clock = np.where(clock > start, np.maximum(start, clock - length), clock)
    q = np.outer(min_jerk(clock - 0.5, 4.0), np.linspace(0.2, 1.0, 7))
    return t, q


def test_smooth_motion_passes_every_gate():
    t, q = motion()
    report = assess(t, q, QualityGates(), contacts=5)
    assert report.verdict == 'ok', report.flags + report.rejected
    m = report.metrics
    assert m['hesitations'] == 0 and 0.1 < m['idle_fraction'] < 0.6
    assert m['path_length_rad'] > 1.0 and m['contacts'] == 5


def test_noise_lowers_smoothness_and_pauses_count():
    t, q = motion()
    noisy = q + np.random.default_rng(0).normal(0, 0.01, q.shape)
    smooth = assess(t, q, QualityGates()).metrics['log_dimensionless_jerk']
    rough = assess(t, noisy, QualityGates()).metrics['log_dimensionless_jerk']
    assert rough < smooth
    t, q = motion(pauses=[(1.5, 0.8), (2.8, 0.7)])
    report = assess(t, q, QualityGates(max_hesitations=1))
    assert report.metrics['hesitations'] == 2
    assert any(f.startswith('hesitations 2') for f in report.flags)


def test_gates_reject_with_reasons():
    t, q = motion()
    report = assess(t[:20], q[:20], QualityGates(), missing_fraction=0.2, dropped=3)
    assert report.verdict == 'rejected'
    assert any(r.startswith('duration_s') for r in report.rejected)
    assert any(r.startswith('sync_missing_fraction 0.200') for r in report.rejected)
    assert any(f.startswith('dropped 3') for f in report.flags)
