"""The operator's terminal UI of marker_teleop: rich for drawing, the terminal in cbreak mode.

It runs in the node's main loop (no thread of its own): each step reads the keys waiting
on stdin, stamps each one with the clock at the moment it is read, hands it to the node,
and redraws about ten times a second. Reading happens every 20 ms at most, so a marker's
stamp is at most ~20 ms after the physical press plus the terminal's own delay; the
operator guide explains how to calibrate this away.
"""

from __future__ import annotations

import math
import os
import select
import sys
import termios
import time
import tty
from typing import Any, Mapping

from rich.console import Console, Group
from rich.live import Live

from humanoid_data.cli.status_view import (
    MAX_EVENTS, DiskStatus, Screen, StreamRow, render_screen)
from humanoid_data.core.events import EventBase
from humanoid_data.core.teleop import Action, Command, Mode, command_for_key
from humanoid_data.errors import HumanoidDataError
from humanoid_data.monitors.sync import Level

REDRAW_S = 0.1
VIEW_KEY, PAGE_KEY = 'h', '\t'     # UI-only keys: full stream table, its next page
HELP_KEYS = ('s start', 'e success', 'f failure', 'a abort', 'x discard', '1-9 phase',
             'space next phase', 'n note', 't tare', 'q quit')


class TerminalUI:
    """Keys in, a live status screen out."""

    def __init__(self, node: Any) -> None:
        """Attach to a ``MarkerTeleop`` node."""
        self.node = node
        self.console = Console()
        self.note: str | None = None     # text being typed, None when not typing
        self.full_table = False
        self.page = 0
        self._saved: list[Any] | None = None
        self._live: Live | None = None
        self._drawn = 0.0

    def __enter__(self) -> TerminalUI:
        """Put the terminal in cbreak mode and start drawing.

        Raises:
            HumanoidDataError: stdin is not a terminal.

        """
        if not sys.stdin.isatty():
            raise HumanoidDataError('the teleop UI needs a terminal on stdin; without one, '
                                    'run marker_teleop with ui:=false and use its services')
        self._saved = termios.tcgetattr(sys.stdin.fileno())
        tty.setcbreak(sys.stdin.fileno())
        self._live = Live(self.render(), console=self.console, auto_refresh=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        """Restore the terminal."""
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
        if self._saved is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

    # -- input ---------------------------------------------------------------------------

    def _read_keys(self) -> list[tuple[str, int]]:
        keys = []
        fd = sys.stdin.fileno()
        while select.select([fd], [], [], 0)[0]:
            stamp = time.time_ns()
            data = os.read(fd, 64).decode('utf-8', 'replace')
            if not data:
                break
            if data.startswith('\x1b'):
                # Escape alone is a key; escape sequences (arrows, function keys) are not.
                if data == '\x1b':
                    keys.append(('escape', stamp))
                continue
            keys.extend((ch, stamp) for ch in data)
        return keys

    def step(self) -> bool:
        """Handle waiting keys and redraw; return False when the operator quits."""
        for key, stamp in self._read_keys():
            if self.note is not None:
                self._type(key, stamp)
            elif key == 'q':
                if self.node.session.mode == Mode.IDLE:
                    return False
                self.node.session.message = 'end or discard the episode before quitting'
            elif not self.toggle_view(key):
                command = command_for_key(self.node.config, key, self.node.session.mode)
                if command is None:
                    continue
                if command.action == Action.NOTE:
                    self.note = ''
                    continue
                self.node.apply(command, stamp)
        now = time.monotonic()
        if self._live is not None and now - self._drawn >= REDRAW_S:
            self._live.update(self.render(), refresh=True)
            self._drawn = now
        return True

    def toggle_view(self, key: str) -> bool:
        """Handle the UI-only view keys (unless teleop.yaml binds them); True if handled."""
        if key in self.node.config.keys:
            return False
        if key == VIEW_KEY:
            self.full_table, self.page = not self.full_table, 0
        elif key == PAGE_KEY and self.full_table:
            self.page += 1
        else:
            return False
        return True

    def _type(self, key: str, stamp: int) -> None:
        assert self.note is not None
        if key in ('\n', '\r'):
            if self.note.strip():
                self.node.apply(Command(Action.NOTE, text=self.note.strip()), stamp)
            self.note = None
        elif key == 'escape':
            self.note = None
        elif key in ('\x7f', '\b'):
            self.note = self.note[:-1]
        elif key.isprintable():
            self.note += key

    # -- drawing -------------------------------------------------------------------------

    def render(self) -> Group:
        """The whole screen, fitted to the terminal's current size."""
        width, height = self.console.size
        return render_screen(self.screen(), width, height)

    def screen(self) -> Screen:
        """Gather what the node knows into plain values."""
        node, session = self.node, self.node.session
        recorder = node.recorder
        return Screen(
            state=recorder.get('state', ''), episode=recorder.get('episode', ''),
            elapsed_s=recorder.get('elapsed_s', ''), phase=session.open_phase,
            drops=recorder.get('dropped_total', '-'), queue_mib=recorder.get('queue_mib', '-'),
            task=session.task, instruction=session.instruction, phases=session.phases,
            streams=stream_rows(node.sync, recorder),
            events=tuple(event_line(e) for e in list(node.recent)[-MAX_EVENTS:]),
            disk=parse_disk(recorder), keys=self._keys(), message=session.message,
            full_table=self.full_table, page=self.page,
            view_key='' if VIEW_KEY in node.config.keys else VIEW_KEY)

    def _keys(self) -> tuple[str, ...]:
        if self.note is not None:
            return (f'note> {self.note}_', 'Enter send', 'Esc cancel')
        if self.node.session.mode == Mode.CHOOSING_FAILURE:
            return ('failure mode:', *(f'{i} {m}' for i, m in
                                       enumerate(self.node.taxonomy.failure_names, 1)),
                    'Esc back')
        return HELP_KEYS


def stream_rows(sync: Mapping[str, tuple[int, str, Mapping[str, str]]],
                recorder: Mapping[str, str]) -> tuple[StreamRow, ...]:
    """Turn sync_monitor's statuses (stream -> level, message, values) into screen rows.

    Args:
        sync: Per stream: diagnostic level, message (``ok`` or the reasons), key values
            with ``topic``, ``rate_hz``, ``expected_hz``, ``latency_p99_ms``.
        recorder: The recorder's key values (``<topic> dropped``).

    Returns:
        One row per stream, in name order.

    """
    rows = []
    for name, (level, message, values) in sorted(sync.items()):
        topic = values.get('topic', '')
        rate, expected = _number(values.get('rate_hz')), _number(values.get('expected_hz'))
        rows.append(StreamRow(
            name, _level(level),
            f'{rate:.1f}/{expected:g}' if rate is not None and expected is not None else '-',
            _text(_number(values.get('latency_p99_ms')), '.1f'),
            recorder.get(f'{topic} dropped', '') if topic else '',
            '' if message == 'ok' else message))
    return tuple(rows)


def parse_disk(recorder: Mapping[str, str]) -> DiskStatus:
    """Read ``disk_free_mib`` and ``disk_minutes_left`` from the recorder's status values.

    The recorder's level colours the disk line only when a part of its message (parts are
    joined by ``; ``) is about the disk, since drops raise the same WARN.

    Args:
        recorder: The recorder's key values, plus ``level`` and ``message``.

    Returns:
        Free MiB and minutes left, None where absent, empty or not a number.

    """
    parts = recorder.get('message', '').lower().split('; ')
    about_disk = any(p.startswith('disk') or 'no space left' in p for p in parts)
    level = _level(_number(recorder.get('level')) or 0) if about_disk else Level.OK
    return DiskStatus(_number(recorder.get('disk_free_mib')),
                      _number(recorder.get('disk_minutes_left')), level)


def event_line(event: EventBase) -> str:
    """One event as a line: local time, source, kind and its fields."""
    detail = ' '.join(getattr(v, 'value', str(v)) for k, v in vars(event).items()
                      if k not in ('stamp_ns', 'source', 'taxonomy') and v not in ('', ()))
    clock = time.strftime('%H:%M:%S', time.localtime(event.stamp_ns // 1_000_000_000))
    millis = event.stamp_ns // 1_000_000 % 1000
    return f'{clock}.{millis:03d} {event.source.value:<15} {event.kind} {detail}'.rstrip()


def _number(text: str | None) -> float | None:
    try:
        value = float(text or '')
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _text(value: float | None, spec: str) -> str:
    return '-' if value is None else format(value, spec)


def _level(value: float) -> Level:
    # STALE (3) and anything unknown counts as ERROR: the stream's health is not known.
    return Level(int(min(max(value, 0), Level.ERROR)))
