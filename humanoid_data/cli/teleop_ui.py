"""The operator's terminal UI of marker_teleop: rich for drawing, the terminal in cbreak mode.

It runs in the node's main loop (no thread of its own): each step reads the keys waiting
on stdin, stamps each one with the clock at the moment it is read, hands it to the node,
and redraws about ten times a second. Reading happens every 20 ms at most, so a marker's
stamp is at most ~20 ms after the physical press plus the terminal's own delay; the
operator guide explains how to calibrate this away.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import time
import tty
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from humanoid_data.core.teleop import Action, Command, Mode, command_for_key
from humanoid_data.errors import HumanoidDataError

LEVEL_STYLE = {0: ('OK', 'green'), 1: ('WARN', 'yellow'), 2: ('ERROR', 'red')}
REDRAW_S = 0.1


class TerminalUI:
    """Keys in, a live status screen out."""

    def __init__(self, node: Any) -> None:
        """Attach to a ``MarkerTeleop`` node."""
        self.node = node
        self.console = Console()
        self.note: str | None = None     # text being typed, None when not typing
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
            else:
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
        """The whole screen."""
        return Group(self._header(), self._health(), self._events(), self._footer())

    def _header(self) -> Panel:
        node, session = self.node, self.node.session
        recorder = node.recorder
        state = recorder.get('state', 'no recorder status yet')
        lines = Text()
        style = 'bold red' if state == 'recording' else 'bold'
        lines.append(f'{state.upper()}', style=style)
        if recorder.get('episode'):
            lines.append(f'  {recorder["episode"]}  {recorder.get("elapsed_s", "")} s')
        lines.append(f'   drops {recorder.get("dropped_total", "-")}'
                     f'   queue {recorder.get("queue_mib", "-")} MiB\n')
        lines.append(f'task {session.task}: {session.instruction}\n')
        phases = '  '.join(
            f'[{i}] {name}' if name != session.open_phase else f'[{i}] >{name}<'
            for i, name in enumerate(session.phases, 1))
        lines.append(f'phases {phases}')
        return Panel(lines, title='humanoid_data teleop', subtitle=node.taxonomy.version)

    def _health(self) -> Table:
        table = Table('stream', 'sync', 'rate Hz', 'latency p99 ms', 'dropped', 'reason',
                      expand=True, title='stream health')
        recorder = self.node.recorder
        for stream, (level, message, values) in sorted(self.node.sync.items()):
            name, style = LEVEL_STYLE.get(level, ('?', ''))
            topic = values.get('topic', '')
            dropped = recorder.get(f'{topic} dropped', '') if topic else ''
            table.add_row(stream, Text(name, style=style),
                          f'{values.get("rate_hz", "")}/{values.get("expected_hz", "")}',
                          values.get('latency_p99_ms', ''), dropped,
                          '' if message == 'ok' else message)
        if not self.node.sync:
            table.add_row('(waiting for sync_monitor on /diagnostics)', '', '', '', '', '')
        return table

    def _events(self) -> Panel:
        text = Text()
        for event in list(self.node.recent)[-8:]:
            detail = ' '.join(getattr(v, 'value', str(v)) for k, v in vars(event).items()
                              if k not in ('stamp_ns', 'source', 'taxonomy')
                              and v not in ('', ()))
            text.append(f'{event.stamp_ns / 1e9:.3f} {event.source.value:>15} '
                        f'{event.kind} {detail}\n')
        return Panel(text or Text('no events yet'), title='last events')

    def _footer(self) -> Text:
        session = self.node.session
        if self.note is not None:
            return Text(f'note> {self.note}_   (Enter to send, Esc to cancel)', style='bold')
        if session.mode == Mode.CHOOSING_FAILURE:
            modes = '  '.join(f'{i} {m}' for i, m in
                              enumerate(self.node.taxonomy.failure_names, 1))
            help_line = f'failure mode: {modes}   Esc back'
        else:
            help_line = ('s start  e success  f failure  a abort  x discard  1-9 phase  '
                         'space next phase  n note  t tare  q quit')
        text = Text(help_line, style='reverse')
        if session.message:
            text.append(f'\n{session.message}', style='yellow')
        return text
