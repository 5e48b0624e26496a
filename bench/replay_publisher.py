"""Publish a share of the sensor suite from pre-serialized messages, at a rate scale.

The simulated humanoid renders images and point clouds as it goes and cannot produce the
default suite faster than real time on a small machine. To load the recorder alone, this
process renders a few messages per stream once, then publishes them round-robin with
fresh header stamps on each stream's schedule (rate x scale). Several of these processes,
each with a share of the streams (``--part i --parts n``), stand in for a robot's drivers.

    python bench/replay_publisher.py --scale 2 --part 0 --parts 2 \
        --start-at EPOCH_S --seconds 10 --report counts.json

Publishing starts at ``--start-at`` (wall clock), once every stream has a subscriber. A
sample more than 0.1 s overdue is skipped and counted, as a real sensor cannot send the
past; the report holds, per topic, the messages published and skipped.
"""

from __future__ import annotations

import argparse
import heapq
import json
import time
from pathlib import Path

import rclpy
from rclpy.subscription import RCLError  # the C extension error, exported there

from humanoid_data.bag.stamps import with_header_stamp
from humanoid_data.bag.tf_cdr import MSGTYPE as TF_TYPE
from humanoid_data.bag.tf_cdr import restamp as tf_restamp
from humanoid_data.core.config import load_suite
from humanoid_data.dds import dds_environment
from humanoid_data.nodes.runtime import message_class, publisher_qos
from humanoid_data.resources import default_suite
from humanoid_data.sim.humanoid import SimulatedHumanoid

TEMPLATES = 16          # distinct messages per stream, reused round-robin
LATE_NS = 100_000_000   # skip a sample this overdue


def render_templates(suite, topics: set[str]) -> dict[str, list[bytes]]:
    """Let the simulated humanoid produce a few messages of each wanted topic."""
    start = time.time_ns()
    sim = SimulatedHumanoid(suite, start_ns=start)
    sim.play_cycle(start)
    templates: dict[str, list[bytes]] = {t: [] for t in topics}
    now = start
    while any(len(v) < TEMPLATES for v in templates.values()):
        now += 10_000_000
        for item in sim.step(now):
            bucket = templates.get(item.topic)
            if bucket is not None and len(bucket) < TEMPLATES:
                bucket.append(item.data)
    return templates


def main() -> None:
    """Publish the share of streams, then write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=str(default_suite()))
    parser.add_argument('--scale', type=float, default=1.0)
    parser.add_argument('--part', type=int, default=0)
    parser.add_argument('--parts', type=int, default=1)
    parser.add_argument('--start-at', type=float, required=True, help='wall clock, s')
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--report', required=True)
    args = parser.parse_args()

    suite = load_suite(args.config)
    templates = render_templates(suite, {s.topic for s in suite.streamed})

    def cost(stream):
        # Publishing costs about 55 us per message plus copying: ~1 us per 20 kB.
        return stream.rate_hz * (55 + len(templates[stream.topic][0]) / 20_000)

    # Deal the streams out by cost so the parts carry similar loads.
    ordered = sorted(suite.streamed, key=cost, reverse=True)   # latched: none to replay
    mine = [s for i, s in enumerate(ordered) if i % args.parts == args.part]

    dds_environment()
    rclpy.init()
    node = rclpy.create_node(f'replay_{args.part}')
    publishers = {s.topic: node.create_publisher(
        message_class(s.msgtype), s.topic,
        publisher_qos(s.qos.reliability, s.qos.depth, s.rate_hz * args.scale))
        for s in mine}
    # A TFMessage has a stamp per transform, after the sequence length.
    restampers = {s.topic: tf_restamp if s.msgtype == TF_TYPE else with_header_stamp
                  for s in mine}
    published = {s.topic: 0 for s in mine}
    skipped = {s.topic: 0 for s in mine}
    failed = {s.topic: 0 for s in mine}
    try:
        while not all(p.get_subscription_count() for p in publishers.values()):
            rclpy.spin_once(node, timeout_sec=0.05)
        begin = int(args.start_at * 1e9)
        while time.time_ns() < begin:
            rclpy.spin_once(node, timeout_sec=0.01)
        end = begin + int(args.seconds * 1e9)
        periods = {s.topic: int(1e9 / (s.rate_hz * args.scale)) for s in mine}
        due = [(begin, s.topic, 0) for s in mine]
        heapq.heapify(due)
        while due:
            stamp, topic, k = heapq.heappop(due)
            now = time.time_ns()
            if stamp > now:
                time.sleep((stamp - now) / 1e9)
            elif now - stamp > LATE_NS:
                skipped[topic] += 1
            if not now - stamp > LATE_NS:
                bucket = templates[topic]
                try:
                    publishers[topic].publish(restampers[topic](bucket[k % len(bucket)], stamp))
                except RCLError:    # the middleware refused (e.g. shared memory full)
                    failed[topic] += 1
                else:
                    published[topic] += 1
            if stamp + periods[topic] < end:
                heapq.heappush(due, (stamp + periods[topic], topic, k + 1))
    finally:
        Path(args.report).write_text(json.dumps(
            {'published': published, 'skipped': skipped, 'failed': failed}))
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
