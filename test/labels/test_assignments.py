"""Assignments: even spread, audits of labelled episodes, the review queue, strict config."""

from __future__ import annotations

from collections import Counter

import pytest

from humanoid_data.errors import ConfigError
from humanoid_data.labels.assignments import (
    AssignmentConfig, parse_assignments, plan, review_queue)

EPISODES = [f'episode_{i:04d}' for i in range(1, 21)]


def test_every_episode_gets_its_annotators_evenly_and_never_twice_the_same():
    config = AssignmentConfig(('ann', 'bob', 'cat'), per_episode=2, seed=3)
    out = plan(config, EPISODES, {})
    per_episode = Counter(a.episode for a in out)
    assert set(per_episode.values()) == {2}
    assert all(len({a.annotator for a in out if a.episode == e}) == 2 for e in EPISODES)
    load = Counter(a.annotator for a in out)
    assert max(load.values()) - min(load.values()) <= 1
    assert plan(config, EPISODES, {}) == out           # deterministic for a seed


def test_labelled_episodes_are_skipped_and_a_fraction_is_audited_by_someone_new():
    config = AssignmentConfig(('ann', 'bob', 'cat'), per_episode=1, audit_fraction=0.25)
    labelled = {e: ['ann'] for e in EPISODES[:8]}
    out = plan(config, EPISODES, labelled)
    fresh = [a for a in out if not a.audit]
    audits = [a for a in out if a.audit]
    assert {a.episode for a in fresh} == set(EPISODES[8:])
    assert len(audits) == 2 and all(a.episode in labelled for a in audits)
    assert all(a.annotator != 'ann' for a in audits)


def test_the_review_queue_puts_the_least_certain_first():
    assert review_queue({'a': 0.1, 'b': 0.7, 'c': 0.7, 'd': 0.3}) == ['b', 'c', 'd', 'a']


@pytest.mark.parametrize(('data', 'named'), [
    ({'annotators': ['a'], 'per_episode': 2}, 'per_episode'),
    ({'annotators': ['a', 'a']}, 'unique'),
    ({'annotators': ['a'], 'audit_fraction': 1.5}, 'audit_fraction'),
    ({'annotators': ['a'], 'blind': 'yes'}, 'blind'),
    ({'annotators': ['a'], 'colour': 1}, 'colour'),
    ({'annotators': 'a'}, 'annotators'),
])
def test_a_bad_assignment_file_names_the_key(data, named):
    with pytest.raises(ConfigError, match=named):
        parse_assignments(data, 'assign.yaml')
