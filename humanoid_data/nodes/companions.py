"""The live companions' ROS side, separate from the node that hosts them.

``ContactCompanion`` turns wrench and tactile messages into contact events;
``SyncCompanion`` grades every stream's sync health on /diagnostics. Each is fed raw CDR
by its host's subscriptions; ``contact_monitor`` and ``sync_monitor`` host one each in
their own process. (Hosting both in the recorder was measured: it saved 18 % of a core
in total but put the recorder at 97 % of one core, so they stay out of it.)
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from humanoid_data.bag.stamps import header_stamp_ns
from humanoid_data.core.config import SuiteConfig
from humanoid_data.core.contact_config import ContactConfig
from humanoid_data.core.events import EpisodeStart, EventBase, Source, encode_event
from humanoid_data.errors import DecodeError
from humanoid_data.monitors.contact import ContactMonitor
from humanoid_data.monitors.sync import (
    Level, SlidingWindow, StreamHealth, SyncThresholds, evaluate_all)
from humanoid_data.nodes.runtime import (
    diagnostic_status, events_qos, message_class, publish_diagnostics)

SYNC_PREFIX = 'humanoid_data/sync: '
SYNC_STATUS = 'humanoid_data: sync'
CONTACT_STATUS = 'humanoid_data: contact_monitor'


def diagnostics_publisher(node: Node) -> Any:
    """The node's /diagnostics publisher."""
    return node.create_publisher(message_class('diagnostic_msgs/msg/DiagnosticArray'),
                                 '/diagnostics', 10)


class ContactCompanion:
    """Contact detection on a host node: events out, ``~/tare``, a status at 1 Hz."""

    def __init__(self, node: Node, suite: SuiteConfig, config: ContactConfig,
                 taxonomy: str, events_topic: str, tare_on_start: bool = True,
                 status_period_s: float = 1.0) -> None:
        """Create the detectors, the events publisher, the tare service and the status."""
        self.node = node
        self.monitor = ContactMonitor(suite, config)
        self.taxonomy = taxonomy
        self.tare_on_start = tare_on_start
        self.events = node.create_publisher(String, events_topic, events_qos())
        self.diagnostics = diagnostics_publisher(node)
        node.create_service(Trigger, '~/tare', self._tare)
        node.create_timer(status_period_s, self.publish_status)
        self.published = 0
        self.malformed_events = 0
        self._warned: set[str] = set()
        node.get_logger().info(f'watching {len(self.monitor.streams)} contact channels '
                               f'(thresholds {config.source})')

    @property
    def topics(self) -> tuple[str, ...]:
        """Topics the detectors read."""
        return self.monitor.topics

    def on_message(self, topic: str, data: bytes) -> None:
        """Feed one raw message of a contact stream; publish the changes it confirms."""
        try:
            changes = self.monitor.on_message(topic, data)
        except DecodeError as err:
            self._warn_once(topic, f'{topic}: undecodable message skipped: {err}')
            return
        for change in changes:
            self.events.publish(String(data=encode_event(change.to_event(self.taxonomy))))
            self.published += 1

    def on_event(self, event: EventBase) -> None:
        """Re-tare at an operator's episode start."""
        if (isinstance(event, EpisodeStart) and self.tare_on_start
                and event.source != Source.SIM_TRUTH):
            self.monitor.tare()

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.node.get_logger().warning(text + ' (further ones counted in /diagnostics)')

    def _tare(self, _: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.monitor.tare()
        response.success, response.message = True, 'biases re-estimated from the next samples'
        return response

    def publish_status(self) -> None:
        """Channel states and skipped samples on /diagnostics."""
        invalid = self.monitor.invalid_samples()
        for topic, count in invalid.items():
            if count:
                self._warn_once(f'nan:{topic}', f'{topic}: samples with NaN or inf skipped')
        bad = sum(invalid.values()) + sum(self.monitor.undecodable.values())
        values: dict[str, object] = {'events_published': self.published,
                                     'malformed_events': self.malformed_events}
        for topic, detector in self.monitor.detectors.items():
            state = 'contact' if detector.switch.active else (
                'idle' if detector.tared else 'taring')
            values[f'{detector.channel} state'] = state
            values[f'{detector.channel} invalid'] = invalid[topic]
        status = diagnostic_status(
            CONTACT_STATUS, 1 if bad else 0,
            f'{bad} samples skipped (NaN, inf or undecodable)' if bad else 'ok',
            self.node.get_name(), values)
        publish_diagnostics(self.node, self.diagnostics, [status])


class SyncCompanion:
    """Sync health of every stream on a host node, one status per stream each period."""

    def __init__(self, node: Node, suite: SuiteConfig, limits: SyncThresholds,
                 period_s: float = 1.0) -> None:
        """Create the window, the /diagnostics publisher and the timer."""
        self.node = node
        self.suite = suite
        self._stamp_offsets = {s.topic: s.stamp_offset for s in suite.streams}
        self.limits = limits
        self.window = SlidingWindow(int(limits.window_s * 1e9))
        self.undecodable = 0
        self.diagnostics = diagnostics_publisher(node)
        self._started_ns = time.time_ns()
        self._levels: dict[str, Level] = {}
        node.create_timer(period_s, self.publish)
        node.get_logger().info(f'grading sync of {len(suite.streamed)} streams '
                               f'(thresholds {limits.source})')

    def on_message(self, topic: str, data: bytes, receive_ns: int | None = None) -> None:
        """Note one message's header stamp and receive time."""
        receive_ns = time.time_ns() if receive_ns is None else receive_ns
        try:
            self.window.add(topic, header_stamp_ns(data, self._stamp_offsets.get(topic, 4)),
                            receive_ns)
        except DecodeError:
            self.undecodable += 1

    def publish(self) -> None:
        """Grade the window and publish one status per stream plus a summary."""
        now = time.time_ns()
        stamps, receive = self.window.arrays(now)
        span = min(int(self.limits.window_s * 1e9), now - self._started_ns)
        health = evaluate_all(self.suite, stamps, receive, span, now, self.limits)
        publish_diagnostics(self.node, self.diagnostics,
                            sync_statuses(self.node, health, self._levels,
                                          {'undecodable': self.undecodable}))


def sync_statuses(node: Node, health: Iterable[StreamHealth], levels: dict[str, Level],
                  extra: dict[str, object]) -> list[Any]:
    """One /diagnostics status per stream plus the summary; log each stream's new fault.

    ``levels`` holds each stream's previous level (updated here), so a fault is logged
    once when it appears, not every period.
    """
    health = list(health)
    statuses = []
    for h in health:
        if h.level != levels.get(h.stream, Level.OK) and h.level != Level.OK:
            node.get_logger().warning(f'{h.stream}: {h.level.name}: {"; ".join(h.reasons)}')
        levels[h.stream] = h.level
        statuses.append(diagnostic_status(
            SYNC_PREFIX + h.stream, int(h.level), '; '.join(h.reasons) or 'ok', h.topic,
            {k: v for k, v in h.as_dict().items() if k not in ('level', 'reasons')}))
    worst = max((h.level for h in health), default=Level.OK)
    faulty = [h.stream for h in health if h.level != Level.OK]
    statuses.append(diagnostic_status(
        SYNC_STATUS, int(worst),
        f'{len(faulty)} streams out of sync: {", ".join(faulty)}' if faulty else 'ok',
        node.get_name(), extra))
    return statuses
