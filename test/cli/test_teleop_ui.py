"""The teleop screen at 80x24 and other sizes, without ROS or a terminal."""

from __future__ import annotations

import io
import re
from collections import deque
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st
from rich.cells import cell_len
from rich.console import Console

from humanoid_data.cli.status_view import DiskStatus, Screen, StreamRow, render_screen
from humanoid_data.cli.teleop_ui import (
    HELP_KEYS, TerminalUI, event_line, parse_disk, stream_rows)
from humanoid_data.core.events import Note, Phase, Source
from humanoid_data.core.teleop import Action, MarkerSession, TeleopConfig
from humanoid_data.monitors.sync import Level

ERRORS = {'wrist_right_ft': '3 gaps, longest 812.0 ms (error above 500)',
          'imu': 'silent for 2.1 s', 'lidar': 'rate 4.1 Hz of 10 Hz (error above 5)'}
WARNINGS = {'head_depth': 'latency p99 45.2 ms (warn above 40)',
            'tactile_left_ring': '1 stamp regressions (warn above 0)'}
EVENTS = tuple(f'12:00:{i:02d}.000 operator        phase step_{i} begin' for i in range(12))
DISK = DiskStatus(free_mib=12595.2, minutes_left=42.0)


def rows(names, errors=(), warnings=()):
    """One row per name, OK unless named in errors or warnings."""
    def row(name):
        level = Level.ERROR if name in errors else Level.WARN if name in warnings else Level.OK
        reason = dict(ERRORS, **WARNINGS).get(name, 'x') if level else ''
        return StreamRow(name, level, '30.0/30', '4.2', '0', reason)
    return tuple(row(n) for n in names)


def screen(streams, **kw):
    """A recording screen with the default help keys, events and disk."""
    values = dict(state='recording', episode='episode_0003', elapsed_s='12.3', phase='grasp',
                  drops='0', queue_mib='0.4', task='pick_place',
                  instruction='pick up the red cube and place it in the bin',
                  phases=('reach', 'grasp', 'lift', 'transport', 'place', 'release', 'retreat'),
                  streams=streams, events=EVENTS, disk=DISK, keys=HELP_KEYS)
    return Screen(**{**values, **kw})


def draw(renderable, width=80, height=24):
    """The lines a terminal of that size shows."""
    console = Console(record=True, width=width, height=height, force_terminal=False,
                      file=io.StringIO())
    console.print(renderable)
    lines = console.export_text().splitlines()
    assert len(lines) <= height and all(cell_len(line) <= width for line in lines)
    return lines


def table_names(lines, names):
    """The stream names listed in the table, in screen order."""
    return [line.split()[0] for line in lines if line.split() and line.split()[0] in names
            and line.split()[1] in ('OK', 'WARN', 'ERROR')]


def more_count(lines):
    """N of the '... N more' line, 0 when there is none."""
    found = [re.match(r'\.\.\. (\d+) more', line) for line in lines]
    return next((int(m.group(1)) for m in found if m), 0)


def assert_help_and_events(lines, events=4):
    text = '\n'.join(lines)
    assert 'q quit' in text and 'h all streams' in text and 'space next phase' in text
    assert lines[-1].startswith('n note')           # the help closes the screen
    for event in EVENTS[-events:]:
        assert event in text


@pytest.fixture
def names(suite):
    # The streams sync_monitor grades: latched ones (/robot_description) have no sync.
    return [s.name for s in suite.streamed]


def test_all_ok_fits_80x24_with_a_more_line(names):
    n = len(names)
    assert n == 24
    lines = draw(render_screen(screen(rows(names)), 80, 24))
    assert_help_and_events(lines)
    assert lines[1] == f'streams {n} OK'
    assert 'disk 42 min left (12.3 GiB free)' in lines[2]
    shown = table_names(lines, names)
    assert shown and more_count(lines) == len(names) - len(shown)
    assert f'... {len(names) - len(shown)} more OK' in lines


def test_errors_are_named_in_the_summary_and_listed_first(names):
    lines = draw(render_screen(screen(rows(names, ERRORS, WARNINGS)), 80, 24))
    assert_help_and_events(lines)
    summary = lines[1]
    assert summary.startswith(f'streams {len(names) - 5} OK  2 WARN  3 ERROR   worst: ERROR ')
    assert all(name in summary for name in ERRORS)
    shown = table_names(lines, names)
    assert shown[:3] == sorted(ERRORS) and shown[3:5] == sorted(WARNINGS)
    assert len(shown) > 5 and more_count(lines) == len(names) - len(shown)
    assert f'... {len(names) - len(shown)} more OK' in lines
    assert any('silent for 2.1 s' in line for line in lines)   # the reason column


