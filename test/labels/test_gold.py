"""Gold sets: frozen once, copies checked against their digest, used across sessions."""

from __future__ import annotations

import pytest
import yaml

from humanoid_data.errors import LabelError
from humanoid_data.labels.gold import freeze_gold, gold_for, gold_path, load_gold
from humanoid_data.labels.model import (
    Choice, EpisodeRef, LabelSet, PhaseLabel, Role)
from humanoid_data.labels.store import ADJUDICATED, LabelStore


def adjudicated(episode: str, outcome: str = 'success') -> LabelSet:
    return LabelSet(EpisodeRef(episode, 's'), ADJUDICATED, Role.ADJUDICATOR, 'v1',
                    'pick_place', (PhaseLabel('reach', 0, 10),), outcome=Choice(outcome))


@pytest.fixture
def session(tmp_path):
    folder = tmp_path / 's'
    folder.mkdir()
    store = LabelStore(folder)
    store.save(adjudicated('episode_0001'))
    store.save(adjudicated('episode_0002', 'failure'))
    return folder


def test_freeze_copies_the_adjudicated_sets_and_later_edits_do_not_change_it(session):
    path = freeze_gold(session, 'v1')
    LabelStore(session).save(adjudicated('episode_0001', 'aborted'))    # adjudicated again
    gold = load_gold(path)
    assert set(gold) == {'episode_0001', 'episode_0002'}
    assert gold['episode_0001'].outcome.value == 'success'
    assert gold_for([session], 'v1')[('s', 'episode_0002')].outcome.value == 'failure'


def test_a_version_is_frozen_once_and_only_adjudicated_episodes_qualify(session):
    freeze_gold(session, 'v1', ['episode_0001'])
    with pytest.raises(LabelError, match='exists already'):
        freeze_gold(session, 'v1')
    with pytest.raises(LabelError, match='not adjudicated yet: episode_0009'):
        freeze_gold(session, 'v2', ['episode_0009'])


def test_an_edited_gold_file_is_refused(session):
    path = freeze_gold(session, 'v1')
    body = yaml.safe_load(path.read_text())
    body['label_sets'][0]['outcome']['value'] = 'failure'
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(LabelError, match='edited after it was frozen'):
        load_gold(path)


def test_an_unsafe_version_and_a_missing_gold_set_are_named(session):
    with pytest.raises(LabelError):
        gold_path(session, '../escape')
    with pytest.raises(LabelError, match='no gold set v7'):
        gold_for([session], 'v7')
