"""Recording throughput of the default suite at 1x, 2x and 4x its rates.

For each rate scale: the recorder runs as its own process, fed by ``--publishers`` replay
processes (bench/replay_publisher.py: messages rendered once by the simulated humanoid,
re-stamped and published on each stream's schedule, so the load does not depend on how
fast the simulator renders). One episode of ``--seconds`` is recorded, and the script
prints recorded MB/s and msgs/s, recorded vs scheduled messages, drops and stamp gaps,
the CPU of the recorder and of the publishers, the recorder's peak RSS (its own memory
and, apart, the DDS shared-memory segments it maps), and the recorded
MB/s as a fraction of this disk's sequential write bandwidth measured in the same run.

Then, under the same load, a bare raw subscriber (bench/raw_subscriber.py: the same
executor and QoS, a callback that only counts) gives the receive floor, and the
recorder's CPU per message is printed as a ratio to it (target 1.3).

    python bench/record_throughput.py [--seconds 10] [--scales 1 2 4] [--publishers 2]
        [--fsync never|close|flush] [--compression none|lz4|zstd] [--no-floor]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import rclpy
import yaml
from std_srvs.srv import Trigger

from humanoid_data.cli.operator import spin_until
from humanoid_data.cli.plan import session_plan
from humanoid_data.cli.processes import start_all, stop_all
from humanoid_data.dds import dds_environment
from humanoid_data.resources import default_suite


def disk_write_mb_s(folder: Path, megabytes: int = 512) -> float:
    """Sequential write bandwidth of ``folder``'s disk, fsync included."""
    block = os.urandom(1 << 20)
    path = folder / 'disk_probe.bin'
    start = time.perf_counter()
    with path.open('wb') as f:
        for _ in range(megabytes):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    elapsed = time.perf_counter() - start
    path.unlink()
    return megabytes / elapsed


def scaled_suite(scale: float, path: Path) -> Path:
    """Write the default suite with every rate times ``scale`` to ``path``.

    The recorder is told the scaled rates, so its stamp-gap counts use the right periods.
    """
    suite = yaml.safe_load(default_suite().read_text())
    for stream in suite['streams']:
        if 'rate_hz' in stream:        # latched streams (robot description) have none
            stream['rate_hz'] *= scale
    path.write_text(yaml.safe_dump(suite))
    return path


def launch_replays(scale: float, publishers: int, begin: float, seconds: float,
                   reports: Path) -> list[subprocess.Popen]:
    """Start the replay publishers, each with a share of the streams, from ``begin``."""
    return [subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name('replay_publisher.py')),
         '--scale', str(scale), '--part', str(i), '--parts', str(publishers),
         '--start-at', str(begin), '--seconds', str(seconds),
         '--report', str(reports.with_name(f'{reports.name}_{i}.json'))],
        env=dds_environment(dict(os.environ))) for i in range(publishers)]


