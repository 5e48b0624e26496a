r"""contact_monitor: contact onsets, offsets and slips from wrist force-torque and tactile.

Data flow::

    /wrist/<side>/ft, /tactile/<side>/<finger> --raw CDR--> ContactCompanion
        (ContactMonitor: one detector per channel: tare, hysteresis, slip)
        --> contact events on /humanoid_data/events
    episode_start events, ~/tare service --> re-estimate biases
    status at 1 Hz on /diagnostics

Events carry the hardware stamp of the sample where the signal left (onset) or rejoined
(offset) its baseline (``core.contact_stamps``) and the taxonomy version in force; the
recorder writes them into the episode bag.
"""

from __future__ import annotations

from functools import partial

from rclpy.node import Node
from std_msgs.msg import String

from humanoid_data.core.config import load_suite
from humanoid_data.core.contact_config import load_contact_config
from humanoid_data.core.events import decode_event
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.core.settings import ContactMonitorSettings
from humanoid_data.errors import EventError
from humanoid_data.nodes.companions import ContactCompanion
from humanoid_data.nodes.runtime import (
    declare_settings, events_qos, message_class, recorder_qos, run_node)
from humanoid_data.resources import default_contact_config, default_suite, default_taxonomy


class ContactMonitorNode(Node):
    """Live contact detection in its own process."""

    def __init__(self) -> None:
        """Load suite and thresholds, subscribe to every wrench and tactile stream."""
        super().__init__('contact_monitor')
        self.settings = declare_settings(self, ContactMonitorSettings)
        suite = load_suite(self.settings.config or default_suite())
        self.contact = ContactCompanion(
            self, suite,
            load_contact_config(self.settings.contact_config or default_contact_config()),
            load_taxonomy(self.settings.taxonomy or default_taxonomy()).version,
            self.settings.events_topic, self.settings.tare_on_start,
            self.settings.status_period_s)
        for stream in self.contact.monitor.streams:
            self.create_subscription(
                message_class(stream.msgtype), stream.topic,
                partial(self.contact.on_message, stream.topic),
                recorder_qos(stream.qos.reliability, stream.qos.depth, stream.rate_hz),
                raw=True)
        self.create_subscription(String, self.settings.events_topic, self._on_event,
                                 events_qos())

    def _on_event(self, msg: String) -> None:
        try:
            event = decode_event(msg.data)
        except EventError as err:
            self.contact.malformed_events += 1
            self.get_logger().warning(f'event ignored: {err}', throttle_duration_sec=5.0)
            return
        self.contact.on_event(event)


def main(args: list[str] | None = None) -> int:
    """Run the contact monitor until interrupted."""
    return run_node(ContactMonitorNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
