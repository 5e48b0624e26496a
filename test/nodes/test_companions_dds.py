"""Companions over real DDS: the teleop UI in a pseudo-terminal, Joy buttons, sync faults."""

from __future__ import annotations

import os
import sys
import time

import pytest

rclpy = pytest.importorskip('rclpy')
pexpect = pytest.importorskip('pexpect')

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import Joy  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from humanoid_data.cli.operator import spin_until  # noqa: E402
from humanoid_data.cli.plan import NodeLaunch  # noqa: E402
from humanoid_data.cli.processes import NodeProcess  # noqa: E402
from humanoid_data.core.events import (  # noqa: E402
    Boundary, EpisodeEnd, EpisodeOutcome, EpisodeStart, Note, Outcome, Phase, Source,
    decode_event, encode_event)
from humanoid_data.dds import dds_environment  # noqa: E402
from humanoid_data.nodes.companions import CONTACT_STATUS  # noqa: E402
from humanoid_data.nodes.runtime import events_qos  # noqa: E402
from test.nodes.services import accepted, call_trigger  # noqa: E402


class Events:
    """Collects the operator's events from the events topic."""

    def __init__(self, node) -> None:
        self.items = []
        node.create_subscription(String, '/humanoid_data/events',
                                 lambda m: self.items.append(decode_event(m.data)),
                                 events_qos())


def _spin(node, child=None):
    def once():
        rclpy.spin_once(node, timeout_sec=0.02)
        if child is not None:   # keep reading the UI so its writes never block
            try:
                child.read_nonblocking(1 << 16, timeout=0)
            except (pexpect.TIMEOUT, pexpect.EOF):
                pass
    return once


def test_terminal_ui_marks_an_episode_end_to_end(ros_node, taxonomy):
    events = Events(ros_node)
    child = pexpect.spawn(
        sys.executable, ['-m', 'humanoid_data.nodes.marker_teleop', '--ros-args',
                         '-p', 'ui:=true', '-p', 'operator:=pty'],
        env=dds_environment(dict(os.environ)), dimensions=(50, 150), encoding='utf-8',
        timeout=60)
    try:
        child.expect('q quit')           # the help line is drawn
        spin = _spin(ros_node, child)

        def press(keys, count):
            child.send(keys)
            spin_until(spin, lambda: len(events.items) >= count, 30.0, f'events after {keys!r}')

        press('s', 1)
        press('1', 2)
        press(' ', 4)
        press('ngrip ok\r', 5)
        press('f', 7)                    # the episode ends at the press
        child.expect('failure mode')
        press('2', 8)                    # the mode follows as its own event
        child.send('q')
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    start, reach, reach_end, grasp, note, grasp_end, end, named = events.items
    assert isinstance(start, EpisodeStart) and start.operator == 'pty'
    assert (reach.name, reach.boundary) == ('reach', Boundary.BEGIN)
    assert (reach_end.name, reach_end.boundary, grasp.name) == ('reach', Boundary.END, 'grasp')
    assert isinstance(note, Note) and note.text == 'grip ok'
    assert isinstance(grasp_end, Phase) and grasp_end.boundary == Boundary.END
    assert isinstance(end, EpisodeEnd) and end.outcome == Outcome.FAILURE
    assert isinstance(named, EpisodeOutcome) and named.outcome == Outcome.FAILURE
    assert named.failure_mode == taxonomy.failure_names[1]
    stamps = [e.stamp_ns for e in events.items]
    assert stamps == sorted(stamps) and all(e.taxonomy == taxonomy.version
                                            for e in events.items)


def test_joy_buttons_and_services_drive_markers(ros_node, tmp_path, taxonomy):
    events = Events(ros_node)
    teleop = NodeProcess(NodeLaunch('marker_teleop', 'marker_teleop', {'ui': False}),
                         tmp_path / 'logs')
    try:
        joy = ros_node.create_publisher(Joy, '/joy', 50)
        fail = ros_node.create_client(Trigger, '/marker_teleop/failure/collision')
        spin = _spin(ros_node)
        spin_until(spin, lambda: joy.get_subscription_count() > 0
                   and fail.service_is_ready(), 60.0, 'marker_teleop')
        pressed = []

        def pedal(buttons):
            msg = Joy(buttons=buttons)
            msg.header.stamp = ros_node.get_clock().now().to_msg()
            pressed.append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
            joy.publish(msg)

        pedal([0, 1, 0, 0])     # right pedal: start
        spin_until(spin, lambda: len(events.items) >= 1, 30.0, 'episode start')
        pedal([0, 0, 0, 0])
        pedal([1, 0, 0, 0])     # left pedal: first phase
        spin_until(spin, lambda: len(events.items) >= 2, 30.0, 'phase begin')
        assert accepted(call_trigger(ros_node, fail, lambda: len(events.items) >= 3))
        spin_until(spin, lambda: len(events.items) >= 4, 30.0, 'episode end')
    finally:
        assert teleop.stop() == 0
    start, phase, phase_end, end = events.items
    assert start.stamp_ns == pressed[0] and phase.stamp_ns == pressed[2]
    assert (phase.name, phase_end.boundary) == ('reach', Boundary.END)
    assert end.outcome == Outcome.FAILURE and end.failure_mode == 'collision'