def run_scale(node, scale: float, seconds: float, publishers: int, out: Path,
              recorder_parameters: dict | None = None) -> dict:
    """Record one episode at ``scale`` times the default rates; return its figures."""
    session = f'scale_{scale:g}x'
    config = scaled_suite(scale, out / f'{session}.yaml')
    plan = session_plan(str(config), str(out), False, companions=False, teleop=False,
                        recorder={'session': session, **(recorder_parameters or {})})
    processes = start_all(plan, out / session / 'logs')
    recorder = psutil.Process(processes[-1].process.pid)
    start = node.create_client(Trigger, '/recorder/start_episode')
    stop = node.create_client(Trigger, '/recorder/stop_episode')

    def call(client):
        future = client.call_async(Trigger.Request())
        spin_until(lambda: rclpy.spin_once(node, timeout_sec=0.05), future.done, 60, 'service')
        return future.result()

    def spin_to(wall_s: float) -> None:
        while time.time() < wall_s:
            rclpy.spin_once(node, timeout_sec=min(0.2, max(0.0, wall_s - time.time())))

    replays = []
    try:
        spin_until(lambda: rclpy.spin_once(node, timeout_sec=0.05),
                   lambda: start.service_is_ready() and stop.service_is_ready(), 90, 'recorder')
        # Publishing begins at a common instant once every publisher has rendered its
        # templates and matched the recorder; the episode covers the middle of the run.
        begin = time.time() + 15.0
        replays = launch_replays(scale, publishers, begin, seconds + 3.0,
                                 out / f'{session}_replay')
        spin_to(begin + 1.5)
        cpu0 = recorder.cpu_times()
        pub0 = [psutil.Process(r.pid).cpu_times() for r in replays]
        call(start)
        t0 = time.monotonic()
        rss: list[tuple[float, int]] = []      # (seconds into the episode, bytes)
        shared = 0
        while time.monotonic() - t0 < seconds:
            private, mapped = private_and_shared(recorder.pid)
            rss.append((time.monotonic() - t0, private))
            shared = max(shared, mapped)
            rclpy.spin_once(node, timeout_sec=0.2)
        call(stop)
        wall = time.monotonic() - t0
        cpu1 = recorder.cpu_times()
        pub1 = [psutil.Process(r.pid).cpu_times() for r in replays]
        for replay in replays:
            replay.wait(120)
    finally:
        for replay in replays:
            if replay.poll() is None:
                replay.kill()
        stop_all(processes)
    meta = yaml.safe_load((out / session / 'episode_0001' / 'episode.yaml').read_text())
    skipped = 0
    for i in range(publishers):
        report = json.loads((out / f'{session}_replay_{i}.json').read_text())
        skipped += sum(report['skipped'].values()) + sum(report['failed'].values())
    megabytes = meta['bag']['bytes'] / 1e6
    duration = (meta['stop_ns'] - meta['start_ns'] + meta['preroll_ns']) / 1e9
    expected = sum(v.get('expected', 0) for v in meta['topics'].values())
    return {
        'scale': scale,
        'mb_s': megabytes / duration,
        'msgs_s': meta['messages'] / duration,
        'offered': expected,
        'messages': meta['messages'],
        'dropped': meta['dropped'],
        'missing': meta['missing_by_stamps'],
        'skipped_by_publishers': skipped,
        'drops': {t: v['dropped'] for t, v in meta['topics'].items() if v['dropped']},
        'recorder_cpu': (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall,
        'publisher_cpu': sum(b.user + b.system - a.user - a.system
                             for a, b in zip(pub0, pub1)) / wall,
        'peak_rss_mb': max(r for _, r in rss) / 1e6,
        'peak_shared_mb': shared / 1e6,
        # Growth over the episode: the peak of its last fifth against its first fifth.
        'rss_first_fifth_mb': max(r for t, r in rss if t <= seconds / 5) / 1e6,
        'rss_last_fifth_mb': max(r for t, r in rss if t >= seconds * 4 / 5) / 1e6,
        'silent': meta['silent_streams'],
    }


def private_and_shared(pid: int) -> tuple[int, int]:
    """(private resident bytes, resident shared-memory bytes) of a process (Linux).

    The shared part is the Fast DDS shared-memory segments the process maps (its own
    256 MiB segment, config/fastdds_profile.xml, and the pages of its publishers' it has
    read): transport buffers shared with other processes, not the recorder's memory.
    """
    fields = {}
    with open(f'/proc/{pid}/status') as status:
        for line in status:
            key, _, value = line.partition(':')
            if key in ('RssAnon', 'RssFile', 'RssShmem'):
                fields[key] = int(value.split()[0]) * 1024
    return fields['RssAnon'] + fields['RssFile'], fields['RssShmem']


def run_floor(node, scale: float, seconds: float, publishers: int, out: Path) -> dict:
    """The receive floor under the same load: a raw subscriber that only counts."""
    name = f'floor_{scale:g}x'
    config = scaled_suite(scale, out / f'{name}.yaml')
    report = out / f'{name}.json'
    begin = time.time() + 15.0
    subscriber = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name('raw_subscriber.py')), '--config',
         str(config), '--seconds', str(seconds + 30.0), '--report', str(report)],
        env=dds_environment(dict(os.environ)))
    replays = launch_replays(scale, publishers, begin, seconds + 3.0, out / f'{name}_replay')
    try:
        process = psutil.Process(subscriber.pid)
        while time.time() < begin - 0.5:
            rclpy.spin_once(node, timeout_sec=0.2)
        cpu0 = process.cpu_times()
        for replay in replays:
            replay.wait(120)
        cpu1 = process.cpu_times()
    finally:
        for replay in replays:
            if replay.poll() is None:
                replay.kill()
        subscriber.terminate()
        subscriber.wait(60)
    counts = json.loads(report.read_text()) if report.exists() else {}
    messages = sum(counts.values())
    cpu_s = cpu1.user + cpu1.system - cpu0.user - cpu0.system
    return {'messages': messages, 'cpu_s': cpu_s,
            'us_per_msg': 1e6 * cpu_s / messages if messages else float('nan')}


