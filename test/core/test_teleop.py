"""Operator commands without ROS or a terminal: key and Joy maps, the marker session."""

from __future__ import annotations

import pytest

from humanoid_data.core.events import (
    Boundary, Discard, EpisodeEnd, EpisodeOutcome, EpisodeStart, Note, Outcome, Phase, Source)
from humanoid_data.core.teleop import (
    Action, Command, JoyMapper, MarkerSession, Mode, command_for_key, load_teleop_config,
    parse_teleop_config)
from humanoid_data.errors import ConfigError

MS = 1_000_000


@pytest.fixture
def keys(suite_file):
    return load_teleop_config(suite_file.parent / 'teleop.yaml')


def press(session, config, text, start=0):
    """Type keys one millisecond apart; return every event."""
    events = []
    for i, key in enumerate(text):
        command = command_for_key(config, key, session.mode)
        if command is not None:
            events += session.handle(command, (start + i) * MS)
    return events


def test_keys_mark_a_whole_episode(taxonomy, keys):
    session = MarkerSession(taxonomy, operator='ana')
    events = press(session, keys, 's1  e')
    kinds = [(type(e).__name__, getattr(e, 'name', ''), getattr(e, 'boundary', None))
             for e in events]
    assert kinds == [
        ('EpisodeStart', '', None),
        ('Phase', 'reach', Boundary.BEGIN),
        ('Phase', 'reach', Boundary.END), ('Phase', 'grasp', Boundary.BEGIN),
        ('Phase', 'grasp', Boundary.END), ('Phase', 'lift', Boundary.BEGIN),
        ('Phase', 'lift', Boundary.END), ('EpisodeEnd', '', None)]
    assert [e.stamp_ns for e in events] == [0, MS, 2 * MS, 2 * MS, 3 * MS, 3 * MS, 4 * MS,
                                            4 * MS]
    assert all(e.source == Source.OPERATOR and e.taxonomy == taxonomy.version for e in events)
    start = events[0]
    assert isinstance(start, EpisodeStart) and start.operator == 'ana'
    assert start.task == 'pick_place' and start.instruction.startswith('pick up')
    assert isinstance(events[-1], EpisodeEnd) and events[-1].outcome == Outcome.SUCCESS


def test_failure_ends_at_the_press_and_the_number_names_the_mode_afterwards(taxonomy, keys):
    session = MarkerSession(taxonomy)
    press(session, keys, 's')
    end = press(session, keys, 'f', start=10)[-1]
    # The stop is sent at the press, never seconds later once a mode is picked.
    assert isinstance(end, EpisodeEnd) and end.outcome == Outcome.FAILURE
    assert end.stamp_ns == 10 * MS and end.failure_mode == ''
    assert session.mode == Mode.CHOOSING_FAILURE
    assert press(session, keys, 's') == [] and 'failure mode' in session.message
    (named,) = press(session, keys, '2', start=50)
    assert isinstance(named, EpisodeOutcome) and named.outcome == Outcome.FAILURE
    assert named.failure_mode == taxonomy.failure_names[1] and named.stamp_ns == 50 * MS
    assert session.mode == Mode.IDLE


def test_refusals_leave_a_message_and_no_event(taxonomy, keys):
    session = MarkerSession(taxonomy)
    assert press(session, keys, 'e1 ') == [] and session.message
    press(session, keys, 's')
    assert press(session, keys, 's') == [] and 'already recording' in session.message
    assert press(session, keys, '9') == [] and '1..7' in session.message
    assert isinstance(session.handle(Command(Action.FAILURE), 0)[-1], EpisodeEnd)
    assert session.handle(Command(Action.FAILURE_MODE, 99), 0) == []
    assert session.handle(Command(Action.CANCEL), 0) == [] and session.mode == Mode.IDLE
    assert 'unnamed' in session.message


