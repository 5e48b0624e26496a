"""Annotation QA over a session of simulated annotators: pairs, gold scores, taxonomy split."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import pytest

from humanoid_data.core.phases import load_taxonomy
from humanoid_data.errors import ConfigError, LabelError
from humanoid_data.labels.agreement import CategoricalField
from humanoid_data.labels.gold import freeze_gold
from humanoid_data.labels.model import LabelSet, Role, TextLabel
from humanoid_data.labels.prelabel import PRELABEL
from humanoid_data.labels.qa import GOLD_PREFIX, label_sessions, qa_sessions
from humanoid_data.labels.store import ADJUDICATED, LabelStore
from humanoid_data.resources import default_taxonomy
from humanoid_data.sim.annotators import AnnotatorProfile, annotate, simulate_truth

EPISODES = 6
#: Careful: no bias, little noise, every contact.
ALICE = AnnotatorProfile('alice', boundary_sd_ms=3.0, onset_sd_ms=3.0, offset_sd_ms=3.0)
#: Hasty: 80 ms late on every boundary, misses a third of the contacts.
BOB = AnnotatorProfile('bob', boundary_bias_ms=80.0, boundary_sd_ms=5.0,
                       contact_miss_rate=0.35, onset_sd_ms=10.0, offset_sd_ms=10.0)
#: The pre-labels: 30 ms early.
MACHINE = AnnotatorProfile(PRELABEL, boundary_bias_ms=-30.0, boundary_sd_ms=3.0)
OLD_TAXONOMY = 'pick_place/2024.01'
NOTE = '<script>alert("x")</script> grasp & lift unclear'


@lru_cache(maxsize=None)
def truths() -> tuple[LabelSet, ...]:
    return simulate_truth(EPISODES, load_taxonomy(default_taxonomy()), seed=5,
                          failure_rate=0.5)


def make_session(folder: Path, *, gold: str | None = None, adjudicated: bool = False,
                 old_carol: bool = False, note: bool = False) -> Path:
    """A session folder of label sets only: alice, bob, the pre-labels, maybe more."""
    folder.mkdir(parents=True, exist_ok=True)
    store = LabelStore(folder)
    for truth in truths():
        alice = annotate(truth, ALICE, seed=1)
        if note:
            alice = replace(alice, notes=(TextLabel(NOTE),))
        store.save(alice)
        store.save(annotate(truth, BOB, seed=1))
        store.save(replace(annotate(truth, MACHINE, seed=1), role=Role.MACHINE))
        if old_carol:
            store.save(replace(annotate(truth, AnnotatorProfile('carol'), seed=1),
                               taxonomy=OLD_TAXONOMY))
        if adjudicated or gold:
            store.save(replace(truth, annotator=ADJUDICATED, role=Role.ADJUDICATOR))
    if gold:
        freeze_gold(folder, gold)
    return folder


def test_pairs_of_annotators_show_the_injected_bias_as_the_offset_sign(tmp_path):
    result = qa_sessions([make_session(tmp_path / 's1')])
    assert result.nothing_to_compare == ''
    assert result.agreement.annotators == ('alice', 'bob', PRELABEL)
    bob_vs_alice = result.agreement.pair('alice', 'bob')
    assert len(bob_vs_alice.episodes) == EPISODES
    assert bob_vs_alice.phases.mean_offset_ms > 40           # bob is late
    assert result.agreement.pair('alice', PRELABEL).phases.mean_offset_ms < -15
    body = json.loads(result.to_json_text())
    pairs = {(p['reference'], p['other']): p for p in body['agreement']['pairs']}
    assert pairs['alice', 'bob']['phases']['mean_offset_ms'] > 40
    summary = {(s['reference'], s['other']): s for s in body['agreement']['summary']}
    assert summary['alice', 'bob']['contact_f1'] < 1.0        # bob missed contacts
    assert set(summary['alice', 'bob']['kappa']) == {f.value for f in CategoricalField}
    assert body['gold'] is None and body['excluded'] == []
    assert body['agreement']['pairs'][0]['episodes'] == EPISODES


def test_episodes_are_keyed_by_session_so_two_sessions_do_not_collide(tmp_path):
    make_session(tmp_path / 'tree' / 's1')
    make_session(tmp_path / 'tree' / 's2')
    assert [s.name for s in label_sessions([tmp_path / 'tree'])] == ['s1', 's2']
    result = qa_sessions([tmp_path / 'tree'])
    assert len(result.agreement.pair('alice', 'bob').episodes) == 2 * EPISODES
    assert result.agreement.episodes[0] == 's1/episode_0000'


def test_gold_scores_every_annotator_and_the_bias_free_one_scores_higher(tmp_path):
    result = qa_sessions([make_session(tmp_path / 's1', gold='v1')], gold='v1')
    gold = f'{GOLD_PREFIX}v1'
    assert result.gold.annotators == ('alice', 'bob', gold, PRELABEL)
    alice, bob = result.gold.pair(gold, 'alice'), result.gold.pair(gold, 'bob')
    machine = result.gold.pair(gold, PRELABEL)
    assert alice.phases.boundary(50.0).f1 > bob.phases.boundary(50.0).f1
    assert alice.contacts[0].counts.f1 > bob.contacts[0].counts.f1
    assert alice.phases.boundary(50.0).f1 == 1.0
    assert bob.phases.mean_offset_ms > 40 and machine.phases.mean_offset_ms < -15
    assert abs(alice.phases.mean_offset_ms) < 10
    assert alice.kappa(CategoricalField.OUTCOME).kappa == 1.0
    assert [t for t, _ in result.sections()] == ['between annotators', 'against gold v1']


def test_the_adjudicated_set_is_the_reference_only_when_asked(tmp_path):
    session = make_session(tmp_path / 's1', adjudicated=True)
    assert ADJUDICATED not in qa_sessions([session]).agreement.annotators
    result = qa_sessions([session], reference=ADJUDICATED, annotators=['bob'])
    assert [(p.reference, p.other) for p in result.agreement.pairs] == [(ADJUDICATED, 'bob')]
    assert result.agreement.pairs[0].phases.mean_offset_ms > 40


def test_labels_of_another_taxonomy_version_are_reported_and_left_out(tmp_path):
    result = qa_sessions([make_session(tmp_path / 's1', old_carol=True)])
    assert 'carol' not in result.agreement.annotators
    assert len(result.excluded) == EPISODES
    first = result.excluded[0]
    assert (first.annotator, first.taxonomy) == ('carol', OLD_TAXONOMY)
    assert OLD_TAXONOMY in first.reason and result.taxonomy in first.reason
    assert json.loads(result.to_json_text())['excluded'][0]['annotator'] == 'carol'


def test_nothing_to_compare_is_said(tmp_path):
    folder = tmp_path / 's1'
    folder.mkdir()
    LabelStore(folder).save(annotate(truths()[0], ALICE))
    result = qa_sessions([folder])
    assert result.nothing_to_compare == 'nothing to compare: no episode has two label sets'
    assert 'reference' in qa_sessions([folder], reference=ADJUDICATED).nothing_to_compare
    make_session(tmp_path / 's2', gold='v1')
    only_machine = qa_sessions([tmp_path / 's2'], gold='v1', annotators=['nobody'])
    assert 'gold set v1' in only_machine.nothing_to_compare


def test_bad_sources_and_gold_versions_are_errors(tmp_path):
    with pytest.raises(ConfigError, match='no such file'):
        qa_sessions([tmp_path / 'missing'])
    with pytest.raises(LabelError, match='no gold set v9'):
        qa_sessions([make_session(tmp_path / 's1')], gold='v9')
    make_session(tmp_path / 'a' / 's1')
    with pytest.raises(LabelError, match="two sessions are named 's1'"):
        qa_sessions([tmp_path / 's1', tmp_path / 'a'])
