"""Label-set codec: round trips over every enum value, bad documents named by file and field."""

from __future__ import annotations

import copy
import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from humanoid_data.errors import LabelError
from humanoid_data.labels.codec import (
    check_against_taxonomy, decode_label_set, encode_label_set, taxonomy_mismatch)
from humanoid_data.labels.model import (
    SCHEMA, Choice, ContactLabel, EpisodeRef, LabelSet, LabelSource, PhaseLabel, Role,
    TextLabel, Verdict)

WHERE = 'labels/episode_0001/ann.json'


def make_set(source: LabelSource = LabelSource.HUMAN, role: Role = Role.ANNOTATOR,
             verdict: Verdict = Verdict.KEEP, **changes: object) -> LabelSet:
    """A label set using every field, with ``source`` on every label."""
    values: dict[str, object] = dict(
        episode=EpisodeRef('episode_0001', 'session_a', 'uuid-1'),
        annotator='ann', role=role, taxonomy='pick_place/2026.11', task='pick_place',
        phases=(PhaseLabel('reach', 0, 100, source, 0.5),
                PhaseLabel('grasp', 100, 250, source),
                PhaseLabel('grasp/close', 150, 250, source, 1.0)),
        contacts=(ContactLabel('wrist/right', 120, 300, (150, 300), source, 0.9),
                  ContactLabel('tactile/right/thumb', 130, None, (), source)),
        outcome=Choice('failure', source, 0.25, 'dropped it'),
        failure_mode=Choice('slip_drop', source),
        verdict=Choice(verdict.value, source, None,
                       '' if verdict is Verdict.KEEP else 'shaky'),
        instructions=(TextLabel('pick up the cube', source),),
        notes=(TextLabel('camera blur', source, 200), TextLabel('ünïcode', source)),
        time_spent_s=12.5,
        decisions=(TextLabel('took bob for grasp', source, 100),))
    values.update(changes)
    return LabelSet(**values)  # type: ignore[arg-type]


def doc(**changes: object) -> dict:
    """The encoded sample, JSON round-tripped, with top-level ``changes``."""
    data = json.loads(json.dumps(encode_label_set(make_set())))
    data.update(changes)
    return data


def test_encoded_document_names_schema_and_enum_values():
    data = encode_label_set(make_set())
    assert data['schema'] == SCHEMA
    assert data['role'] == 'annotator'
    assert data['phases'][0]['source'] == 'human'
    assert data['contacts'][1]['offset_ns'] is None
    assert data['phases'][1]['confidence'] is None
    json.dumps(data, allow_nan=False)   # JSON-ready


@pytest.mark.parametrize('source', list(LabelSource), ids=lambda e: e.value)
def test_round_trip_every_source(source):
    ls = make_set(source=source)
    assert decode_label_set(json.loads(json.dumps(encode_label_set(ls))), WHERE) == ls


@pytest.mark.parametrize('role', list(Role), ids=lambda e: e.value)
def test_round_trip_every_role(role):
    ls = make_set(role=role)
    assert decode_label_set(json.loads(json.dumps(encode_label_set(ls))), WHERE) == ls


@pytest.mark.parametrize('verdict', list(Verdict), ids=lambda e: e.value)
def test_round_trip_every_verdict(verdict):
    ls = make_set(verdict=verdict)
    assert decode_label_set(json.loads(json.dumps(encode_label_set(ls))), WHERE) == ls


def test_round_trip_of_a_minimal_set_and_defaults_for_optional_keys():
    ls = LabelSet(EpisodeRef('e1'), 'bot', Role.MACHINE, 'v1')
    assert decode_label_set(encode_label_set(ls), WHERE) == ls
    minimal = {'schema': SCHEMA, 'episode': {'episode_id': 'e1'}, 'annotator': 'bot',
               'role': 'machine', 'taxonomy': 'v1'}
    assert decode_label_set(minimal, WHERE) == ls


