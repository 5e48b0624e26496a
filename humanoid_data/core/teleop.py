"""The operator's markers, without ROS or a terminal: actions, key and button maps, session.

Every input (a key in the terminal UI, a button of a pedal or gamepad, a service call,
the demo's scripted operator) becomes an ``Action``; ``MarkerSession.handle`` turns an
action stamped at the moment of the press into events for ``/humanoid_data/events``.

Keys (``config/teleop.yaml``): ``s`` start, ``e`` end as success, ``f`` end as failure
at once (then a number names the failure mode, sent as an ``episode_outcome`` event),
``a`` abort, ``x`` discard, ``n`` note, ``space`` next phase, ``1``-``9`` begin or end
the task's phase of that number, ``t`` tare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Mapping, Sequence

from humanoid_data.core.checks import check_mapping, check_number, parse_enum, short_repr
from humanoid_data.core.events import (
    Boundary, Discard, EpisodeEnd, EpisodeOutcome, EpisodeStart, EventBase, Note, Outcome, Phase,
    Source)
from humanoid_data.core.phases import Taxonomy
from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import ConfigError


class Action(str, Enum):
    """What an operator can do."""

    START = 'start'
    SUCCESS = 'success'
    FAILURE = 'failure'             # asks for a failure mode next
    ABORT = 'abort'
    DISCARD = 'discard'
    NEXT_PHASE = 'next_phase'       # end the open phase, begin the next one
    START_STOP = 'start_stop'       # one pedal: start, or end as success
    NOTE = 'note'                   # asks for text next
    TARE = 'tare'
    PHASE = 'phase'                 # with a number: toggle that phase
    FAILURE_MODE = 'failure_mode'   # with a number: pick that failure mode
    CANCEL = 'cancel'               # leave a pending choice


class Mode(str, Enum):
    """What the session expects next."""

    IDLE = 'idle'
    RECORDING = 'recording'
    CHOOSING_FAILURE = 'choosing_failure'


@dataclass(frozen=True)
class Command:
    """An action with its argument (a 1-based number, a failure mode or a note)."""

    action: Action
    number: int = 0
    text: str = ''


@dataclass(frozen=True)
class TeleopConfig:
    """Key and button mapping (``config/teleop.yaml``)."""

    keys: Mapping[str, Action]
    buttons: Mapping[int, Action]
    debounce_s: float = 0.05
    source: str = '<defaults>'


DEFAULT_KEYS = {'s': Action.START, 'e': Action.SUCCESS, 'f': Action.FAILURE,
                'a': Action.ABORT, 'x': Action.DISCARD, ' ': Action.NEXT_PHASE,
                'n': Action.NOTE, 't': Action.TARE, 'escape': Action.CANCEL}
_KEY_NAMES = {'space': ' ', 'esc': 'escape'}
_NUMBERED = (Action.PHASE, Action.FAILURE_MODE)


def parse_teleop_config(data: object, source: str = '<memory>') -> TeleopConfig:
    """Build a ``TeleopConfig`` from parsed YAML: ``keys``, ``joy.buttons``, ``joy.debounce_s``.

    Raises:
        ConfigError: Unknown key or action, a key bound twice, a digit bound (digits are
            phase and failure-mode numbers), a wrong type, naming the file and key.

    """
    data = check_mapping(data, {'keys', 'joy'}, source)
    keys = _parse_keys(data.get('keys') or {}, source)
    joy = check_mapping(data.get('joy') or {}, {'buttons', 'debounce_s'}, f'{source}: joy')
    buttons = _parse_buttons(joy.get('buttons') or {}, source)
    debounce = check_number(joy.get('debounce_s', 0.05), f'{source}: joy.debounce_s',
                            minimum=0)
    return TeleopConfig(keys or dict(DEFAULT_KEYS), buttons, debounce, source)


def _parse_keys(raw: object, source: str) -> dict[str, Action]:
    """``keys``: key name (``space``, ``esc`` or a character) -> action."""
    if not isinstance(raw, dict):
        raise ConfigError(f'{source}: keys: expected a mapping of key to action, '
                          f'got {short_repr(raw)}')
    keys: dict[str, Action] = {}
    for name, value in raw.items():
        where = f'{source}: keys.{name}'
        if isinstance(name, bool) or not isinstance(name, (str, int)) or name == '':
            raise ConfigError(f'{where}: expected a key name, got {short_repr(name)}')
        key = _KEY_NAMES.get(str(name), str(name))
        if key.isdigit():
            raise ConfigError(f'{where}: digits are reserved for phase and failure numbers')
        action = parse_enum(Action, value, where)
        if action in _NUMBERED:
            raise ConfigError(f'{where}: {action.value} is bound to the number keys')
        keys[key] = action
    if len(set(keys.values())) != len(keys):
        raise ConfigError(f'{source}: keys: an action is bound to two keys')
    return keys


def _parse_buttons(raw: object, source: str) -> dict[int, Action]:
    """``joy.buttons``: button index -> action (one without an argument)."""
    if not isinstance(raw, dict):
        raise ConfigError(f'{source}: joy.buttons: expected a mapping of button number to '
                          f'action, got {short_repr(raw)}')
    buttons: dict[int, Action] = {}
    for index, value in raw.items():
        where = f'{source}: joy.buttons.{index}'
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ConfigError(f'{where}: button numbers are integers >= 0')
        action = parse_enum(Action, value, where)
        if action in _NUMBERED or action in (Action.NOTE, Action.CANCEL):
            raise ConfigError(f'{where}: {action.value} needs an argument; not for a button')
        buttons[index] = action
    return buttons


def load_teleop_config(path: str | Path) -> TeleopConfig:
    """Read and validate ``teleop.yaml``.

    Raises:
        ConfigError: Unreadable, too large, not YAML, or not valid.

    """
    return parse_teleop_config(read_yaml(path, 'teleop key and button map'), str(path))


def command_for_key(config: TeleopConfig, key: str, mode: Mode) -> Command | None:
    """Translate one key into a command (None when the key is not bound).

    Digits 1-9 mean a phase number, or a failure-mode number while one is being chosen.
    """
    if key.isdigit() and key != '0':
        action = Action.FAILURE_MODE if mode == Mode.CHOOSING_FAILURE else Action.PHASE
        return Command(action, int(key))
    bound = config.keys.get(key)
    return Command(bound) if bound is not None else None


class JoyMapper:
    """Buttons of a ``sensor_msgs/Joy`` stream to commands, on the press (rising edge).

    A button held down fires once; a press within ``debounce_s`` of the previous press
    of the same button is contact bounce and ignored.
    """

    def __init__(self, config: TeleopConfig) -> None:
        """Start with every button released."""
        self.config = config
        self._pressed: dict[int, bool] = {}
        self._last_press: dict[int, int] = {}

    def update(self, stamp_ns: int, buttons: Sequence[int]) -> list[Command]:
        """Feed one Joy message's buttons; return the commands of new presses."""
        out = []
        debounce_ns = int(self.config.debounce_s * 1e9)
        for index, action in self.config.buttons.items():
            down = index < len(buttons) and bool(buttons[index])
            if down and not self._pressed.get(index, False):
                last = self._last_press.get(index)
                if last is None or stamp_ns - last >= debounce_ns:
                    out.append(Command(action))
                self._last_press[index] = stamp_ns
            self._pressed[index] = down
        return out


