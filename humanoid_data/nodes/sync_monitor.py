r"""sync_monitor: live synchronization health of every stream on /diagnostics.

Data flow::

    every stream of the suite --raw CDR--> peek header.stamp, note receive time
        --> sliding window (window_s) --1 Hz--> evaluate_all (rate, latency, gaps,
        regressions, clock offset, trigger skew) --> /diagnostics, one status per stream

Thresholds come from ``config/sync.yaml``; the recorder grades each whole episode with
the same code and writes the summary into ``episode.yaml``.
"""

from __future__ import annotations

import time
from functools import partial

from rclpy.node import Node

from humanoid_data.bag.stamps import header_stamp_ns
from humanoid_data.core.config import load_suite
from humanoid_data.core.settings import SyncMonitorSettings
from humanoid_data.errors import DecodeError
from humanoid_data.monitors.sync import (
    Level, SlidingWindow, evaluate_all, load_sync_thresholds)
from humanoid_data.nodes.runtime import (
    declare_settings, diagnostic_status, message_class, publish_diagnostics, recorder_qos,
    run_node)
from humanoid_data.resources import default_suite, default_sync_config

STATUS_PREFIX = 'humanoid_data/sync: '


class SyncMonitorNode(Node):
    """Per-stream sync health, published at 1 Hz."""

    def __init__(self) -> None:
        """Load suite and thresholds, subscribe to every stream."""
        super().__init__('sync_monitor')
        self.settings = declare_settings(self, SyncMonitorSettings)
        self.suite = load_suite(self.settings.config or default_suite())
        self.limits = load_sync_thresholds(self.settings.sync_config or default_sync_config())
        self.window = SlidingWindow(int(self.limits.window_s * 1e9))
        self.undecodable = 0
        for stream in self.suite.streams:
            self.create_subscription(
                message_class(stream.msgtype), stream.topic,
                partial(self._on_message, stream.topic),
                recorder_qos(stream.qos.reliability, stream.qos.depth, stream.rate_hz),
                raw=True)
        self.diagnostics = self.create_publisher(
            message_class('diagnostic_msgs/msg/DiagnosticArray'), '/diagnostics', 10)
        self._started_ns = time.time_ns()
        self._levels: dict[str, Level] = {}
        self.create_timer(self.settings.period_s, self._publish)
        self.get_logger().info(f'watching {len(self.suite.streams)} streams '
                               f'(thresholds {self.limits.source})')

    def _on_message(self, topic: str, data: bytes) -> None:
        receive_ns = time.time_ns()
        try:
            self.window.add(topic, header_stamp_ns(data), receive_ns)
        except DecodeError:
            self.undecodable += 1

    def _publish(self) -> None:
        now = time.time_ns()
        stamps, receive = self.window.arrays(now)
        span = min(int(self.limits.window_s * 1e9), now - self._started_ns)
        health = evaluate_all(self.suite, stamps, receive, span, now, self.limits)
        statuses = []
        for h in health:
            if h.level != self._levels.get(h.stream, Level.OK) and h.level != Level.OK:
                self.get_logger().warning(f'{h.stream}: {h.level.name}: {"; ".join(h.reasons)}')
            self._levels[h.stream] = h.level
            statuses.append(diagnostic_status(
                STATUS_PREFIX + h.stream, int(h.level), '; '.join(h.reasons) or 'ok',
                h.topic, {k: v for k, v in h.as_dict().items() if k not in ('level', 'reasons')}))
        worst = max((h.level for h in health), default=Level.OK)
        faulty = [h.stream for h in health if h.level != Level.OK]
        statuses.append(diagnostic_status(
            'humanoid_data: sync', int(worst),
            f'{len(faulty)} streams out of sync: {", ".join(faulty)}' if faulty else 'ok',
            self.get_name(), {'undecodable': self.undecodable}))
        publish_diagnostics(self, self.diagnostics, statuses)


def main(args: list[str] | None = None) -> int:
    """Run the sync monitor until interrupted."""
    return run_node(SyncMonitorNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
