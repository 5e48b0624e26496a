"""Episode windows are exact: property tests with late stops, overlapping pre-rolls, reordering.

The engine runs on a fake clock driven by the test: every message is offered at its
receive time (stamp plus a random transport delay, so arrivals come out of order), and
each stop is requested with its stamp but received late by a random amount. Whatever
the schedule, an episode's bag holds exactly the messages stamped in its window, the
window ends at the requested stop whenever the stop was no later than the hold, and no
figure is negative.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rosbags.rosbag2 import Reader

from humanoid_data.bag import encode
from humanoid_data.bag.stamps import header_stamp_ns
from humanoid_data.core.config import STAMP_OFFSETS, Modality, QosConfig, StreamConfig, SuiteConfig
from humanoid_data.core.settings import RecorderSettings
from humanoid_data.core.topics import topics_for
from humanoid_data.recording.engine import RecorderEngine
from humanoid_data.recording.session import Session

MS = 1_000_000
T0 = 10 ** 15
HOLD_MS = 100
PREROLL_MS = 300
SUITE = SuiteConfig('bot', ('j',), (
    StreamConfig('ft', '/ft', 'geometry_msgs/msg/WrenchStamped', Modality.WRENCH, 100.0,
                 QosConfig()),
    StreamConfig('imu', '/imu', 'sensor_msgs/msg/Imu', Modality.IMU, 50.0, QosConfig()),
))


def _message(topic: str, stamp_ns: int) -> bytes:
    if topic == '/ft':
        return encode.wrench(stamp_ns, 'ft', [1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    return encode.imu(stamp_ns, 'imu', [0.0, 0.0, 0.0, 1.0], [0.0] * 3, [0.0] * 3)


episode_plan = st.tuples(
    # from the previous stop's arrival to this start (ms): shorter than the pre-roll,
    # so pre-rolls overlap the previous episode
    st.integers(0, 150),
    st.integers(20, 400),      # duration (ms)
    st.integers(0, 600),       # how late the stop is received (ms)
)


@st.composite
def schedules(draw):
    episodes = draw(st.lists(episode_plan, min_size=1, max_size=3))
    delays = draw(st.lists(st.integers(0, 40), min_size=64, max_size=64))
    return episodes, delays


def _record(root: Path, episodes, delays):
    """Run the schedule; return the session and (id, start, stop, lateness)."""
    clock = [T0]
    session = Session(root, 's', SUITE)
    settings = RecorderSettings(preroll_s=PREROLL_MS / 1000, stop_hold_s=HOLD_MS / 1000,
                                stop_grace_s=5.0, disk_min_free_mib=0, disk_reserve_mib=0)
    engine = RecorderEngine(topics_for(SUITE), session, settings, logging.getLogger('t'),
                            clock=lambda: clock[0])
    index = {t.topic: i for i, t in enumerate(engine.topics)}
    actions = []          # (receive_ns, order, kind, payload)
    t = T0 + 400 * MS
    planned = []
    for gap, duration, late in episodes:
        start = t + gap * MS
        stop = start + duration * MS
        actions.append((start, 1, 'start', start))
        actions.append((stop + late * MS, 1, 'stop', stop))
        planned.append((start, stop, late))
        t = stop + late * MS      # the operator starts again only after the stop went out
    end = max(a[0] for a in actions) + 500 * MS
    k = 0
    for topic, period in (('/ft', 10 * MS), ('/imu', 20 * MS)):
        arrived = 0     # one publisher delivers in order; streams overtake each other
        for stamp in range(T0, end, period):
            arrived = max(arrived, stamp + delays[k % len(delays)] * MS)
            k += 1
            actions.append((arrived, 0, 'msg', (topic, stamp)))
    actions.sort(key=lambda a: (a[0], a[1]))
    ids = []
    for receive, _, kind, payload in actions:
        clock[0] = receive
        if kind == 'msg':
            topic, stamp = payload
            engine.offer(index[topic], _message(topic, stamp))
        elif kind == 'start':
            ids.append(engine.start_episode(stamp_ns=payload))
        else:
            engine.stop_episode(stamp_ns=payload)
    clock[0] = end + 60_000 * MS
    engine.close(timeout=60)
    return session, [(i, *p) for i, p in zip(ids, planned)]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedules())
def test_windows_are_exact_and_figures_never_negative(tmp_path_factory, schedule):
    episodes, delays = schedule
    session, done = _record(tmp_path_factory.mktemp('w'), episodes, delays)
    for episode_id, start, stop, late in done:
        folder = session.path / episode_id
        meta = yaml.safe_load((folder / 'episode.yaml').read_text())
        begin = start - PREROLL_MS * MS
        if late <= HOLD_MS:
            assert meta['stop_ns'] == stop and 'late_stop' not in meta['flags']
        else:    # later than the hold: the episode may end at its newest message
            assert meta['stop_ns'] >= stop
            if meta['stop_ns'] > stop:
                assert meta['stop_requested_ns'] == stop and 'late_stop' in meta['flags']
        stamps: dict[str, list[int]] = {'/ft': [], '/imu': []}
        with Reader(folder) as bag:
            for conn, _, raw in bag.messages():
                if conn.topic in stamps:
                    stamps[conn.topic].append(
                        header_stamp_ns(raw, STAMP_OFFSETS.get(conn.msgtype, 4)))
        for topic, period in (('/ft', 10 * MS), ('/imu', 20 * MS)):
            got = sorted(stamps[topic])
            assert all(begin <= s <= meta['stop_ns'] for s in got), (episode_id, topic)
            # Nothing in the window was lost: every stamp on the grid is there.
            first = -(-(begin - T0) // period) * period + T0
            assert got == list(range(first, meta['stop_ns'] + 1, period)), (episode_id, topic)
            entry = meta['topics'][topic]
            assert entry['written'] == len(got) and entry['missing_by_stamps'] >= 0
        assert meta['missing_by_stamps'] >= 0 and meta['dropped'] == 0


def test_a_stop_later_than_the_hold_is_flagged_not_hidden(tmp_path):
    clock = [T0]
    session = Session(tmp_path, 's', SUITE)
    engine = RecorderEngine(topics_for(SUITE), session,
                            RecorderSettings(stop_hold_s=HOLD_MS / 1000, disk_min_free_mib=0,
                                             disk_reserve_mib=0),
                            logging.getLogger('t'), clock=lambda: clock[0])
    episode_id = engine.start_episode(stamp_ns=T0)
    for k in range(1, 51):                       # 500 ms of /ft, received at once
        clock[0] = T0 + k * 10 * MS
        engine.offer(0, _message('/ft', clock[0]))
    assert engine.wait_for_writer(timeout=60)   # messages up to 400 ms are written
    engine.stop_episode(stamp_ns=T0 + 100 * MS)  # received 400 ms after its stamp
    clock[0] += 60_000 * MS
    engine.close(timeout=60)
    meta = yaml.safe_load((session.path / episode_id / 'episode.yaml').read_text())
    assert meta['stop_requested_ns'] == T0 + 100 * MS
    assert meta['stop_ns'] == T0 + 400 * MS and 'late_stop' in meta['flags']
    assert meta['topics']['/ft']['written'] == 40
