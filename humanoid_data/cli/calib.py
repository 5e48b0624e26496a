"""``humanoid-data calib diff A B``: compare the calibration of two episodes or sessions.

Camera intrinsics (first CameraInfo of each stream) and the robot description (its
digest, then the sensor mounts, joints and links of the URDF). Exit 0 when nothing
differs, 1 when something does, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table

from humanoid_data.calibration.diff import Finding, compare, differs, read_snapshot
from humanoid_data.cli.console import make_console
from humanoid_data.errors import ConfigError


def _print_table(a: str, b: str, findings: list[Finding]) -> None:
    console = make_console()
    table = Table(title=f'calibration: A = {a}   B = {b}')
    for column in ('', 'kind', 'item', 'what', 'A', 'B'):
        table.add_column(column)
    for f in findings:
        table.add_row('≠' if f.differs else '', f.kind, f.item, f.what, f.old, f.new)
    console.print(table)
    changed = [f for f in findings if f.differs]
    if changed:
        console.print(f'{len(changed)} differences')
    else:
        console.print('no differences')


def _run_diff(args: argparse.Namespace) -> int:
    if args.tolerance_mm < 0 or args.tolerance_deg < 0:
        raise ConfigError('--tolerance-mm and --tolerance-deg must not be negative')
    a, b = read_snapshot(args.a), read_snapshot(args.b)
    findings = compare(a, b, args.tolerance_mm, args.tolerance_deg)
    if args.json:
        body: dict[str, Any] = {
            'a': {'path': args.a, 'episode': str(a.episode)},
            'b': {'path': args.b, 'episode': str(b.episode)},
            'tolerance_mm': args.tolerance_mm, 'tolerance_deg': args.tolerance_deg,
            'differs': differs(findings),
            'findings': [f.as_dict() for f in findings]}
        print(json.dumps(body, indent=2))
    else:
        _print_table(str(a.episode), str(b.episode), findings)
    return 1 if differs(findings) else 0


def add_parsers(verbs: Any) -> None:
    """Register ``calib``."""
    parser = verbs.add_parser('calib', help='calibration of recorded episodes')
    sub = parser.add_subparsers(dest='calib_verb', required=True, metavar='ACTION')
    diff = sub.add_parser('diff', help='compare the calibration of two episodes or sessions')
    diff.add_argument('a', help='episode or session folder (old)')
    diff.add_argument('b', help='episode or session folder (new)')
    diff.add_argument('--json', action='store_true', help='machine-readable output')
    diff.add_argument('--tolerance-mm', type=float, default=0.1,
                      help='sensor mount translation tolerance (mm, default 0.1)')
    diff.add_argument('--tolerance-deg', type=float, default=0.01,
                      help='sensor mount rotation tolerance (degrees, default 0.01)')
    diff.set_defaults(run=_run_diff)
