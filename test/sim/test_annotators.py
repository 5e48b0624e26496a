"""Simulated annotators: truth label sets, seeded faults, and their recovery by agreement."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import pytest
from hypothesis import given, settings, strategies as st

from humanoid_data.core.phases import load_taxonomy
from humanoid_data.errors import ConfigError
from humanoid_data.labels.agreement import (
    CategoricalField, agreement_report, combine_contacts, combine_phases, compare_contacts,
    compare_phases)
from humanoid_data.labels.model import EpisodeRef, LabelSource, Role
from humanoid_data.resources import default_taxonomy
from humanoid_data.sim.annotators import (
    TRUTH_ANNOTATOR, AnnotatorProfile, annotate, scenario_truth_events, simulate_annotators,
    simulate_truth, truth_label_set)
from humanoid_data.sim.scenario import CONTACT_PADS, PHASES, Scenario


@lru_cache(maxsize=None)
def truths(count: int):
    return simulate_truth(count, load_taxonomy(default_taxonomy()), seed=11)


def test_truth_label_set_from_the_scenario_events():
    scenario = Scenario()
    scenario.schedule(10 ** 12)
    events = scenario_truth_events(scenario)
    end = max(e.stamp_ns for e in events) + 10 ** 9
    truth = truth_label_set(EpisodeRef('ep'), events, end, taxonomy='t/1', task='pick_place',
                            instruction='pick up the cube')
    assert truth.phase_names() == tuple(p.name for p in PHASES)
    assert len(truth.contacts) == len(CONTACT_PADS) + 1
    _, true_contacts = scenario.truth()
    assert sorted((c.channel, c.onset_ns, c.offset_ns) for c in truth.contacts) == sorted(
        true_contacts)
    assert truth.role == Role.MACHINE and truth.annotator == TRUTH_ANNOTATOR
    assert {p.source for p in truth.phases} == {LabelSource.SIM_TRUTH}
    assert truth.outcome.value == 'success' and truth.verdict.value == 'keep'


def test_simulated_truth_fails_at_the_given_rate_with_known_modes():
    taxonomy = load_taxonomy(default_taxonomy())
    episodes = simulate_truth(400, taxonomy, seed=3, failure_rate=0.25)
    failed = [t for t in episodes if t.outcome.value == 'failure']
    assert 0.18 < len(failed) / len(episodes) < 0.32
    assert {t.failure_mode.value for t in failed} <= set(taxonomy.failure_names)
    assert all(t.failure_mode is None for t in episodes if t.outcome.value == 'success')
    assert len({t.episode.episode_id for t in episodes}) == 400


def test_a_faultless_annotator_copies_the_truth():
    truth = truths(20)[0]
    copy = annotate(truth, AnnotatorProfile('perfect'))
    assert copy.role == Role.ANNOTATOR and copy.annotator == 'perfect'
    assert {p.source for p in copy.phases} == {LabelSource.HUMAN}
    assert [(p.name, p.begin_ns, p.end_ns) for p in copy.phases] == [
        (p.name, p.begin_ns, p.end_ns) for p in truth.phases]
    result = compare_phases(truth, copy)
    assert result.boundary(50.0).f1 == 1.0 and result.edit == 100.0
    assert compare_contacts(truth, copy)[0].counts.f1 == 1.0


def test_annotations_are_seeded():
    profile = AnnotatorProfile('noisy', boundary_sd_ms=30, contact_miss_rate=0.3,
                               contact_extra_rate=0.3, onset_sd_ms=10, offset_sd_ms=10)
    truth = truths(20)[1]
    assert annotate(truth, profile, seed=5) == annotate(truth, profile, seed=5)
    assert annotate(truth, profile, seed=5) != annotate(truth, profile, seed=6)
    many = simulate_annotators(truths(20), [profile, replace(profile, name='other')], seed=5)
    assert len(many) == 40 and many[1] == annotate(truths(20)[1], profile, seed=5)


@settings(max_examples=8, deadline=None, derandomize=True)
@given(st.floats(-100.0, 100.0), st.floats(0.0, 30.0))
def test_the_injected_boundary_bias_is_recovered_within_5_ms(bias, spread):
    profile = AnnotatorProfile('biased', boundary_bias_ms=bias, boundary_sd_ms=spread)
    results = [compare_phases(t, annotate(t, profile, seed=1)) for t in truths(200)]
    total = combine_phases(results)
    assert total.mean_offset_ms == pytest.approx(bias, abs=5.0)
    assert total.boundary(250.0).f1 == 1.0


@settings(max_examples=6, deadline=None, derandomize=True)
@given(st.floats(0.0, 0.5), st.floats(0.0, 0.3))
def test_the_injected_contact_miss_rate_is_recovered_within_2_points(miss, extra):
    profile = AnnotatorProfile('misses', contact_miss_rate=miss, contact_extra_rate=extra,
                               onset_sd_ms=20, offset_sd_ms=20)
    total = combine_contacts([compare_contacts(t, annotate(t, profile, seed=2))[0]
                              for t in truths(1000)])
    assert total.counts.missed / total.counts.reference == pytest.approx(miss, abs=0.02)
    assert total.counts.extra / total.counts.reference == pytest.approx(extra, abs=0.03)


def test_outcome_flips_and_failure_confusion_show_in_the_kappas():
    episodes = truths(1000)
    careful = AnnotatorProfile('careful')
    sloppy = AnnotatorProfile('sloppy', outcome_flip_rate=0.1,
                              confused_failure=('slip_drop', 'missed_grasp'),
                              confusion_rate=0.5)
    report = agreement_report([*episodes, *simulate_annotators(episodes, [careful, sloppy])],
                              reference=TRUTH_ANNOTATOR)
    assert report.pair(TRUTH_ANNOTATOR, 'careful').kappa(CategoricalField.OUTCOME).kappa == 1.0
    outcome = report.pair(TRUTH_ANNOTATOR, 'sloppy').kappa(CategoricalField.OUTCOME)
    assert 1 - outcome.observed_agreement == pytest.approx(0.1, abs=0.03)
    confusion = report.pair(TRUTH_ANNOTATOR, 'sloppy').kappa(
        CategoricalField.FAILURE_MODE).confusion
    row = confusion.counts[confusion.labels.index('slip_drop')]
    moved = row[confusion.labels.index('missed_grasp')]
    kept = row[confusion.labels.index('slip_drop')]
    assert moved / (moved + kept) == pytest.approx(0.5, abs=0.15)


@pytest.mark.parametrize('field, value', [
    ('name', ''), ('contact_miss_rate', 1.5), ('outcome_flip_rate', -0.1),
    ('boundary_sd_ms', -1.0), ('boundary_bias_ms', float('nan')),
    ('confused_failure', ('slip_drop', 'slip_drop')),
])
def test_bad_profiles_are_rejected_with_the_field_named(field, value):
    with pytest.raises(ConfigError, match=field if field != 'name' else 'name must not'):
        AnnotatorProfile(**{'name': 'x', field: value})
    with pytest.raises(ConfigError, match='distinct names'):
        simulate_annotators(truths(20), [AnnotatorProfile('x'), AnnotatorProfile('x')])
