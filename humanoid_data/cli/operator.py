"""The demo's scripted operator: an rclpy node in the CLI process.

It does what a person at the teleop station does, through the same path: it publishes
episode_start and episode_end events on the events topic. It watches the simulated
humanoid's ground truth to know when the task is done, and the recorder's status on
/diagnostics for the progress display.
"""

from __future__ import annotations

import time
from typing import Callable

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from std_msgs.msg import String

from humanoid_data.core.events import (
    Boundary, EpisodeEnd, EpisodeStart, EventBase, Outcome, Phase, Source, decode_event,
    encode_event)
from humanoid_data.errors import EventError, HumanoidDataError
from humanoid_data.nodes.runtime import events_qos
from humanoid_data.sim.scenario import PHASES

RECORDER_STATUS = 'humanoid_data: recorder'


class ScriptedOperator(Node):
    """Starts and ends episodes like an operator would."""

    def __init__(self, events_topic: str = '/humanoid_data/events') -> None:
        """Create the events publisher and the truth and status subscriptions."""
        super().__init__('demo_operator')
        self.events = self.create_publisher(String, events_topic, events_qos())
        self.create_subscription(String, events_topic, self._on_event, events_qos())
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_status, 10)
        self.status: dict[str, str] = {}
        self.truth: list[EventBase] = []

    def _on_event(self, msg: String) -> None:
        try:
            event = decode_event(msg.data)
        except EventError:
            return
        if event.source == Source.SIM_TRUTH:
            self.truth.append(event)

    def _on_status(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == RECORDER_STATUS:
                self.status = {kv.key: kv.value for kv in status.values}
                self.status['message'] = status.message

    def send(self, event: EventBase) -> None:
        """Publish one event."""
        self.events.publish(String(data=encode_event(event)))

    def start(self, task: str, instruction: str) -> int:
        """Mark an episode start now; return its stamp."""
        stamp = time.time_ns()
        self.send(EpisodeStart(stamp, Source.OPERATOR, task=task, instruction=instruction,
                               operator='demo_operator', tags=('demo', 'sim')))
        return stamp

    def stop(self, outcome: Outcome = Outcome.SUCCESS) -> int:
        """Mark the episode end now; return its stamp."""
        stamp = time.time_ns()
        self.send(EpisodeEnd(stamp, Source.OPERATOR, outcome=outcome))
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
