"""Datasets carry the best labels: adjudicated > one annotator > pre-labels > bag events.

The choice is checked on label sets alone (fast), then end to end: a session recorded
without DDS (test/dataset/recording.py), label sets saved through the LabelStore beside
it, converted, and read back from the parquet files and the HDF5 file.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from humanoid_data.core.phases import load_taxonomy
from humanoid_data.dataset.checksums import write_file_checksum, write_manifest
from humanoid_data.dataset.labels_source import LabelOrigin, choose_labels, episode_agreement
from humanoid_data.dataset.validate import validate
from humanoid_data.labels.model import (
    Choice, ContactLabel, EpisodeRef, LabelSet, PhaseLabel, Role, TextLabel)
from humanoid_data.labels.store import ADJUDICATED, LabelStore
from test.dataset.recording import DATASET, MS, REPO, T0, convert_with, record

EPISODE = 'episode_0001'
TAXONOMY = load_taxonomy(REPO / 'config' / 'phases.yaml')
OLD_TAXONOMY = 'pick_place/2020.01'
PHASES = TAXONOMY.task('pick_place').phase_names
ROLES = {'prelabel': Role.MACHINE, ADJUDICATED: Role.ADJUDICATOR}
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
CONTACT = ContactLabel('wrist/right', T0, T0 + 60_000 * MS)     # the whole episode


def label_set(annotator: str, phases: tuple[str, str] = ('reach', 'grasp'), *,
              begin_ns: int = 0, split_ns: int = 1000 * MS, end_ns: int = 2000 * MS,
              taxonomy: str = TAXONOMY.version, outcome: str = 'success',
              failure_mode: str = '', instruction: str = '', episode_uuid: str = '',
              role: Role | None = None) -> LabelSet:
    """Two phases, ``phases[0]`` until ``split_ns`` and ``phases[1]`` after it."""
    return LabelSet(
        EpisodeRef(EPISODE, 'good', episode_uuid), annotator,
        role or ROLES.get(annotator, Role.ANNOTATOR), taxonomy, 'pick_place',
        phases=(PhaseLabel(phases[0], begin_ns, split_ns),
                PhaseLabel(phases[1], split_ns, end_ns)),
        outcome=Choice(outcome), failure_mode=Choice(failure_mode) if failure_mode else None,
        instructions=(TextLabel(instruction),) if instruction else ())


def clock_from(start: datetime):
    """A store clock one minute later at every save (the latest saved is the last)."""
    times = (start + timedelta(minutes=i) for i in range(1000))
    return lambda: next(times)


@pytest.fixture
def store(tmp_path: Path) -> LabelStore:
    (tmp_path / 'good' / EPISODE).mkdir(parents=True)
    return LabelStore(tmp_path / 'good', clock=clock_from(START))


def chosen(store: LabelStore, **kwargs):
    return choose_labels(store.session_dir, EPISODE, TAXONOMY, **kwargs)


def test_the_best_set_is_chosen_adjudicated_then_annotator_then_prelabels(store):
    none = chosen(store)
    assert none.label_set is None and none.provenance.source == LabelOrigin.BAG_EVENTS
    assert none.provenance.taxonomy == TAXONOMY.version and none.provenance.revision == 0
    store.save(label_set('prelabel'))
    assert chosen(store).provenance.source == LabelOrigin.PRELABEL
    store.save(label_set('ann'))
    store.save(label_set('ann', ('lift', 'place')))      # revision 2 is the latest
    picked = chosen(store)
    assert picked.provenance.source == LabelOrigin.ANNOTATOR
    assert picked.label_set is not None and picked.label_set.phases[0].name == 'lift'
    assert (picked.provenance.annotator, picked.provenance.revision) == ('ann', 2)
    assert not picked.provenance.adjudicated and picked.provenance.notes == ()
    store.save(label_set(ADJUDICATED))
    best = chosen(store).provenance
    assert best.source == LabelOrigin.ADJUDICATED and best.adjudicated
    assert (best.annotator, best.annotators, best.revision) == (ADJUDICATED, ('ann',), 1)
    assert best.saved_at.startswith('2026-01-01T00:03:00')


def test_several_annotators_without_adjudication_take_the_latest_and_say_so(store):
    store.save(label_set('zoe', split_ns=1000 * MS))
    store.save(label_set('ann', split_ns=1050 * MS, outcome='failure',
                         failure_mode='slip_drop'))
    store.save(label_set('rev', split_ns=1400 * MS, role=Role.REVIEWER))
    provenance = chosen(store).provenance
    assert provenance.source == LabelOrigin.ANNOTATOR and provenance.annotator == 'rev'
    assert not provenance.adjudicated and provenance.annotators == ('ann', 'rev', 'zoe')
    assert any('3 annotators' in n and 'no adjudication' in n for n in provenance.notes)
    agreement = provenance.agreement
    assert agreement is not None and agreement.annotators == ('ann', 'rev', 'zoe')
    by_pair = {(p.reference, p.other): p for p in agreement.pairs}
    assert by_pair['ann', 'zoe'].boundary_f1 == 1.0         # 50 ms apart
    assert by_pair['ann', 'rev'].boundary_f1 == 0.0         # 350 ms apart
    assert by_pair['ann', 'zoe'].outcome_agreed is False
    assert by_pair['rev', 'zoe'].outcome_agreed is True
    assert agreement.boundary_f1 == pytest.approx(1 / 3)
    assert agreement.outcome_agreement == pytest.approx(1 / 3)
    assert json.loads(json.dumps(agreement.to_json()))['tolerance_ms'] == 100.0


def test_agreement_needs_two_humans():
    assert episode_agreement([label_set('ann')]) is None


def test_a_set_of_another_taxonomy_is_skipped_with_a_note(store):
    store.save(label_set(ADJUDICATED, taxonomy=OLD_TAXONOMY))
    only_old = chosen(store).provenance
    assert only_old.source == LabelOrigin.BAG_EVENTS
    assert any(OLD_TAXONOMY in n and 'skipped' in n for n in only_old.notes)
    store.save(label_set('ann'))
    store.save(label_set('bob', taxonomy=OLD_TAXONOMY))
    provenance = chosen(store).provenance
    assert provenance.source == LabelOrigin.ANNOTATOR and provenance.annotator == 'ann'
    assert provenance.annotators == ('ann',) and provenance.agreement is None
    assert sum('skipped' in n for n in provenance.notes) == 2


def test_a_set_for_another_bag_or_a_damaged_file_is_skipped(store):
    store.save(label_set('ann', episode_uuid='7f1c0a56-7b1e-4bd3-9a43-0d6f1fd1b6a1'))
    store.save(label_set('prelabel'))
    other_bag = chosen(store, episode_uuid='00000000-0000-4000-8000-000000000000').provenance
    assert other_bag.source == LabelOrigin.PRELABEL
    assert any('episode_uuid' in n for n in other_bag.notes)
    store.path(EPISODE, 'prelabel').write_text('{"schema": ')
    damaged = chosen(store, episode_uuid='7f1c0a56-7b1e-4bd3-9a43-0d6f1fd1b6a1').provenance
    assert damaged.source == LabelOrigin.ANNOTATOR
    assert any('prelabel.json' in n for n in damaged.notes)


def test_unknown_names_are_noted(store):
    store.save(label_set('ann', ('reach', 'juggle')))
    assert any("'juggle'" in n for n in chosen(store).provenance.notes)


# End to end: recorded bags, label sets beside them, converted and read back.

@pytest.fixture(scope='module')
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp('labelled')
    path, _ = record(root, 'good', REPO / 'config' / 'humanoid.yaml', episodes=1)
    config = root / 'dataset.yaml'
    config.write_text(yaml.safe_dump(DATASET))
    return path, config


def session_copy(recorded, tmp_path: Path) -> Path:
    """The recorded session with no labels, its bags hard-linked (they are never changed)."""
    target = tmp_path / 'good'
    shutil.copytree(recorded[0], target, copy_function=os.link)
    return target


def timeline(out: Path) -> tuple[np.ndarray, dict]:
    summary = json.loads((out / 'humanoid_data' / 'episode_000000' / 'episode.json')
                         .read_text())
    k = np.arange(summary['frames'])
    return summary['start_ns'] + np.round(k * 1e9 / summary['fps']).astype(np.int64), summary


def frames(out: Path) -> dict[str, np.ndarray]:
    table = pq.read_table(out / 'data' / 'chunk-000' / 'file-000.parquet')
    return {k: table[k].to_numpy() for k in ('phase_index', 'subtask_index')}


def episode_rows(out: Path) -> list[dict]:
    return pq.read_table(out / 'meta' / 'episodes' / 'chunk-000' / 'file-000.parquet').to_pylist()


def test_convert_takes_adjudicated_over_annotator_over_prelabels_over_bag_events(
        recorded, tmp_path):
    session = session_copy(recorded, tmp_path)
    out = tmp_path / 'out'
    convert_with(recorded[1], [session], out, 'lerobot')
    instants, summary = timeline(out)
    assert summary['labels']['source'] == 'bag_events'
    assert frames(out)['phase_index'].max() == len(PHASES) - 1      # the operator's marks
    split = int(instants[len(instants) // 2])
    span = {'begin_ns': int(instants[0]), 'split_ns': split, 'end_ns': int(instants[-1]) + 1}
    store = LabelStore(session, clock=clock_from(START))
    for annotator, phases, source in (('prelabel', ('reach', 'grasp'), 'prelabel'),
                                      ('ann', ('lift', 'transport'), 'annotator'),
                                      (ADJUDICATED, ('place', 'release'), 'adjudicated')):
        store.save(label_set(annotator, phases, **span))
        result = convert_with(recorded[1], [session], out, 'lerobot')
        assert result.resumed == [] and validate(out) == []     # the labels staged it again
        got = frames(out)
        first, second = PHASES.index(phases[0]), PHASES.index(phases[1])
        np.testing.assert_array_equal(got['phase_index'],
                                      np.where(instants < split, first, second))
        subtasks = pd.read_parquet(out / 'meta' / 'subtasks.parquet')   # as lerobot reads it
        names = [subtasks.iloc[i].name for i in got['subtask_index']]
        assert names == [phases[0] if t < split else phases[1] for t in instants]
        [row] = episode_rows(out)
        assert row['labels/source'] == source and row['labels/annotator'] == annotator


@pytest.fixture(scope='module')
def two_annotators(recorded, tmp_path_factory):
    """Converted (both formats) with pre-labels and two annotators, no adjudication."""
    tmp_path = tmp_path_factory.mktemp('two')
    session = session_copy(recorded, tmp_path)
    store = LabelStore(session, clock=clock_from(START))
    # The episode runs from T0 + 0.3 s to about T0 + 7.8 s; after 6 s no phase is marked.
    span = {'begin_ns': T0, 'split_ns': T0 + 3000 * MS, 'end_ns': T0 + 6000 * MS}
    store.save(label_set('prelabel', **span))
    store.save(label_set('ann', ('grasp', 'lift'), **span))
    bob = label_set('bob', ('grasp', 'lift'), **{**span, 'split_ns': T0 + 3060 * MS},
                    outcome='failure', failure_mode='slip_drop',
                    instruction='lift the cube out of the bowl')
    store.save(bob)
    store.save(dataclasses.replace(bob, contacts=(CONTACT,)), note='contacts added')
    outs = {}
    for fmt in ('lerobot', 'hdf5'):
        outs[fmt] = tmp_path / fmt
        result = convert_with(recorded[1], [session], outs[fmt], fmt)
        assert result.converted == ['good/episode_0001']
    return outs


def test_provenance_is_written_and_read_back_from_lerobot(two_annotators):
    out = two_annotators['lerobot']
    assert validate(out) == []
    [row] = episode_rows(out)
    assert row['labels/source'] == 'annotator' and row['labels/annotator'] == 'bob'
    assert row['labels/annotators'] == ['ann', 'bob'] and row['labels/adjudicated'] is False
    assert row['labels/revision'] == 2 and row['labels/taxonomy'] == TAXONOMY.version
    assert row['labels/taxonomy_mismatch'] is False
    agreement = json.loads(row['labels/agreement'])
    assert agreement['annotators'] == ['ann', 'bob'] and agreement['boundary_f1'] == 1.0
    assert agreement['outcome_agreement'] == 0.0
    # The set replaced outcome, failure mode, instruction (the LeRobot task) and contacts.
    assert (row['outcome'], row['failure_mode']) == ('failure', 'slip_drop')
    assert row['tasks'] == ['lift the cube out of the bowl']
    tasks = pd.read_parquet(out / 'meta' / 'tasks.parquet')
    assert list(tasks.index) == ['lift the cube out of the bowl']
    contact = np.stack(pq.read_table(out / 'data' / 'chunk-000' / 'file-000.parquet')
                       ['observation.contact'].to_numpy(zero_copy_only=False))
    info = json.loads((out / 'meta' / 'info.json').read_text())
    channels = info['features']['observation.contact']['names']
    assert contact[:, channels.index('wrist/right')].all() and contact.sum() == len(contact)
    assert CONTACT.offset_ns is not None
    assert info['features']['subtask_index'] == {'dtype': 'int64', 'shape': [1], 'names': None}
    assert info['humanoid_data']['taxonomy'] == TAXONOMY.version
    summary = json.loads((out / 'meta' / 'labels.json').read_text())
    assert summary['sources'] == {'annotator': 1}
    [episode] = summary['episodes']
    assert episode['replaced'] == ['phases', 'contacts', 'outcome', 'instruction']
    assert any('2 annotators' in n for n in episode['notes'])
    sidecar = json.loads((out / 'humanoid_data' / 'episode_000000' / 'labels.json').read_text())
    assert sidecar['contacts']['label_set'] == [
        {'channel': 'wrist/right', 'begin_ns': CONTACT.onset_ns, 'end_ns': CONTACT.offset_ns}]


def test_provenance_is_written_and_read_back_from_hdf5(two_annotators):
    out = two_annotators['hdf5']
    assert validate(out) == []
    with h5py.File(out / 'dataset.hdf5') as h5:
        assert json.loads(h5['data'].attrs['humanoid_data'])['taxonomy'] == TAXONOMY.version
        demo = h5['data/demo_0']
        attrs = dict(demo.attrs)
        assert attrs['labels_source'] == 'annotator' and attrs['labels_annotator'] == 'bob'
        assert json.loads(attrs['labels_annotators']) == ['ann', 'bob']
        assert attrs['labels_revision'] == 2 and not attrs['labels_adjudicated']
        assert attrs['labels_taxonomy'] == TAXONOMY.version
        assert not attrs['labels_taxonomy_mismatch']
        assert json.loads(attrs['labels_agreement'])['boundary_f1'] == 1.0
        whole = json.loads(attrs['labels'])
        assert whole['source'] == 'annotator' and whole['revision'] == 2
        assert attrs['outcome'] == 'failure' and attrs['failure_mode'] == 'slip_drop'
        assert attrs['instruction'] == 'lift the cube out of the bowl'
        names = json.loads(demo['labels/phase_index'].attrs['names'])
        found = set(demo['labels/phase_index'][()].tolist())
        assert found == {-1, names.index('grasp'), names.index('lift')}


def test_a_set_of_another_taxonomy_is_not_used_silently(recorded, tmp_path):
    session = session_copy(recorded, tmp_path)
    store = LabelStore(session)
    store.save(label_set(ADJUDICATED, ('lift', 'place'), taxonomy=OLD_TAXONOMY))
    out = tmp_path / 'out'
    convert_with(recorded[1], [session], out, 'lerobot')
    assert validate(out) == []
    [row] = episode_rows(out)
    assert row['labels/source'] == 'bag_events' and row['labels/revision'] == 0
    assert frames(out)['phase_index'].max() == len(PHASES) - 1   # still the operator's
    [report] = json.loads((out / 'humanoid_data' / 'report.json').read_text())
    assert any('skipped' in n and OLD_TAXONOMY in n for n in report['notes'])


@pytest.mark.parametrize(('verdict', 'reason'), [
    ('reject', 'the cube was already held'),
    ('flag', 'wrist camera fogged'),
])
def test_a_persons_verdict_rejects_or_flags_the_episode(recorded, tmp_path, verdict, reason):
    from dataclasses import replace
    session = session_copy(recorded, tmp_path)
    store = LabelStore(session)
    store.save(replace(label_set('ann'), verdict=Choice(verdict, reason=reason)))
    prelabel = replace(label_set('prelabel'), verdict=Choice('reject', reason='machine says'))
    out = tmp_path / 'out'
    result = convert_with(recorded[1], [session], out, 'hdf5')
    if verdict == 'reject':
        [(name, reasons)] = result.rejected.items()
        assert any('rejected by ann' in r and reason in r for r in reasons)
    else:
        assert result.flagged and not result.rejected
    store.save(replace(label_set('ann'), verdict=Choice('keep')))
    store.save(prelabel)       # a machine verdict is not a person's: it changes nothing
    result = convert_with(recorded[1], [session], tmp_path / 'again', 'hdf5')
    assert not result.rejected


def rewrite(path: Path, change) -> None:
    pq.write_table(change(pq.read_table(path)), path)


@pytest.mark.parametrize('damage, expected', [
    ('drop_columns', 'no labels provenance'),
    ('drop_summary', 'meta/labels.json: missing'),
    ('unknown_source', "labels source 'guess'"),
    ('unflagged_taxonomy', 'taxonomy_mismatch is False'),
    ('subtask_out_of_range', 'subtask_index 99 is not in meta/subtasks.parquet'),
    ('subtask_not_the_phase', 'subtask_index disagrees with phase_index'),
])
def test_validate_finds_damaged_lerobot_provenance(two_annotators, tmp_path, damage, expected):
    out = tmp_path / 'copy'
    shutil.copytree(two_annotators['lerobot'], out)
    episodes = out / 'meta' / 'episodes' / 'chunk-000' / 'file-000.parquet'
    data = out / 'data' / 'chunk-000' / 'file-000.parquet'

    def set_column(name: str, value, path: Path = episodes):
        def change(table: pa.Table) -> pa.Table:
            column = table[name].to_pylist()
            values = [value(v) for v in column]
            return table.set_column(table.schema.get_field_index(name), name,
                                    pa.array(values, table.schema.field(name).type))
        rewrite(path, change)

    if damage == 'drop_columns':
        rewrite(episodes, lambda t: t.drop_columns(
            [c for c in t.column_names if c.startswith('labels/')]))
    elif damage == 'drop_summary':
        (out / 'meta' / 'labels.json').unlink()
    elif damage == 'unknown_source':
        set_column('labels/source', lambda v: 'guess')
    elif damage == 'unflagged_taxonomy':
        set_column('labels/taxonomy', lambda v: OLD_TAXONOMY)
    elif damage == 'subtask_out_of_range':
        set_column('subtask_index', lambda v: 99, data)
    else:
        set_column('subtask_index', lambda v: 0, data)
    write_manifest(out)           # the checksums alone would not say what is wrong
    problems = validate(out)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize('attr', ['labels_source', 'labels', 'labels_taxonomy_mismatch'])
def test_validate_finds_missing_hdf5_provenance(two_annotators, tmp_path, attr):
    path = tmp_path / 'dataset.hdf5'
    shutil.copyfile(two_annotators['hdf5'] / 'dataset.hdf5', path)
    with h5py.File(path, 'a') as h5:
        del h5['data/demo_0'].attrs[attr]
    write_file_checksum(path)
    problems = validate(path)
    assert problems and all('demo_0' in p for p in problems), problems


def test_every_frame_has_a_subtask_outside_phases_too(two_annotators):
    out = two_annotators['lerobot']
    table = pq.read_table(out / 'meta' / 'subtasks.parquet')
    subtasks = pd.read_parquet(out / 'meta' / 'subtasks.parquet')
    assert subtasks.index[0] == '' and subtasks['subtask_index'].tolist() == list(
        range(len(subtasks)))
    assert table.column_names == ['subtask_index', 'subtask']
    assert list(subtasks.index[1:]) == list(PHASES)
    got = frames(out)
    outside = got['phase_index'] == -1           # after the last phase of the set
    assert outside.any() and (got['subtask_index'][outside] == 0).all()
    assert (got['subtask_index'][~outside] > 0).all()


@pytest.mark.skipif(importlib.util.find_spec('lerobot') is None,
                    reason='lerobot is not installed (it needs torch; not part of .[test])')
def test_lerobot_library_reads_the_subtasks(two_annotators):
    module = importlib.import_module('lerobot.datasets.lerobot_dataset')
    dataset = module.LeRobotDataset('local/humanoid_data_labels', root=two_annotators['lerobot'],
                                    video_backend='pyav')
    phase = int(dataset[0]['phase_index'])
    names = json.loads((two_annotators['lerobot'] / 'humanoid_data' / 'episode_000000' /
                        'episode.json').read_text())['phase_names']
    assert dataset[0]['subtask'] == (names[phase] if phase >= 0 else '')
    assert dataset[0]['task'] == 'lift the cube out of the bowl'
