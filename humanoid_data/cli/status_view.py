"""The teleop screen as a function of plain values, laid out to fit any terminal.

``render_screen(screen, width, height)`` draws, top to bottom (80x24, three ERROR streams)::

    RECORDING  episode_0003  12.3 s  phase grasp  drops 0  queue 0.4 MiB
    streams 18 OK  2 WARN  3 ERROR   worst: ERROR imu, lidar, wrist_right_ft
    disk 42 min left (12.3 GiB free)   task pick_place
    phases 1 reach  2 >grasp<  3 lift  4 transport  5 place  6 release  7 retreat
    stream               sync   rate Hz  p99 ms  drop  reason
    imu                  ERROR  30.0/30     4.2     0  silent for 2.1 s
    ...                  (worst first: ERROR, WARN, then OK)
    ... 12 more OK
    -- last events ----------------------------------------------------------------
    12:00:11.000 operator        phase grasp begin
    s start  e success  f failure  a abort  x discard  1-9 phase  space next phase
    n note  t tare  q quit  h all streams

Every part is one line cropped to the width, so the line budget is exact: the help (wrapped
between its items), the refusal message, the three header lines and the last events take
their lines first and the table gets what is left. The full view (``Screen.full_table``)
gives the table every line but the top line and the help, page by page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
import re
from typing import NamedTuple, Sequence

from rich.cells import cell_len
from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from humanoid_data.monitors.sync import Level

LEVEL_STYLE = {Level.OK: 'green', Level.WARN: 'yellow', Level.ERROR: 'bold red'}
MAX_EVENTS = 8
_THRESHOLD = re.compile(r' \((?:warn|error) above [^)]*\)')


class StreamRow(NamedTuple):
    """One stream's sync health as the screen shows it."""

    name: str
    level: Level
    rate: str = ''
    latency_p99_ms: str = ''
    dropped: str = ''
    reason: str = ''

    @property
    def short_reason(self) -> str:
        """The first reason without its threshold, for the summary line."""
        return _THRESHOLD.sub('', self.reason.split('; ')[0])


class DiskStatus(NamedTuple):
    """Free space and recording time left as the recorder reports them (None: unknown)."""

    free_mib: float | None = None
    minutes_left: float | None = None
    level: Level = Level.OK

    def text(self) -> str:
        """Say ``disk 42 min left (12.3 GiB free)``, or ``disk ?`` when nothing is known."""
        free = None if self.free_mib is None else f'{_size(self.free_mib)} free'
        if self.minutes_left is None:
            return f'disk {free or "?"}'
        left = f'{_duration(self.minutes_left)} left'
        return f'disk {left} ({free})' if free else f'disk {left}'


@dataclass(frozen=True)
class Screen:
    """Everything the teleop screen shows, as plain values."""

    state: str = ''
    episode: str = ''
    elapsed_s: str = ''
    phase: str = ''
    drops: str = '-'
    queue_mib: str = '-'
    task: str = ''
    instruction: str = ''
    phases: tuple[str, ...] = ()
    streams: tuple[StreamRow, ...] = ()
    events: tuple[str, ...] = ()
    disk: DiskStatus = DiskStatus()
    keys: tuple[str, ...] = ()          # help items such as 's start'
    message: str = ''
    full_table: bool = False
    page: int = 0                       # page of the full table, taken modulo the pages
    view_key: str = 'h'                 # '' when the key is bound to an action
    page_key: str = 'tab'


def render_screen(screen: Screen, width: int, height: int) -> Group:
    """Lay the screen out in at most ``height`` lines of at most ``width`` cells.

    Args:
        screen: What to show.
        width: Terminal columns.
        height: Terminal rows.

    Returns:
        One rich renderable, every part of it a single line.

    """
    width, height = max(width, 1), max(height, 1)
    rows = tuple(sorted(screen.streams, key=lambda r: (-r.level, r.name)))
    view = (f'{screen.view_key} back' if screen.full_table else
            f'{screen.view_key} all streams') if screen.view_key else ''
    bottom = [_line(Text(line, style='reverse'), width)
              for line in _wrap([*screen.keys, view] if view else list(screen.keys), width)]
    if screen.message:
        bottom.append(_line(Text(screen.message, style='yellow'), width))
    bottom = bottom[:height]
    layout = _full_view if screen.full_table else _summary_view
    return Group(*layout(screen, rows, width, height - len(bottom)), *bottom)