def test_sync_monitor_reports_injected_faults(ros_node, tmp_path, light_suite_file):
    faults = '{imu: {latency_ms: 400}, joint_states: {silent_after_s: 1.0}}'
    sim = NodeProcess(NodeLaunch('sim_robot', 'sim_robot', {
        'config': str(light_suite_file), 'autoplay': True, 'faults': faults}),
        tmp_path / 'logs')
    monitor = NodeProcess(NodeLaunch('sync_monitor', 'sync_monitor', {
        'config': str(light_suite_file)}), tmp_path / 'logs')
    seen: dict[str, tuple[int, str]] = {}

    def on_diagnostics(msg):
        for status in msg.status:
            if status.name.startswith('humanoid_data/sync: '):
                seen[status.name.split(': ', 1)[1]] = (status.level[0], status.message)

    ros_node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 50)
    try:
        def faults_seen():
            imu, joints = seen.get('imu', (0, '')), seen.get('joint_states', (0, ''))
            return (imu[0] == 2 and 'latency' in imu[1]
                    and joints[0] == 2 and 'silent' in joints[1])
        deadline = time.monotonic() + 90
        spin_until(_spin(ros_node), faults_seen, deadline - time.monotonic(),
                   'ERROR for the late IMU and the silent joint states')
    finally:
        assert monitor.stop() == 0
        assert sim.stop() == 0
    assert {'wrist_left_ft', 'tactile_right_thumb'} <= set(seen)


@pytest.mark.parametrize('host', ['contact_monitor', 'recorder'])
def test_contact_detection_reports_the_simulated_grasp(ros_node, tmp_path, light_suite_file,
                                                       host):
    """The grasp is played only once the detector has tared every channel at rest.

    Autoplay would race the detector's start: one joining mid-grasp tares on a touching
    hand and reports that onset late. Here the operator's episode start (which also
    re-tares the detector) plays one cycle after it, as in a recording session. The
    detector runs in contact_monitor, or in the recorder (``contacts``) on the messages
    it receives for the bag.
    """
    sim = NodeProcess(NodeLaunch('sim_robot', 'sim_robot', {
        'config': str(light_suite_file), 'autoplay': False}), tmp_path / 'logs')
    params = {'config': str(light_suite_file)}
    if host == 'recorder':
        params.update(output_dir=str(tmp_path / 'rec'), contacts=True)
    monitor = NodeProcess(NodeLaunch(host, host, params), tmp_path / 'logs')
    events = Events(ros_node)
    operator = ros_node.create_publisher(String, '/humanoid_data/events', events_qos())
    states = {}

    def on_status(msg):
        for status in msg.status:
            if status.name == CONTACT_STATUS:
                states.update({kv.key: kv.value for kv in status.values
                               if kv.key.endswith(' state')})
    ros_node.create_subscription(DiagnosticArray, '/diagnostics', on_status, 10)

    def seen(source):
        return {(e.channel, e.transition.value) for e in events.items
                if getattr(e, 'channel', None) and e.source.value == source}
    try:
        spin = _spin(ros_node)
        spin_until(spin, lambda: states and set(states.values()) == {'idle'}
                   and operator.get_subscription_count() >= 3, 90.0,
                   f'{host} to tare every channel')
        operator.publish(String(data=encode_event(
            EpisodeStart(time.time_ns(), Source.OPERATOR, task='pick_place'))))
        wanted = {('tactile/right/thumb', 'onset'), ('tactile/right/thumb', 'offset'),
                  ('wrist/right', 'onset'), ('wrist/right', 'offset')}
        spin_until(spin, lambda: wanted <= seen('contact_monitor'), 90.0,
                   f'contact onsets and offsets from {host}')
    finally:
        assert monitor.stop() == 0
        assert sim.stop() == 0

    def onsets(source):
        return [e.stamp_ns for e in events.items if e.source.value == source
                and getattr(e, 'channel', '') == 'tactile/right/thumb'
                and e.transition.value == 'onset']
    truth, found = onsets('sim_truth'), onsets('contact_monitor')
    # Same clock: the one grasp's detected onset follows the true touch by under 50 ms.
    assert len(truth) == len(found) == 1
    assert abs(found[0] - truth[0]) < 50_000_000
