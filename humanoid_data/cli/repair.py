"""``humanoid-data repair SESSION|EPISODE...``: make unfinished or damaged episodes readable."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table

from humanoid_data.cli.console import make_console
from humanoid_data.recording.repair import repair


def _run(args: argparse.Namespace) -> int:
    reports, failed = repair(args.targets, keep_original=not args.drop_original)
    if args.json:
        print(json.dumps({'repaired': [r._asdict() for r in reports], 'failed': failed},
                         indent=2))
        return 1 if failed else 0
    console = make_console()
    table = Table('episode', 'result', 'messages', 'seconds lost', 'notes',
                  title='repair')
    for r in reports:
        lost = '-' if r.seconds_lost is None else f'{r.seconds_lost:.3f}'
        kept = f'original kept in {r.original}' if r.original else ''
        notes = '; '.join(r.problems) or kept
        table.add_row(r.folder, r.action, str(r.messages) if r.messages else '', lost, notes)
    for folder, reason in failed.items():
        table.add_row(folder, '[red]failed[/]', '', '', reason)
    console.print(table)
    if not reports and not failed:
        console.print('nothing to repair: no unfinished episode found')
    return 1 if failed else 0


def add_parsers(verbs: Any) -> None:
    """Register ``repair``."""
    parser = verbs.add_parser(
        'repair', help='make unfinished (recorder killed) or damaged episodes readable')
    parser.add_argument('targets', nargs='+', metavar='SESSION|EPISODE',
                        help='a session (its unfinished episodes) or an episode folder')
    parser.add_argument('--drop-original', action='store_true',
                        help='delete the original file once the repaired copy verifies '
                             '(default: keep it under <episode>/.original/)')
    parser.add_argument('--json', action='store_true', help='machine-readable output')
    parser.set_defaults(run=_run)
