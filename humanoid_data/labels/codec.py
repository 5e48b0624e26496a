"""Label sets to JSON-ready values and back, rejecting bad documents with the field named.

``encode_label_set`` writes every field (``None`` where a value is absent, enums as their
values) under ``schema``. ``decode_label_set`` takes what ``json.loads`` gave and checks
it field by field before building the model, so an error reads
``labels/episode_0001/ann.json: phases[3].end_ns: expected ...``. Names are checked
against the guideline separately (``check_against_taxonomy``), since a label set made
under an older taxonomy is still a valid document.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, NoReturn, TypeVar

from humanoid_data.core.checks import check_number, short_repr
from humanoid_data.core.phases import Taxonomy
from humanoid_data.errors import ConfigError, LabelError
from humanoid_data.labels.model import (
    INT64_MAX, SCHEMA, Choice, ContactLabel, EpisodeRef, LabelSet, LabelSource, PhaseLabel,
    Role, TextLabel, Verdict)

E = TypeVar('E', bound=Enum)
T = TypeVar('T')

_PHASE_KEYS = ('name', 'begin_ns', 'end_ns', 'source', 'confidence')
_CONTACT_KEYS = ('channel', 'onset_ns', 'offset_ns', 'slips_ns', 'source', 'confidence')
_CHOICE_KEYS = ('value', 'source', 'confidence', 'reason')
_TEXT_KEYS = ('text', 'source', 'stamp_ns')
_EPISODE_KEYS = ('episode_id', 'session', 'episode_uuid')
_SET_KEYS = ('schema', 'episode', 'annotator', 'role', 'taxonomy', 'task', 'phases',
             'contacts', 'outcome', 'failure_mode', 'verdict', 'instructions', 'notes',
             'time_spent_s', 'decisions')


@dataclass(frozen=True)
class _At:
    """A place in a document being decoded: the file and the field path."""

    where: str
    path: str = ''

    def key(self, name: str) -> _At:
        return _At(self.where, f'{self.path}.{name}' if self.path else name)

    def index(self, i: int) -> _At:
        return _At(self.where, f'{self.path}[{i}]')

    @property
    def name(self) -> str:
        """The file and the field path, as errors name them."""
        return f'{self.where}: {self.path}' if self.path else self.where

    def fail(self, problem: str) -> NoReturn:
        raise LabelError(f'{self.name}: {problem}')


def _object(raw: object, at: _At, keys: tuple[str, ...], required: tuple[str, ...]
            ) -> dict[str, Any]:
    if not isinstance(raw, dict):
        at.fail(f'expected an object, got {short_repr(raw)}')
    unknown = sorted((k for k in raw if k not in keys), key=repr)
    if unknown:
        at.fail(f'unknown key {short_repr(unknown[0])}; allowed: {", ".join(keys)}')
    for name in required:
        if name not in raw:
            at.key(name).fail('missing')
    return raw


def _text(value: object, at: _At) -> str:
    if not isinstance(value, str):
        at.fail(f'expected text, got {short_repr(value)}')
    return value


def _ns(value: object, at: _At) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        at.fail(f'expected integer nanoseconds 0..2**63-1, got {short_repr(value)}')
    return value


def _optional_ns(value: object, at: _At) -> int | None:
    return None if value is None else _ns(value, at)


def _number(value: object, at: _At, maximum: float | None = None) -> float:
    try:
        return check_number(value, at.name, minimum=0.0, maximum=maximum)
    except ConfigError as err:
        raise LabelError(str(err)) from None


def _confidence(value: object, at: _At) -> float | None:
    return None if value is None else _number(value, at, maximum=1.0)


def _enum(enum: type[E], value: object, at: _At) -> E:
    try:
        return enum(value)
    except (ValueError, TypeError):
        at.fail(f'{short_repr(value)} is not one of: {", ".join(str(m.value) for m in enum)}')


def _items(raw: object, at: _At, parse: Callable[[object, _At], T]) -> tuple[T, ...]:
    if not isinstance(raw, list):
        at.fail(f'expected a list, got {short_repr(raw)}')
    return tuple(parse(item, at.index(i)) for i, item in enumerate(raw))


def _build(at: _At, cls: Callable[..., T], **values: Any) -> T:
    """Build a model value; its own checks (overlaps, reasons) are named with ``at``."""
    try:
        return cls(**values)
    except LabelError as err:
        at.fail(str(err))


def _source(raw: dict[str, Any], at: _At) -> LabelSource:
    return _enum(LabelSource, raw.get('source', LabelSource.HUMAN.value), at.key('source'))


def _phase(raw: object, at: _At) -> PhaseLabel:
    m = _object(raw, at, _PHASE_KEYS, ('name', 'begin_ns', 'end_ns'))
    begin = _ns(m['begin_ns'], at.key('begin_ns'))
    end = _ns(m['end_ns'], at.key('end_ns'))
    if end < begin:
        at.key('end_ns').fail(f'expected >= begin_ns ({begin}), got {end}')
    return _build(at, PhaseLabel, name=_text(m['name'], at.key('name')), begin_ns=begin,
                  end_ns=end, source=_source(m, at),
                  confidence=_confidence(m.get('confidence'), at.key('confidence')))


def _contact(raw: object, at: _At) -> ContactLabel:
    m = _object(raw, at, _CONTACT_KEYS, ('channel', 'onset_ns', 'offset_ns'))
    onset = _ns(m['onset_ns'], at.key('onset_ns'))
    offset = _optional_ns(m['offset_ns'], at.key('offset_ns'))
    if offset is not None and offset < onset:
        at.key('offset_ns').fail(f'expected >= onset_ns ({onset}), got {offset}')
    slips = _items(m.get('slips_ns', []), at.key('slips_ns'), _ns)
    for i, slip in enumerate(slips):
        if not onset <= slip <= (INT64_MAX if offset is None else offset):
            at.key('slips_ns').index(i).fail(
                f'expected within onset_ns..offset_ns ({onset}..{offset}), got {slip}')
    return _build(at, ContactLabel, channel=_text(m['channel'], at.key('channel')),
                  onset_ns=onset, offset_ns=offset, slips_ns=slips, source=_source(m, at),
                  confidence=_confidence(m.get('confidence'), at.key('confidence')))


def _choice(raw: object, at: _At) -> Choice | None:
    if raw is None:
        return None
    m = _object(raw, at, _CHOICE_KEYS, ('value',))
    return _build(at, Choice, value=_text(m['value'], at.key('value')), source=_source(m, at),
                  confidence=_confidence(m.get('confidence'), at.key('confidence')),
                  reason=_text(m.get('reason', ''), at.key('reason')))


def _verdict(raw: object, at: _At) -> Choice | None:
    choice = _choice(raw, at)
    if choice is not None:
        verdict = _enum(Verdict, choice.value, at.key('value'))
        if verdict is not Verdict.KEEP and not choice.reason:
            at.key('reason').fail(f'a verdict of {verdict.value!r} needs a reason')
    return choice


def _text_label(raw: object, at: _At) -> TextLabel:
    m = _object(raw, at, _TEXT_KEYS, ('text',))
    return _build(at, TextLabel, text=_text(m['text'], at.key('text')), source=_source(m, at),
                  stamp_ns=_optional_ns(m.get('stamp_ns'), at.key('stamp_ns')))


def _episode(raw: object, at: _At) -> EpisodeRef:
    m = _object(raw, at, _EPISODE_KEYS, ('episode_id',))
    return _build(at, EpisodeRef, episode_id=_text(m['episode_id'], at.key('episode_id')),
                  session=_text(m.get('session', ''), at.key('session')),
                  episode_uuid=_text(m.get('episode_uuid', ''), at.key('episode_uuid')))


def decode_label_set(data: object, where: str) -> LabelSet:
    """Check a parsed JSON document field by field and build its ``LabelSet``.

    Args:
        data: What ``json.loads`` returned for one label-set document.
        where: The file (or other origin) named first in every error message.

    Returns:
        The label set.

    Raises:
        LabelError: Not an object, a missing or other ``schema``, an unknown or missing
            key, a value of the wrong type, a number that is NaN or infinite, a stamp
            outside ``0..2**63-1``, an end before its begin, an enum value not among the
            allowed ones (listed), or a check of the model failed; the message names
            ``where`` and the field path.

    """
    at = _At(where)
    m = _object(data, at, _SET_KEYS, ('schema', 'episode', 'annotator', 'role', 'taxonomy'))
    if m['schema'] != SCHEMA:
        at.key('schema').fail(f'expected {SCHEMA!r}, got {short_repr(m["schema"])}')
    return _build(
        at, LabelSet,
        episode=_episode(m['episode'], at.key('episode')),
        annotator=_text(m['annotator'], at.key('annotator')),
        role=_enum(Role, m['role'], at.key('role')),
        taxonomy=_text(m['taxonomy'], at.key('taxonomy')),
        task=_text(m.get('task', ''), at.key('task')),
        phases=_items(m.get('phases', []), at.key('phases'), _phase),
        contacts=_items(m.get('contacts', []), at.key('contacts'), _contact),
        outcome=_choice(m.get('outcome'), at.key('outcome')),
        failure_mode=_choice(m.get('failure_mode'), at.key('failure_mode')),
        verdict=_verdict(m.get('verdict'), at.key('verdict')),
        instructions=_items(m.get('instructions', []), at.key('instructions'), _text_label),
        notes=_items(m.get('notes', []), at.key('notes'), _text_label),
        time_spent_s=_number(m.get('time_spent_s', 0.0), at.key('time_spent_s')),
        decisions=_items(m.get('decisions', []), at.key('decisions'), _text_label))


def _encode_choice(choice: Choice | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    return {'value': choice.value, 'source': choice.source.value,
            'confidence': choice.confidence, 'reason': choice.reason}


def _encode_texts(texts: tuple[TextLabel, ...]) -> list[dict[str, Any]]:
    return [{'text': t.text, 'source': t.source.value, 'stamp_ns': t.stamp_ns} for t in texts]


def encode_label_set(ls: LabelSet) -> dict[str, Any]:
    """Return ``ls`` as a JSON-ready mapping that ``decode_label_set`` reads back equal."""
    return {
        'schema': SCHEMA,
        'episode': {'episode_id': ls.episode.episode_id, 'session': ls.episode.session,
                    'episode_uuid': ls.episode.episode_uuid},
        'annotator': ls.annotator,
        'role': ls.role.value,
        'taxonomy': ls.taxonomy,
        'task': ls.task,
        'phases': [{'name': p.name, 'begin_ns': p.begin_ns, 'end_ns': p.end_ns,
                    'source': p.source.value, 'confidence': p.confidence} for p in ls.phases],
        'contacts': [{'channel': c.channel, 'onset_ns': c.onset_ns, 'offset_ns': c.offset_ns,
                      'slips_ns': list(c.slips_ns), 'source': c.source.value,
                      'confidence': c.confidence} for c in ls.contacts],
        'outcome': _encode_choice(ls.outcome),
        'failure_mode': _encode_choice(ls.failure_mode),
        'verdict': _encode_choice(ls.verdict),
        'instructions': _encode_texts(ls.instructions),
        'notes': _encode_texts(ls.notes),
        'time_spent_s': float(ls.time_spent_s),
        'decisions': _encode_texts(ls.decisions),
    }


def check_against_taxonomy(ls: LabelSet, taxonomy: Taxonomy) -> list[str]:
    """Name every label of ``ls`` that the guideline ``taxonomy`` does not know.

    Args:
        ls: The label set.
        taxonomy: The guideline to check against (its version is not compared here; see
            ``taxonomy_mismatch``).

    Returns:
        One message per problem (an unknown task, a phase that is not a label of the task,
        a failure mode not in the taxonomy); empty when every name is known.

    """
    problems = []
    try:
        task = taxonomy.task(ls.task)
    except ConfigError:
        problems.append(f'task: {ls.task!r} is not a task of taxonomy {taxonomy.version}; '
                        f'known: {", ".join(t.name for t in taxonomy.tasks)}')
    else:
        allowed = task.label_names()
        problems.extend(f'phases[{i}].name: {p.name!r} is not a phase of task {task.name!r} '
                        f'(taxonomy {taxonomy.version}); known: {", ".join(allowed)}'
                        for i, p in enumerate(ls.phases) if p.name not in allowed)
    mode = ls.failure_mode
    if mode is not None and mode.value and mode.value not in taxonomy.failure_names:
        problems.append(f'failure_mode.value: {mode.value!r} is not a failure mode of '
                        f'taxonomy {taxonomy.version}; known: '
                        f'{", ".join(taxonomy.failure_names)}')
    return problems


def taxonomy_mismatch(ls: LabelSet, taxonomy: Taxonomy) -> str:
    """Say why ``ls`` was made under another guideline; empty when the versions agree."""
    if ls.taxonomy == taxonomy.version:
        return ''
    return (f'labels of {ls.annotator!r} for {ls.episode.episode_id!r} were made under '
            f'taxonomy {ls.taxonomy!r}, not {taxonomy.version!r} in force')


__all__ = ['check_against_taxonomy', 'decode_label_set', 'encode_label_set',
           'taxonomy_mismatch']
