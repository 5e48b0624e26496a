"""How much a recorder killed with SIGKILL loses: kill at a random moment, repair, measure.

Each trial runs on a DDS domain of its own (a killed participant leaves shared-memory
ports behind that confuse the next one on the same domain): replay publishers send the
default suite (bench/replay_publisher.py), a recorder starts an episode, and after a
random 2-10 s the recorder is killed with SIGKILL. ``repair`` then runs on the session and
the repaired episode is measured. Lost is the kill instant minus the newest header stamp
recovered; it includes transport latency (messages in flight were never received), so
it bounds from above what the recorder had received and lost. The script prints every
trial, the distribution, and the worst trial as a ratio to the 1 s limit.

    python bench/kill_recovery.py [--trials 20] [--scale 1] [--publishers 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor
from std_srvs.srv import Trigger

from record_throughput import launch_replays, scaled_suite  # same folder: bench/
from humanoid_data.bag.inspect import inspect_bag
from humanoid_data.cli.operator import spin_until
from humanoid_data.cli.plan import session_plan
from humanoid_data.cli.processes import start_all
from humanoid_data.dds import dds_environment
from humanoid_data.errors import HumanoidDataError
from humanoid_data.recording.repair import repair

LIMIT_S = 1.0
RENDER_S = 12.0       # replay publishers render their templates before publishing


def _start_episode(node, spin: Callable[[], None]) -> None:
    """Call the recorder's start service until one call is answered with success."""
    start = node.create_client(Trigger, '/recorder/start_episode')
    try:
        spin_until(spin, start.service_is_ready, 90, 'recorder')
        for _ in range(20):
            future = start.call_async(Trigger.Request())
            try:
                spin_until(spin, future.done, 3.0, 'start')
            except HumanoidDataError:
                start.remove_pending_request(future)
                continue
            if future.result().success:
                return
            raise HumanoidDataError(f'start refused: {future.result().message}')
        raise HumanoidDataError('the recorder never answered the start')
    finally:
        node.destroy_client(start)


SHM = Path('/dev/shm')


def _shared_memory() -> set[str]:
    """Fast DDS shared-memory files (segments and their lock files) now in /dev/shm."""
    return {p.name for p in SHM.glob('fastdds_*')} if SHM.is_dir() else set()


def _in_use() -> set[str]:
    """Names of /dev/shm files another live process has open or mapped.

    This process is left out: its participant is shut down by then, and a name it still
    maps can go (the memory is freed when it unmaps).
    """
    used = set()
    for proc in Path('/proc').iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            used |= {line.rsplit('/', 1)[-1].strip() for line in
                     (proc / 'maps').read_text().splitlines() if '/dev/shm/' in line}
            used |= {os.readlink(fd).rsplit('/', 1)[-1] for fd in (proc / 'fd').iterdir()
                     if os.readlink(fd).startswith('/dev/shm/')}
        except OSError:
            continue        # the process ended meanwhile, or is not ours to read
    return used


def _remove_orphaned_segments(before: set[str]) -> int:
    """Remove the segments a trial's killed processes left behind; return how many.

    A SIGKILLed participant cannot unlink its segment (the recorder's is about 281 MB of
    RAM-backed file); twenty trials would leave gigabytes, and a full /dev/shm stops DDS
    delivering at all. Only files made during the trial and held by no process go.
    """
    orphans = _shared_memory() - before - _in_use()
    for name in orphans:
        (SHM / name).unlink(missing_ok=True)
    return len(orphans)


