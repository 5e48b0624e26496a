"""``humanoid-data merge``: datasets converted separately become one."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table

from humanoid_data.cli.console import make_console
from humanoid_data.dataset.merge import merge


def _run(args: argparse.Namespace) -> int:
    result = merge(args.datasets, Path(args.out))
    table = Table('datasets', 'episodes', 'frames', 'tasks', 'video joined (MB)', 'time (s)',
                  title=f'merged {result.fmt} dataset in {result.output}')
    table.add_row(str(result.datasets), str(result.episodes), str(result.frames),
                  str(result.tasks),
                  f'{result.video_bytes / 1e6:.1f}' if result.fmt == 'lerobot' else '-',
                  f'{result.seconds:.1f}')
    make_console().print(table)
    return 0


def add_parsers(verbs: Any) -> None:
    """Register ``merge``."""
    parser = verbs.add_parser('merge', help='LeRobot v3 or HDF5 datasets -> one dataset')
    parser.add_argument('datasets', nargs='+', metavar='DATASET',
                        help='LeRobot dataset folders, or HDF5 files / folders, in the '
                             'order their episodes take')
    parser.add_argument('--out', required=True,
                        help='merged dataset folder, new or empty (HDF5: it gets '
                             'dataset.hdf5; or a new .hdf5 file)')
    parser.set_defaults(run=_run)
