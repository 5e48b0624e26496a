"""``humanoid-data``: one command with verbs.

demo, record, sim, teleop, inspect, repair, convert, validate, suite-from-bag, merge,
prelabel, adjudicate, assign, qa, review and calib.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from humanoid_data import __version__
from humanoid_data.cli import (
    bag_suite, calib, convert, demo, inspect, labels, merge, record, repair, review, teleop)
from humanoid_data.errors import HumanoidDataError


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every verb."""
    parser = argparse.ArgumentParser(
        prog='humanoid-data',
        description='Record teleoperated humanoid demonstrations and turn them into data.')
    parser.add_argument('--version', action='version', version=f'humanoid_data {__version__}')
    verbs = parser.add_subparsers(dest='verb', required=True, metavar='VERB')
    for module in (demo, record, teleop, inspect, repair, convert, bag_suite, merge, labels,
                   review, calib):
        module.add_parsers(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the verb, report the project's errors without a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except HumanoidDataError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    raise SystemExit(main())
