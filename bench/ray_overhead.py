"""What one task per episode on Ray costs against ``-j``: a session converted both ways.

The session is converted from scratch with ``-j JOBS`` local processes, then with
``--ray`` on a local cluster of JOBS CPUs that the script starts first (its start-up
timed on its own), then with ``--ray`` alone (the run starts and stops its own local
cluster, start-up included). For each: wall time, episode seconds converted per wall
second, the ratio to ``-j`` (the overhead), and for the Ray runs the peak RSS of one Ray
worker (one episode's task). The outputs are compared file by file (but the stage
timings) and removed.

    python bench/ray_overhead.py [SESSION] [--format lerobot] [--jobs 2]

Without SESSION, a 3-episode demo session is recorded first (``humanoid-data demo``).
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

from humanoid_data.dataset.ray_runner import TASK_NAME
from sessions import finished_episodes, session_or_demo   # bench/sessions.py


def convert(session: Path, out: Path, fmt: str, *extra: str) -> tuple[float, float]:
    """Run ``humanoid-data convert``; return (seconds, peak RSS MB of one Ray worker).

    Ray workers are found among this script's descendants (the cluster it started) and
    the converting process's (the cluster that one starts); 0 when there are none.
    """
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, '-m', 'humanoid_data', 'convert', str(session),
                              '--out', str(out), '--format', fmt, *extra],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=dict(os.environ, SVT_LOG='0'))
    peak = 0.0
    me = psutil.Process()
    while child.poll() is None:
        try:
            for proc in me.children(recursive=True):
                if proc.name().startswith(f'ray::{TASK_NAME} '):
                    peak = max(peak, proc.memory_info().rss / 1e6)
        except psutil.Error:
            pass    # a worker ended between listing and reading
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    if child.returncode:
        raise SystemExit(f'convert {" ".join(extra)} failed with status {child.returncode}:'
                         f'\n{child.stderr.read().decode() if child.stderr else ""}')
    return seconds, peak


def same_dataset(a: Path, b: Path) -> bool:
    """The two outputs hold the same files with the same bytes, but the stage timings."""
    files = sorted(p.relative_to(a) for p in a.rglob('*')
                   if p.is_file() and '.staging' not in p.parts)
    if files != sorted(p.relative_to(b) for p in b.rglob('*')
                       if p.is_file() and '.staging' not in p.parts):
        return False
    for rel in files:
        mine, theirs = (a / rel).read_bytes(), (b / rel).read_bytes()
        if mine == theirs:
            continue
        if rel.name == 'episode.json':
            x, y = json.loads(mine), json.loads(theirs)
            x.pop('timings', None)
            y.pop('timings', None)
            if x == y:
                continue
        if rel.name == 'humanoid_data_checksums.json' or rel.suffix == '.hdf5':
            continue    # covers the episode.json files / holds their timings
        print(f'  differs: {rel}')
        return False
    return True


def main() -> None:
    """Convert three ways and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('session', nargs='?', default='')
    parser.add_argument('--format', default='lerobot', choices=('lerobot', 'hdf5'))
    parser.add_argument('--jobs', type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix='humanoid_data_ray_'))
    session = session_or_demo(args.session, work)
    episodes, seconds = finished_episodes(session)
    print(f'session {session}: {len(episodes)} episodes, {seconds:.1f} s; {args.format}, '
          f'{args.jobs} CPUs, {os.cpu_count()} cores', flush=True)
    try:
        base, _ = convert(session, work / 'j', args.format, '-j', str(args.jobs))
        print(f'  -j {args.jobs}: {base:.1f} s wall, {seconds / base:.2f} episode-s per s',
              flush=True)
        from ray.cluster_utils import Cluster
        start = time.perf_counter()
        cluster = Cluster(initialize_head=True, head_node_args={
            'num_cpus': args.jobs, 'include_dashboard': False})
        cluster.wait_for_nodes()
        print(f'  local Ray cluster of {args.jobs} CPUs started in '
              f'{time.perf_counter() - start:.1f} s', flush=True)
        address = cluster.address
        try:
            wall, peak = convert(session, work / 'ray', args.format, '--ray', address)
        finally:
            cluster.shutdown()
        print(f'  --ray {address}: {wall:.1f} s wall, {seconds / wall:.2f} '
              f'episode-s per s, ray / -j {wall / base:.2f}, peak RSS of one Ray worker '
              f'{peak:.0f} MB; same dataset as -j: '
              f'{"yes" if same_dataset(work / "ray", work / "j") else "NO"}', flush=True)
        own, peak = convert(session, work / 'ray_own', args.format, '--ray')
        print(f'  --ray (its own local cluster of all {os.cpu_count()} cores, start-up '
              f'included): {own:.1f} s wall, '
              f'{seconds / own:.2f} episode-s per s, ray / -j {own / base:.2f}, peak RSS of '
              f'one Ray worker {peak:.0f} MB', flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)     # the outputs (and a recorded session)


if __name__ == '__main__':
    main()
