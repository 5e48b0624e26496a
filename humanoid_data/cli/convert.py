"""``humanoid-data convert`` and ``humanoid-data validate``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from humanoid_data.cli.console import make_console
from humanoid_data.bag.given_labels import GivenLabels, load_label_map, unmatched
from humanoid_data.core.events import Outcome
from humanoid_data.dataset.batch import FORMATS, GUESSED_CONFIG, ConvertResult, convert
from humanoid_data.dataset.sources import describe_sources
from humanoid_data.dataset.validate import validate
from humanoid_data.errors import ConfigError
from humanoid_data.resources import default_contact_config, default_taxonomy


def _default(finder: Any, fallback: str) -> str:
    try:
        return str(finder())
    except ConfigError:   # only matters if used
        return fallback


def run_convert(sources: list[str], out: Path, fmt: str, *, config: Path | None,
                taxonomy: Path, contact: Path, jobs: int, console: Console,
                ray: str | None = None, suite: Path | None = None,
                labels: GivenLabels | None = None,
                label_file: Path | None = None) -> ConvertResult:
    """Convert with a progress bar; print the summary table."""
    found = describe_sources(sources)
    total = len(found)
    label_map = load_label_map(label_file) if label_file else None
    if label_map:
        for name in unmatched(label_map, [(s.path, s.folder) for s in found]):
            console.print(f'[yellow]warning:[/] {label_file}: {name!r} names no bag of '
                          'this run; its labels are not used')
    columns = (TextColumn(f'[bold]converting to {fmt}'), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn('{task.fields[last]}'))
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task('convert', total=total, last='')

        def tick(episode: str, state: str) -> None:
            progress.update(bar, advance=1, last=f'{Path(episode).name}: {state}')

        result = convert(sources, out, fmt, config, taxonomy, contact, jobs, tick, ray=ray,
                         suite_path=suite, labels=labels, label_map=label_map)
    if config is None and result.config_path and result.config_path.name == GUESSED_CONFIG:
        console.print(f'no --config: the dataset plan was guessed from the first bag and '
                      f'written to {result.config_path} (humanoid-data suite-from-bag '
                      'writes one to edit)')
    console.print(summary_table(result, f'{fmt} dataset in {out}'))
    console.print(f'{len(result.converted)} converted ({len(result.flagged)} flagged), '
                  f'{len(result.rejected)} rejected, {len(result.failed)} failed, '
                  f'{len(result.resumed)} reused from an earlier run')
    return result


def summary_table(result: ConvertResult, title: str) -> Table:
    """One row per episode: its name, source folder and id, result and reasons."""
    table = Table('episode', 'source (id)', 'result', 'why', title=title)

    def source(name: str) -> str:
        found = result.sources.get(name)
        return f'{found.path} ({found.source_id})' if found else ''
    for name in result.converted:
        table.add_row(name, source(name), 'flagged' if name in result.flagged
                      else 'converted', '')
    for name, reasons in result.rejected.items():
        table.add_row(name, source(name), '[yellow]rejected[/]',
                      '; '.join(f'rejected: {r}' for r in reasons))
    for name, reason in result.failed.items():
        table.add_row(name, source(name), '[red]failed[/]', reason)
    return table


def nothing_kept(result: ConvertResult) -> str:
    """Why no episode made it into the dataset ('' when some did)."""
    if result.converted:
        return ''
    return (f'no episode made it into the dataset ({len(result.failed)} failed, '
            f'{len(result.rejected)} rejected by the quality gates); nothing was written')


def _run_convert(args: argparse.Namespace) -> int:
    labels = GivenLabels(args.task, args.instruction, args.outcome)
    result = run_convert(args.sources, Path(args.out), args.format,
                         config=Path(args.config) if args.config else None,
                         taxonomy=Path(args.taxonomy), contact=Path(args.contact),
                         jobs=args.jobs, console=Console(), ray=args.ray,
                         suite=Path(args.suite) if args.suite else None,
                         labels=labels if labels else None,
                         label_file=Path(args.labels) if args.labels else None)
    why = nothing_kept(result)
    if why:
        print(f'error: {why}', file=sys.stderr)
    return 1 if result.failed or why else 0


def _run_validate(args: argparse.Namespace) -> int:
    problems = validate(args.dataset)
    console = make_console()
    for problem in problems:
        console.print(f'[red]problem:[/] {problem}')
    console.print(f'{args.dataset}: ' + ('[green]valid[/]' if not problems
                                         else f'[red]{len(problems)} problems[/]'))
    return 1 if problems else 0


def add_parsers(verbs: Any) -> None:
    """Register ``convert`` and ``validate``."""
    parser = verbs.add_parser('convert', help='bags -> LeRobot v3 or HDF5 dataset')
    parser.add_argument('sources', nargs='+', metavar='SRC',
                        help='episode, session or rosbag2 folders, folders of them, or bag '
                             'files (.mcap, .db3, ROS 1 .bag)')
    parser.add_argument('--out', required=True, help='dataset folder')
    parser.add_argument('--format', choices=FORMATS, default='lerobot')
    parser.add_argument('--config', default=None,
                        help='dataset.yaml (default: the recorder\'s config/dataset.yaml for '
                             'its sessions, else one guessed from the first bag)')
    parser.add_argument('--suite', default=None, metavar='FILE',
                        help='suite.yaml for bags without one (keys the bag can tell may be '
                             'left out); default: guessed from each bag')
    parser.add_argument('--task', default='', help='task of episodes whose bag names none')
    parser.add_argument('--instruction', default='',
                        help='language instruction of episodes whose bag names none')
    parser.add_argument('--outcome', default='', choices=('', *[o.value for o in Outcome]),
                        help='outcome of episodes whose bag names none')
    parser.add_argument('--labels', default=None, metavar='FILE',
                        help='YAML or CSV mapping each bag to task, instruction, outcome '
                             '(docs/other_bags.md)')
    parser.add_argument('--taxonomy', default=_default(default_taxonomy, 'config/phases.yaml'))
    parser.add_argument('--contact', default=_default(default_contact_config,
                                                      'config/contact.yaml'),
                        help='contact.yaml for the offline re-detection')
    parser.add_argument('-j', '--jobs', type=int, default=min(4, os.cpu_count() or 1),
                        help='episodes converted in parallel')
    parser.add_argument('--ray', nargs='?', const='', default=None, metavar='ADDRESS',
                        help='one task per episode on a Ray cluster at ADDRESS (host:port '
                             'or auto); without ADDRESS the one RAY_ADDRESS names, else a '
                             'local one for the run (docs/cluster.md)')
    parser.set_defaults(run=_run_convert)
    check = verbs.add_parser('validate', help='check a converted dataset')
    check.add_argument('dataset', help='LeRobot dataset folder, or HDF5 file / folder')
    check.set_defaults(run=_run_validate)
