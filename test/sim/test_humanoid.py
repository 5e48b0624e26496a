"""The simulated humanoid: shared trigger stamps, consistent modalities, truth, faults."""

from __future__ import annotations

import numpy as np
import pytest

from humanoid_data.bag.decode import decode
from humanoid_data.errors import ConfigError
from humanoid_data.sim.faults import parse_faults
from humanoid_data.sim.humanoid import SimulatedHumanoid
from humanoid_data.sim.scenario import CYCLE_S, PHASES

MS = 1_000_000


def _run(sim, ms):
    out = []
    for k in range(1, ms + 1):
        out += sim.step(sim.start_ns + k * MS)
    return out


def test_rates_and_shared_trigger_stamps(suite):
    sim = SimulatedHumanoid(suite, start_ns=10**12)
    out = _run(sim, 1000)
    by_topic = {}
    for item in out:
        by_topic.setdefault(item.topic, []).append(item.stamp_ns)
    for stream in suite.streamed:       # latched streams are published by the node
        assert abs(len(by_topic[stream.topic]) - stream.rate_hz) <= 1, stream.name
    head = [s.topic for s in suite.streams if s.trigger == 'head']
    assert by_topic[head[0]] == by_topic[head[1]] == by_topic[head[2]]


def test_contact_signals_agree_with_truth(suite):
    sim = SimulatedHumanoid(suite, start_ns=10**12)
    sim.play_cycle(sim.start_ns + 100 * MS)
    out = _run(sim, int((CYCLE_S + 0.5) * 1000))
    _, contacts = sim.scenario.truth()
    index = next(c for c in contacts if c.label == 'tactile/right/index')
    wrist = next(c for c in contacts if c.label == 'wrist/right')
    pressures, forces = [], []
    for item in out:
        if item.topic == '/tactile/right/index':
            pressures.append((item.stamp_ns, decode(item.data, 'sensor_msgs/msg/Image')
                              .pixels.sum()))
        if item.topic == '/wrist/right/ft':
            forces.append((item.stamp_ns, decode(item.data, 'geometry_msgs/msg/WrenchStamped')
                           .force))
    inside = [p for t, p in pressures if index.begin_ns + 200 * MS < t < index.end_ns - 100 * MS]
    outside = [p for t, p in pressures if t < index.begin_ns or t > index.end_ns + 50 * MS]
    assert min(inside) > 10 * max(outside)
    bias = np.mean([f for t, f in forces if t < wrist.begin_ns], axis=0)
    loaded = [np.linalg.norm(f - bias) for t, f in forces
              if wrist.begin_ns + 300 * MS < t < wrist.end_ns - 300 * MS]
    assert min(loaded) > 2.0   # the box's weight shows on the wrist while held


def test_truth_events_cover_every_phase_in_order(suite):
    sim = SimulatedHumanoid(suite, start_ns=10**12)
    sim.play_cycle(sim.start_ns)
    events = sim.truth_due(sim.start_ns + int(CYCLE_S * 1e9) + 1)
    begins = [e.name for e in events if e.kind == 'phase' and e.boundary.value == 'begin']
    assert begins == [p.name for p in PHASES]
    assert [e.stamp_ns for e in events] == sorted(e.stamp_ns for e in events)


def test_faults_drop_delay_shift_and_silence(suite):
    faults = parse_faults('{imu: {silent_after_s: 0.5}, wrist_left_ft: {drop_rate: 0.5},'
                          ' joint_states: {latency_ms: 20, clock_offset_ms: 7}}',
                          {s.name for s in suite.streams})
    sim = SimulatedHumanoid(suite, start_ns=10**12, faults=faults)
    out = _run(sim, 1000)
    imu = [o for o in out if o.topic == '/imu']
    assert max(o.stamp_ns for o in imu) < sim.start_ns + 500 * MS
    left = sum(o.topic == '/wrist/left/ft' for o in out)
    assert 350 < left < 650
    joints = [o for o in out if o.topic == '/joint_states']
    assert all(o.publish_ns - o.stamp_ns == 13 * MS for o in joints)  # 20 ms late, +7 ms


@pytest.mark.parametrize(('text', 'match'), [
    ('{nosuch: {drop_rate: 1}}', 'unknown stream'),
    ('{imu: {speed: 1}}', 'unknown key'),
    ('{imu: {drop_rate: 2}}', 'drop_rate'),
    ('[1, 2]', 'mapping'),
])
def test_bad_faults_named(suite, text, match):
    with pytest.raises(ConfigError, match=match):
        parse_faults(text, {s.name for s in suite.streams})


def test_rendering_ahead_gives_the_messages_stepping_gives(suite):
    """The node renders up to 0.1 s ahead of the stamps on one thread and publishes on
    another: the messages must be those of stepping in time, bytes and publish times.

    Without noise: the noise generator is shared by the streams, so batches of another
    length draw its numbers in another order (same distribution, other values).
    """
    stepped = SimulatedHumanoid(suite, start_ns=10**12, noise=0.0)
    ahead = SimulatedHumanoid(suite, start_ns=10**12, noise=0.0)
    for sim in (stepped, ahead):
        sim.play_cycle(sim.start_ns + 200 * MS)
    end = stepped.start_ns + 1500 * MS
    by_step = _run(stepped, 1500)
    rendered = []
    now = ahead.start_ns
    while now < end:
        now += 7 * MS
        ahead.sample_until(min(now + 100 * MS, end), now)
        rendered += ahead.take_pending()
    key = [(m.topic, m.stamp_ns, m.publish_ns, m.data) for m in by_step]
    assert len(by_step) > 1000
    assert sorted(key) == sorted((m.topic, m.stamp_ns, m.publish_ns, m.data)
                                 for m in rendered if m.publish_ns <= end)
