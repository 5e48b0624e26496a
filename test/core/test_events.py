"""Event codec: round trips over every kind, malformed input rejected with a reason."""

from __future__ import annotations

import json

import pytest

from humanoid_data.core.events import (
    EVENT_TYPES, MAX_EVENT_CHARS, Boundary, Contact, Discard, EpisodeEnd, EpisodeOutcome,
    EpisodeStart, Note, Outcome, Phase, Source, Transition, decode_event, encode_event)
from humanoid_data.errors import EventError

SAMPLES = [
    EpisodeStart(1, Source.OPERATOR, 'v1', task='pick', instruction='pick it', operator='ann',
                 tags=('a', 'b')),
    EpisodeEnd(2, Source.OPERATOR, outcome=Outcome.FAILURE, failure_mode='slip', note='x'),
    EpisodeOutcome(3, Source.OPERATOR, outcome=Outcome.FAILURE, failure_mode='slip'),
    Discard(3, Source.OPERATOR, reason='bad'),
    Phase(4, Source.SIM_TRUTH, name='grasp', boundary=Boundary.END),
    Contact(5, Source.CONTACT_MONITOR, channel='wrist/right', transition=Transition.SLIP,
            peak=4.5),
    Note(6, Source.OPERATOR, text='hello'),
]


def test_samples_cover_every_kind():
    assert {e.kind for e in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize('event', SAMPLES, ids=lambda e: e.kind)
def test_round_trip(event):
    text = encode_event(event)
    assert decode_event(text) == event
    assert json.loads(text)['kind'] == event.kind


@pytest.mark.parametrize(('text', 'reason'), [
    ('not json', 'not JSON'),
    ('[1]', 'JSON object'),
    ('{"schema": "other/9", "kind": "note"}', 'schema'),
    ('{"schema": "humanoid_data.event/1", "kind": "dance", "stamp_ns": 1, "source": "auto"}',
     'unknown event kind'),
    ('{"schema": "humanoid_data.event/1", "kind": "note", "source": "auto"}', 'stamp_ns'),
    ('{"schema": "humanoid_data.event/1", "kind": "note", "stamp_ns": -1, "source": "auto"}',
     'non-negative'),
    ('{"schema": "humanoid_data.event/1", "kind": "note", "stamp_ns": 1, "source": "cat"}',
     'source'),
    ('{"schema": "humanoid_data.event/1", "kind": "note", "stamp_ns": 1, "source": "auto",'
     ' "colour": 1}', 'unknown field'),
    ('{"schema": "humanoid_data.event/1", "kind": "episode_end", "stamp_ns": 1,'
     ' "source": "operator", "outcome": "meh"}', 'success, failure, aborted'),
])
def test_malformed_rejected_with_reason(text, reason):
    with pytest.raises(EventError, match=reason):
        decode_event(text)


HEAD = '{"schema": "humanoid_data.event/1", "kind": "contact", "source": "auto", '


@pytest.mark.parametrize(('text', 'reason'), [
    (HEAD + '"stamp_ns": 1180591620717411303424}', '2\\*\\*63'),          # 2**70
    (HEAD + '"stamp_ns": 9223372036854775808}', '2\\*\\*63'),
    (HEAD + '"stamp_ns": 1, "peak": NaN}', 'NaN'),
    (HEAD + '"stamp_ns": 1, "peak": Infinity}', 'Infinity'),
    (HEAD + '"stamp_ns": 1, "peak": 1e400}', 'finite'),
    (HEAD + '"stamp_ns": 1, "peak": -2.0}', 'finite'),
    (HEAD + '"stamp_ns": 1, "peak": ' + '9' * 5000 + '}', 'not JSON'),
    ('[' * 10_000 + ']' * 10_000, 'nested deeper'),
    ('{"a":' * 100_000, 'exceeds the limit'),
    (HEAD + '"stamp_ns": 1, "channel": "' + 'x' * MAX_EVENT_CHARS + '"}', 'exceeds the limit'),
])
def test_hostile_events_rejected_before_they_hurt(text, reason):
    with pytest.raises(EventError, match=reason):
        decode_event(text)


def test_brackets_inside_text_are_not_nesting():
    event = Note(1, Source.OPERATOR, text='[[[[[[{{{{ "quoted" \\ ]]')
    assert decode_event(encode_event(event)) == event
