"""``humanoid-data calib``: calibration of recorded episodes.

``calib diff A B`` compares the calibration two episodes or sessions were recorded with:
camera intrinsics (first CameraInfo of each stream), the robot description (its digest,
then the sensor mounts, joints and links of the URDF) and the /tf_static extrinsics
(every fixed edge: moved by how many mm and degrees). Exit 0 when nothing differs, 1
when something does, 2 on bad input.

``calib check EPISODE_OR_SESSION...`` runs the calibration checks
(``calibration.checks``) on every episode and prints its figures and flags. Exit 0 when
no episode is flagged, 1 when one is, 2 when an episode cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from rich.table import Table

from humanoid_data.calibration.checks import CalibrationReport, check_folder
from humanoid_data.calibration.diff import Finding, compare, differs, read_snapshot
from humanoid_data.cli.console import make_console
from humanoid_data.core.config import parse_settings, read_yaml
from humanoid_data.core.quality import QualityGates
from humanoid_data.dataset.sources import find_episodes
from humanoid_data.errors import ConfigError, HumanoidDataError


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


def check(sources: Sequence[str | Path], gates: QualityGates
          ) -> list[tuple[Path, CalibrationReport | HumanoidDataError]]:
    """The calibration report of every episode under ``sources`` (or why it failed).

    Raises:
        ConfigError: A source does not exist, or holds no episode.

    """
    episodes = find_episodes(sources)
    if not episodes:
        raise ConfigError(f'no episode under {", ".join(map(str, sources))}')
    results: list[tuple[Path, CalibrationReport | HumanoidDataError]] = []
    for episode in episodes:
        try:
            results.append((episode, check_folder(episode, gates)))
        except HumanoidDataError as err:
            results.append((episode, err))
    return results


def load_gates(path: str | Path | None) -> QualityGates:
    """The gates of a dataset.yaml's ``quality`` section (built-in ones without a file).

    Raises:
        ConfigError: The file cannot be read, or its quality section is malformed.

    """
    if path is None:
        return QualityGates()
    data = read_yaml(path, 'dataset config')
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected a mapping with a quality section')
    return parse_settings(QualityGates, data.get('quality') or {}, f'{path}: quality')


def _figure(value: float | int | None) -> str:
    if value is None:
        return '-'
    return str(value) if isinstance(value, int) else f'{value:.4g}'


def _run_check(args: argparse.Namespace) -> int:
    gates = load_gates(args.config)
    results = check(args.paths, gates)
    failed = [e for _, e in results if isinstance(e, HumanoidDataError)]
    flagged = [r for _, r in results if isinstance(r, CalibrationReport) and r.flags]
    if args.json:
        body = [{'episode': str(p), 'error': str(r)} if isinstance(r, HumanoidDataError)
                else {'episode': str(p), 'metrics': r.metrics, 'flags': r.flags,
                      'notes': r.notes} for p, r in results]
        print(json.dumps({'episodes': body, 'flagged': len(flagged),
                          'failed': len(failed)}, indent=2))
    else:
        console = make_console()
        for path, result in results:
            if isinstance(result, HumanoidDataError):
                print(f'error: {result}', file=sys.stderr)
                continue
            table = Table(title=f'calibration checks: {path}')
            table.add_column('figure')
            table.add_column('value', justify='right')
            for name, value in result.metrics.items():
                table.add_row(name, _figure(value))
            console.print(table)
            for flag in result.flags:
                console.print(f'[red]flag[/] {flag}', markup=True, highlight=False)
            for note in result.notes:
                console.print(f'note {note}', markup=False, highlight=False)
            if not result.flags:
                console.print('no flags')
        console.print(f'{len(results)} episodes, {len(flagged)} flagged, '
                      f'{len(failed)} unreadable')
    return 2 if failed else (1 if flagged else 0)


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
    check_parser = sub.add_parser(
        'check', help='check that the sensors of recorded episodes agree with /tf')
    check_parser.add_argument('paths', nargs='+', metavar='EPISODE_OR_SESSION',
                              help='episode or session folders')
    check_parser.add_argument('--config', default=None,
                              help='dataset.yaml whose quality section holds the gates '
                                   '(default: the built-in gates)')
    check_parser.add_argument('--json', action='store_true', help='machine-readable output')
    check_parser.set_defaults(run=_run_check)
