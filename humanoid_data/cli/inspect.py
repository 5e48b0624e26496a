"""``humanoid-data inspect BAG [--json]``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from humanoid_data.bag.episode_state import require_finished
from humanoid_data.bag.inspect import BagReport, inspect_bag
from humanoid_data.bag.verify import VerifyReport, verify_bag


def _stamp(ns: int | None) -> str:
    if ns is None:
        return '-'
    return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).strftime('%H:%M:%S.%f')[:-3]


def render(report: BagReport, console: Console) -> None:
    """Print the report as tables."""
    console.print(f'[bold]{report.path}[/]  {report.messages} messages, '
                  f'{report.duration_s:.3f} s')
    table = Table('topic', 'type', 'count', 'MB', 'rate Hz', 'max gap s', 'first', 'last',
                  'latency p50/p99/max ms')
    for t in report.topics:
        lat = '/'.join(f'{t.latency_ms[k]:.1f}' for k in ('p50', 'p99', 'max')) \
            if t.latency_ms else '-'
        table.add_row(t.topic, t.msgtype.split('/')[-1], str(t.count), f'{t.nbytes / 1e6:.1f}',
                      f'{t.rate_hz:.1f}' if t.rate_hz else '-',
                      f'{t.max_gap_s:.4f}' if t.max_gap_s is not None else '-',
                      _stamp(t.first_stamp_ns), _stamp(t.last_stamp_ns), lat)
    console.print(table)
    events = Table('stamp', 'kind', 'source', 'detail', title=f'{len(report.events)} events')
    for e in report.events:
        skip = ('stamp_ns', 'source', 'taxonomy')
        detail = {k: v for k, v in e.__dict__.items() if k not in skip and v}
        events.add_row(_stamp(e.stamp_ns), e.kind, e.source.value,
                       ', '.join(f'{k}={getattr(v, "value", v)}' for k, v in detail.items()))
    console.print(events)
    if report.malformed_events:
        console.print(f'[yellow]{report.malformed_events} malformed events[/]')


def render_verify(report: VerifyReport, console: Console) -> None:
    """Print what the checksum walk found."""
    console.print(f'checksums: {report.chunks} chunks in {report.files} file(s), '
                  f'{report.checksummed} with a CRC')
    for problem in report.problems:
        console.print(f'[red]problem:[/] {problem.describe()}')
    for note in report.notes:
        console.print(f'[yellow]note:[/] {note}')
    console.print('[green]verified[/]' if report.ok else
                  f'[red]{len(report.problems)} problem(s)[/]')


def _run(args: argparse.Namespace) -> int:
    require_finished(args.bag)
    verified = verify_bag(args.bag) if args.verify else None
    report = inspect_bag(args.bag) if verified is None or verified.ok else None
    if args.json:
        body: dict[str, Any] = report.to_json() if report else {'path': args.bag}
        if verified is not None:
            body['verify'] = {'ok': verified.ok, 'chunks': verified.chunks,
                              'checksummed': verified.checksummed,
                              'problems': [p.describe() for p in verified.problems],
                              'notes': verified.notes}
        print(json.dumps(body, indent=2, default=float))
    else:
        console = Console()
        if report is not None:
            render(report, console)
        if verified is not None:
            render_verify(verified, console)
    return 0 if verified is None or verified.ok else 1


def add_parsers(verbs: Any) -> None:
    """Register ``inspect``."""
    parser = verbs.add_parser('inspect', help='topics, rates, stamps, latency and events')
    parser.add_argument('bag', help='episode bag folder')
    parser.add_argument('--json', action='store_true', help='machine-readable output')
    parser.add_argument('--verify', action='store_true',
                        help='check every chunk against its checksum (exit 1 on damage)')
    parser.set_defaults(run=_run)
