"""Live sync health graded in the recorder's writer thread from what it receives."""

from __future__ import annotations

import logging

import numpy as np

from humanoid_data.core.settings import RecorderSettings
from humanoid_data.core.topics import topics_for
from humanoid_data.monitors.sync import (
    Level, LiveSync, SlidingWindow, SyncThresholds, evaluate_all)
from humanoid_data.recording.engine import RecorderEngine
from humanoid_data.recording.session import Session
from humanoid_data.sim.faults import StreamFault
from humanoid_data.sim.humanoid import SimulatedHumanoid
from test.recording.rig import MS, T0


def test_the_writer_grades_what_it_takes_and_a_silent_stream_is_an_error(tmp_path,
                                                                         small_suite):
    now = [T0]
    topics = topics_for(small_suite)
    limits = SyncThresholds()
    live = LiveSync(small_suite, [t.topic for t in topics], limits, T0, 500 * MS)
    engine = RecorderEngine(topics, Session(tmp_path, 's', small_suite), RecorderSettings(),
                            logging.getLogger('t'), live_sync=live, clock=lambda: now[0])
    index = {t.topic: i for i, t in enumerate(topics)}
    sim = SimulatedHumanoid(small_suite, start_ns=T0,
                            faults={'imu': StreamFault(silent_after_s=1.0)})
    for _ in range(3000):
        now[0] += MS
        for out in sim.step(now[0]):
            engine.offer(index[out.topic], out.data)
    engine.close(timeout=60)
    # The writer graded as it went, whatever its pace; grade once more now that it has
    # taken everything (its thread has stopped), as of the last instant.
    live.tick(now[0] + 500 * MS)         # one grading period after the last message
    health = {h.stream: h for h in live.health}
    # Every stream the suite streams is graded; latched ones have nothing to grade.
    assert set(health) == {s.name for s in small_suite.streamed}
    assert health['imu'].level == Level.ERROR
    assert any('silent' in reason for reason in health['imu'].reasons)
    assert health['wrist_left_ft'].level != Level.ERROR


def test_live_grading_equals_grading_the_same_window(small_suite):
    """LiveSync is the sync monitor's code on the recorder's stamps, nothing else."""
    limits = SyncThresholds()
    topics = [s.topic for s in small_suite.streams]
    live = LiveSync(small_suite, topics, limits, 0, 1_000_000_000)
    window = SlidingWindow(int(limits.window_s * 1e9))
    rng = np.random.default_rng(3)
    for stream in small_suite.streamed:
        period = stream.period_ns
        for k in range(int(2e9 // period)):
            stamp = k * period + int(rng.integers(0, 1000))
            receive = stamp + int(rng.integers(100_000, 3_000_000))
            live.add(topics.index(stream.topic), stamp, receive)
            window.add(stream.topic, stamp, receive)
    live.tick(2_000_000_000)
    stamps, receive = window.arrays(2_000_000_000)
    expected = evaluate_all(small_suite, stamps, receive, 2_000_000_000, 2_000_000_000,
                            limits)
    assert [h.as_dict() for h in live.health] == [h.as_dict() for h in expected]
    live.tick(2_500_000_000)       # within the period: not graded again
    assert [h.as_dict() for h in live.health] == [h.as_dict() for h in expected]
