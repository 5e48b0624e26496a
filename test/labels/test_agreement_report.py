"""Agreement report and disagreement audit over many label sets."""

from __future__ import annotations

import json

import pytest

from humanoid_data.errors import LabelError
from humanoid_data.labels.agreement import (
    AgreementSettings, AuditKind, CategoricalField, MissingPolicy, agreement_report,
    audit_pair)
from humanoid_data.labels.model import (
    Choice, ContactLabel, EpisodeRef, LabelSet, PhaseLabel, Role, TextLabel)

MS = 1_000_000
EDGES = (0, 1000, 2000, 3000)
NAMES = ('reach', 'grasp', 'retreat')


def labels(episode, annotator, *, edges=EDGES, contacts=(('wrist', 1200, 2800),),
           outcome='success', instruction='pick up the cube') -> LabelSet:
    return LabelSet(
        EpisodeRef(episode), annotator, Role.ANNOTATOR, 'test/1',
        phases=tuple(PhaseLabel(n, b * MS, e * MS) for n, b, e in zip(NAMES, edges, edges[1:])),
        contacts=tuple(ContactLabel(c, b * MS, e * MS) for c, b, e in contacts),
        outcome=Choice(outcome) if outcome else None, verdict=Choice('keep'),
        instructions=(TextLabel(instruction),) if instruction else ())


def test_identical_label_sets_agree_perfectly_and_the_audit_is_empty():
    sets = [labels(f'ep{i}', who, outcome=('success', 'failure')[i % 2])
            for i in range(4) for who in ('ann', 'bob')]
    report = agreement_report(sets)
    pair = report.pair('ann', 'bob')
    assert pair.phases.boundary(50.0).f1 == 1.0 and pair.phases.edit == 100.0
    assert pair.contacts[0].counts.f1 == 1.0
    assert pair.kappa(CategoricalField.OUTCOME).kappa == 1.0
    assert pair.kappa(CategoricalField.VERDICT).kappa is None      # one category: undefined
    assert pair.language.rate == 1.0
    outcome = dict(report.raters)[CategoricalField.OUTCOME]
    assert outcome.fleiss_kappa == 1.0 and outcome.krippendorff_alpha == 1.0
    assert report.audit.spans == () and report.audit.labels == ()
    json.dumps(report.to_json(), allow_nan=False)


def test_the_audit_ranks_unmatched_spans_then_largest_offsets_and_episodes():
    ref = [labels('ep0', 'truth'), labels('ep1', 'truth'), labels('ep2', 'truth')]
    other = [
        labels('ep0', 'ann', edges=(0, 1040, 2000, 3000)),           # grasp 40 ms late
        labels('ep1', 'ann', edges=(0, 1000, 2200, 3000)),           # retreat 200 ms late
        labels('ep2', 'ann', contacts=(), outcome='failure'),        # contact missed
    ]
    report = agreement_report(ref + other, reference='truth')
    audit = report.pair('truth', 'ann').audit
    spans = audit.spans
    assert (spans[0].kind, spans[0].where, spans[0].agreed) == (AuditKind.CONTACT, 'wrist',
                                                                False)
    assert spans[0].size_ms == pytest.approx(1600.0)
    assert [(s.where, s.size_ms) for s in spans[1:]] == [('retreat', 200.0), ('grasp', 40.0)]
    assert [(i.episode_id, i.where) for i in audit.labels] == [('ep2', 'outcome')]
    assert [e.episode_id for e in audit.episodes] == ['ep2', 'ep1', 'ep0']
    phases = audit.groups(AuditKind.BOUNDARY)
    assert phases[0].name == 'retreat' and phases[0].max_abs_ms == 200.0
    assert audit.groups(AuditKind.CONTACT)[0].unmatched == 1
    assert report.pair('truth', 'ann').phases.mean_offset_ms == pytest.approx(240 / 6)


def test_an_unmatched_boundary_is_sized_by_its_distance_to_the_nearest_one():
    items = audit_pair(labels('ep', 'a'), labels('ep', 'b', edges=(0, 1000, 2600, 3000)))
    unmatched = [i for i in items if i.kind == AuditKind.BOUNDARY and not i.agreed]
    assert sorted((i.where, i.size_ms) for i in unmatched) == [('retreat', 600.0),
                                                               ('retreat', 600.0)]


def test_missing_policy_reaches_the_audit_and_the_kappas():
    sets = [labels('ep0', 'a'), labels('ep0', 'b', outcome=None)]
    drop = agreement_report(sets)
    assert drop.pair('a', 'b').kappa(CategoricalField.OUTCOME).compared == 0
    assert drop.pair('a', 'b').audit.labels == ()
    category = agreement_report(sets, settings=AgreementSettings(
        missing=MissingPolicy.CATEGORY))
    assert [i.detail for i in category.pair('a', 'b').audit.labels] == ['success vs (unset)']


def test_pairs_cover_only_episodes_both_labelled():
    sets = [labels('ep0', 'a'), labels('ep0', 'b'), labels('ep1', 'a'), labels('ep1', 'c')]
    report = agreement_report(sets)
    assert [(p.reference, p.other, p.episodes) for p in report.pairs] == [
        ('a', 'b', ('ep0',)), ('a', 'c', ('ep1',))]


def test_bad_input_is_rejected_with_the_reason():
    with pytest.raises(LabelError, match='two label sets of annotator'):
        agreement_report([labels('ep0', 'a'), labels('ep0', 'a')])
    with pytest.raises(LabelError, match="reference annotator 'z'"):
        agreement_report([labels('ep0', 'a')], reference='z')
    with pytest.raises(LabelError, match='iou_thresholds'):
        AgreementSettings(iou_thresholds=())
    with pytest.raises(LabelError, match='no pair'):
        agreement_report([labels('ep0', 'a'), labels('ep0', 'b')]).pair('b', 'a')


def test_an_unset_label_differs_from_an_episode_never_labelled():
    sets = [labels('ep0', 'a'), labels('ep0', 'b', outcome=None), labels('ep0', 'c'),
            labels('ep1', 'a'), labels('ep1', 'b')]
    drop = dict(agreement_report(sets).raters)[CategoricalField.OUTCOME]
    assert (drop.subjects, drop.raters, drop.fleiss_subjects) == (2, 3, 0)
    category = dict(agreement_report(sets, settings=AgreementSettings(
        missing=MissingPolicy.CATEGORY)).raters)[CategoricalField.OUTCOME]
    assert category.fleiss_subjects == 1           # ep0: b's unset counts; ep1: c never saw it
