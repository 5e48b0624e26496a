"""Live companions: contact detection vs ground truth, marker latency, CPU per node.

1. Contact detection (no ROS): the simulated humanoid's wrench and tactile streams at
   several noise levels through the same detectors contact_monitor runs; precision,
   recall, onset and offset errors against the true intervals, and the detection
   latency (true onset to the sample that confirmed it, i.e. when the event goes out),
   with the detector's cost per sample.
2. Marker latency over DDS: pedal presses on /joy (header stamped at the press) through
   marker_teleop into the recorder's bags; latency = the event's log time in the bag
   minus the press stamp, p50 and p99.
3. CPU of every node of a default-suite session (simulated humanoid, recorder, contact
   and sync monitors, marker_teleop), each as a share of one core and as a ratio to the
   recorder measured in the same run.

    python bench/companions.py [--cycles 10] [--presses 40] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from humanoid_data.core.config import Modality, load_suite
from humanoid_data.core.contact_config import load_contact_config
from humanoid_data.core.events import Source, Transition
from humanoid_data.core.intervals import Interval, intervals_from_events, score_contacts
from humanoid_data.monitors.contact import ContactMonitor
from humanoid_data.resources import default_contact_config, default_suite
from humanoid_data.sim.humanoid import SimulatedHumanoid
from humanoid_data.sim.scenario import CYCLE_S

MS = 1_000_000


def contact_accuracy(cycles: int, noises: list[float]) -> None:
    """Print detection figures per noise level."""
    suite = load_suite(default_suite())
    suite = replace(suite, streams=tuple(
        s for s in suite.streams if s.modality in (Modality.WRENCH, Modality.TACTILE)))
    config = load_contact_config(default_contact_config())
    print('contact detection vs ground truth '
          f'({cycles} pick-and-place cycles, {len(suite.streams)} channels)')
    print(f'{"noise":>6} {"true":>5} {"found":>5} {"prec":>6} {"recall":>6} '
          f'{"onset p50/p99 ms":>17} {"offset p50/p99 ms":>18} {"latency p50/p99 ms":>19} '
          f'{"us/sample":>9}')
    for noise in noises:
        t0 = 10 ** 12
        sim = SimulatedHumanoid(suite, start_ns=t0, noise=noise, seed=11)
        period = int((CYCLE_S + 1.0) * 1e9)
        for k in range(cycles):
            sim.play_cycle(t0 + 500 * MS + k * period)
        messages, now = [], t0
        while now < t0 + 500 * MS + cycles * period:
            now += MS
            messages.extend((m.topic, m.stamp_ns, m.data) for m in sim.step(now))
        monitor = ContactMonitor(suite, config)
        changes, confirmed = [], {}
        start = time.perf_counter()
        for topic, stamp, raw in messages:
            for change in monitor.on_message(topic, raw):
                changes.append(change)
                confirmed[(change.channel, change.stamp_ns)] = stamp
        cost_us = (time.perf_counter() - start) / len(messages) * 1e6
        changes += monitor.close()
        found = intervals_from_events(c.to_event() for c in changes)
        _, truth_raw = sim.scenario.truth()
        truth = [Interval(*t) for t in truth_raw]
        score = score_contacts(found, truth)
        s = score.summary()
        latency = []
        for true in truth:
            onsets = [c for c in changes if c.channel == true.channel
                      and c.transition == Transition.ONSET
                      and abs(c.stamp_ns - true.begin_ns) < 100 * MS]
            if onsets:
                latency.append((confirmed[(true.channel, onsets[0].stamp_ns)]
                                - true.begin_ns) / 1e6)
        p50, p99 = np.percentile(latency, [50, 99]) if latency else (np.nan, np.nan)
        print(f'{noise:>5g}x {score.true_count:>5} {score.detected_count:>5} '
              f'{score.precision:>6.3f} {score.recall:>6.3f} '
              f'{s["onset_p50_ms"]:>8.1f}/{s["onset_p99_ms"]:<8.1f} '
              f'{s["offset_p50_ms"]:>9.1f}/{s["offset_p99_ms"]:<8.1f} '
              f'{p50:>9.1f}/{p99:<9.1f} {cost_us:>9.1f}', flush=True)


def marker_latency(presses: int, out: Path) -> None:
    """Print press-to-bag latency of pedal markers."""
    import rclpy
    from rosbags.rosbag2 import Reader
    from sensor_msgs.msg import Joy

    from humanoid_data.bag.stamps import string_payload
    from humanoid_data.cli.operator import spin_until
    from humanoid_data.core.events import decode_event
    from humanoid_data.cli.plan import session_plan
    from humanoid_data.cli.processes import start_all, stop_all

    plan = session_plan(str(default_suite()), str(out), False, companions=False,
                        recorder={'session': 'markers', 'preroll_s': 0.0,
                                  'stop_grace_s': 0.5})
    processes = start_all(plan, out / 'markers' / 'logs')
    node = rclpy.create_node('bench_pedal')
    joy = node.create_publisher(Joy, '/joy', 50)
    spin = lambda: rclpy.spin_once(node, timeout_sec=0.02)  # noqa: E731
    try:
        spin_until(spin, lambda: joy.get_subscription_count() > 0, 60, 'marker_teleop')
        time.sleep(2.0)   # the recorder's subscriptions match too
        for _ in range(presses):
            for buttons in ([0, 1, 0, 0], [0, 0, 0, 0]):   # start_stop pedal, press+release
                msg = Joy(buttons=buttons)
                msg.header.stamp = node.get_clock().now().to_msg()
                joy.publish(msg)
                end = time.monotonic() + 0.25
                spin_until(spin, lambda: time.monotonic() > end, 5, 'the pedal pause')
    finally:
        node.destroy_node()
        stop_all(processes)
    latency = []
    for bag in sorted((out / 'markers').glob('episode_*')):
        with Reader(bag) as reader:
            conns = [c for c in reader.connections if c.topic == '/humanoid_data/events']
            for _, log_ns, raw in reader.messages(connections=conns):
                event = decode_event(string_payload(raw))
                if event.source == Source.OPERATOR:
                    latency.append((log_ns - event.stamp_ns) / 1e6)
    p50, p99 = np.percentile(latency, [50, 99])
    print(f'marker latency, pedal press -> event in the bag: {len(latency)} markers of '
          f'{presses} presses, p50 {p50:.2f} ms, p99 {p99:.2f} ms', flush=True)


def companion_cpu(seconds: float, out: Path) -> None:
    """Print CPU per node of a default-suite session."""
    import psutil

    from humanoid_data.cli.plan import session_plan
    from humanoid_data.cli.processes import start_all, stop_all

    plan = session_plan(str(default_suite()), str(out), True,
                        recorder={'session': 'cpu'}, simulator={'autoplay': True})
    processes = start_all(plan, out / 'cpu' / 'logs')
    try:
        time.sleep(8.0)   # start-up and discovery
        procs = {p.launch.name: psutil.Process(p.process.pid) for p in processes}
        before = {n: p.cpu_times() for n, p in procs.items()}
        time.sleep(seconds)
        after = {n: p.cpu_times() for n, p in procs.items()}
    finally:
        stop_all(processes)
    share = {n: (after[n].user + after[n].system - before[n].user - before[n].system)
             / seconds for n in procs}
    print(f'CPU per node over {seconds:g} s of the default suite at 1x '
          f'({psutil.cpu_count()} cores); total {100 * sum(share.values()):.0f} %:')
    for name, value in share.items():
        print(f'  {name:<16} {100 * value:5.0f} % of a core   '
              f'{value / share["recorder"]:.2f} x recorder', flush=True)


def main() -> None:
    """Run the three parts."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cycles', type=int, default=10)
    parser.add_argument('--noise', type=float, nargs='+', default=[1.0, 2.0, 3.0])
    parser.add_argument('--presses', type=int, default=40)
    parser.add_argument('--seconds', type=float, default=10.0)
    args = parser.parse_args()
    contact_accuracy(args.cycles, args.noise)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    out = Path(tempfile.mkdtemp(prefix='humanoid_data_bench_'))
    os.environ.setdefault('ROS_LOG_DIR', str(out / 'ros_logs'))
    import rclpy

    from humanoid_data.dds import dds_environment
    dds_environment()
    rclpy.init()
    try:
        marker_latency(args.presses, out)
    finally:
        rclpy.try_shutdown()
    companion_cpu(args.seconds, out)


if __name__ == '__main__':
    main()
