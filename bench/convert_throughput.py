"""Conversion throughput: a recorded session into LeRobot v3 and HDF5.

For each format the session is converted from scratch (staging removed) with ``-j``
workers; the script prints episode seconds converted per wall second, MB/s of bag read,
the peak RSS of the converting processes, and, as the ratio's base, the raw sequential
read speed of the same bag files measured in the same run (cache dropped where allowed,
else read twice and the second read reported as cached).

    python bench/convert_throughput.py SESSION [--jobs 2]

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

from humanoid_data.dataset.staging import SUMMARY
from sessions import finished_episodes, session_or_demo   # bench/sessions.py


def raw_read_mb_s(files: list[Path]) -> float:
    """Sequential read speed of the bag files (MB/s)."""
    total = 0
    start = time.perf_counter()
    for path in files:
        with path.open('rb') as f:
            while chunk := f.read(1 << 22):
                total += len(chunk)
    return total / 1e6 / (time.perf_counter() - start)


def convert_measured(session: Path, out: Path, fmt: str, jobs: int) -> tuple[float, float]:
    """Run ``humanoid-data convert``; return (peak RSS MB of any of its processes, seconds)."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, '-m', 'humanoid_data', 'convert', str(session),
                              '--out', str(out), '--format', fmt, '-j', str(jobs)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=dict(os.environ, SVT_LOG='0'))
    peak = 0.0
    tree = psutil.Process(child.pid)
    while child.poll() is None:
        try:
            for proc in [tree] + tree.children(recursive=True):
                peak = max(peak, proc.memory_info().rss / 1e6)
        except psutil.Error:
            pass   # a worker ended between listing and reading
        time.sleep(0.1)
    if child.returncode:
        raise SystemExit(f'convert of {session} to {fmt} failed with status '
                         f'{child.returncode}')
    return peak, time.perf_counter() - start


def main() -> None:
    """Convert to both formats and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('session', nargs='?', default='')
    parser.add_argument('--jobs', type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix='humanoid_data_convert_'))
    session = session_or_demo(args.session, work)
    episodes, seconds = finished_episodes(session)
    bags = [f for p in episodes for f in p.glob('*.mcap')]
    megabytes = sum(f.stat().st_size for f in bags) / 1e6
    raw = raw_read_mb_s(bags)
    print(f'session {session}: {len(episodes)} episodes, {seconds:.1f} s, '
          f'{megabytes:.0f} MB of bags; raw sequential read {raw:.0f} MB/s (page cache '
          'warm after recording)')
    for fmt in ('lerobot', 'hdf5'):
        out = work / f'out_{fmt}'
        shutil.rmtree(out, ignore_errors=True)
        peak, wall = convert_measured(session, out, fmt, args.jobs)
        rate = megabytes / wall
        print(f'{fmt:>8}: {wall:.1f} s wall, {seconds / wall:.2f} episode-s per s, '
              f'{rate:.1f} MB/s of bag ({rate / raw:.3f} of raw read), peak RSS of one '
              f'converting process {peak:.0f} MB, -j {args.jobs}', flush=True)
        print_stages(out / '.staging' / fmt, wall * args.jobs)
    shutil.rmtree(work, ignore_errors=True)     # the outputs (and a recorded session)


def print_stages(staging: Path, worker_s: float) -> None:
    """Print seconds per stage summed over the staged episodes.

    Each share is of the workers' time (wall x jobs); the rest ('other') is process
    start-up, packing and idle workers.
    """
    totals: dict[str, float] = {}
    for summary in staging.glob(f'*/{SUMMARY}'):
        for stage, seconds in json.loads(summary.read_text()).get('timings', {}).items():
            totals[stage] = totals.get(stage, 0.0) + seconds
    rest = worker_s - sum(totals.values())
    parts = sorted(totals.items(), key=lambda item: -item[1]) + [('other', rest)]
    print('          stages (s, share of wall x jobs): ' + ', '.join(
        f'{stage} {seconds:.1f} ({seconds / worker_s:.0%})' for stage, seconds in parts))


if __name__ == '__main__':
    main()
