"""Live companions: contact detection vs ground truth, marker latency, CPU per node.

1. Contact detection (no ROS): the simulated humanoid's wrench and tactile streams at
   several noise levels through the same detectors contact_monitor runs (cycles start
   at random sub-sample phases); precision and recall with onsets matched within
   ``--tolerance-ms``, onset errors of the force-torque channels (ms) and of the tactile
   pads (in sample periods), offset errors, the detection latency (true onset to the
   sample that confirmed it, i.e. when the event goes out) and the detector's cost per
   sample; then each figure against its target, as a ratio.
2. Marker latency over DDS: pedal presses on /joy (header stamped at the press) through
   marker_teleop into the recorder's bags; latency = the event's log time in the bag
   minus the press stamp, p50 and p99.
3. CPU of every node of a default-suite session (simulated humanoid, recorder,
   marker_teleop, and the monitors where they run), each as a share of one core and as a
   ratio to the recorder, three times in the same run: with sync_monitor and
   contact_monitor receiving their streams again, with only contact_monitor apart, and
   with the recorder grading sync and detecting contacts from what it receives (the
   default: one receive per message); the live stack (all but the simulator) against
   its target of one core, and the topologies against each other.

    python bench/companions.py [--cycles 10] [--noise 1 2 3] [--tolerance-ms 10]
        [--detection-only | --cpu-only] [--presses 40] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from humanoid_data.core.config import Modality, SuiteConfig, load_suite
from humanoid_data.core.contact import channel_of
from humanoid_data.core.contact_config import ContactConfig, load_contact_config
from humanoid_data.core.events import Source
from humanoid_data.core.intervals import (
    ContactScore, Interval, intervals_from_events, score_contacts)
from humanoid_data.monitors.contact import ContactMonitor
from humanoid_data.resources import default_contact_config, default_suite
from humanoid_data.sim.humanoid import SimulatedHumanoid
from humanoid_data.sim.scenario import CYCLE_S

MS = 1_000_000


@dataclass(frozen=True)
class Detection:
    """Contact detection of one noise level against the simulator's truth."""

    noise: float
    score: ContactScore          # matched within the tolerance: precision and recall
    wide: ContactScore           # matched within 100 ms: errors of late detections too
    ft_onsets_ms: tuple[float, ...]
    tactile_onsets_periods: tuple[float, ...]   # onset error / the pad's sample period
    latency_ms: tuple[float, ...]
    cost_us: float


def simulate(suite: SuiteConfig, noise: float, cycles: int,
             seed: int) -> tuple[list[tuple[str, int, bytes]], list[Interval]]:
    """Messages of ``cycles`` pick-and-place cycles and the true contact intervals.

    Each cycle starts at a random sub-millisecond offset, so the true touches fall at
    every phase of the sensors' sample grids.
    """
    rng = np.random.default_rng(seed)
    t0 = 10 ** 12
    sim = SimulatedHumanoid(suite, start_ns=t0, noise=noise, seed=seed)
    period = int((CYCLE_S + 1.0) * 1e9)
    for k in range(cycles):
        sim.play_cycle(t0 + 500 * MS + k * period + int(rng.integers(0, 5 * MS)))
    messages: list[tuple[str, int, bytes]] = []
    now = t0
    while now < t0 + 500 * MS + (cycles + 0.1) * period:
        now += MS
        messages.extend((m.topic, m.stamp_ns, m.data) for m in sim.step(now))
    _, truth = sim.scenario.truth()
    return messages, [Interval(*t) for t in truth]


