r"""sync_monitor: live synchronization health of every stream on /diagnostics.

Data flow::

    every stream of the suite --raw CDR--> SyncCompanion: peek header.stamp, note the
        receive time --> sliding window (window_s) --1 Hz--> evaluate_all (rate, latency,
        gaps, regressions, clock offset, trigger skew) --> /diagnostics, one status per
        stream

Thresholds come from ``config/sync.yaml``; the recorder grades each whole episode with
the same code and writes the summary into ``episode.yaml``.
"""

from __future__ import annotations

from functools import partial

from rclpy.node import Node

from humanoid_data.core.config import load_suite
from humanoid_data.core.settings import SyncMonitorSettings
from humanoid_data.monitors.sync import load_sync_thresholds
from humanoid_data.nodes.companions import SyncCompanion
from humanoid_data.nodes.runtime import declare_settings, message_class, recorder_qos, run_node
from humanoid_data.resources import default_suite, default_sync_config


class SyncMonitorNode(Node):
    """Per-stream sync health in its own process."""

    def __init__(self) -> None:
        """Load suite and thresholds, subscribe to every stream."""
        super().__init__('sync_monitor')
        self.settings = declare_settings(self, SyncMonitorSettings)
        suite = load_suite(self.settings.config or default_suite())
        self.sync = SyncCompanion(
            self, suite,
            load_sync_thresholds(self.settings.sync_config or default_sync_config()),
            self.settings.period_s)
        for stream in suite.streamed:     # latched streams have no sync to grade
            self.create_subscription(
                message_class(stream.msgtype), stream.topic,
                partial(self.sync.on_message, stream.topic),
                recorder_qos(stream.qos.reliability, stream.qos.depth, stream.rate_hz),
                raw=True)


def main(args: list[str] | None = None) -> int:
    """Run the sync monitor until interrupted."""
    return run_node(SyncMonitorNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
