"""Where live latency comes from: the recorder's grading against a separate sync_monitor.

Latency is receive time minus header stamp. When every stream arrives late at once, the
cause is either the publisher (the simulated humanoid falling behind) or the receiving
process (a stall in its executor thread). This bench runs the simulated humanoid twice
at 1x, once with the recorder grading sync live (its ``live_sync``, what the demo uses)
and once with only sync_monitor receiving, and prints each stream's latency p50 and p99
from their /diagnostics statuses (the newest window of each), the worst of each run, and
the ratio of the recorder's worst p99 to sync_monitor's.

    python bench/sync_latency.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray

from humanoid_data.cli.plan import session_plan
from humanoid_data.cli.processes import start_all, stop_all
from humanoid_data.dds import dds_environment
from humanoid_data.nodes.companions import SYNC_PREFIX
from humanoid_data.resources import default_suite


def run(node, out: Path, name: str, receiver: str, seconds: float) -> dict[str, tuple]:
    """Latency p50 and p99 per stream, as ``receiver`` grades them at the end."""
    plan = session_plan(str(default_suite()), str(out), True, companions=False,
                        teleop=False, sync_monitor=receiver == 'sync_monitor',
                        recorder={'session': name}, simulator={'autoplay': True})
    if receiver == 'sync_monitor':
        plan = [n for n in plan if n.name != 'recorder']
    newest: dict[str, tuple] = {}

    def on_status(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith(SYNC_PREFIX):
                values = {kv.key: kv.value for kv in status.values}
                if 'latency_p99_ms' in values:
                    newest[status.name[len(SYNC_PREFIX):]] = (
                        float(values['latency_p50_ms']), float(values['latency_p99_ms']))
    subscription = node.create_subscription(DiagnosticArray, '/diagnostics', on_status, 50)
    processes = start_all(plan, out / name / 'logs')
    try:
        end = time.monotonic() + 8.0 + seconds    # start-up and discovery, then the run
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.1)
        result = dict(newest)
    finally:
        stop_all(processes)
        node.destroy_subscription(subscription)
    return result


def main() -> None:
    """Run both receivers and print their latency figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=20.0)
    args = parser.parse_args()
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    out = Path(tempfile.mkdtemp(prefix='humanoid_data_bench_'))
    os.environ.setdefault('ROS_LOG_DIR', str(out / 'ros_logs'))
    dds_environment()
    rclpy.init()
    node = rclpy.create_node('sync_latency_bench')
    worst = {}
    try:
        for receiver in ('recorder', 'sync_monitor'):
            figures = run(node, out, receiver, receiver, args.seconds)
            if not figures:
                raise SystemExit(f'{receiver}: no sync status received')
            worst[receiver] = max(p99 for _, p99 in figures.values())
            p50s = sorted(p50 for p50, _ in figures.values())
            print(f'{receiver:12s}: {len(figures)} streams, latency p50 '
                  f'{p50s[0]:.1f}-{p50s[-1]:.1f} ms, worst p99 {worst[receiver]:.1f} ms '
                  f'(WARN above 50)', flush=True)
            for stream, (p50, p99) in sorted(figures.items(), key=lambda kv: -kv[1][1])[:3]:
                print(f'    {stream:28s} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms')
        print(f'worst p99, recorder / sync_monitor: '
              f'{worst["recorder"] / worst["sync_monitor"]:.2f}')
    finally:
        node.destroy_node()
        rclpy.shutdown()
        shutil.rmtree(out, ignore_errors=True)


if __name__ == '__main__':
    main()