def test_discard_note_and_abort(taxonomy, keys):
    session = MarkerSession(taxonomy)
    press(session, keys, 's3')
    events = session.handle(Command(Action.DISCARD), 5 * MS)
    assert isinstance(events[0], Phase) and events[0].boundary == Boundary.END
    assert isinstance(events[1], Discard) and session.mode == Mode.IDLE
    note = session.handle(Command(Action.NOTE, text='gripper sticky'), 6 * MS)
    assert isinstance(note[0], Note) and note[0].text == 'gripper sticky'
    press(session, keys, 's')
    end = press(session, keys, 'a')[-1]
    assert isinstance(end, EpisodeEnd) and end.outcome == Outcome.ABORTED


def test_joy_buttons_fire_once_per_press_with_debounce(taxonomy, keys):
    joy = JoyMapper(keys)
    session = MarkerSession(taxonomy)
    pedal = {0: [0, 1, 0, 0], 1: [0, 1, 0, 0], 2: [0, 0, 0, 0], 3: [0, 1, 0, 0],
             200: [0, 0, 0, 0], 300: [1, 0, 0, 0], 301: [1, 0, 0, 0], 400: [0, 0, 0, 0],
             500: [1, 0, 0, 0], 900: [0, 0, 0, 0], 950: [0, 1, 0, 0]}
    events = []
    for ms, buttons in pedal.items():
        for command in joy.update(ms * MS, buttons):
            events += session.handle(command, ms * MS)
    # right pedal at 0 ms starts; the bounce at 3 ms is ignored; left pedal at 300 and
    # 500 ms walks the phases; right pedal at 950 ms ends the episode as a success.
    assert [(e.kind, e.stamp_ns // MS) for e in events] == [
        ('episode_start', 0), ('phase', 300), ('phase', 500), ('phase', 500),
        ('phase', 950), ('episode_end', 950)]
    assert events[-1].outcome == Outcome.SUCCESS


def test_teleop_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match='keys.3: digits are reserved'):
        parse_teleop_config({'keys': {3: 'start'}}, 't.yaml')
    with pytest.raises(ConfigError, match=r"keys\.k.*'jump'"):
        parse_teleop_config({'keys': {'k': 'jump'}}, 't.yaml')
    with pytest.raises(ConfigError, match='joy.buttons.1: note needs an argument'):
        parse_teleop_config({'joy': {'buttons': {1: 'note'}}}, 't.yaml')
    with pytest.raises(ConfigError, match='two keys'):
        parse_teleop_config({'keys': {'s': 'start', 'b': 'start'}}, 't.yaml')
    path = tmp_path / 'teleop.yaml'
    path.write_text('keys: [\n')
    with pytest.raises(ConfigError, match='teleop.yaml: not valid YAML'):
        load_teleop_config(path)


@pytest.mark.parametrize(('data', 'match'), [
    ({'joy': {'pedals': {}}}, r"joy: unknown key 'pedals'; allowed: buttons, debounce_s"),
    ({'key': {}}, "unknown key 'key'; allowed: joy, keys"),
    ({'keys': ['s', 'start']}, 'keys: expected a mapping of key to action'),
    ({'keys': {None: 'start'}}, 'keys.None: expected a key name'),
    ({'keys': {'s': ['start']}}, r"keys\.s: \['start'\] is not one of: start"),
    ({'joy': ['pedal']}, 'joy: expected a mapping'),
    ({'joy': {'buttons': [0, 1]}}, 'joy.buttons: expected a mapping of button number'),
    ({'joy': {'buttons': {True: 'abort'}}}, 'joy.buttons.True: button numbers are integers'),
    ({'joy': {'debounce_s': float('nan')}}, 'joy.debounce_s: expected a finite number >= 0'),
    ({'joy': {'debounce_s': float('inf')}}, 'joy.debounce_s: expected a finite number'),
    ({'joy': {'debounce_s': '50ms'}}, 'joy.debounce_s: expected a finite number'),
])
def test_teleop_config_is_strict_at_every_level(data, match):
    with pytest.raises(ConfigError, match=f'^t.yaml: {match}'):
        parse_teleop_config(data, 't.yaml')


def test_teleop_syntax_error_names_the_line(tmp_path):
    path = tmp_path / 'teleop.yaml'
    path.write_text('keys:\n  s: start\n  e: success: now\n')
    with pytest.raises(ConfigError, match=f'^{path}: not valid YAML at line 3, column 13'):
        load_teleop_config(path)
