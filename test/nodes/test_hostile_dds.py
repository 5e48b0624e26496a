"""Hostile events over real DDS: every node stays up and the recorder keeps recording.

Any process on the robot's network can publish on the events topic. A stamp of 2**70 ns
used to kill the recorder's writer thread, and a JSON document nested 10,000 levels deep
ended the recorder, the contact monitor, the simulator and marker_teleop.
"""

from __future__ import annotations

import pytest
import yaml

rclpy = pytest.importorskip('rclpy')

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rosbags.rosbag2 import Reader  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from humanoid_data.cli.operator import spin_until  # noqa: E402
from humanoid_data.cli.plan import session_plan  # noqa: E402
from humanoid_data.cli.processes import start_all, stop_all  # noqa: E402
from humanoid_data.nodes.runtime import events_qos  # noqa: E402
from test.hostile import HOSTILE_EVENTS  # noqa: E402
from test.nodes.services import accepted, call_trigger  # noqa: E402


def test_hostile_events_stop_nothing(tmp_path, ros_node, light_suite_file):
    plan = session_plan(str(light_suite_file), str(tmp_path), True,
                        recorder={'session': 's', 'preroll_s': 0.2, 'stop_grace_s': 2.0})
    processes = start_all(plan, tmp_path / 'logs')
    status: dict[str, str] = {}

    def on_status(msg: DiagnosticArray) -> None:
        for s in msg.status:
            if s.name == 'humanoid_data: recorder':
                status.update({kv.key: kv.value for kv in s.values})

    ros_node.create_subscription(DiagnosticArray, '/diagnostics', on_status, 50)
    events = ros_node.create_publisher(String, '/humanoid_data/events', events_qos(100))
    start = ros_node.create_client(Trigger, '/recorder/start_episode')
    stop = ros_node.create_client(Trigger, '/recorder/stop_episode')

    def spin() -> None:
        rclpy.spin_once(ros_node, timeout_sec=0.05)

    def call(client: object, effect) -> bool:
        return accepted(call_trigger(ros_node, client, effect, 60.0))

    def recording(episode_id: str):
        return lambda: status.get('state') == 'recording' and status.get('episode') == episode_id

    def done(count: int):
        return lambda: status.get('episodes_done') == str(count)

    try:
        # every node of the plan reads the events topic
        spin_until(spin, lambda: start.service_is_ready() and stop.service_is_ready()
                   and events.get_subscription_count() >= len(plan) and 'state' in status,
                   120.0, 'the session to come up')
        assert call(start, recording('episode_0001'))
        for text in HOSTILE_EVENTS:
            events.publish(String(data=text))
        spin_until(spin, lambda: int(status.get('malformed_events', 0)) >= len(HOSTILE_EVENTS),
                   60.0, 'the recorder to count the malformed events')
        assert all(p.running() for p in processes), [p.launch.name for p in processes
                                                     if not p.running()]
        assert call(stop, done(1))            # recording went on: the episode closes
        spin_until(spin, done(1), 60.0, 'the episode')
        assert call(start, recording('episode_0002'))     # and the next one starts
        assert call(stop, done(2))
        spin_until(spin, done(2), 60.0, 'a second episode')
        assert all(p.running() for p in processes)
    finally:
        codes = stop_all(processes)
    assert all(code == 0 for code in codes.values()), codes
    first = tmp_path / 's' / 'episode_0001'
    meta = yaml.safe_load((first / 'episode.yaml').read_text())
    assert meta['error'] is None and meta['messages'] > 0
    with Reader(first) as bag:
        recorded = {bytes(raw) for c, _, raw in bag.messages()
                    if c.topic == '/humanoid_data/events'}
    assert any(b'1180591620717411303424' in raw for raw in recorded)   # as received
