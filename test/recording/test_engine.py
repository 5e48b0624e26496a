"""Recorder engine without ROS: episode semantics, pre-roll, drops, silence, bag format."""

from __future__ import annotations

import os

import pytest
from mcap.reader import make_reader
from rosbags.highlevel import AnyReader

from humanoid_data.bag.stamps import header_stamp_ns
from humanoid_data.core.config import STAMP_OFFSETS
from humanoid_data.errors import BagError, EpisodeStateError
from humanoid_data.recording.session import Session
from humanoid_data.sim.faults import StreamFault
from test.recording.rig import MS, Rig


def test_episode_holds_exactly_the_window_and_bytes_survive(tmp_path, small_suite):
    rig = Rig(tmp_path, small_suite, preroll_s=0.2)
    rig.run_ms(500)
    start = rig.now
    episode_id = rig.engine.start_episode(task='pick')
    rig.run_ms(400)
    stop = rig.now
    rig.engine.stop_episode(outcome='success')
    rig.run_ms(300)
    rig.finish()
    meta = rig.episode(episode_id)
    assert meta['outcome'] == 'success' and meta['task'] == 'pick'
    assert meta['dropped'] == 0 and meta['flags'] == []
    begin = start - 200 * MS
    for stream in small_suite.streams:
        expected = rig.sim.ledger.count_between(stream.topic, begin, stop + 1)
        assert meta['topics'][stream.topic]['written'] == expected, stream.topic
    bag = rig.session.path / episode_id
    with AnyReader([bag]) as reader:
        seen = 0
        for conn, _, raw in reader.messages():
            if conn.topic == '/humanoid_data/events':
                continue
            stamp = header_stamp_ns(raw, STAMP_OFFSETS.get(conn.msgtype, 4))
            assert begin <= stamp <= stop
            assert bytes(raw) == rig.sent[(conn.topic, stamp)]
            seen += 1
        assert seen == meta['messages']
        msg = next(reader.messages(connections=[
            c for c in reader.connections if c.topic == '/wrist/right/ft']))
        assert reader.deserialize(msg[2], 'geometry_msgs/msg/WrenchStamped').wrench.force.z


def test_bag_opens_with_mcap_library_with_definitions(tmp_path, small_suite):
    rig = Rig(tmp_path, small_suite)
    episode_id = rig.engine.start_episode()
    rig.run_ms(100)
    rig.engine.stop_episode()
    rig.finish()
    mcap_files = list((rig.session.path / episode_id).glob('*.mcap'))
    with mcap_files[0].open('rb') as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        schemas = {s.name: s for s in summary.schemas.values()}
        assert b'MSG: std_msgs/Header' in schemas['geometry_msgs/msg/WrenchStamped'].data
        assert all(s.encoding == 'ros2msg' for s in schemas.values())
        counted = sum(1 for _ in reader.iter_messages())
    assert counted == rig.episode(episode_id)['messages']


def test_second_start_refused_and_stop_without_start_refused(tmp_path, small_suite):
    rig = Rig(tmp_path, small_suite)
    with pytest.raises(EpisodeStateError, match='no episode is recording'):
        rig.engine.stop_episode()
    first = rig.engine.start_episode()
    with pytest.raises(EpisodeStateError, match=f'{first} is already recording'):
        rig.engine.start_episode()
    rig.finish()


def test_discard_moves_episode_aside(tmp_path, small_suite):
    rig = Rig(tmp_path, small_suite)
    first = rig.engine.start_episode()
    rig.run_ms(50)
    rig.engine.stop_episode()
    rig.run_ms(50)
    assert rig.engine.discard_episode('operator fumbled') == first
    second = rig.engine.start_episode()
    rig.run_ms(50)
    assert rig.engine.discard_episode() == second   # discarding while recording
    with pytest.raises(EpisodeStateError):
        rig.engine.discard_episode()
    rig.finish()
    assert not (rig.session.path / first).exists()
    assert rig.episode(first, discarded=True)['discarded'] == 'operator fumbled'
    assert rig.episode(second, discarded=True)['outcome'] == 'aborted'


def test_silent_stream_reported(tmp_path, small_suite):
    faults = {'imu': StreamFault(silent_after_s=0.3)}
    rig = Rig(tmp_path, small_suite, faults=faults, silence_s=0.5, stop_grace_s=0.1)
    episode_id = rig.engine.start_episode()
    rig.run_ms(1500)
    rig.engine.stop_episode()
    rig.finish()
    meta = rig.episode(episode_id)
    assert meta['silent_streams'] == ['imu']
    assert 'required_stream_silent' in meta['flags']
    assert meta['topics']['/imu']['max_gap_s'] > 0.5


