"""Latched streams: the newest message is repeated into every episode bag that opens."""

from __future__ import annotations

import yaml
from mcap.reader import make_reader
from rosbags.highlevel import AnyReader

from humanoid_data.bag import encode
from humanoid_data.bag.episode_reader import EpisodeReader
from humanoid_data.bag.inspect import inspect_bag
from humanoid_data.bag.verify import verify_bag
from humanoid_data.recording.repair import repair_episode
from humanoid_data.sim.compare import compare, load_episodes
from test.recording.rig import Rig

TOPIC = '/robot_description'
URDF = '<robot name="r"><link name="base_link"/></robot>'


def _messages(folder, topic):
    """(log time, bytes) of one topic, read with rosbags."""
    with AnyReader([folder]) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return [(log_ns, bytes(raw)) for _, log_ns, raw in reader.messages(connections=conns)]


def _mcap_messages(folder, topic):
    """(log time, bytes) of one topic, read with the mcap library."""
    with next(folder.glob('*.mcap')).open('rb') as stream:
        return [(m.log_time, bytes(m.data)) for _, c, m in make_reader(stream).iter_messages()
                if c.topic == topic]


def _record(rig, ms):
    episode_id = rig.engine.start_episode()
    rig.run_ms(ms)
    rig.engine.stop_episode()
    rig.run_ms(100)
    assert rig.engine.wait_for_writer(timeout=60)
    return episode_id


def test_latched_message_received_before_is_repeated_in_every_episode(tmp_path, small_suite):
    rig = Rig(tmp_path, small_suite, preroll_s=0.2)
    rig.run_ms(100)
    data = encode.string(URDF)
    received_ns = rig.now
    rig.engine.offer(rig.index[TOPIC], data)
    rig.run_ms(600)                  # well past the pre-roll: outside episode 1's window
    first = _record(rig, 200)
    second = _record(rig, 200)
    rig.finish()
    for episode_id in (first, second):
        folder = rig.session.path / episode_id
        meta = rig.episode(episode_id)
        assert meta['repeated_latched'] == [
            {'topic': TOPIC, 'log_time_ns': received_ns, 'stamp_ns': received_ns}]
        assert received_ns < meta['start_ns'] - meta['preroll_ns']
        # Not counted as received in this episode, never flagged silent.
        assert meta['topics'][TOPIC]['written'] == 0
        assert 'robot_description' not in meta['silent_streams']
        assert _messages(folder, TOPIC) == [(received_ns, data)]
        assert _mcap_messages(folder, TOPIC) == [(received_ns, data)]
        with AnyReader([folder]) as reader:
            total = sum(1 for _ in reader.messages())
        assert total == meta['messages'] + 1
        # The project's readers take a message logged before the start.
        report = inspect_bag(folder)
        assert report.malformed_events == 0
        assert [t.count for t in report.topics if t.topic == TOPIC] == [1]
        assert verify_bag(folder).ok
        reader = EpisodeReader(folder, small_suite)
        samples = reader.scan()
        reader.close_samples()
        assert list(samples[TOPIC].receive_ns) == [received_ns]
        assert reader.malformed_events == 0
    # Published once, held by two episodes: one message, nothing missing.
    rows = {r.topic: r for r in compare(small_suite, load_episodes(rig.session.path),
                                        _ledger_with(rig, received_ns))}
    assert (rows[TOPIC].published, rows[TOPIC].recorded, rows[TOPIC].missing) == (1, 1, 0)
    assert not rows[TOPIC].lost


def _ledger_with(rig, published_ns):
    rig.sim.ledger.add(TOPIC, published_ns)
    return rig.sim.ledger


def test_latched_message_inside_the_window_is_written_once(tmp_path, small_suite):
    rig = Rig(tmp_path, small_suite, preroll_s=0.2)
    rig.run_ms(100)
    episode_id = rig.engine.start_episode()
    rig.run_ms(50)
    received_ns = rig.now
    rig.engine.offer(rig.index[TOPIC], encode.string(URDF))
    rig.run_ms(100)
    rig.engine.stop_episode()
    rig.run_ms(500)                  # the next pre-roll no longer reaches it
    later = _record(rig, 100)
    rig.finish()
    meta = rig.episode(episode_id)
    assert meta['repeated_latched'] == []
    assert meta['topics'][TOPIC]['written'] == 1
    assert [t for t, _ in _messages(rig.session.path / episode_id, TOPIC)] == [received_ns]
    # The next episode gets the newest one repeated.
    assert [r['log_time_ns'] for r in rig.episode(later)['repeated_latched']] == [received_ns]


