r"""recorder: writes every configured stream and the events topic into episode bags.

Data flow::

    DDS --raw CDR--> subscription callback (executor thread)
                        | peek header.stamp, count        never deserializes, never waits
                        v
                     RecorderEngine queue (bounded, MiB) --full--> counted drop, warning
                        v
                     writer thread --> <session>/<episode>/ MCAP bag + episode.yaml
    force-torque and tactile (``contacts``) --> ContactCompanion --> contact events
    services ~/start_episode ~/stop_episode ~/discard_episode (~/tare), episode events
    status at 1 Hz on /diagnostics
"""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial
from typing import Callable
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from std_srvs.srv import Trigger

from humanoid_data.bag.typestore import check_msgtype
from humanoid_data.core.config import SuiteConfig, load_suite
from humanoid_data.core.contact_config import load_contact_config
from humanoid_data.core.events import EventBase
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.core.settings import RecorderSettings
from humanoid_data.core.topics import topics_for
from humanoid_data.errors import EpisodeStateError
from humanoid_data.monitors.sync import (
    EpisodeSyncCheck, Level, LiveSync, load_sync_thresholds)
from humanoid_data.nodes.companions import ContactCompanion, sync_statuses
from humanoid_data.nodes.runtime import (
    LATCHED_READER_DEPTH, declare_settings, events_executor_available, events_qos, latched_qos,
    message_class, recorder_qos, run_node)
from humanoid_data.recording.engine import RecorderEngine
from humanoid_data.recording.status import status_line
from humanoid_data.recording.session import Session, default_session_name
from humanoid_data.resources import (
    default_contact_config, default_suite, default_sync_config, default_taxonomy)


