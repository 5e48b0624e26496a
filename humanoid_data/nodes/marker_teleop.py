r"""marker_teleop: the operator's episode control and phase markers.

Data flow::

    keys (terminal UI, ui:=true) --+
    /joy buttons (pedal, gamepad) -+--> Command --> MarkerSession --> events on
    services ~/start_episode ... --+     (stamped at the press)      /humanoid_data/events
    ~/note (std_msgs/String) ------+
    /diagnostics (recorder, sync_monitor) --> what the UI shows; the recorder's state
    /humanoid_data/events --> the last events the UI shows

Services (``std_srvs/Trigger``): ``~/start_episode``, ``~/end_success``, ``~/abort``,
``~/discard``, ``~/next_phase``, ``~/tare``, ``~/failure/<mode>`` per failure mode,
``~/phase/<name>/begin`` and ``~/phase/<name>/end`` per phase of the task.
"""

from __future__ import annotations

import time
from collections import deque
from functools import partial
from typing import Any

from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from humanoid_data.core.events import EventBase, decode_event, encode_event
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.core.settings import TeleopSettings
from humanoid_data.core.teleop import (
    Action, Command, JoyMapper, MarkerSession, load_teleop_config)
from humanoid_data.errors import EventError
from humanoid_data.nodes.companions import CONTACT_STATUS, SYNC_PREFIX
from humanoid_data.nodes.runtime import (
    declare_settings, events_qos, message_class, run_node)
from humanoid_data.resources import default_taxonomy, default_teleop_config

RECORDER_STATUS = 'humanoid_data: recorder'


class MarkerTeleop(Node):
    """Operator markers from keys, buttons and service calls."""

    def __init__(self) -> None:
        """Load taxonomy and input map; create publishers, services and subscriptions."""
        super().__init__('marker_teleop')
        self.settings = declare_settings(self, TeleopSettings)
        self.taxonomy = load_taxonomy(self.settings.taxonomy or default_taxonomy())
        self.config = load_teleop_config(self.settings.teleop_config or default_teleop_config())
        self.session = MarkerSession(
            self.taxonomy, self.settings.task, self.settings.instruction, self.settings.operator,
            tuple(t.strip() for t in self.settings.tags.split(',') if t.strip()))
        self.joy = JoyMapper(self.config)
        self.events = self.create_publisher(String, self.settings.events_topic, events_qos())
        self.recent: deque[EventBase] = deque(maxlen=12)
        self.recorder: dict[str, str] = {}
        self.sync: dict[str, tuple[int, str, dict[str, str]]] = {}
        self.contact: dict[str, str] = {}
        self._started_ns = time.time_ns()
        self.malformed_events = 0
        services = {'start_episode': Command(Action.START),
                    'end_success': Command(Action.SUCCESS),
                    'abort': Command(Action.ABORT), 'discard': Command(Action.DISCARD),
                    'next_phase': Command(Action.NEXT_PHASE), 'tare': Command(Action.TARE)}
        for mode in self.taxonomy.failure_names:
            services[f'failure/{mode}'] = Command(Action.FAILURE, text=mode)
        for number, name in enumerate(self.session.phases, 1):
            services[f'phase/{name}/begin'] = Command(Action.PHASE, number, 'begin')
            services[f'phase/{name}/end'] = Command(Action.PHASE, number, 'end')
        for name, command in services.items():
            self.create_service(Trigger, f'~/{name}', partial(self._serve, command))
        self.create_subscription(String, '~/note', self._on_note, 10)
        self.create_subscription(message_class('sensor_msgs/msg/Joy'), self.settings.joy_topic,
                                 self._on_joy, 50)
        self.create_subscription(message_class('diagnostic_msgs/msg/DiagnosticArray'),
                                 '/diagnostics', self._on_diagnostics, 50)
        self.create_subscription(String, self.settings.events_topic, self._on_event,
                                 events_qos())
        self._tare: Any = self.create_client(Trigger, f'{self.settings.contact_monitor}/tare')
        self.get_logger().info(
            f'task {self.session.task} ({len(self.session.phases)} phases), taxonomy '
            f'{self.taxonomy.version}; {len(services)} services under {self.get_name()}/')

    # -- inputs ------------------------------------------------------------------------

    def apply(self, command: Command, stamp_ns: int | None = None) -> list[EventBase]:
        """Apply a command stamped at the press (default: now) and publish its events."""
        stamp_ns = time.time_ns() if stamp_ns is None else stamp_ns
        if command.action == Action.TARE:
            if self._tare.service_is_ready():
                self._tare.call_async(Trigger.Request())
                self.session.message = 'contact monitor re-tares from the next samples'
            else:
                self.session.message = 'contact monitor not available'
            return []
        events = self.session.handle(command, stamp_ns)
        for event in events:
            self.events.publish(String(data=encode_event(event)))
        if self.session.message:
            self.get_logger().warning(f'{command.action.value}: {self.session.message}')
        return events

    def _serve(self, command: Command, _: Trigger.Request,
               response: Trigger.Response) -> Trigger.Response:
        stamp_ns = time.time_ns()
        if command.action == Action.PHASE and command.text:
            name = self.session.phases[command.number - 1]
            is_open = self.session.open_phase == name
            if (command.text == 'begin') == is_open:
                response.success = False
                response.message = f'phase {name} is {"already" if is_open else "not"} open'
                return response
            command = Command(Action.PHASE, command.number)
        events = self.apply(command, stamp_ns)
        response.success = bool(events) or command.action == Action.TARE
        response.message = self.session.message or ', '.join(
            f'{e.kind} {getattr(e, "name", "")}'.strip() for e in events)
        return response

    def _on_note(self, msg: String) -> None:
        self.apply(Command(Action.NOTE, text=msg.data))

    def _on_joy(self, msg: Any) -> None:
        stamp = msg.header.stamp
        # The driver stamps the sample when it reads the device; fall back to now.
        stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec or time.time_ns()
        for command in self.joy.update(stamp_ns, msg.buttons):
            self.apply(command, stamp_ns)

    # -- what the UI shows ---------------------------------------------------------------

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            level = status.level[0] if isinstance(status.level, bytes) else int(status.level)
            if status.name == RECORDER_STATUS:
                self.recorder = {**values, 'message': status.message, 'level': str(level)}
                self.session.sync_recording(values.get('state') == 'recording')
            elif status.name.startswith(SYNC_PREFIX):
                values['topic'] = status.hardware_id
                self.sync[status.name[len(SYNC_PREFIX):]] = (level, status.message, values)
            elif status.name == CONTACT_STATUS:
                self.contact = values

    def _on_event(self, msg: String) -> None:
        try:
            event = decode_event(msg.data)
        except EventError as err:
            self.malformed_events += 1
            self.session.message = f'malformed event ignored: {err}'
            return
        if event.stamp_ns >= self._started_ns:
            self.recent.append(event)


def main(args: list[str] | None = None) -> int:
    """Run marker_teleop; with ``ui:=true`` show the terminal UI in this terminal."""
    from humanoid_data.cli.teleop_ui import TerminalUI

    ui: dict[str, TerminalUI] = {}

    def step(node: Node) -> bool:
        assert isinstance(node, MarkerTeleop)
        if not node.settings.ui:
            return True
        if 'ui' not in ui:
            ui['ui'] = TerminalUI(node)
            ui['ui'].__enter__()
        return ui['ui'].step()

    try:
        return run_node(MarkerTeleop, args, step)
    finally:
        if 'ui' in ui:
            ui['ui'].__exit__(None, None, None)


if __name__ == '__main__':
    raise SystemExit(main())
