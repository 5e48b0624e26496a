"""End to end over real DDS on loopback: publisher -> recorder node -> episode bags."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

rclpy = pytest.importorskip('rclpy')

from rosbags.highlevel import AnyReader  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from humanoid_data.bag.episode_state import recorded_state  # noqa: E402
from humanoid_data.bag.stamps import header_stamp_ns  # noqa: E402
from humanoid_data.core.config import STAMP_OFFSETS  # noqa: E402
from humanoid_data.cli.demo import demo  # noqa: E402
from humanoid_data.cli.operator import spin_until  # noqa: E402
from humanoid_data.cli.plan import session_plan  # noqa: E402
from humanoid_data.cli.processes import NodeProcess  # noqa: E402
from humanoid_data.nodes.runtime import (  # noqa: E402
    latched_qos, message_class, publisher_qos)
from humanoid_data.core.config import load_suite  # noqa: E402
from humanoid_data.sim.compare import label_report  # noqa: E402
from humanoid_data.sim.humanoid import SimulatedHumanoid  # noqa: E402
from test.nodes.services import accepted, call_trigger  # noqa: E402


def _in_state(folder, state):
    return lambda: recorded_state(folder) == state


def test_recorder_captures_every_published_message(tmp_path, ros_node, suite_file, suite):
    recorder = NodeProcess(session_plan(str(suite_file), str(tmp_path), False,
                                        companions=False, teleop=False,
                                        recorder={'session': 's', 'preroll_s': 0.5})[0],
                           tmp_path / 'logs')
    try:
        publishers = {s.topic: ros_node.create_publisher(
            message_class(s.msgtype), s.topic,
            latched_qos() if s.latched
            else publisher_qos(s.qos.reliability, s.qos.depth, s.rate_hz))
            for s in suite.streams}
        clients = {n: ros_node.create_client(Trigger, f'/recorder/{n}')
                   for n in ('start_episode', 'stop_episode', 'discard_episode')}
        spin_until(lambda: rclpy.spin_once(ros_node, timeout_sec=0.05),
                   lambda: all(p.get_subscription_count() for p in publishers.values())
                   and all(c.service_is_ready() for c in clients.values()), 60.0,
                   'the recorder to subscribe')
        sim = SimulatedHumanoid(suite, start_ns=time.time_ns())
        sim.play_cycle(sim.start_ns + 200_000_000)
        sent = {}

        def publish_for(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for item in sim.step(time.time_ns()):
                    publishers[item.topic].publish(item.data)
                    sent[(item.topic, item.stamp_ns)] = item.data
                rclpy.spin_once(ros_node, timeout_sec=0.001)

        first, second = tmp_path / 's' / 'episode_0001', tmp_path / 's' / 'episode_0002'
        publish_for(1.0)
        assert accepted(call_trigger(ros_node, clients['start_episode'],
                                     _in_state(first, 'recording')))
        again = call_trigger(ros_node, clients['start_episode'])
        assert not again.success and 'already recording' in again.message
        publish_for(2.0)
        assert accepted(call_trigger(ros_node, clients['stop_episode'],
                                     _in_state(first, 'complete')))
        publish_for(0.5)
        assert accepted(call_trigger(ros_node, clients['start_episode'],
                                     _in_state(second, 'recording')))
        publish_for(0.3)
        assert accepted(call_trigger(ros_node, clients['discard_episode'],
                                     (tmp_path / 's' / 'discarded' / second.name).is_dir))
        publish_for(0.5)
    finally:
        assert recorder.stop() == 0
    session = tmp_path / 's'
    meta = yaml.safe_load((session / 'episode_0001' / 'episode.yaml').read_text())
    assert (session / 'discarded' / 'episode_0002' / 'episode.yaml').is_file()
    assert meta['dropped'] == 0 and meta['silent_streams'] == []
    begin, stop = meta['start_ns'] - meta['preroll_ns'], meta['stop_ns']
    for stream in suite.streams:
        expected = sim.ledger.count_between(stream.topic, begin, stop + 1)
        assert meta['topics'][stream.topic]['written'] == expected, (
            stream.name, meta['topics'][stream.topic])
    with AnyReader([session / 'episode_0001']) as reader:
        checked = 0
        for conn, _, raw in reader.messages():
            if conn.topic == '/humanoid_data/events':
                continue
            if checked % 97 == 0:  # a sample of every type, byte for byte
                # DDS pads a payload to a multiple of four bytes; the recorder keeps
                # exactly what arrived, so the published bytes are a prefix.
                stamp = header_stamp_ns(raw, STAMP_OFFSETS.get(conn.msgtype, 4))
                want, got = sent[(conn.topic, stamp)], bytes(raw)
                assert got[:len(want)] == want, conn.topic
                assert len(got) - len(want) < 4 and not any(got[len(want):])
            checked += 1
    assert checked == meta['messages']


def test_demo_session_is_complete_and_labeled(tmp_path, suite_file):
    session_dir, rows = demo(tmp_path, 1, suite_file, session='demo')
    # Exact counts are asserted in test_recorder_captures_every_published_message. Here
    # six processes share the cores: the simulator may skip samples it cannot send in
    # time and a starved recorder could lose messages in DDS. Nothing may go missing
    # uncounted: every published message not recorded is counted as dropped or seen in
    # the header-stamp gaps (which also count the samples the simulator skipped), with
    # one message of slack at each episode boundary.
    assert rows and all(r.published > 0 for r in rows), rows
    assert all(r.missing - r.dropped <= r.missing_by_stamps + 1 for r in rows), rows
    with AnyReader([session_dir / 'episode_0001']) as reader:
        conns = [c for c in reader.connections if c.topic == '/humanoid_data/events']
        texts = [reader.deserialize(raw, c.msgtype).data
                 for c, _, raw in reader.messages(connections=conns)]
    kinds = {(yaml.safe_load(t)['kind'], yaml.safe_load(t)['source']) for t in texts}
    assert ('episode_start', 'operator') in kinds and ('episode_end', 'operator') in kinds
    assert ('phase', 'sim_truth') in kinds and ('contact', 'sim_truth') in kinds
    # The scripted operator went through marker_teleop; contacts came from the monitor.
    assert ('phase', 'operator') in kinds and ('contact', 'contact_monitor') in kinds
    assert Path(session_dir / 'sim_truth' / 'truth.jsonl').is_file()
    [labels] = label_report(session_dir)
    assert labels.outcome == 'success' and labels.markers == 2 * 7
    assert labels.contact.true_count == 5
    assert labels.contact.precision >= 0.99 and labels.contact.recall >= 0.99
    meta = yaml.safe_load((session_dir / 'episode_0001' / 'episode.yaml').read_text())
    assert meta['taxonomy'] and meta['sync']['level'] in ('OK', 'WARN', 'ERROR')
    assert set(meta['sync']['streams']) == {s.name for s in load_suite(suite_file).streamed}


def test_sigterm_closes_the_recording_episode_cleanly(tmp_path, ros_node, light_suite_file):
    import signal
    from humanoid_data.bag.episode_state import EpisodeState, episode_state
    from humanoid_data.bag.verify import verify_bag
    from humanoid_data.cli.processes import start_all
    plan = session_plan(str(light_suite_file), str(tmp_path), True, companions=False,
                        teleop=False, recorder={'session': 's', 'preroll_s': 0.2})
    processes = start_all(plan, tmp_path / 'logs')
    try:
        start = ros_node.create_client(Trigger, '/recorder/start_episode')
        spin_until(lambda: rclpy.spin_once(ros_node, timeout_sec=0.05),
                   start.service_is_ready, 60.0, 'the recorder')
        folder = tmp_path / 's' / 'episode_0001'
        assert accepted(call_trigger(ros_node, start, _in_state(folder, 'recording')))
        spin_until(lambda: rclpy.spin_once(ros_node, timeout_sec=0.05),
                   lambda: (folder / 'episode.yaml').is_file(), 60.0, 'the episode to open')
        recorder = processes[-1]
        recorder.process.send_signal(signal.SIGTERM)
        assert recorder.process.wait(60) == 0
    finally:
        for p in processes:
            p.stop()
    meta = yaml.safe_load((folder / 'episode.yaml').read_text())
    assert meta['state'] == 'complete' and meta['outcome'] == 'aborted'
    assert episode_state(folder) == EpisodeState.COMPLETE and verify_bag(folder).ok


def _static_tf(parent, child, x):
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage
    item = TransformStamped()
    item.header.stamp.sec = 7
    item.header.frame_id = parent
    item.child_frame_id = child
    item.transform.translation.x = x
    item.transform.rotation.w = 1.0
    return TFMessage(transforms=[item])


def test_episode_started_after_the_robot_description_holds_it(tmp_path, ros_node,
                                                              light_suite_file):
    """Published once before the recorder starts (transient local), repeated at the open.

    /tf_static comes from two publishers (two drivers, each latching its own mounts):
    every episode bag holds both messages.
    """
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import String
    from tf2_msgs.msg import TFMessage
    urdf = (Path(__file__).parents[2] / 'config' / 'humanoid.urdf').read_text()
    description = ros_node.create_publisher(String, '/robot_description', latched_qos())
    description.publish(String(data=urdf))
    statics = [ros_node.create_publisher(TFMessage, '/tf_static', latched_qos())
               for _ in range(2)]
    statics[0].publish(_static_tf('base_link', 'camera_link', 0.25))
    statics[1].publish(_static_tf('base_link', 'lidar_link', 0.5))
    received = {}

    sync_names = set()

    def on_status(msg):
        for status in msg.status:
            if status.hardware_id == '/joint_states' or status.name.endswith(': sync'):
                sync_names.add(status.name)   # the recorder's own live sync statuses
            for kv in status.values:
                if kv.key in ('/robot_description received', '/tf_static received'):
                    received[kv.key.split()[0]] = int(kv.value)
    ros_node.create_subscription(DiagnosticArray, '/diagnostics', on_status, 10)
    # No pre-roll: the description, received before the start, lies before the window.
    recorder = NodeProcess(session_plan(str(light_suite_file), str(tmp_path), False,
                                        companions=False, teleop=False,
                                        recorder={'session': 's', 'preroll_s': 0.0})[0],
                           tmp_path / 'logs')
    try:
        clients = {n: ros_node.create_client(Trigger, f'/recorder/{n}')
                   for n in ('start_episode', 'stop_episode')}
        spin_until(lambda: rclpy.spin_once(ros_node, timeout_sec=0.05),
                   lambda: received.get('/robot_description', 0) >= 1
                   and received.get('/tf_static', 0) >= 2 and len(sync_names) == 2
                   and all(c.service_is_ready() for c in clients.values()), 60.0,
                   'the recorder to receive /robot_description and /tf_static and to '
                   'publish its live sync statuses')
        for episode_id in ('episode_0001', 'episode_0002'):
            folder = tmp_path / 's' / episode_id
            assert accepted(call_trigger(ros_node, clients['start_episode'],
                                         _in_state(folder, 'recording')))
            assert accepted(call_trigger(ros_node, clients['stop_episode'],
                                         _in_state(folder, 'complete')))
    finally:
        assert recorder.stop() == 0
    assert received == {'/robot_description': 1, '/tf_static': 2}
    # No sync_monitor runs: the recorder grades the streams it receives (all silent here).
    assert sync_names == {'humanoid_data/sync: joint_states', 'humanoid_data: sync'}
    for episode_id in ('episode_0001', 'episode_0002'):
        folder = tmp_path / 's' / episode_id
        meta = yaml.safe_load((folder / 'episode.yaml').read_text())
        repeated = {r['topic']: [] for r in meta['repeated_latched']}
        for r in meta['repeated_latched']:
            assert r['log_time_ns'] < meta['start_ns']
            repeated[r['topic']].append(r['log_time_ns'])
        assert sorted(repeated) == ['/robot_description', '/tf_static']
        assert len(repeated['/tf_static']) == 2
        with AnyReader([folder]) as reader:
            conns = [c for c in reader.connections if c.topic == '/robot_description']
            [(_, log_ns, raw)] = list(reader.messages(connections=conns))
            assert [log_ns] == repeated['/robot_description']
            assert reader.deserialize(raw, 'std_msgs/msg/String').data == urdf
            conns = [c for c in reader.connections if c.topic == '/tf_static']
            children = {}
            for _, log_ns, raw in reader.messages(connections=conns):
                [item] = reader.deserialize(raw, 'tf2_msgs/msg/TFMessage').transforms
                children[item.child_frame_id] = item.transform.translation.x
                assert log_ns in repeated['/tf_static']
            assert children == {'camera_link': 0.25, 'lidar_link': 0.5}
