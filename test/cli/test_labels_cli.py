"""The label verbs end to end on a session of simulated annotators: adjudicate, gold, assign."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import yaml

from humanoid_data.cli.labels import adjudicate_sessions
from humanoid_data.cli.main import main
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.labels.gold import gold_path, load_gold
from humanoid_data.labels.model import EpisodeRef
from humanoid_data.labels.store import ADJUDICATED, LabelStore
from humanoid_data.sim.annotators import AnnotatorProfile, annotate, simulate_truth
from test.dataset.recording import REPO


@pytest.fixture
def session(tmp_path):
    """Three episodes, each labelled by two simulated annotators who nearly agree."""
    folder = tmp_path / 's'
    folder.mkdir()
    taxonomy = load_taxonomy(REPO / 'config' / 'phases.yaml')
    store = LabelStore(folder)
    profiles = (AnnotatorProfile('ann', boundary_sd_ms=5.0),
                AnnotatorProfile('bob', boundary_bias_ms=20.0))
    for truth in simulate_truth(3, taxonomy, seed=4, failure_rate=0.0):
        truth = replace(truth, episode=EpisodeRef(truth.episode.episode_id, 's'))
        for profile in profiles:
            store.save(annotate(truth, profile, seed=1))
    return folder


def test_agreeing_annotators_are_adjudicated_saved_and_frozen_as_gold(session, capsys):
    assert main(['adjudicate', str(session), '--save', '--freeze-gold', 'v1']) == 0
    store = LabelStore(session)
    assert all(ADJUDICATED in store.annotators(e) for e in store.episodes())
    gold = load_gold(gold_path(session, 'v1'))
    assert sorted(gold) == sorted(store.episodes())
    assert 'gold set frozen' in capsys.readouterr().out


def test_open_questions_wait_for_decisions_from_a_file(session, tmp_path):
    store = LabelStore(session)
    episode = store.episodes()[0]
    late = store.load(episode, 'bob')
    shifted = tuple(replace(p, begin_ns=p.begin_ns + 400_000_000,
                            end_ns=p.end_ns + 400_000_000) for p in late.phases)
    store.save(replace(late, phases=shifted))           # bob now 400 ms late: questions
    proposals = adjudicate_sessions([session], save=True)
    open_ = proposals[f's/{episode}'].questions
    assert open_ and ADJUDICATED not in store.annotators(episode)
    decisions = tmp_path / 'decisions.yaml'
    decisions.write_text(yaml.safe_dump({episode: [
        {'key': q.key, 'value': q.proposal, 'why': 'checked the video'} for q in open_]}))
    assert main(['adjudicate', str(session), '--save', '--decisions', str(decisions),
                 '--adjudicator', 'judge']) == 0
    final = store.load(episode, ADJUDICATED)
    assert len(final.decisions) == len(open_)
    assert all(d.text.startswith('judge:') for d in final.decisions)


def test_assign_spreads_the_episodes_and_writes_the_plan(session, tmp_path, capsys):
    config = tmp_path / 'assign.yaml'
    config.write_text(yaml.safe_dump({'annotators': ['ann', 'bob', 'cat'], 'per_episode': 3,
                                      'audit_fraction': 0.0}))
    assert main(['assign', str(session), '--config', str(config), '--json']) == 0
    plan = json.loads(capsys.readouterr().out)
    assert {a['annotator'] for a in plan['assignments']} == {'cat'}
    assert len(plan['assignments']) == 3 and plan['blind'] is True


def test_a_saved_plan_names_who_may_label_the_session(session, tmp_path, capsys):
    from humanoid_data.errors import LabelError
    config = tmp_path / 'assign.yaml'
    config.write_text(yaml.safe_dump({'annotators': ['ann', 'bob', 'cat'], 'per_episode': 3}))
    assert not (session / 'labels' / 'assignments.yaml').exists()
    assert main(['assign', str(session), '--config', str(config), '--save']) == 0
    saved = yaml.safe_load((session / 'labels' / 'assignments.yaml').read_text())
    assert saved['annotators'] == ['ann', 'bob', 'cat']
    assert {a['annotator'] for a in saved['assignments']} == {'cat'}
    assert 'saved 3 assignments' in capsys.readouterr().err
    store = LabelStore(session)
    episode = store.episodes()[0]
    store.save(replace(store.load(episode, 'bob'), annotator='cat'))
    with pytest.raises(LabelError, match='not one of the annotators'):
        store.save(replace(store.load(episode, 'bob'), annotator='dan'))


def test_nothing_to_adjudicate_exits_1(tmp_path, capsys):
    empty = tmp_path / 'empty'
    (empty / 'episode_0001').mkdir(parents=True)
    (empty / 'episode_0001' / 'metadata.yaml').write_text('{}')
    assert main(['adjudicate', str(empty)]) == 1
    assert 'nothing to adjudicate' in capsys.readouterr().out