def trial(args: argparse.Namespace, config: Path, out: Path, k: int, hold_s: float) -> dict:
    """One domain, one recorder, one episode, one SIGKILL after ``hold_s``."""
    name = f'trial_{k:02d}'
    shared_before = _shared_memory()
    os.environ['ROS_DOMAIN_ID'] = str(args.domain + k)
    begin = time.time() + RENDER_S
    replays = launch_replays(args.scale, args.publishers, begin, hold_s + 20.0,
                             out / f'{name}_replay')
    plan = session_plan(str(config), str(out), False, companions=False, teleop=False,
                        recorder={'session': name})
    (recorder,) = start_all(plan, out / name / 'logs')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=args.domain + k)
    node = rclpy.create_node('bench_driver', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def spin() -> None:
        executor.spin_once(timeout_sec=0.05)

    try:
        while time.time() < begin + 1.5:     # the publishers are sending
            spin()
        _start_episode(node, spin)
        end = time.monotonic() + hold_s
        while time.monotonic() < end:
            spin()
        killed_ns = time.time_ns()
        os.kill(recorder.process.pid, signal.SIGKILL)
        recorder.process.wait(30)
    finally:
        for replay in replays:
            replay.kill()
            replay.wait(30)
        if recorder.running():
            recorder.process.kill()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        _remove_orphaned_segments(shared_before)
    return _measure(out / name, killed_ns, hold_s)


def _measure(session: Path, killed_ns: int, hold_s: float) -> dict:
    t0 = time.monotonic()
    reports, failed = repair([session])
    repair_s = time.monotonic() - t0
    if failed or not reports:
        return {'name': session.name, 'failed': failed or 'nothing to repair'}
    folder = Path(reports[0].folder)
    stamped = [t for t in inspect_bag(folder).topics
               if t.last_stamp_ns is not None and t.stamp_source == 'header']
    newest = max(t.last_stamp_ns for t in stamped)
    worst = max((killed_ns - t.last_stamp_ns, t.topic) for t in stamped
                if t.rate_hz and t.rate_hz >= 20)
    meta = yaml.safe_load((folder / 'episode.yaml').read_text())
    return {'name': session.name, 'hold_s': hold_s, 'lost_s': (killed_ns - newest) / 1e9,
            'worst_stream': worst[1], 'worst_stream_s': worst[0] / 1e9,
            'messages': reports[0].messages, 'repair_s': repair_s,
            'lost_by_progress_s': meta['recovered']['seconds_lost']}


def main() -> int:
    """Run the trials and print the distribution."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--trials', type=int, default=20)
    parser.add_argument('--scale', type=float, default=1.0)
    parser.add_argument('--publishers', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--domain', type=int, default=120,
                        help='first DDS domain; trial k uses domain + k')
    args = parser.parse_args()
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    out = Path(tempfile.mkdtemp(prefix='humanoid_data_kill_'))
    os.environ.setdefault('ROS_LOG_DIR', str(out / 'ros_logs'))
    dds_environment()
    rng = random.Random(args.seed)
    config = scaled_suite(args.scale, out / 'suite.yaml')
    results = []
    for k in range(args.trials):
        r = trial(args, config, out, k, rng.uniform(2.0, 10.0))
        results.append(r)
        if 'failed' in r:
            print(f"{r['name']}: repair failed: {r['failed']}", flush=True)
            continue
        print(f"{r['name']}: killed after {r['hold_s']:.1f} s, lost {r['lost_s']:.3f} s "
              f"(slowest stream of >= 20 Hz: {r['worst_stream']} {r['worst_stream_s']:.3f} "
              f"s; by the last progress note {r['lost_by_progress_s']}), {r['messages']} "
              f"messages recovered, repair {r['repair_s']:.1f} s", flush=True)
    lost = sorted(r['lost_s'] for r in results if 'lost_s' in r)
    failures = sum('failed' in r for r in results)
    if lost:
        print(f'lost over {len(lost)} trials: min {lost[0]:.3f} s, median '
              f'{statistics.median(lost):.3f} s, p90 {lost[int(0.9 * (len(lost) - 1))]:.3f} '
              f's, max {lost[-1]:.3f} s; max / limit {lost[-1] / LIMIT_S:.2f} '
              f'(limit {LIMIT_S:g} s); {failures} repairs failed')
    return 0 if lost and lost[-1] <= LIMIT_S and not failures else 1


if __name__ == '__main__':
    raise SystemExit(main())
