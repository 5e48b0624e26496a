"""Events on ``/humanoid_data/events``: value types and a versioned JSON codec.

One event is one JSON object in a ``std_msgs/String``. Every event has ``schema`` (this
codec's version), ``kind``, ``stamp_ns`` on the robot's hardware clock, ``source`` and
``taxonomy`` (the version of the phase taxonomy in force), plus the fields of its kind.
Events are recorded in the episode bag, so a bag carries its own labels.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any, ClassVar, Union

from humanoid_data.core.checks import parse_enum
from humanoid_data.errors import ConfigError, EventError

SCHEMA = 'humanoid_data.event/1'
#: Limits checked before an event is parsed: any process on the robot's network can
#: publish on the events topic, and a deeply nested document exhausts the parser's stack.
MAX_EVENT_CHARS = 64 * 1024
MAX_EVENT_DEPTH = 4
INT64_MAX = 2 ** 63 - 1
# One pass over escapes, quotes and brackets (a regex that matches whole strings
# backtracks quadratically on an unterminated one full of escaped quotes).
_STRUCTURE = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


class Source(str, Enum):
    """Who emitted an event."""

    OPERATOR = 'operator'
    AUTO = 'auto'
    CONTACT_MONITOR = 'contact_monitor'
    SIM_TRUTH = 'sim_truth'
    RECORDER = 'recorder'


class Outcome(str, Enum):
    """How an episode ended."""

    SUCCESS = 'success'
    FAILURE = 'failure'
    ABORTED = 'aborted'


class Boundary(str, Enum):
    """Which edge of a phase an event marks."""

    BEGIN = 'begin'
    END = 'end'


class Transition(str, Enum):
    """What a contact event reports."""

    ONSET = 'onset'
    OFFSET = 'offset'
    SLIP = 'slip'


@dataclass(frozen=True)
class EventBase:
    """Fields shared by every event."""

    stamp_ns: int
    source: Source
    taxonomy: str = ''

    kind: ClassVar[str] = ''


@dataclass(frozen=True)
class EpisodeStart(EventBase):
    """The operator starts an episode."""

    task: str = ''
    instruction: str = ''
    operator: str = ''
    tags: tuple[str, ...] = ()

    kind: ClassVar[str] = 'episode_start'


@dataclass(frozen=True)
class EpisodeEnd(EventBase):
    """The operator ends an episode with its outcome."""

    outcome: Outcome = Outcome.SUCCESS
    failure_mode: str = ''
    note: str = ''

    kind: ClassVar[str] = 'episode_end'


@dataclass(frozen=True)
class EpisodeOutcome(EventBase):
    """The operator names (or corrects) how the episode that just ended went.

    Sent after ``episode_end`` when the outcome is chosen later than the stop (a failure
    mode picked after ``f``), so the stop itself is never late.
    """

    outcome: Outcome = Outcome.FAILURE
    failure_mode: str = ''
    note: str = ''

    kind: ClassVar[str] = 'episode_outcome'


@dataclass(frozen=True)
class Discard(EventBase):
    """The operator throws the current (or just finished) episode away."""

    reason: str = ''

    kind: ClassVar[str] = 'discard'


@dataclass(frozen=True)
class Phase(EventBase):
    """A task phase begins or ends."""

    name: str = ''
    boundary: Boundary = Boundary.BEGIN

    kind: ClassVar[str] = 'phase'


@dataclass(frozen=True)
class Contact(EventBase):
    """A contact channel (a wrist or a tactile pad) changes state."""

    channel: str = ''
    transition: Transition = Transition.ONSET
    peak: float = 0.0

    kind: ClassVar[str] = 'contact'


@dataclass(frozen=True)
class Note(EventBase):
    """Free text from the operator."""

    text: str = ''

    kind: ClassVar[str] = 'note'


Event = Union[EpisodeStart, EpisodeEnd, EpisodeOutcome, Discard, Phase, Contact, Note]
EVENT_TYPES: dict[str, type[EventBase]] = {
    cls.kind: cls for cls in (EpisodeStart, EpisodeEnd, EpisodeOutcome, Discard, Phase,
                              Contact, Note)}
_ENUM_FIELDS: dict[str, type[Enum]] = {
    'source': Source, 'outcome': Outcome, 'boundary': Boundary, 'transition': Transition}


def encode_event(event: EventBase) -> str:
    """Return the JSON text of ``event``."""
    body: dict[str, Any] = {'schema': SCHEMA, 'kind': event.kind}
    for key, value in asdict(event).items():
        body[key] = value.value if isinstance(value, Enum) else (
            list(value) if isinstance(value, tuple) else value)
    return json.dumps(body, sort_keys=True, separators=(',', ':'))


def decode_event(text: str) -> EventBase:
    """Parse and validate one event.

    Args:
        text: JSON text from the events topic.

    Returns:
        The typed event.

    Raises:
        EventError: Too large or too deeply nested, not JSON, wrong schema, unknown kind,
            or a missing or bad field (a stamp outside int64, a number that is not finite).

    """
    _check_shape(text)
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        raise EventError(f'event is not JSON: {err}') from None
    if not isinstance(body, dict):
        raise EventError('event must be a JSON object')
    if body.get('schema') != SCHEMA:
        raise EventError(f'event schema {body.get("schema")!r} is not {SCHEMA!r}')
    kind = body.get('kind')
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None or not isinstance(kind, str):
        raise EventError(f'unknown event kind {kind!r}; known: {", ".join(EVENT_TYPES)}')
    allowed = {f.name: f for f in fields(cls)}
    unknown = sorted(set(body) - set(allowed) - {'schema', 'kind'})
    if unknown:
        raise EventError(f'{kind} event has unknown field {unknown[0]!r}')
    values: dict[str, Any] = {}
    for name, value in body.items():
        if name in ('schema', 'kind'):
            continue
        values[name] = _field_value(kind, name, value)
    for required in ('stamp_ns', 'source'):
        if required not in values:
            raise EventError(f'{kind} event is missing {required!r}')
    return cls(**values)


def _check_shape(text: str) -> None:
    """Refuse an event too large or too deeply nested to parse safely."""
    if not isinstance(text, str):
        raise EventError(f'event must be text, got {type(text).__name__}')
    if len(text) > MAX_EVENT_CHARS:
        raise EventError(f'event of {len(text)} characters exceeds the limit of '
                         f'{MAX_EVENT_CHARS}')
    depth = 0
    in_string = False
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif in_string or token[0] == '\\':
            continue
        elif token in '[{':
            depth += 1
            if depth > MAX_EVENT_DEPTH:
                raise EventError(f'event nested deeper than {MAX_EVENT_DEPTH} levels')
        else:
            depth -= 1


def _no_constant(name: str) -> float:
    raise ValueError(f'{name} is not a number an event may carry')


def _field_value(kind: str, name: str, value: Any) -> Any:
    if name in _ENUM_FIELDS:
        try:
            return parse_enum(_ENUM_FIELDS[name], value, f'{kind} event field {name!r}')
        except ConfigError as err:
            raise EventError(str(err)) from None
    if name == 'stamp_ns':
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 \
                or value > INT64_MAX:
            raise EventError(f'{kind} event stamp_ns must be a non-negative integer of '
                             f'at most 2**63-1 nanoseconds, got {value!r:.40}')
        return value
    if name == 'tags':
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise EventError(f'{kind} event tags must be a list of strings')
        return tuple(value)
    if name == 'peak':
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EventError(f'{kind} event peak must be a number')
        try:
            peak = float(value)
        except OverflowError:
            peak = math.inf
        if not math.isfinite(peak) or peak < 0:
            raise EventError(f'{kind} event peak must be finite and >= 0, got {value!r:.40}')
        return peak
    if not isinstance(value, str):
        raise EventError(f'{kind} event field {name!r} must be a string')
    return value


__all__ = [
    'SCHEMA', 'Boundary', 'Contact', 'Discard', 'EpisodeEnd', 'EpisodeOutcome',
    'EpisodeStart', 'Event',
    'EventBase', 'Note', 'Outcome', 'Phase', 'Source', 'Transition', 'decode_event',
    'encode_event',
]
