"""Peak memory of converting a long episode, against a short one of the same suite.

Writes two synthetic episodes straight into bags (the default suite with every camera
shrunk to keep the files small, messages rendered once by the simulated humanoid and
re-stamped on each stream's schedule), converts each to LeRobot with one worker, and
prints the peak RSS of the converting processes and the ratio long / short. A converter
that held the episode in memory would grow with its length; this one keeps the stamps
(16 bytes a message), the frames' own values and one image at a time, with pass 1's
values in scratch files.

    python bench/convert_memory.py [--minutes 10] [--short-minutes 1]
"""

from __future__ import annotations

import argparse
import heapq
import tempfile
from pathlib import Path

import yaml

from convert_throughput import convert_measured  # same folder: bench/
from humanoid_data.bag.episode_bag import EpisodeBag
from humanoid_data.bag.stamps import with_header_stamp
from humanoid_data.core.config import load_suite
from humanoid_data.core.topics import topics_for
from humanoid_data.resources import default_suite
from humanoid_data.sim.humanoid import SimulatedHumanoid

T0 = 1_800_000_000 * 10 ** 9


def write_episode(session: Path, minutes: float, suite_file: Path) -> Path:
    """A session with one episode of ``minutes``; return the session folder."""
    suite = load_suite(suite_file)
    session.mkdir(parents=True)
    (session / 'suite.yaml').write_text(suite_file.read_text())
    folder = session / 'episode_0001'
    topics = topics_for(suite)
    index = {t.topic: i for i, t in enumerate(topics)}
    sim = SimulatedHumanoid(suite, start_ns=T0)
    sim.play_cycle(T0)
    templates: dict[str, list[bytes]] = {s.topic: [] for s in suite.streamed}
    now = T0
    while any(len(v) < 8 for v in templates.values()):
        now += 10_000_000
        for out in sim.step(now):
            if len(templates[out.topic]) < 8:
                templates[out.topic].append(out.data)
    end = T0 + int(minutes * 60e9)
    bag = EpisodeBag(folder, topics)
    due = [(T0, s.topic, int(1e9 / s.rate_hz), 0) for s in suite.streamed]
    heapq.heapify(due)
    while due:
        stamp, topic, period, k = heapq.heappop(due)
        data = templates[topic][k % len(templates[topic])]
        bag.write(index[topic], stamp + 1_000_000, with_header_stamp(data, stamp))
        if stamp + period < end:
            heapq.heappush(due, (stamp + period, topic, period, k + 1))
    bag.close()
    (folder / 'episode.yaml').write_text(yaml.safe_dump({
        'episode_id': 'episode_0001', 'task': 'pick_place', 'start_ns': T0,
        'stop_ns': end, 'preroll_ns': 0, 'outcome': 'success', 'dropped': 0,
        'missing_by_stamps': 0}))
    return session


def main() -> None:
    """Write, convert and compare."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--minutes', type=float, default=10.0)
    parser.add_argument('--short-minutes', type=float, default=1.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix='humanoid_data_memory_'))
    data = yaml.safe_load(default_suite().read_text())
    for stream in data['streams']:
        if stream['modality'] in ('rgb', 'depth', 'camera_info'):
            stream['width'], stream['height'] = 160, 120
    suite_file = work / 'small_cameras.yaml'
    suite_file.write_text(yaml.safe_dump(data))
    results = {}
    for label, minutes in (('short', args.short_minutes), ('long', args.minutes)):
        session = write_episode(work / label, minutes, suite_file)
        size = sum(f.stat().st_size for f in session.rglob('*.mcap')) / 1e6
        peak, seconds = convert_measured(session, work / f'{label}_out', 'lerobot', 1)
        results[label] = peak
        print(f'{label}: {minutes:g} min episode, {size:.0f} MB bag, converted in '
              f'{seconds:.0f} s, peak RSS {peak:.0f} MB', flush=True)
    print(f'peak RSS long / short: {results["long"] / results["short"]:.2f} for '
          f'{args.minutes / args.short_minutes:g}x the length')


if __name__ == '__main__':
    main()