@dataclass
class MarkerSession:
    """Operator state and the events each command produces.

    The session tracks whether an episode is recording and which phase is open, so a
    pedal's "next phase" knows what to end and begin. The recorder stays the authority
    on episodes: it refuses a start while recording, and ``sync_recording`` lets the
    session follow the recorder's reported state.
    """

    taxonomy: Taxonomy
    task: str = ''
    instruction: str = ''
    operator: str = ''
    tags: tuple[str, ...] = ()
    mode: Mode = Mode.IDLE
    open_phase: str = ''
    phase_index: int = -1
    history: list[EventBase] = field(default_factory=list)
    message: str = ''

    def __post_init__(self) -> None:
        """Resolve the task (default from the taxonomy) and its instruction."""
        task = self.taxonomy.task(self.task)
        self.task = task.name
        self.instruction = self.instruction or task.instruction

    @property
    def phases(self) -> tuple[str, ...]:
        """The task's phases in order (number keys 1..9)."""
        return self.taxonomy.task(self.task).phase_names

    def handle(self, command: Command, stamp_ns: int) -> list[EventBase]:
        """Apply one command stamped ``stamp_ns`` (robot clock); return the events.

        A command that does not fit the state returns no events and sets ``message``.
        """
        self.message = ''
        handler = getattr(self, f'_on_{command.action.value}')
        events: list[EventBase] = handler(command, stamp_ns)
        self.history.extend(events)
        del self.history[:-50]
        return events

    def _event(self, cls: type[EventBase], stamp_ns: int, **kwargs: object) -> EventBase:
        return cls(stamp_ns, Source.OPERATOR, self.taxonomy.version, **kwargs)

    def _refuse(self, text: str) -> list[EventBase]:
        self.message = text
        return []

    def _on_start(self, _: Command, stamp_ns: int) -> list[EventBase]:
        if self.mode == Mode.CHOOSING_FAILURE:
            return self._refuse('pick the failure mode of the last episode (or cancel) first')
        if self.mode != Mode.IDLE:
            return self._refuse('already recording: end or discard the episode first')
        self.mode, self.open_phase, self.phase_index = Mode.RECORDING, '', -1
        return [self._event(EpisodeStart, stamp_ns, task=self.task,
                            instruction=self.instruction, operator=self.operator,
                            tags=self.tags)]

    def _on_start_stop(self, command: Command, stamp_ns: int) -> list[EventBase]:
        if self.mode == Mode.IDLE:
            return self._on_start(command, stamp_ns)
        return self._on_success(command, stamp_ns)

    def _end(self, stamp_ns: int, outcome: Outcome, failure_mode: str = '',
             note: str = '') -> list[EventBase]:
        events = self._close_phase(stamp_ns)
        events.append(self._event(EpisodeEnd, stamp_ns, outcome=outcome,
                                  failure_mode=failure_mode, note=note))
        self.mode = Mode.IDLE
        return events

    def _on_success(self, _: Command, stamp_ns: int) -> list[EventBase]:
        if self.mode != Mode.RECORDING:
            return self._refuse('not recording')
        return self._end(stamp_ns, Outcome.SUCCESS)

    def _on_failure(self, command: Command, stamp_ns: int) -> list[EventBase]:
        if self.mode != Mode.RECORDING:
            return self._refuse('not recording')
        if command.text:        # a service or script names the mode directly
            try:
                self.taxonomy.check_failure_mode(command.text)
            except ConfigError as err:
                return self._refuse(str(err))
            return self._end(stamp_ns, Outcome.FAILURE, failure_mode=command.text)
        # The episode ends at the press, so the recorder closes it on time; the failure
        # mode, chosen seconds later, follows as an episode_outcome event.
        events = self._end(stamp_ns, Outcome.FAILURE)
        self.mode = Mode.CHOOSING_FAILURE
        self.message = 'failure mode? ' + '  '.join(
            f'{i}:{name}' for i, name in enumerate(self.taxonomy.failure_names, 1))
        return events

    def _on_failure_mode(self, command: Command, stamp_ns: int) -> list[EventBase]:
        if self.mode != Mode.CHOOSING_FAILURE:
            return self._refuse('press f first to end the episode as a failure')
        names = self.taxonomy.failure_names
        if not 1 <= command.number <= len(names):
            return self._refuse(f'failure modes are numbered 1..{len(names)}')
        self.mode = Mode.IDLE
        return [self._event(EpisodeOutcome, stamp_ns, outcome=Outcome.FAILURE,
                            failure_mode=names[command.number - 1])]

    def _on_abort(self, _: Command, stamp_ns: int) -> list[EventBase]:
        if self.mode == Mode.IDLE:
            return self._refuse('not recording')
        return self._end(stamp_ns, Outcome.ABORTED)

    def _on_discard(self, command: Command, stamp_ns: int) -> list[EventBase]:
        events = self._close_phase(stamp_ns) if self.mode != Mode.IDLE else []
        self.mode = Mode.IDLE
        return events + [self._event(Discard, stamp_ns, reason=command.text or
                                     'discarded by operator')]

    def _on_cancel(self, _: Command, stamp_ns: int) -> list[EventBase]:
        if self.mode == Mode.CHOOSING_FAILURE:   # the episode stays a failure, mode unnamed
            self.mode = Mode.IDLE
            self.message = 'failure mode left unnamed'
        return []

    def _on_note(self, command: Command, stamp_ns: int) -> list[EventBase]:
        if not command.text:
            return self._refuse('a note needs text')
        return [self._event(Note, stamp_ns, text=command.text)]

    def _on_tare(self, _: Command, stamp_ns: int) -> list[EventBase]:
        return []   # the node forwards it to the contact monitor

    def _close_phase(self, stamp_ns: int) -> list[EventBase]:
        if not self.open_phase:
            return []
        name, self.open_phase = self.open_phase, ''
        return [self._event(Phase, stamp_ns, name=name, boundary=Boundary.END)]

    def _on_phase(self, command: Command, stamp_ns: int) -> list[EventBase]:
        if self.mode != Mode.RECORDING:
            return self._refuse('phases are marked while recording')
        if not 1 <= command.number <= len(self.phases):
            return self._refuse(f'{self.task} has phases 1..{len(self.phases)}')
        name = self.phases[command.number - 1]
        if self.open_phase == name:
            return self._close_phase(stamp_ns)
        events = self._close_phase(stamp_ns)
        self.open_phase, self.phase_index = name, command.number - 1
        events.append(self._event(Phase, stamp_ns, name=name, boundary=Boundary.BEGIN))
        return events

    def _on_next_phase(self, _: Command, stamp_ns: int) -> list[EventBase]:
        if self.mode != Mode.RECORDING:
            return self._refuse('phases are marked while recording')
        if self.phase_index + 1 >= len(self.phases):
            return self._close_phase(stamp_ns) or self._refuse('no phase after the last')
        return self._on_phase(Command(Action.PHASE, self.phase_index + 2), stamp_ns)

    def sync_recording(self, recording: bool) -> None:
        """Follow the recorder's state (it may have refused or ended an episode)."""
        if not recording and self.mode == Mode.RECORDING:
            self.mode, self.open_phase = Mode.IDLE, ''
        elif recording and self.mode == Mode.IDLE:
            self.mode = Mode.RECORDING