def detect(suite: SuiteConfig, config: ContactConfig, noise: float, cycles: int,
           tolerance_ns: int) -> Detection:
    """Run the detectors contact_monitor runs over a simulated session and score them."""
    messages, truth = simulate(suite, noise, cycles, seed=11)
    monitor = ContactMonitor(suite, config)
    changes, emitted = [], {}
    start = time.perf_counter()
    for topic, stamp, raw in messages:
        for change in monitor.on_message(topic, raw):
            changes.append(change)
            emitted[(change.channel, change.stamp_ns)] = stamp
    cost_us = (time.perf_counter() - start) / len(messages) * 1e6
    changes += monitor.close()
    found = intervals_from_events(c.to_event() for c in changes)
    period_ms = {channel_of(s): 1e3 / s.rate_hz for s in suite.streams}
    ft, tactile, latency = [], [], []
    for true in truth:
        near = [i for i in found if i.channel == true.channel
                and abs(i.begin_ns - true.begin_ns) < 100 * MS]
        if not near:
            continue
        best = min(near, key=lambda i: abs(i.begin_ns - true.begin_ns))
        error_ms = (best.begin_ns - true.begin_ns) / 1e6
        if true.channel.startswith('wrist/'):
            ft.append(error_ms)
        else:
            tactile.append(error_ms / period_ms[true.channel])
        latency.append((emitted[(true.channel, best.begin_ns)] - true.begin_ns) / 1e6)
    return Detection(noise, score_contacts(found, truth, tolerance_ns),
                     score_contacts(found, truth), tuple(ft), tuple(tactile),
                     tuple(latency), cost_us)


def _pct(values: tuple[float, ...], q: float) -> float:
    return float(np.percentile(np.abs(values), q)) if values else float('nan')


def print_detection(d: Detection, tolerance_ms: float) -> None:
    """One row of figures for a noise level."""
    s = d.wide.summary()
    print(f'{d.noise:>5g}x {d.score.true_count:>5} {d.score.detected_count:>5} '
          f'{d.score.precision:>6.3f} {d.score.recall:>6.3f} '
          f'{_pct(d.ft_onsets_ms, 50):>7.2f}/{_pct(d.ft_onsets_ms, 99):<6.2f} '
          f'{_pct(d.tactile_onsets_periods, 50):>6.2f}/'
          f'{max(np.abs(d.tactile_onsets_periods), default=np.nan):<5.2f} '
          f'{s["offset_p50_ms"]:>6.1f}/{s["offset_p99_ms"]:<6.1f} '
          f'{_pct(d.latency_ms, 50):>6.1f}/{_pct(d.latency_ms, 99):<6.1f} '
          f'{d.cost_us:>6.1f}', flush=True)


def print_targets(d: Detection, default_noise: bool) -> None:
    """Each figure against its target: value, target, ratio (value / target).

    The onset targets hold at the default noise; above it they are printed for
    information only (``info``), precision and recall then against 0.95.
    """
    floor = 0.99 if default_noise else 0.95
    rows = [('precision', d.score.precision, '>=', floor, True),
            ('recall', d.score.recall, '>=', floor, True),
            ('FT onset p50 ms', _pct(d.ft_onsets_ms, 50), '<=', 3.0, default_noise),
            ('FT onset p99 ms', _pct(d.ft_onsets_ms, 99), '<=', 10.0, default_noise),
            ('tactile onset max periods',
             max(np.abs(d.tactile_onsets_periods), default=np.nan), '<=', 1.0, default_noise)]
    for name, value, op, target, binding in rows:
        ok = value >= target if op == '>=' else value <= target
        verdict = ('ok' if ok else 'MISS') if binding else 'info'
        print(f'  {d.noise:g}x {name:<26} {value:8.3f} {op} {target:<5g} '
              f'ratio {value / target:6.3f}  {verdict}')


def contact_accuracy(cycles: int, noises: list[float], tolerance_ms: float = 10.0) -> None:
    """Print detection figures per noise level, then each against its target."""
    suite = load_suite(default_suite())
    suite = replace(suite, streams=tuple(
        s for s in suite.streams if s.modality in (Modality.WRENCH, Modality.TACTILE)))
    config = load_contact_config(default_contact_config())
    print('contact detection vs ground truth '
          f'({cycles} pick-and-place cycles, {len(suite.streams)} channels; precision and '
          f'recall match onsets within {tolerance_ms:g} ms, errors within 100 ms)')
    print(f'{"noise":>6} {"true":>5} {"found":>5} {"prec":>6} {"recall":>6} '
          f'{"FT onset ms":>14} {"tact. periods":>12} {"offset ms":>13} '
          f'{"latency ms":>13} {"us/smp":>6}')
    print(f'{"":>32}{"p50/p99":>14} {"p50/max":>12} {"p50/p99":>13} {"p50/p99":>13}')
    results = [detect(suite, config, noise, cycles, int(tolerance_ms * MS))
               for noise in noises]
    for d in results:
        print_detection(d, tolerance_ms)
    print('targets (ratio = value / target): at the default noise FT onset p50 <= 3 ms, '
          'p99 <= 10 ms, tactile onset within one sample period, precision and recall '
          '>= 0.99; above it precision and recall >= 0.95')
    for d in results:
        print_targets(d, d.noise <= 1.0)


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