def test_sixty_streams_count_what_is_left_out():
    names = [f'stream_{i:02d}' for i in range(60)]
    warnings = names[40:50]
    lines = draw(render_screen(screen(rows(names, names[:2], warnings)), 80, 24))
    assert_help_and_events(lines)
    assert lines[1] == ('streams 48 OK  10 WARN  2 ERROR   worst: ERROR stream_00 (x), '
                        'stream_01 (x)')
    shown = table_names(lines, names)
    assert shown[:2] == names[:2] and shown[2:12] == warnings[:len(shown) - 2]
    hidden = 60 - len(shown)
    hidden_warn = 10 - len(shown[2:12])
    assert more_count(lines) == hidden
    assert (f'... {hidden} more: {hidden_warn} WARN, {hidden - hidden_warn} OK' in lines
            if hidden_warn else f'... {hidden} more OK' in lines)


@pytest.mark.parametrize('values, text', [
    ({'disk_free_mib': '12595.2', 'disk_minutes_left': '42.0'},
     'disk 42 min left (12.3 GiB free)'),
    ({'disk_free_mib': '800', 'disk_minutes_left': '0.4'}, 'disk <1 min left (800 MiB free)'),
    ({'disk_free_mib': '512000', 'disk_minutes_left': '600'}, 'disk 10.0 h left (500.0 GiB free)'),
    ({'disk_free_mib': '12595.2', 'disk_minutes_left': ''}, 'disk 12.3 GiB free'),
    ({'disk_minutes_left': '42'}, 'disk 42 min left'),
    ({'disk_free_mib': 'nan', 'disk_minutes_left': 'soon'}, 'disk ?'),
    ({}, 'disk ?'),
])
def test_disk_text(values, text):
    assert parse_disk(values).text() == text


@pytest.mark.parametrize('level, message, expected', [
    ('1', 'disk: 4 min of recording left', Level.WARN),
    ('2', 'bag write failed: No space left on device', Level.ERROR),
    ('1', 'disk nearly full: 300 MiB free in /data', Level.WARN),
    ('1', '3 messages dropped, 0 missing by stamp gaps; disk: 4.0 min of recording left',
     Level.WARN),
    ('1', '3 messages dropped, 0 missing by stamp gaps', Level.OK),   # not about the disk
    ('1', '1 unfinished episode(s) in the session: humanoid-data repair /mnt/disk1/s',
     Level.OK),
    ('0', 'recording', Level.OK),
])
def test_disk_takes_the_recorder_level_only_when_it_is_about_the_disk(
        level, message, expected):
    disk = parse_disk({'level': level, 'message': message, 'disk_free_mib': '800',
                       'disk_minutes_left': '4'})
    assert disk.level == expected


@pytest.mark.parametrize('level, style', [(Level.WARN, 'yellow'), (Level.ERROR, 'bold red'),
                                          (Level.OK, '')])
def test_low_disk_is_shown_and_coloured(names, level, style):
    disk = DiskStatus(free_mib=800, minutes_left=3.6, level=level)
    group = render_screen(screen(rows(names), disk=disk), 80, 24)
    line = next(r for r in group.renderables if getattr(r, 'plain', '').startswith('disk'))
    assert line.plain.startswith('disk 4 min left (800 MiB free)') and line.style == style
    assert 'disk 4 min left (800 MiB free)' in draw(group)[2]


@pytest.mark.parametrize('width, height, events', [(120, 50, 8), (60, 20, 3)])
def test_other_sizes_keep_help_and_events(names, width, height, events):
    lines = draw(render_screen(screen(rows(names, ERRORS, WARNINGS)), width, height),
                 width, height)
    text = '\n'.join(lines)
    assert 'q quit' in text and 'h all streams' in text
    for event in EVENTS[-events:]:
        assert event[:width - 1] in text
    shown = table_names(lines, names)
    assert shown[:3] == sorted(ERRORS) and more_count(lines) == len(names) - len(shown)


@settings(max_examples=150, deadline=None)
@given(width=st.integers(1, 200), height=st.integers(1, 60), n_streams=st.integers(0, 70),
       n_events=st.integers(0, 12), full=st.booleans(), message=st.sampled_from(['', 'no']),
       note=st.text(max_size=150))
def test_never_more_than_the_terminal(width, height, n_streams, n_events, full, message,
                                      note):
    names = [f'stream_{i:02d}' for i in range(n_streams)]
    keys = ((f'note> {note}_', 'Enter send', 'Esc cancel') if note else HELP_KEYS)
    view = screen(rows(names, names[:3], names[3:5]), events=EVENTS[:n_events], keys=keys,
                  message=message, full_table=full, page=7)
    draw(render_screen(view, width, height), width, height)