class Recorder(Node):
    """Episode recorder node."""

    def __init__(self) -> None:
        """Load the suite, open the session and subscribe to every topic."""
        super().__init__('recorder')
        self.settings = declare_settings(self, RecorderSettings)
        suite = load_suite(self.settings.config or default_suite())
        if not self.settings.compression:       # the suite chooses unless told otherwise
            self.settings = replace(self.settings, compression=suite.compression or 'none')
        for stream in suite.streams:
            check_msgtype(stream.msgtype, f'{suite.source}: stream {stream.name}')
        session = Session(Path(self.settings.output_dir),
                          self.settings.session or default_session_name(), suite,
                          self.settings.operator)
        taxonomy = load_taxonomy(self.settings.taxonomy or default_taxonomy())
        limits = load_sync_thresholds(self.settings.sync_config or default_sync_config())
        topics = topics_for(suite, self.settings.events_topic)
        self._started_ns = time.time_ns()
        # Live sync health from the messages received here, graded in the writer thread:
        # the live stack receives each message once (docs/architecture.md).
        self.live_sync = LiveSync(suite, [t.topic for t in topics], limits,
                                  self._started_ns,
                                  int(self.settings.status_period_s * 1e9)) \
            if self.settings.live_sync else None
        self._sync_levels: dict[str, Level] = {}
        self.engine = RecorderEngine(topics, session, self.settings, self.get_logger(),
                                     config_digest=suite.digest, config_file=suite.source,
                                     taxonomy=taxonomy.version,
                                     sync_check=EpisodeSyncCheck(suite, limits),
                                     live_sync=self.live_sync)
        # Publisher sequence numbers count transport losses exactly, but only callbacks
        # that take the message info get them, and Kilted's events executor cannot call
        # those; it is used anyway where it exists (the single-threaded executor could
        # not keep up with the default suite on 2 cores). Every recorder also counts the
        # messages missing by header-stamp gaps.
        self.needs_message_info = not events_executor_available()
        on_message = self._on_message_info if self.needs_message_info else self._on_message
        self.contact = self._contact_detection(suite, taxonomy.version)
        watched = set(self.contact.topics) if self.contact is not None else set()
        #: Per topic index: its topic when contact detection reads it, else None.
        self._contact_topics = [t.topic if t.topic in watched else None
                                for t in self.engine.topics]
        self._subscribe(on_message)
        self.create_service(Trigger, '~/start_episode', self._start)
        self.create_service(Trigger, '~/stop_episode', self._stop)
        self.create_service(Trigger, '~/discard_episode', self._discard)
        self.diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(self.settings.status_period_s, self._publish_status)
        self.get_logger().info(f'recording {len(suite.streams)} streams into {session.path}')

    def _contact_detection(self, suite: SuiteConfig, taxonomy: str
                           ) -> ContactCompanion | None:
        """Contact detection on the messages received here, with ``contacts``.

        The live stack then receives each force-torque and tactile message once
        (docs/architecture.md).
        """
        if not self.settings.contacts:
            return None
        config = load_contact_config(self.settings.contact_config or default_contact_config())
        return ContactCompanion(self, suite, config, taxonomy, self.settings.events_topic,
                                True, self.settings.status_period_s)

    def _subscribe(self, on_message: Callable[..., None]) -> None:
        """One raw subscription per topic, with the QoS its publishers need."""
        for index, spec in enumerate(self.engine.topics):
            if spec.is_events:
                qos = events_qos(spec.depth)
            elif spec.latched:
                qos = latched_qos(LATCHED_READER_DEPTH)
            else:
                qos = recorder_qos(spec.reliability, spec.depth, spec.rate_hz)
            lost = SubscriptionEventCallbacks(message_lost=partial(self._on_lost, index))
            self.create_subscription(message_class(spec.msgtype), spec.topic,
                                     partial(on_message, index), qos, raw=True,
                                     event_callbacks=lost)

    def _on_message(self, index: int, data: bytes) -> None:
        self._taken(index, data, self.engine.offer(index, data))

    def _on_message_info(self, index: int, data: bytes, info: dict) -> None:
        # Sequence numbers exist from Iron on; Humble's message info has none.
        gid = info.get('publisher_gid')
        self._taken(index, data, self.engine.offer(
            index, data, info.get('publication_sequence_number'), gid['data'] if gid else b''))

    def _taken(self, index: int, data: bytes, event: EventBase | None) -> None:
        """After the engine queued a message: apply an event, feed contact detection."""
        if event is not None:
            self._apply(event)
            return
        topic = self._contact_topics[index]
        if topic is None or self.contact is None:
            return
        try:
            self.contact.on_message(topic, data)
        except Exception as err:  # detection must never stop recording
            self.get_logger().error(f'contact detection failed: {err!r}',
                                    throttle_duration_sec=5.0)

    def _on_lost(self, index: int, info: object) -> None:
        # The middleware saw messages that never reached us (a reader history overflowed
        # or a sample was never repaired): count them as drops, like queue overflows.
        self.engine.count_lost(index, int(getattr(info, 'total_count_change', 1)))

    def _apply(self, event: EventBase) -> None:
        if event.stamp_ns < self._started_ns:
            return  # replayed to us by transient-local durability: history, not a command
        if self.contact is not None:
            self.contact.on_event(event)      # re-tare at an operator's episode start
        try:
            done = self.engine.apply_event(event)
        except EpisodeStateError as err:
            self.get_logger().warning(f'{event.kind} event refused: {err}')
            return
        if done:
            self.get_logger().info(f'{done} ({event.kind} event from {event.source.value})')

    def _answer(self, response: Trigger.Response, action: str,
                call: Callable[[], str]) -> Trigger.Response:
        try:
            episode_id = call()
        except EpisodeStateError as err:
            response.success, response.message = False, str(err)
            self.get_logger().warning(f'{action} refused: {err}')
        else:
            response.success, response.message = True, f'{action} {episode_id}'
            self.get_logger().info(response.message)
        return response

    def _start(self, _: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        return self._answer(response, 'started', self.engine.start_episode)

    def _stop(self, _: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        return self._answer(response, 'stopped', self.engine.stop_episode)

    def _discard(self, _: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        return self._answer(response, 'discarded', self.engine.discard_episode)

    def _publish_status(self) -> None:
        snap = self.engine.snapshot()
        level, message = status_line(snap)
        drops, missing = sum(snap.dropped), sum(snap.missing)
        values = [
            KeyValue(key='state', value=snap.state),
            KeyValue(key='episode', value=snap.episode_id),
            KeyValue(key='elapsed_s', value=f'{snap.elapsed_s:.1f}'),
            KeyValue(key='episodes_done', value=str(snap.episodes_done)),
            KeyValue(key='queue_mib', value=f'{snap.queued_bytes / 2**20:.1f}'),
            KeyValue(key='peak_queue_mib', value=f'{snap.peak_queued_bytes / 2**20:.1f}'),
            KeyValue(key='dropped_total', value=str(drops)),
            KeyValue(key='missing_total', value=str(missing)),
            KeyValue(key='malformed_events', value=str(snap.malformed_events)),
            KeyValue(key='disk_free_mib', value=f'{snap.disk.free_bytes / 2**20:.0f}'),
            KeyValue(key='disk_minutes_left', value='' if snap.disk.minutes_left is None
                     else f'{snap.disk.minutes_left:.1f}'),
            KeyValue(key='unfinished_episodes', value=', '.join(snap.unfinished)),
        ]
        for spec, received, dropped, gaps in zip(self.engine.topics, snap.received,
                                                 snap.dropped, snap.missing):
            values.append(KeyValue(key=f'{spec.topic} received', value=str(received)))
            values.append(KeyValue(key=f'{spec.topic} dropped', value=str(dropped)))
            values.append(KeyValue(key=f'{spec.topic} missing', value=str(gaps)))
        status = DiagnosticStatus(level=bytes([level]), name='humanoid_data: recorder',
                                  message=message, hardware_id=self.get_name(), values=values)
        statuses = [status]
        if self.live_sync is not None and self.live_sync.health:
            statuses.extend(sync_statuses(self, self.live_sync.health, self._sync_levels,
                                          {'source': 'recorder'}))
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics.publish(array)

    def close(self) -> None:
        """Finish open episodes and stop the writer thread."""
        self.engine.close()


def main(args: list[str] | None = None) -> int:
    """Run the recorder until interrupted."""
    return run_node(Recorder, args)


if __name__ == '__main__':
    raise SystemExit(main())