def test_newest_latched_message_wins(tmp_path, small_suite):
    rig = Rig(tmp_path, small_suite, preroll_s=0.1)
    rig.engine.offer(rig.index[TOPIC], encode.string(URDF))
    rig.run_ms(10)
    newer = encode.string(URDF.replace('"r"', '"r2"'))
    newer_ns = rig.now
    rig.engine.offer(rig.index[TOPIC], newer)
    rig.run_ms(300)
    episode_id = _record(rig, 100)
    rig.finish()
    assert _messages(rig.session.path / episode_id, TOPIC) == [(newer_ns, newer)]


def test_repair_keeps_a_repeated_message_repeated(tmp_path, small_suite):
    rig = Rig(tmp_path, small_suite, preroll_s=0.1)
    rig.engine.offer(rig.index[TOPIC], encode.string(URDF))
    received_ns = rig.now
    rig.run_ms(300)
    episode_id = rig.engine.start_episode()
    rig.run_ms(300)
    assert rig.engine.wait_for_writer(timeout=60)
    folder = rig.session.path / episode_id
    # Simulate a killed recorder: take the folder before the engine closes it.
    crashed = tmp_path / 'crashed' / 's' / episode_id
    crashed.parent.mkdir(parents=True)
    for name in ('suite.yaml', 'session.yaml'):
        if (rig.session.path / name).is_file():
            (crashed.parent / name).write_bytes((rig.session.path / name).read_bytes())
    crashed.mkdir()
    for f in folder.iterdir():
        if f.is_file() and not f.name.startswith('.'):
            (crashed / f.name).write_bytes(f.read_bytes())
    rig.finish()
    assert repair_episode(crashed).action == 'repaired'
    meta = yaml.safe_load((crashed / 'episode.yaml').read_text())
    assert [r['log_time_ns'] for r in meta['repeated_latched']] == [received_ns]
    assert meta['topics'][TOPIC]['written'] == 0
    assert [t for t, _ in _messages(crashed, TOPIC)] == [received_ns]


def test_an_episode_minutes_later_holds_the_description_and_every_static_transform(
        tmp_path, small_suite):
    """/tf_static from two drivers and the URDF, published once; an episode 3 min later."""
    from humanoid_data.calibration.episode_tf import episode_buffer
    rig = Rig(tmp_path, small_suite, preroll_s=0.2)
    rig.run_ms(50)
    published_ns = rig.now
    statics = [encode.tf_message([(published_ns, 'base_link', 'camera_link', [0.1, 0, 0],
                                   [0, 0, 0, 1])]),
               encode.tf_message([(published_ns, 'base_link', 'lidar_link', [0, 0, 0.5],
                                   [0, 0, 0, 1])])]
    for data in statics:
        rig.engine.offer(rig.index['/tf_static'], data)
    rig.engine.offer(rig.index[TOPIC], encode.string(URDF))
    rig.now += 180_000 * 1_000_000        # three minutes later (the simulator skips them)
    rig.run_ms(300)
    episode_id = _record(rig, 300)
    rig.finish()
    folder = rig.session.path / episode_id
    meta = rig.episode(episode_id)
    repeated = sorted((r['topic'], r['log_time_ns']) for r in meta['repeated_latched'])
    assert repeated == [(TOPIC, published_ns), ('/tf_static', published_ns),
                        ('/tf_static', published_ns)]
    assert meta['start_ns'] - published_ns > 179 * 10**9
    assert sorted(data for _, data in _messages(folder, '/tf_static')) == sorted(statics)
    assert _mcap_messages(folder, TOPIC) == [(published_ns, encode.string(URDF))]
    reader = EpisodeReader(folder, small_suite)
    reader.scan()
    buffer = episode_buffer(reader).buffer
    reader.close_samples()
    assert buffer.lookup('lidar_link', 'camera_link', meta['start_ns']).translation.tolist() \
        == [0.1, 0.0, -0.5]