@pytest.mark.parametrize('width, height', [(120, 50), (80, 24), (60, 20)])
def test_full_table_pages_show_every_stream(names, width, height):
    seen, pages = [], None
    for page in range(10):
        lines = draw(render_screen(screen(rows(names, ERRORS, WARNINGS), full_table=True,
                                          page=page), width, height), width, height)
        assert 'h back' in '\n'.join(lines) and 'q quit' in '\n'.join(lines)
        found = re.match(r'ALL STREAMS (\d+)/(\d+)', lines[0])
        pages = int(found.group(2)) if found else 1
        seen += table_names(lines, names)
        if page + 1 == pages:
            break
    assert sorted(seen) == sorted(names) and len(seen) == len(names)
    assert seen[:3] == sorted(ERRORS)
    assert (pages == 1) == (width == 120)


def test_stream_rows_from_sync_statuses():
    sync = {'imu': (2, 'silent for 2.1 s', {'topic': '/imu', 'rate_hz': '0.0',
                                            'expected_hz': '200.0', 'latency_p99_ms': 'nan'}),
            'head_rgb': (0, 'ok', {'topic': '/head/rgb', 'rate_hz': '29.97',
                                   'expected_hz': '30.0', 'latency_p99_ms': '12.345'}),
            'lidar': (3, 'stale', {})}
    recorder = {'/imu dropped': '4', '/head/rgb dropped': '0'}
    assert stream_rows(sync, recorder) == (
        StreamRow('head_rgb', Level.OK, '30.0/30', '12.3', '0', ''),
        StreamRow('imu', Level.ERROR, '0.0/200', '-', '4', 'silent for 2.1 s'),
        StreamRow('lidar', Level.ERROR, '-', '-', '', 'stale'))


def test_event_line_names_source_kind_and_fields():
    line = event_line(Phase(1_700_000_000_123_000_000, Source.OPERATOR, 'v1', 'grasp'))
    assert re.fullmatch(r'\d\d:\d\d:\d\d\.123 operator +phase grasp begin', line)
    assert event_line(Note(0, Source.OPERATOR, text='grip ok')).endswith('note grip ok')


def fake_node(taxonomy, keys=None, **recorder):
    session = MarkerSession(taxonomy, operator='ana')
    session.open_phase = 'grasp'
    sync = {name: (2 if name in ERRORS else 0, ERRORS.get(name, 'ok'),
                   {'topic': f'/{name}', 'rate_hz': '30', 'expected_hz': '30'})
            for name in ('imu', 'head_rgb', 'wrist_right_ft')}
    return SimpleNamespace(
        session=session, taxonomy=taxonomy, sync=sync,
        config=TeleopConfig(keys or {'s': Action.START}, {}),
        recent=deque([Note(1_700_000_000_000_000_000, Source.OPERATOR, text='grip ok')]),
        recorder={'state': 'recording', 'episode': 'episode_0007', 'elapsed_s': '3.0',
                  'level': '1', 'message': 'disk: 9 min left', **recorder})


def test_terminal_ui_shows_the_node_and_toggles_the_full_table(taxonomy):
    ui = TerminalUI(fake_node(taxonomy, disk_free_mib='2048', disk_minutes_left='9'))
    ui.console = Console(width=80, height=24, force_terminal=False, file=io.StringIO())
    lines = draw(ui.render())
    assert lines[0].startswith('RECORDING  episode_0007  3.0 s  phase grasp')
    assert lines[1] == ('streams 1 OK  2 ERROR   worst: ERROR imu (silent for 2.1 s), '
                        'wrist_right_ft')
    assert lines[2].startswith('disk 9 min left (2.0 GiB free)   task pick_place')
    assert ui.screen().disk.level == Level.WARN
    assert any(line.endswith('note grip ok') for line in lines)
    assert ui.toggle_view('h') and ui.full_table
    lines = draw(ui.render())
    assert lines[0].startswith('ALL STREAMS') and 'h back' in lines[-1]
    assert ui.toggle_view('\t') and ui.page == 1
    assert ui.toggle_view('h') and not ui.full_table
    assert not ui.toggle_view('s')


def test_a_bound_view_key_stays_the_operators(taxonomy):
    ui = TerminalUI(fake_node(taxonomy, keys={'h': Action.START}, message='3 dropped'))
    assert not ui.toggle_view('h') and not ui.full_table
    ui.console = Console(width=80, height=24, force_terminal=False, file=io.StringIO())
    assert 'all streams' not in '\n'.join(draw(ui.render()))
    assert ui.screen().disk == DiskStatus() and 'disk ?' in draw(ui.render())[2]
