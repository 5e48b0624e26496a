"""Recording throughput of the default suite at 1x, 2x and 4x its rates.

For each rate scale: the simulated humanoid and the recorder run as separate processes,
one episode of ``--seconds`` is recorded, and the script prints recorded MB/s and msgs/s,
drops per topic, the recorder's CPU and peak RSS, and the recorded MB/s as a fraction of
this disk's sequential write bandwidth measured in the same run.

    python bench/record_throughput.py [--seconds 10] [--scales 1 2 4]
"""

from __future__ import annotations

import argparse
import os
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


def run_scale(node, scale: float, seconds: float, out: Path) -> dict:
    """Record one episode at ``scale`` times the default rates; return its figures."""
    session = f'scale_{scale:g}x'
    plan = session_plan(str(default_suite()), str(out), True,
                        recorder={'session': session},
                        simulator={'autoplay': True, 'rate_scale': float(scale)})
    processes = start_all(plan, out / session / 'logs')
    recorder = psutil.Process(processes[-1].process.pid)
    sim = psutil.Process(processes[0].process.pid)
    start = node.create_client(Trigger, '/recorder/start_episode')
    stop = node.create_client(Trigger, '/recorder/stop_episode')

    def call(client):
        future = client.call_async(Trigger.Request())
        spin_until(lambda: rclpy.spin_once(node, timeout_sec=0.05), future.done, 60, 'service')
        return future.result()

    try:
        spin_until(lambda: rclpy.spin_once(node, timeout_sec=0.05),
                   lambda: start.service_is_ready() and stop.service_is_ready(), 90, 'recorder')
        time.sleep(3.0)   # let discovery settle and the pre-roll fill before measuring
        cpu0 = recorder.cpu_times()
        sim0 = sim.cpu_times()
        call(start)
        t0 = time.monotonic()
        peak_rss = 0
        while time.monotonic() - t0 < seconds:
            peak_rss = max(peak_rss, recorder.memory_info().rss)
            rclpy.spin_once(node, timeout_sec=0.2)
        call(stop)
        wall = time.monotonic() - t0
        cpu1 = recorder.cpu_times()
        sim1 = sim.cpu_times()
    finally:
        stop_all(processes)
    meta = yaml.safe_load((out / session / 'episode_0001' / 'episode.yaml').read_text())
    megabytes = meta['bag']['bytes'] / 1e6
    duration = (meta['stop_ns'] - meta['start_ns'] + meta['preroll_ns']) / 1e9
    return {
        'scale': scale,
        'mb_s': megabytes / duration,
        'msgs_s': meta['messages'] / duration,
        'dropped': meta['dropped'],
        'drops': {t: v['dropped'] for t, v in meta['topics'].items() if v['dropped']},
        'recorder_cpu': (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall,
        'sim_cpu': (sim1.user + sim1.system - sim0.user - sim0.system) / wall,
        'peak_rss_mb': peak_rss / 1e6,
        'silent': meta['silent_streams'],
    }


def main() -> None:
    """Run every scale and print one line per run."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--scales', type=float, nargs='+', default=[1.0, 2.0, 4.0])
    args = parser.parse_args()
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
            r = run_scale(node, scale, args.seconds, out)
            print(f"{r['scale']:g}x: {r['mb_s']:.1f} MB/s ({r['mb_s'] / disk:.2f} of disk), "
                  f"{r['msgs_s']:.0f} msgs/s, dropped {r['dropped']} {r['drops'] or ''}, "
                  f"recorder CPU {100 * r['recorder_cpu']:.0f}%, sim CPU "
                  f"{100 * r['sim_cpu']:.0f}%, recorder peak RSS {r['peak_rss_mb']:.0f} MB"
                  + (f", silent: {r['silent']}" if r['silent'] else ''), flush=True)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
