"""The receive floor: a node that subscribes raw to every stream and only counts.

Same executor as the recorder (the events executor where the distribution has it), same
QoS per stream, a callback that adds one to a counter: what receiving the suite costs
before anything is done with the messages. bench/record_throughput.py runs it under the
same load as the recorder and compares their CPU per message.

    python bench/raw_subscriber.py --config SUITE --seconds S --report FILE
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException

from humanoid_data.core.config import load_suite
from humanoid_data.dds import dds_environment
from humanoid_data.nodes.runtime import make_executor, message_class, recorder_qos


def main() -> None:
    """Count every message of the suite's streams for ``--seconds`` after the first one."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', required=True)
    parser.add_argument('--seconds', type=float, required=True)
    parser.add_argument('--report', required=True)
    args = parser.parse_args()
    suite = load_suite(args.config)
    dds_environment()
    rclpy.init()
    node = rclpy.create_node('raw_floor')
    counts = {s.topic: 0 for s in suite.streamed}

    def count(topic: str, _: bytes) -> None:
        counts[topic] += 1

    for stream in suite.streamed:
        node.create_subscription(message_class(stream.msgtype), stream.topic,
                                 partial(count, stream.topic),
                                 recorder_qos(stream.qos.reliability, stream.qos.depth,
                                              stream.rate_hz), raw=True)
    executor = make_executor()
    executor.add_node(node)
    deadline = None
    try:
        while deadline is None or time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
            if deadline is None and any(counts.values()):
                deadline = time.monotonic() + args.seconds
    except (ExternalShutdownException, KeyboardInterrupt):
        pass        # stopped by the benchmark (SIGTERM, SIGINT): the counts still go out
    finally:
        Path(args.report).write_text(json.dumps(counts))
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