def _set(data: dict, path: tuple, value: object) -> dict:
    data = copy.deepcopy(data)
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(('path', 'value', 'message'), [
    (('schema',), 'humanoid_data.labels/2', r'schema: expected .*labels/1'),
    (('role',), 'boss', r'role: .boss. is not one of: machine, annotator, reviewer, adjud'),
    (('phases', 1, 'source'), 'guess', r'phases\[1\]\.source: .guess. is not one of: '
                                       r'operator, contact_monitor'),
    (('verdict', 'value'), 'maybe', r'verdict\.value: .maybe. is not one of: keep, flag, '),
    (('phases', 1, 'end_ns'), 50, r'phases\[1\]\.end_ns: expected >= begin_ns \(100\)'),
    (('contacts', 0, 'offset_ns'), 1, r'contacts\[0\]\.offset_ns: expected >= onset_ns'),
    (('contacts', 0, 'slips_ns', 1), 301, r'contacts\[0\]\.slips_ns\[1\]: expected within'),
    (('phases', 0, 'begin_ns'), -1, r'phases\[0\]\.begin_ns: expected integer nanoseconds'),
    (('phases', 0, 'begin_ns'), 2 ** 63, r'phases\[0\]\.begin_ns: expected integer'),
    (('phases', 0, 'begin_ns'), 1.0, r'phases\[0\]\.begin_ns: expected integer'),
    (('phases', 0, 'begin_ns'), True, r'phases\[0\]\.begin_ns: expected integer'),
    (('phases', 0, 'name'), 7, r'phases\[0\]\.name: expected text, got 7'),
    (('phases', 0, 'confidence'), 1.5, r'phases\[0\]\.confidence: expected a finite number'),
    (('phases', 0, 'confidence'), math.nan, r'phases\[0\]\.confidence: expected a finite'),
    (('time_spent_s',), math.nan, r'time_spent_s: expected a finite number >= 0, got nan'),
    (('time_spent_s',), math.inf, r'time_spent_s: expected a finite number >= 0, got inf'),
    (('time_spent_s',), -1, r'time_spent_s: expected a finite number >= 0'),
    (('time_spent_s',), '3', r'time_spent_s: expected a finite number'),
    (('phases',), {'reach': 1}, r'phases: expected a list'),
    (('phases', 0), 'reach', r'phases\[0\]: expected an object'),
    (('notes', 0, 'stamp_ns'), '5', r'notes\[0\]\.stamp_ns: expected integer'),
    (('episode', 'episode_id'), '', r'episode: episode.episode_id must not be empty'),
    (('annotator',), None, r'annotator: expected text, got None'),
    (('outcome', 'colour'), 'red', r"outcome: unknown key 'colour'; allowed: value, source"),
    (('colour',), 'red', r"ann\.json: unknown key 'colour'; allowed: schema, episode"),
    (('verdict', 'reason'), '', r"verdict\.reason: a verdict of 'flag' needs a reason"),
    (('phases', 2, 'name'), 'grasp2', r"ann\.json: phases .grasp. and .grasp2. overlap"),
])
def test_bad_documents_are_rejected_naming_file_and_field(path, value, message):
    base = json.loads(json.dumps(encode_label_set(make_set(verdict=Verdict.FLAG))))
    with pytest.raises(LabelError, match=message) as info:
        decode_label_set(_set(base, path, value), WHERE)
    assert str(info.value).startswith(f'{WHERE}: ')


@pytest.mark.parametrize('key', ['schema', 'episode', 'annotator', 'role', 'taxonomy'])
def test_missing_required_key_is_named(key):
    data = doc()
    del data[key]
    with pytest.raises(LabelError, match=rf'^{WHERE}: {key}: missing$'):
        decode_label_set(data, WHERE)


def test_missing_required_key_of_a_phase_is_named():
    data = doc()
    del data['phases'][2]['end_ns']
    with pytest.raises(LabelError, match=rf'^{WHERE}: phases\[2\]\.end_ns: missing$'):
        decode_label_set(data, WHERE)


@pytest.mark.parametrize('data', [None, [], 'text', 3, {}])
def test_non_documents_are_rejected(data):
    with pytest.raises(LabelError, match=WHERE):
        decode_label_set(data, WHERE)


def test_a_valid_set_against_its_taxonomy_has_no_problems(taxonomy):
    ls = make_set(taxonomy=taxonomy.version)
    assert check_against_taxonomy(ls, taxonomy) == []
    assert taxonomy_mismatch(ls, taxonomy) == ''


def test_unknown_phase_and_failure_mode_are_problems(taxonomy):
    ls = make_set(phases=(PhaseLabel('reach', 0, 5), PhaseLabel('dance', 5, 9),
                          PhaseLabel('grasp/wiggle', 9, 10)),
                  failure_mode=Choice('gremlins'))
    problems = check_against_taxonomy(ls, taxonomy)
    assert len(problems) == 3
    assert problems[0].startswith("phases[1].name: 'dance' is not a phase of task "
                                  "'pick_place'")
    assert 'grasp/close' in problems[0]    # the allowed names are listed
    assert problems[1].startswith("phases[2].name: 'grasp/wiggle'")
    assert problems[2].startswith("failure_mode.value: 'gremlins' is not a failure mode")


def test_unknown_task_is_a_problem(taxonomy):
    problems = check_against_taxonomy(make_set(task='juggle'), taxonomy)
    assert problems == [f"task: 'juggle' is not a task of taxonomy {taxonomy.version}; "
                        'known: pick_place']


def test_empty_task_means_the_default_task(taxonomy):
    assert check_against_taxonomy(make_set(task=''), taxonomy) == []


def test_labels_of_an_older_guideline_are_told_apart(taxonomy):
    message = taxonomy_mismatch(make_set(taxonomy='pick_place/2025.01'), taxonomy)
    assert "'pick_place/2025.01'" in message and taxonomy.version in message


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_any_json_value_raises_only_label_error(data):
    try:
        decode_label_set(data, WHERE)
    except LabelError as err:
        assert str(err).startswith(WHERE)


def _leaf_paths(value: object, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [path] + [p for k, v in value.items() for p in _leaf_paths(v, path + (k,))]
    if isinstance(value, list):
        return [path] + [p for i, v in enumerate(value) for p in _leaf_paths(v, path + (i,))]
    return [path]


BASE = json.loads(json.dumps(encode_label_set(make_set())))
PATHS = [p for p in _leaf_paths(BASE) if p]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PATHS), JSON_VALUES), min_size=1, max_size=3))
def test_a_valid_document_with_parts_replaced_raises_only_label_error(changes):
    data = BASE
    for path, value in changes:
        try:
            data = _set(data, path, value)
        except (KeyError, IndexError, TypeError):   # an earlier change removed the parent
            pass
    try:
        ls = decode_label_set(data, WHERE)
    except LabelError as err:
        assert str(err).startswith(f'{WHERE}: ')
    else:
        assert encode_label_set(ls) == encode_label_set(decode_label_set(
            encode_label_set(ls), WHERE))
