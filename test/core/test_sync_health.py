"""Sync health graded from the simulated humanoid's stamps and send times, with faults."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from humanoid_data.errors import ConfigError
from humanoid_data.monitors.sync import (
    Level, SlidingWindow, SyncThresholds, evaluate_all, load_sync_thresholds, summary)
from humanoid_data.sim.faults import StreamFault
from humanoid_data.sim.humanoid import SimulatedHumanoid

MS = 1_000_000
T0 = 10 ** 12


@pytest.fixture
def light_suite(suite):
    """The default suite without LiDAR and wrist cameras, to keep rendering fast."""
    drop = ('lidar', 'wrist_left_rgb', 'wrist_right_rgb')
    return replace(suite, streams=tuple(s for s in suite.streams if s.name not in drop))


@pytest.fixture
def limits(suite_file):
    return load_sync_thresholds(suite_file.parent / 'sync.yaml')


def grade(suite, limits, faults=None, seconds=3.0):
    """Run the simulator; every message is 'received' when it is sent (plus 0.5 ms)."""
    sim = SimulatedHumanoid(suite, start_ns=T0, faults=faults or {})
    window = SlidingWindow(int(limits.window_s * 1e9))
    now = T0
    while now < T0 + int(seconds * 1e9):
        now += MS
        for out in sim.step(now):
            window.add(out.topic, out.stamp_ns, now + MS // 2)
    stamps, receive = window.arrays(now)
    health = evaluate_all(suite, stamps, receive, int(limits.window_s * 1e9), now, limits)
    return {h.stream: h for h in health}


def test_healthy_suite_is_ok(light_suite, limits):
    health = grade(light_suite, limits)
    bad = {name: h.reasons for name, h in health.items() if h.level != Level.OK}
    assert bad == {}
    assert summary(list(health.values()))['level'] == 'OK'


@pytest.mark.parametrize('fault, stream, level, reason', [
    (StreamFault(latency_ms=400.0), 'imu', Level.ERROR, 'latency'),
    (StreamFault(latency_ms=5.0, jitter_ms=40.0), 'imu', Level.WARN, 'latency'),
    (StreamFault(clock_offset_ms=30.0), 'joint_states', Level.ERROR, 'ahead'),
    (StreamFault(clock_offset_ms=-3.0), 'head_depth', Level.WARN, 'trigger skew'),
    (StreamFault(silent_after_s=1.0), 'wrist_right_ft', Level.ERROR, 'silent'),
    (StreamFault(drop_rate=0.2), 'tactile_left_thumb', Level.ERROR, 'gaps'),
])
def test_faults_raise_the_level(light_suite, limits, fault, stream, level, reason):
    health = grade(light_suite, limits, {stream: fault})
    assert health[stream].level == level, health[stream].reasons
    assert any(reason in r for r in health[stream].reasons), health[stream].reasons
    others = {n: h.reasons for n, h in health.items()
              if h.level != Level.OK and n != stream and not n.startswith('head_')}
    assert others == {}


def test_thresholds_file_errors_name_the_key(tmp_path):
    path = tmp_path / 'sync.yaml'
    path.write_text('latency_warn_ms: 500\nlatency_error_ms: 100\n')
    with pytest.raises(ConfigError, match='latency_warn_ms'):
        load_sync_thresholds(path)
    path.write_text('latency_warm_ms: 5\n')
    with pytest.raises(ConfigError, match=r"sync\.yaml.*latency_warm_ms"):
        load_sync_thresholds(path)


def test_stamp_regression_is_an_error_beyond_the_limit(light_suite):
    limits = SyncThresholds(regressions_error=2)
    imu = light_suite.stream('imu')
    stamps = np.arange(0, 800) * int(2.5 * MS) + T0
    stamps[100], stamps[101] = stamps[101], stamps[100]
    stamps[300], stamps[301] = stamps[301], stamps[300]
    stamps[500], stamps[501] = stamps[501], stamps[500]
    receive = np.maximum.accumulate(stamps) + MS
    health = evaluate_all(replace(light_suite, streams=(imu,)), {imu.topic: stamps},
                          {imu.topic: receive}, 2 * 10 ** 9, int(receive[-1]), limits)
    assert health[0].regressions == 3 and health[0].level == Level.ERROR