def test_queue_overflow_is_counted_per_topic_and_in_episode(tmp_path, small_suite):
    rig = Rig(tmp_path, small_suite, queue_mib=0.001)   # ~1 kB: almost nothing fits
    episode_id = rig.engine.start_episode()
    rig.run_ms(200)
    rig.engine.stop_episode()
    rig.finish()
    meta = rig.episode(episode_id)
    received = sum(rig.engine.received)
    written = sum(rig.engine.written)
    assert sum(rig.engine.dropped) > 0
    assert meta['dropped'] > 0 and 'drops' in meta['flags']
    assert written + sum(rig.engine.dropped) <= received


def test_drop_warnings_are_throttled_per_topic_but_every_drop_counted(
        tmp_path, small_suite, caplog, monkeypatch):
    from humanoid_data.recording import engine as engine_module
    now = [1000.0]
    monkeypatch.setattr(engine_module.time, 'monotonic', lambda: now[0])
    rig = Rig(tmp_path, small_suite, queue_mib=0.001)
    rig.engine.start_episode()
    with caplog.at_level('WARNING', logger='t'):
        rig.run_ms(100)                 # many drops within one (frozen) second
        first = [r.message for r in caplog.records if 'dropped message' in r.message]
        now[0] += engine_module.DROP_LOG_PERIOD_S
        rig.run_ms(100)
    lines = [r.message for r in caplog.records if 'dropped message' in r.message]
    topics = {line.split(':')[0] for line in first}
    assert sum(rig.engine.dropped) > 2 * len(lines)       # far fewer lines than drops
    assert first and len(first) == len(topics)            # one line per topic at first
    assert len(lines) > len(first)                        # and again a second later
    rig.engine.stop_episode()
    rig.finish()


@pytest.mark.skipif(os.geteuid() == 0, reason='root can write anywhere')
def test_unwritable_output_names_folder(tmp_path, small_suite):
    locked = tmp_path / 'locked'
    locked.mkdir(mode=0o500)
    with pytest.raises(BagError, match='locked'):
        Session(locked, 's', small_suite)


def test_output_under_a_file_names_folder(tmp_path, small_suite):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    with pytest.raises(BagError, match='not writable'):
        Session(blocker, 's', small_suite)


def test_sequence_gaps_are_counted_as_transport_loss(tmp_path, small_suite):
    rig = Rig(tmp_path, small_suite)
    episode_id = rig.engine.start_episode()
    imu = rig.index['/imu']
    sequence = {'a': 0, 'b': 200}   # first messages (1, 201) are received
    pending = {'a': 0, 'b': 0}
    skipped = 0
    for step in range(300):
        rig.now += MS
        for out in rig.sim.step(rig.now):
            index = rig.index[out.topic]
            if index != imu:
                rig.engine.offer(index, out.data)
                continue
            publisher = 'a' if step < 150 else 'b'   # a restarted publisher starts anew
            sequence[publisher] += 1
            if sequence[publisher] % 7 == 3:
                pending[publisher] += 1            # published, never received
                continue
            # Only a later message of the same publisher reveals a loss.
            skipped += pending[publisher]
            pending[publisher] = 0
            rig.engine.offer(index, out.data, sequence[publisher], publisher.encode())
    rig.engine.stop_episode()
    rig.run_ms(50)
    rig.finish()
    meta = rig.episode(episode_id)
    assert skipped > 0
    assert rig.engine.dropped[imu] == rig.engine.lost[imu] == skipped
    assert meta['topics']['/imu']['dropped'] == skipped
    assert sum(rig.engine.dropped) == skipped


def test_messages_missing_by_stamp_gaps_are_counted(tmp_path, small_suite):
    faults = {'imu': StreamFault(drop_rate=0.2)}
    rig = Rig(tmp_path, small_suite, faults=faults)
    episode_id = rig.engine.start_episode()
    rig.run_ms(500)
    rig.engine.stop_episode()
    rig.run_ms(50)
    rig.finish()
    snapshot = rig.engine.snapshot()     # the live counters, once the writer took all
    entry = rig.episode(episode_id)['topics']['/imu']
    period = round(1e9 / small_suite.stream('imu').rate_hz)
    on_grid = (entry['last_stamp_ns'] - entry['first_stamp_ns']) // period + 1
    assert entry['missing_by_stamps'] == on_grid - entry['written'] > 0
    assert rig.episode(episode_id)['flags'] == ['stamp_gaps']
    imu = rig.index['/imu']
    assert snapshot.missing[imu] >= entry['missing_by_stamps']
    assert sum(snapshot.missing) == snapshot.missing[imu]
