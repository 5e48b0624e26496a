"""The demo's scripted operator: an rclpy node in the CLI process.

It does what a person at the teleop station does, through the same path: it presses
marker_teleop's buttons (its Trigger services, which run the same ``MarkerSession`` as
a key or a pedal) to start an episode, step through the phases as it sees them happen,
and end the episode as a success. It watches the simulated humanoid's ground truth to
see the phases, and the recorder's status on /diagnostics for the progress display.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from humanoid_data.core.events import Boundary, EventBase, Phase, Source, decode_event
from humanoid_data.errors import EventError, HumanoidDataError
from humanoid_data.nodes.runtime import events_qos
from humanoid_data.sim.scenario import PHASES

RECORDER_STATUS = 'humanoid_data: recorder'


class ScriptedOperator(Node):
    """Starts and ends episodes like an operator would."""

    def __init__(self, teleop: str = '/marker_teleop',
                 events_topic: str = '/humanoid_data/events') -> None:
        """Create the button clients and the truth and status subscriptions."""
        super().__init__('demo_operator')
        self.buttons: dict[str, Any] = {
            name: self.create_client(Trigger, f'{teleop}/{name}')
            for name in ('start_episode', 'end_success', 'next_phase')}
        self.create_subscription(String, events_topic, self._on_event, events_qos())
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_status, 10)
        self.status: dict[str, str] = {}
        self.truth: list[EventBase] = []
        self.refused: list[str] = []
        self._since: int | None = None     # following the phases of the episode since

    def ready(self) -> bool:
        """Whether marker_teleop answers every button."""
        return all(c.service_is_ready() for c in self.buttons.values())

    def press(self, button: str) -> None:
        """Press one button of marker_teleop (its answer arrives while spinning)."""
        future = self.buttons[button].call_async(Trigger.Request())
        future.add_done_callback(self._answered)

    def _answered(self, future: object) -> None:
        response = future.result()   # type: ignore[attr-defined]
        if response is not None and not response.success:
            self.refused.append(response.message)

    def _on_event(self, msg: String) -> None:
        try:
            event = decode_event(msg.data)
        except EventError:
            return
        if event.source == Source.SIM_TRUTH:
            self.truth.append(event)
            # The operator sees a new phase begin and steps the marker on.
            if (self._since is not None and isinstance(event, Phase)
                    and event.boundary == Boundary.BEGIN and event.stamp_ns > self._since):
                self.press('next_phase')

    def _on_status(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == RECORDER_STATUS:
                self.status = {kv.key: kv.value for kv in status.values}
                self.status['message'] = status.message

    def start(self) -> int:
        """Press start now and follow the phases; return about when it was pressed."""
        stamp = time.time_ns()
        self.press('start_episode')
        self._since = stamp
        return stamp

    def stop(self) -> int:
        """Press end (success) now; return about when it was pressed."""
        stamp = time.time_ns()
        self._since = None
        self.press('end_success')
        return stamp

    def task_done_after(self, start_ns: int) -> int | None:
        """Stamp at which the last phase of a task begun after ``start_ns`` ended."""
        last = PHASES[-1].name
        for event in self.truth:
            if (isinstance(event, Phase) and event.name == last
                    and event.boundary == Boundary.END and event.stamp_ns > start_ns):
                return event.stamp_ns
        return None

    def current_phase(self) -> str:
        """Name of the phase most recently begun, per ground truth."""
        for event in reversed(self.truth):
            if isinstance(event, Phase):
                return event.name if event.boundary == Boundary.BEGIN else 'idle'
        return 'idle'


def spin_until(spin_once: Callable[[], None], done: Callable[[], bool], timeout_s: float,
               what: str, tick: Callable[[], None] = lambda: None) -> None:
    """Spin until ``done()`` holds.

    Raises:
        HumanoidDataError: ``timeout_s`` passed first; the message says what was awaited.

    """
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise HumanoidDataError(f'timed out after {timeout_s:.0f} s waiting for {what}')
        spin_once()
        tick()
