"""Adjudication: consensus within the tolerance, open questions beyond it, decisions kept."""

from __future__ import annotations

import pytest

from humanoid_data.errors import LabelError
from humanoid_data.labels.adjudicate import (
    ADJUDICATED, Decision, propose, settle)
from humanoid_data.labels.model import (
    Choice, ContactLabel, EpisodeRef, LabelSet, LabelSource, PhaseLabel, Role)

MS = 1_000_000
EP = EpisodeRef('episode_0001', 's')


def annotator(name, shift_ms=0, outcome='success', contact=True, taxonomy='v1',
              failure=None):
    s = shift_ms * MS
    phases = (PhaseLabel('reach', 0, 1000 * MS + s), PhaseLabel('grasp', 1000 * MS + s,
                                                                2000 * MS + s),
              PhaseLabel('lift', 2000 * MS + s, 3000 * MS))
    contacts = (ContactLabel('wrist/right', 1100 * MS + s, 2900 * MS + s),) if contact else ()
    return LabelSet(EP, name, Role.ANNOTATOR, taxonomy, 'pick_place', phases, contacts,
                    Choice(outcome), Choice(failure) if failure else None)


def test_agreeing_annotators_leave_nothing_open():
    proposal = propose({'a': annotator('a'), 'b': annotator('b', 20),
                        'c': annotator('c', -30)})
    assert proposal.questions == ()
    ls = proposal.label_set
    assert ls.annotator == ADJUDICATED and ls.role == Role.ADJUDICATOR
    assert [p.begin_ns for p in ls.phases] == [0, 1000 * MS, 2000 * MS]     # medians
    assert ls.contacts[0].onset_ns == 1100 * MS and ls.contacts[0].offset_ns == 2900 * MS
    assert all(p.source == LabelSource.CONSENSUS for p in ls.phases)
    assert ls.outcome.value == 'success'


def test_a_spread_beyond_the_tolerance_is_a_question_proposed_at_the_median():
    proposal = propose({'a': annotator('a'), 'b': annotator('b', 300),
                        'c': annotator('c', 150)}, tolerance_ns=100 * MS)
    keys = {q.key for q in proposal.questions}
    assert 'phase grasp begin' in keys and 'phase reach end' in keys
    grasp = next(q for q in proposal.questions if q.key == 'phase grasp begin')
    assert grasp.proposal == str(1150 * MS) and len(grasp.options) == 3


def test_a_contact_of_a_minority_and_a_tied_outcome_are_questions():
    proposal = propose({'a': annotator('a', outcome='success'),
                        'b': annotator('b', outcome='failure', contact=False)})
    keys = [q.key for q in proposal.questions]
    assert 'outcome' in keys and any(k.startswith('contact wrist/right') for k in keys)
    with pytest.raises(LabelError, match='undecided: .*outcome'):
        settle(proposal, [])


def test_decisions_settle_the_questions_and_are_recorded():
    proposal = propose({'a': annotator('a'), 'b': annotator('b', 300)},
                       tolerance_ns=100 * MS)
    decisions = [Decision(q.key, str(1200 * MS) if q.key.startswith('phase') else q.proposal,
                          'judge', 'watched the wrist camera') for q in proposal.questions]
    final = settle(proposal, decisions)
    grasp = next(p for p in final.phases if p.name == 'grasp')
    assert grasp.begin_ns == 1200 * MS
    assert len(final.decisions) == len(decisions)
    assert all('judge' in d.text and 'wrist camera' in d.text for d in final.decisions)


def test_sets_of_other_episodes_or_taxonomies_are_not_mixed():
    other = annotator('b', taxonomy='v0')
    with pytest.raises(LabelError, match='taxonomy v0'):
        propose({'a': annotator('a'), 'b': other})
    with pytest.raises(LabelError, match='no label set'):
        propose({})
