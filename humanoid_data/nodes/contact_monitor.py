r"""contact_monitor: contact onsets, offsets and slips from wrist force-torque and tactile.

Data flow::

    /wrist/<side>/ft, /tactile/<side>/<finger> --raw CDR--> ContactMonitor (one detector
        per channel: tare, hysteresis, slip) --> contact events on /humanoid_data/events
    episode_start events, ~/tare service --> re-estimate biases
    status at 1 Hz on /diagnostics

Events carry the hardware stamp of the sample that crossed the threshold and the
taxonomy version in force; the recorder writes them into the episode bag.
"""

from __future__ import annotations

from functools import partial

from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from humanoid_data.core.config import load_suite
from humanoid_data.core.contact import load_contact_config
from humanoid_data.core.events import EpisodeStart, Source, decode_event, encode_event
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.core.settings import ContactMonitorSettings
from humanoid_data.errors import DecodeError, EventError
from humanoid_data.monitors.contact import ContactMonitor
from humanoid_data.nodes.runtime import (
    declare_settings, diagnostic_status, events_qos, message_class, publish_diagnostics,
    recorder_qos, run_node)
from humanoid_data.resources import default_contact_config, default_suite, default_taxonomy


class ContactMonitorNode(Node):
    """Live contact detection."""

    def __init__(self) -> None:
        """Load suite and thresholds, subscribe to every wrench and tactile stream."""
        super().__init__('contact_monitor')
        self.settings = declare_settings(self, ContactMonitorSettings)
        suite = load_suite(self.settings.config or default_suite())
        config = load_contact_config(self.settings.contact_config or default_contact_config())
        self.taxonomy = load_taxonomy(self.settings.taxonomy or default_taxonomy()).version
        self.monitor = ContactMonitor(suite, config)
        self.events = self.create_publisher(String, self.settings.events_topic, events_qos())
        for stream in self.monitor.streams:
            self.create_subscription(
                message_class(stream.msgtype), stream.topic,
                partial(self._on_message, stream.topic),
                recorder_qos(stream.qos.reliability, stream.qos.depth, stream.rate_hz),
                raw=True)
        self.create_subscription(String, self.settings.events_topic, self._on_event,
                                 events_qos())
        self.create_service(Trigger, '~/tare', self._tare)
        self.diagnostics = self.create_publisher(
            message_class('diagnostic_msgs/msg/DiagnosticArray'), '/diagnostics', 10)
        self.create_timer(self.settings.status_period_s, self._publish_status)
        self.published = 0
        self.malformed_events = 0
        self._warned: set[str] = set()
        self.get_logger().info(f'watching {len(self.monitor.streams)} contact channels '
                               f'(thresholds {config.source})')

    def _on_message(self, topic: str, data: bytes) -> None:
        try:
            changes = self.monitor.on_message(topic, data)
        except DecodeError as err:
            self._warn_once(topic, f'{topic}: undecodable message skipped: {err}')
            return
        for change in changes:
            self.events.publish(String(data=encode_event(change.to_event(self.taxonomy))))
            self.published += 1

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.get_logger().warning(text + ' (further ones counted in /diagnostics)')

    def _on_event(self, msg: String) -> None:
        try:
            event = decode_event(msg.data)
        except EventError as err:
            self.malformed_events += 1
            self._warn_once('malformed', f'{self.settings.events_topic}: event ignored: {err}')
            return
        if (isinstance(event, EpisodeStart) and self.settings.tare_on_start
                and event.source != Source.SIM_TRUTH):
            self.monitor.tare()

    def _tare(self, _: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.monitor.tare()
        response.success, response.message = True, 'biases re-estimated from the next samples'
        return response

    def _publish_status(self) -> None:
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
            'humanoid_data: contact_monitor', 1 if bad else 0,
            f'{bad} samples skipped (NaN, inf or undecodable)' if bad else 'ok',
            self.get_name(), values)
        publish_diagnostics(self, self.diagnostics, [status])


def main(args: list[str] | None = None) -> int:
    """Run the contact monitor until interrupted."""
    return run_node(ContactMonitorNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