def _summary_view(screen: Screen, rows: tuple[StreamRow, ...], width: int,
                  left: int) -> list[RenderableType]:
    # Lines go first to the header, then to the last few events, then the phases; the table
    # gets the rest and any line it leaves goes to more events and the instruction.
    quota = max(3, min(MAX_EVENTS, left // 5))
    header = [_line(t, width) for t in (_state_line(screen), _summary_line(rows, width),
                                        _disk_line(screen))][:left]
    left -= len(header)
    n_events = min(max(len(screen.events), 1), quota, max(left - 1, 0))
    left -= n_events + 1 if n_events else 0
    phases = [_line(_phases_line(screen), width)] if screen.phases and left >= 4 else []
    left -= len(phases)
    table_lines = min(left, len(rows) + 1) if rows else 0    # none: the summary says why
    left -= table_lines
    extra = min(left, len(screen.events) - n_events, MAX_EVENTS - n_events)
    if n_events and extra > 0:
        n_events, left = n_events + extra, left - extra
    instruction = [_line(Text(screen.instruction, style='dim'), width)]
    return [*header, *phases, *(instruction if left > 0 and screen.instruction else []),
            *_stream_block(rows, table_lines, width),
            *(_events_block(screen.events, n_events, width) if n_events else [])]


def _full_view(screen: Screen, rows: tuple[StreamRow, ...], width: int,
               left: int) -> list[RenderableType]:
    if left < 3:
        only: list[RenderableType] = [_line(_state_line(screen), width)]
        return only[:left]
    page_size = left - 2        # the top line and the table's header
    pages = max(-(-len(rows) // page_size), 1)
    page = screen.page % pages
    top = Text(f'ALL STREAMS {page + 1}/{pages} ({screen.page_key} next page)   '
               if pages > 1 else 'ALL STREAMS   ', style='bold')
    top.append_text(_state_line(screen))
    shown = rows[page * page_size:(page + 1) * page_size]
    return [_line(top, width), _table(shown) if rows else
            _line(Text('(waiting for the sync statuses on /diagnostics)', style='dim'),
                  width)]


def _line(text: Text, width: int) -> Text:
    text = text.copy()
    # A note sent on ~/note may hold newlines or control characters: one line, one cell each.
    text.plain = ''.join(c if c.isprintable() else ' ' for c in text.plain)
    text.no_wrap, text.overflow = True, 'ellipsis'
    text.truncate(width, overflow='ellipsis')
    return text


def _wrap(items: Sequence[str], width: int) -> list[str]:
    """Join help items on one line if they fit, else wrap them between items."""
    lines, current = [], ''
    for item in items:
        if cell_len(item) > width:       # a long note: show its end, where the cursor is
            item = '…' + item[len(item) - width + 1:]
        candidate = f'{current}  {item}' if current else item
        if current and cell_len(candidate) > width:
            lines.append(current)
            candidate = item
        current = candidate
    return [*lines, current] if current else lines


def _state_line(screen: Screen) -> Text:
    state = screen.state or 'no recorder status yet'
    text = Text(state.upper(), style='bold red' if state == 'recording' else 'bold')
    parts = [screen.episode, f'{screen.elapsed_s} s' if screen.episode else '',
             f'phase {screen.phase or "-"}', f'drops {screen.drops}',
             f'queue {screen.queue_mib} MiB']
    text.append('  ' + '  '.join(p for p in parts if p))
    return text


def _summary_line(rows: Sequence[StreamRow], width: int) -> Text:
    if not rows:
        return Text('streams: waiting for the sync statuses on /diagnostics', style='dim')
    counts = Counter(r.level for r in rows)
    text = Text('streams')
    for level in Level:
        if counts[level] or level == Level.OK:
            text.append(f' {counts[level]} ' if level == Level.OK else f'  {counts[level]} ')
            text.append(level.name, style=LEVEL_STYLE[level])
    bad = [r for r in rows if r.level != Level.OK]
    if not bad:
        return text

    def fits(count: int, reasons: int) -> bool:
        return text.cell_len + sum(len(t) for t, _ in _worst(bad, count, reasons)) <= width

    # As many names as fit (at least one), then the reasons of the worst while room is left.
    count = next((c for c in range(len(bad), 0, -1) if fits(c, 0)), 1)
    reasons = next((r for r in range(count, 0, -1) if fits(count, r)), 0)
    for segment, style in _worst(bad, count, reasons):
        text.append(segment, style=style)
    return text


def _worst(bad: Sequence[StreamRow], count: int, reasons: int) -> list[tuple[str, str]]:
    """``worst: ERROR a (reason), b; WARN c, +2 more`` as (text, style) segments."""
    segments, level = [('   worst:', '')], None
    for i, row in enumerate(bad[:count]):
        if row.level != level:
            segments += [(';' if level is not None else '', ''),
                         (f' {row.level.name}', LEVEL_STYLE[row.level])]
            level = row.level
        segments.append((f' {row.name}' if segments[-1][1] else f', {row.name}', ''))
        if i < reasons and row.short_reason:
            segments.append((f' ({row.short_reason})', ''))
    unnamed = sum(1 for r in bad[count:] if r.level == level)
    return segments + [(f', +{unnamed} more', '')] if unnamed else segments


def _disk_line(screen: Screen) -> Text:
    style = {Level.WARN: 'yellow', Level.ERROR: 'bold red'}.get(screen.disk.level, '')
    text = Text(screen.disk.text(), style=style)
    if screen.task:
        text.append(f'   task {screen.task}')
    return text


def _phases_line(screen: Screen) -> Text:
    return Text('phases ' + '  '.join(f'{i} >{name}<' if name == screen.phase else
                                      f'{i} {name}' for i, name in enumerate(screen.phases, 1)))


def _events_block(events: Sequence[str], count: int, width: int) -> list[Text]:
    title = Text('-- last events ' + '-' * max(width - 16, 0), style='dim')
    lines = [Text(e) for e in events[len(events) - count:]] or [Text('no events yet')]
    return [_line(title, width), *(_line(t, width) for t in lines[:count])]


def _stream_block(rows: tuple[StreamRow, ...], lines: int, width: int) -> list[RenderableType]:
    if len(rows) + 1 <= lines:
        return [_table(rows)]
    if lines < 3:
        return []
    hidden = Counter(r.level for r in rows[lines - 2:])
    more = ', '.join(f'{hidden[level]} {level.name}' for level in reversed(Level)
                     if hidden[level])
    count = len(rows) - lines + 2
    text = (f'... {count} more {next(iter(hidden)).name}' if len(hidden) == 1 else
            f'... {count} more: {more}')
    return [_table(rows[:lines - 2]), _line(Text(text, style='dim'), width)]


def _table(rows: Sequence[StreamRow]) -> Table:
    table = Table(box=None, expand=True, pad_edge=False, header_style='bold')
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ('stream', 'left'), ('sync', 'left'), ('rate Hz', 'right'), ('p99 ms', 'right'),
        ('drop', 'right'))
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True, overflow='ellipsis')
    table.add_column('reason', no_wrap=True, overflow='ellipsis', ratio=1)
    for row in rows:
        table.add_row(row.name, Text(row.level.name, style=LEVEL_STYLE[row.level]), row.rate,
                      row.latency_p99_ms, row.dropped, row.reason)
    return table


def _size(mib: float) -> str:
    return f'{mib / 1024:.1f} GiB' if mib >= 1024 else f'{mib:.0f} MiB'


def _duration(minutes: float) -> str:
    if minutes < 1:
        return '<1 min'
    return f'{minutes:.0f} min' if minutes < 120 else f'{minutes / 60:.1f} h'
