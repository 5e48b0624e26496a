"""``humanoid-data suite-from-bag``: a suite and a dataset plan guessed from a bag, to edit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from humanoid_data.bag.suite_files import suite_yaml
from humanoid_data.bag.suite_guess import guess_suite
from humanoid_data.cli.console import make_console
from humanoid_data.dataset.plan_guess import dataset_yaml
from humanoid_data.errors import ConfigError


def _run(args: argparse.Namespace) -> int:
    bag, out = Path(args.bag), Path(args.out)
    if not bag.exists():
        raise ConfigError(f'{bag}: no such file or folder')
    guess = guess_suite(bag)
    suite = guess.suite()              # the guess must be a valid suite before it is written
    targets = {out / 'suite.yaml': suite_yaml(guess),
               out / 'dataset.yaml': dataset_yaml(suite, guess)}
    existing = [str(p) for p in targets if p.exists()]
    if existing and not args.force:
        raise ConfigError(f'{", ".join(existing)}: already exists; pass --force to replace')
    out.mkdir(parents=True, exist_ok=True)
    for path, text in targets.items():
        path.write_text(text, encoding='utf-8')
    console = make_console()
    console.print(f'{len(suite.streams)} streams guessed from {bag} ({guess.seconds:.1f} s '
                  f'read), {len(guess.skipped)} topics left out')
    for topic, msgtype, why in guess.skipped:
        console.print(f'  left out {topic} ({msgtype}): {why}')
    console.print('wrote ' + ' and '.join(map(str, targets)) + '; check the commented '
                  f'guesses, then: humanoid-data convert {bag} --suite {out / "suite.yaml"} '
                  f'--config {out / "dataset.yaml"} --out DATASET')
    return 0


def add_parsers(verbs: Any) -> None:
    """Register ``suite-from-bag``."""
    parser = verbs.add_parser(
        'suite-from-bag', help='write a suite.yaml and dataset.yaml guessed from a bag')
    parser.add_argument('bag', help='rosbag2 folder, .mcap, .db3 or ROS 1 .bag file')
    parser.add_argument('--out', default='.', help='folder for suite.yaml and dataset.yaml')
    parser.add_argument('--force', action='store_true', help='replace existing files')
    parser.set_defaults(run=_run)