def _session_cpu(seconds: float, out: Path, name: str, separate_sync: bool,
                 separate_contacts: bool) -> dict[str, float]:
    """Share of a core per node of one default-suite session."""
    import psutil

    from humanoid_data.cli.plan import session_plan
    from humanoid_data.cli.processes import start_all, stop_all

    plan = session_plan(str(default_suite()), str(out), True, sync_monitor=separate_sync,
                        contact_monitor=separate_contacts,
                        recorder={'session': name, 'live_sync': not separate_sync},
                        simulator={'autoplay': True})
    processes = start_all(plan, out / name / 'logs')
    try:
        time.sleep(8.0)   # start-up and discovery
        procs = {p.launch.name: psutil.Process(p.process.pid) for p in processes}
        before = {n: p.cpu_times() for n, p in procs.items()}
        time.sleep(seconds)
        after = {n: p.cpu_times() for n, p in procs.items()}
    finally:
        stop_all(processes)
    return {n: (after[n].user + after[n].system - before[n].user - before[n].system)
            / seconds for n in procs}


def companion_cpu(seconds: float, out: Path) -> None:
    """Print CPU per node of a default-suite session in three topologies, same run.

    With sync_monitor and contact_monitor each receiving their streams again (the
    recorder's own grading and detection off); with the recorder grading sync but
    contact_monitor detecting contacts; and with the recorder doing both from what it
    receives (the default: one receive per message). The live stack (every node but the
    simulator) is compared with its target of one core, and the topologies with each
    other.
    """
    import psutil

    totals = {}
    for name, separate_sync, separate_contacts in (
            ('separate_monitors', True, True), ('contact_monitor', False, True),
            ('one_receive', False, False)):
        share = _session_cpu(seconds, out, name, separate_sync, separate_contacts)
        live = sum(v for n, v in share.items() if n != 'sim_robot')
        totals[name] = live
        print(f'CPU per node over {seconds:g} s of the default suite at 1x '
              f'({psutil.cpu_count()} cores), {name}: live stack {100 * live:.0f} % of a '
              f'core ({live:.2f} x the 1.0-core target); all nodes '
              f'{100 * sum(share.values()):.0f} %', flush=True)
        for node, value in share.items():
            print(f'  {node:<16} {100 * value:5.0f} % of a core   '
                  f'{value / share["recorder"]:.2f} x recorder', flush=True)
    print(f'live stack, one receive / separate monitors: '
          f'{totals["one_receive"] / totals["separate_monitors"]:.2f}; one receive / '
          f'contact_monitor apart: {totals["one_receive"] / totals["contact_monitor"]:.2f}')


def main() -> None:
    """Run the three parts."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cycles', type=int, default=10)
    parser.add_argument('--noise', type=float, nargs='+', default=[1.0, 2.0, 3.0])
    parser.add_argument('--presses', type=int, default=40)
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--tolerance-ms', type=float, default=10.0,
                        help='onset matching tolerance for precision and recall')
    parser.add_argument('--detection-only', action='store_true',
                        help='run only the contact detection part (no DDS, no nodes)')
    parser.add_argument('--cpu-only', action='store_true',
                        help='run only the CPU-per-node part')
    args = parser.parse_args()
    if not args.cpu_only:
        contact_accuracy(args.cycles, args.noise, args.tolerance_ms)
    if args.detection_only:
        return
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    out = Path(tempfile.mkdtemp(prefix='humanoid_data_bench_'))
    os.environ.setdefault('ROS_LOG_DIR', str(out / 'ros_logs'))
    try:
        if not args.cpu_only:
            import rclpy

            from humanoid_data.dds import dds_environment
            dds_environment()
            rclpy.init()
            try:
                marker_latency(args.presses, out)
            finally:
                rclpy.try_shutdown()
        companion_cpu(args.seconds, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)     # the sessions' bags: gigabytes


if __name__ == '__main__':
    main()
