"""Merge throughput: two shards of a session merged, against converting the session at once.

The session's episodes are converted as two shards (the first half, the rest) and, from
scratch, all at once; the shards are then merged. The script prints the MB of video
joined per second of merge, the merge's wall time against the single conversion's (the
ratio), whether ``validate`` passes on the result and whether its videos are byte for
byte those of the single conversion. Outputs are removed at the end.

    python bench/merge_throughput.py SESSION [--jobs 2] [--format lerobot]

Without SESSION, a 3-episode demo session is recorded first (``humanoid-data demo``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from humanoid_data.dataset.batch import convert
from humanoid_data.dataset.merge import merge
from humanoid_data.dataset.validate import validate
from humanoid_data.resources import (
    default_contact_config, default_dataset_config, default_taxonomy)
from sessions import finished_episodes, session_or_demo   # bench/sessions.py


def convert_timed(sources: list[Path], out: Path, fmt: str, jobs: int) -> float:
    """Convert ``sources`` into ``out`` from scratch; return the wall seconds."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    result = convert(sources, out, fmt, default_dataset_config(), default_taxonomy(),
                     default_contact_config(), jobs=jobs)
    if result.failed or not result.converted:
        raise SystemExit(f'convert of {len(sources)} episodes failed: {result.failed}')
    return time.perf_counter() - start


def same_videos(a: Path, b: Path) -> bool:
    """Whether two LeRobot datasets hold the same video files, byte for byte."""
    names = sorted(p.relative_to(a) for p in (a / 'videos').rglob('*.mp4'))
    return names == sorted(p.relative_to(b) for p in (b / 'videos').rglob('*.mp4')) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names)


def main() -> None:
    """Convert the shards and the whole session, merge, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('session', nargs='?', default='')
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--format', choices=('lerobot', 'hdf5'), default='lerobot')
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix='humanoid_data_merge_'))
    try:
        session = session_or_demo(args.session, work)
        episodes, _ = finished_episodes(session)
        if len(episodes) < 2:
            raise SystemExit(f'{session}: {len(episodes)} episodes; a merge needs two shards')
        half = (len(episodes) + 1) // 2
        shards = [work / 'shard_a', work / 'shard_b']
        shard_s = [convert_timed(part, out, args.format, args.jobs)
                   for part, out in zip((episodes[:half], episodes[half:]), shards)]
        whole_s = convert_timed(episodes, work / 'whole', args.format, args.jobs)
        start = time.perf_counter()
        result = merge(shards, work / 'merged')
        merge_s = time.perf_counter() - start
        problems = validate(work / 'merged')
        print(f'session {session}: {len(episodes)} episodes ({half} + {len(episodes) - half} '
              f'in two shards, converted in {shard_s[0]:.1f} s + {shard_s[1]:.1f} s), '
              f'{result.frames} frames, {result.tasks} tasks, -j {args.jobs}')
        print(f'convert at once: {whole_s:.1f} s wall; merge of the shards: {merge_s:.2f} s '
              f'wall ({merge_s / whole_s:.3f} of converting at once)')
        if args.format == 'lerobot':
            megabytes = result.video_bytes / 1e6
            print(f'video joined: {megabytes:.1f} MB, {megabytes / merge_s:.1f} MB/s of merge '
                  f'wall time ({result.video_seconds:.2f} s splitting and joining them: '
                  f'{megabytes / result.video_seconds:.1f} MB/s); byte for byte the single '
                  'conversion\'s: '
                  f'{"yes" if same_videos(work / "merged", work / "whole") else "no"}')
        else:
            megabytes = result.output.stat().st_size / 1e6
            print(f'HDF5 written: {megabytes:.1f} MB, {megabytes / merge_s:.1f} MB/s')
        print('validate on the merged dataset: ' + (
            'no problems' if not problems else f'{len(problems)} problems, first: '
                                               f'{problems[0]}'))
    finally:
        shutil.rmtree(work, ignore_errors=True)     # the outputs (and a recorded session)


if __name__ == '__main__':
    main()