def main() -> None:
    """Run every scale and print one line per run."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--scales', type=float, nargs='+', default=[1.0, 2.0, 4.0])
    parser.add_argument('--publishers', type=int, default=2,
                        help='replay processes sharing the streams')
    parser.add_argument('--fsync', choices=('never', 'close', 'flush'), default='close',
                        help="the recorder's fsync policy")
    parser.add_argument('--compression', choices=('none', 'lz4', 'zstd'), default='lz4',
                        help="the recorder's chunk compression")
    parser.add_argument('--no-floor', action='store_true',
                        help='skip the raw-subscriber receive floor')
    parser.add_argument('--preroll', type=float, default=None, metavar='S',
                        help="the recorder's pre-roll (default: its own, 1 s), to see "
                             "what its ring costs in memory")
    args = parser.parse_args()
    recorder = {'fsync': args.fsync, 'compression': args.compression}
    if args.preroll is not None:
        recorder['preroll_s'] = args.preroll
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    out = Path(tempfile.mkdtemp(prefix='humanoid_data_bench_'))
    os.environ.setdefault('ROS_LOG_DIR', str(out / 'ros_logs'))
    disk = disk_write_mb_s(out)
    print(f'disk sequential write: {disk:.0f} MB/s ({out})')
    dds_environment()
    rclpy.init()
    node = rclpy.create_node('bench_driver')
    try:
        for scale in args.scales:
            r = run_scale(node, scale, args.seconds, args.publishers, out, recorder)
            print(f"{r['scale']:g}x: {r['mb_s']:.1f} MB/s ({r['mb_s'] / disk:.2f} of disk), "
                  f"{r['msgs_s']:.0f} msgs/s, recorded {r['messages']} of "
                  f"{r['offered']:.0f} scheduled ({r['messages'] / r['offered']:.3f}), "
                  f"{r['skipped_by_publishers']} not sent by the publishers (late or refused), "
                  f"dropped {r['dropped']} {r['drops'] or ''}, missing by stamps "
                  f"{r['missing']}, recorder CPU {100 * r['recorder_cpu']:.0f}%, publishers "
                  f"CPU {100 * r['publisher_cpu']:.0f}%, recorder peak RSS without "
                  f"shared memory {r['peak_rss_mb']:.0f} MB (first fifth "
                  f"{r['rss_first_fifth_mb']:.0f}, last fifth {r['rss_last_fifth_mb']:.0f}; "
                  f"target under 300 at 1x, flat) plus {r['peak_shared_mb']:.0f} MB of DDS "
                  "shared-memory segments"
                  + (f", silent: {r['silent']}" if r['silent'] else ''), flush=True)
            if args.no_floor:
                continue
            floor = run_floor(node, scale, args.seconds, args.publishers, out)
            per_msg = 1e6 * r['recorder_cpu'] / r['msgs_s']
            print(f"{r['scale']:g}x receive floor (raw subscriber, same load): "
                  f"{floor['us_per_msg']:.0f} us/msg over {floor['messages']} messages; "
                  f"recorder {per_msg:.0f} us/msg = {per_msg / floor['us_per_msg']:.2f} x the "
                  f"floor (target 1.3: {per_msg / floor['us_per_msg'] / 1.3:.2f} of it)",
                  flush=True)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        shutil.rmtree(out, ignore_errors=True)      # the recorded sessions: gigabytes


if __name__ == '__main__':
    main()
