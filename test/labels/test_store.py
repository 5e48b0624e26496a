"""Label store: revisions append-only, concurrent saves all land, damaged files named."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from humanoid_data.errors import LabelError
from humanoid_data.labels.codec import encode_label_set
from humanoid_data.labels.model import (
    SCHEMA, Choice, EpisodeRef, LabelSet, PhaseLabel, Role)
from humanoid_data.labels.store import (
    ADJUDICATED, MAX_LABEL_FILE_BYTES, LabelStore, Revision)

EPISODE = 'episode_0001'


def labels(annotator: str = 'ann', end_ns: int = 100, role: Role = Role.ANNOTATOR,
           episode: str = EPISODE) -> LabelSet:
    """A small label set whose phase ends at ``end_ns`` (to tell revisions apart)."""
    return LabelSet(EpisodeRef(episode, 'session_a'), annotator, role, 'pick_place/2026.11',
                    'pick_place', phases=(PhaseLabel('reach', 0, end_ns),),
                    outcome=Choice('success'))


@pytest.fixture
def session(tmp_path: Path) -> Path:
    """A session folder holding one recorded episode (a stand-in bag)."""
    folder = tmp_path / 'session_a'
    (folder / EPISODE).mkdir(parents=True)
    (folder / 'session.yaml').write_text('robot: sim\n')
    (folder / EPISODE / 'metadata.yaml').write_text('rosbag2_bagfile_information: {}\n')
    (folder / EPISODE / f'{EPISODE}_0.mcap').write_bytes(b'\x89MCAP0\r\n')
    (folder / EPISODE / 'episode.yaml').write_text('state: complete\n')
    return folder


def test_round_trip(session):
    store = LabelStore(session)
    ls = labels()
    assert store.save(ls, note='first pass') == 1
    assert store.load(EPISODE, 'ann') == ls
    assert store.annotators(EPISODE) == ['ann']
    assert store.episodes() == [EPISODE]
    assert store.load_all(EPISODE) == {'ann': ls}
    document = json.loads((session / 'labels' / EPISODE / 'ann.json').read_text())
    assert document['schema'] == SCHEMA
    assert document['revisions'][0]['label_set'] == encode_label_set(ls)
    assert document['revisions'][0]['note'] == 'first pass'


def test_history_grows_and_old_revisions_stay_loadable(session):
    times = iter(datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc) + timedelta(minutes=i)
                 for i in range(10))
    store = LabelStore(session, clock=lambda: next(times))
    first_bytes = None
    for i in range(1, 4):
        assert store.save(labels(end_ns=100 * i), note=f'pass {i}') == i
        if i == 1:
            first_bytes = (session / 'labels' / EPISODE / 'ann.json').read_text()
    assert store.history(EPISODE, 'ann') == [
        Revision(1, '2026-11-29T12:00:00+00:00', 'pass 1'),
        Revision(2, '2026-11-29T12:01:00+00:00', 'pass 2'),
        Revision(3, '2026-11-29T12:02:00+00:00', 'pass 3')]
    assert [store.load(EPISODE, 'ann', r).phases[0].end_ns for r in (1, 2, 3)] == [
        100, 200, 300]
    assert store.load(EPISODE, 'ann').phases[0].end_ns == 300
    document = json.loads((session / 'labels' / EPISODE / 'ann.json').read_text())
    assert document['revisions'][0] == json.loads(first_bytes)['revisions'][0]


def test_saved_at_is_utc_iso_8601_by_default(session):
    store = LabelStore(session)
    store.save(labels())
    stamp = datetime.fromisoformat(store.history(EPISODE, 'ann')[0].saved_at)
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - stamp) < timedelta(minutes=1)


@pytest.mark.parametrize('revision', [0, 3, -1, True])
def test_a_missing_revision_is_refused(session, revision):
    store = LabelStore(session)
    store.save(labels())
    store.save(labels())
    with pytest.raises(LabelError, match=r'ann\.json: no revision .*revisions are 1\.\.2'):
        store.load(EPISODE, 'ann', revision)


def test_several_annotators_and_the_adjudicated_set(session):
    store = LabelStore(session)
    store.save(labels('bob'))
    store.save(labels('ann'))
    store.save(labels(ADJUDICATED, role=Role.ADJUDICATOR))
    store.save(labels('ann', episode='episode_0002'))
    assert (session / 'labels' / EPISODE / 'adjudicated.json').is_file()
    assert store.annotators(EPISODE) == ['adjudicated', 'ann', 'bob']
    assert store.episodes() == [EPISODE, 'episode_0002']
    assert set(store.load_all(EPISODE)) == {'adjudicated', 'ann', 'bob'}
    assert store.load(EPISODE, ADJUDICATED).role is Role.ADJUDICATOR


@pytest.mark.parametrize(('annotator', 'role'), [
    (ADJUDICATED, Role.ANNOTATOR), ('carol', Role.ADJUDICATOR)])
def test_the_adjudicated_name_goes_with_the_adjudicator_role(session, annotator, role):
    with pytest.raises(LabelError, match='the adjudicated set is annotator'):
        LabelStore(session).save(labels(annotator, role=role))


def test_nothing_is_listed_before_anything_is_saved(session):
    store = LabelStore(session)
    assert store.episodes() == []
    assert store.annotators(EPISODE) == []
    assert store.load_all(EPISODE) == {}
    with pytest.raises(LabelError, match=r'ann\.json: no such label file'):
        store.load(EPISODE, 'ann')


def test_a_missing_session_folder_is_refused(tmp_path):
    with pytest.raises(LabelError, match='no such session folder'):
        LabelStore(tmp_path / 'nowhere').save(labels())
    assert not (tmp_path / 'nowhere').exists()


def save_many(session: str, writer: int, count: int, start: Any) -> None:
    """Save ``count`` revisions of the same (episode, annotator) (runs in a child process)."""
    store = LabelStore(session)
    start.wait(timeout=60)   # both processes save at the same time
    for i in range(count):
        store.save(labels(end_ns=1000 * writer + i), note=f'writer {writer} save {i}')


def test_two_processes_saving_at_once_lose_no_revision(session):
    spawn = multiprocessing.get_context('spawn')
    start = spawn.Barrier(2)
    workers = [spawn.Process(target=save_many, args=(str(session), w, 20, start))
               for w in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    store = LabelStore(session)
    history = store.history(EPISODE, 'ann')
    assert [r.revision for r in history] == list(range(1, 41))
    assert sorted(r.note for r in history) == sorted(
        f'writer {w} save {i}' for w in (1, 2) for i in range(20))
    ends = [store.load(EPISODE, 'ann', r).phases[0].end_ns for r in range(1, 41)]
    for w in (1, 2):   # each writer's revisions land in the order it saved them
        assert [e for e in ends if e // 1000 == w] == [1000 * w + i for i in range(20)]


def test_an_atomic_write_leaves_no_temporary_file(session, monkeypatch):
    store = LabelStore(session)
    store.save(labels())
    folder = session / 'labels' / EPISODE
    assert sorted(p.name for p in folder.iterdir()) == ['.ann.lock', 'ann.json']
    before = (folder / 'ann.json').read_bytes()

    def full_disk(*args: object) -> None:
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'replace', full_disk)
    with pytest.raises(LabelError, match=r'ann\.json: cannot save labels: No space left'):
        store.save(labels(end_ns=5))
    assert sorted(p.name for p in folder.iterdir()) == ['.ann.lock', 'ann.json']
    assert (folder / 'ann.json').read_bytes() == before


def _revision(ls: object, number: int = 1) -> dict:
    return {'revision': number, 'saved_at': '2026-11-29T12:00:00+00:00', 'note': '',
            'label_set': ls}


GOOD = encode_label_set(labels())
DAMAGED = [
    ('not json', b'{"schema": ', 'not a JSON label file'),
    ('not utf-8', b'\xff\xfe{}', 'not a JSON label file'),
    ('nan', b'{"schema": NaN}', 'NaN is not a number a label file may hold'),
    ('a list', b'[]', r'ann\.json: expected a mapping, got \[\]'),
    ('wrong schema', json.dumps({'schema': 'humanoid_data.labels/0', 'revisions': [
        _revision(GOOD)]}), r'schema: expected .humanoid_data\.labels/1.'),
    ('unknown key', json.dumps({'schema': SCHEMA, 'revisions': [_revision(GOOD)],
                                'extra': 1}), "unknown key 'extra'"),
    ('no revisions', json.dumps({'schema': SCHEMA, 'revisions': []}),
     'revisions: expected a non-empty list'),
    ('revision gap', json.dumps({'schema': SCHEMA, 'revisions': [
        _revision(GOOD), _revision(GOOD, 3)]}), r'revisions\[1\]\.revision: expected 2'),
    ('revision as text', json.dumps({'schema': SCHEMA, 'revisions': [
        _revision(GOOD, '1')]}), r'revisions\[0\]\.revision: expected 1'),
    ('bad saved_at', json.dumps({'schema': SCHEMA, 'revisions': [
        {**_revision(GOOD), 'saved_at': 'yesterday'}]}), r'revisions\[0\]\.saved_at'),
    ('naive saved_at', json.dumps({'schema': SCHEMA, 'revisions': [
        {**_revision(GOOD), 'saved_at': '2026-11-29T12:00:00'}]}), 'with its UTC offset'),
    ('bad label set', json.dumps({'schema': SCHEMA, 'revisions': [_revision(
        {**GOOD, 'phases': [{'name': 'reach', 'begin_ns': 9, 'end_ns': 1}]})]}),
     r'ann\.json \(revision 1\): phases\[0\]\.end_ns: expected >= begin_ns'),
    ('another annotator', json.dumps({'schema': SCHEMA, 'revisions': [_revision(
        {**GOOD, 'annotator': 'bob'})]}), "holds the labels of 'bob'"),
]


@pytest.mark.parametrize(('content', 'message'), [(c, m) for _, c, m in DAMAGED],
                         ids=[name for name, _, _ in DAMAGED])
def test_damaged_files_are_rejected_naming_the_file(session, content, message):
    path = session / 'labels' / EPISODE / 'ann.json'
    path.parent.mkdir(parents=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    store = LabelStore(session)
    for attempt in (lambda: store.load(EPISODE, 'ann'), lambda: store.history(EPISODE, 'ann'),
                    lambda: store.load_all(EPISODE), lambda: store.save(labels())):
        with pytest.raises(LabelError, match=message) as info:
            attempt()
        assert str(path) in str(info.value)
    assert path.read_bytes() == (content if isinstance(content, bytes) else content.encode())


def test_a_file_over_64_mib_is_refused_unread(session):
    path = session / 'labels' / EPISODE / 'ann.json'
    path.parent.mkdir(parents=True)
    with path.open('wb') as f:
        f.truncate(MAX_LABEL_FILE_BYTES + 1)   # sparse: no disk used
    with pytest.raises(LabelError, match=r'ann\.json: larger than the limit of 67108864'):
        LabelStore(session).load(EPISODE, 'ann')


@pytest.mark.parametrize('name', ['', '.hidden', '../escape', 'a/b', 'a b', 'ann\n', 'añn',
                                  '..', 'C:x'])
def test_an_unsafe_annotator_name_is_refused(session, name):
    store = LabelStore(session)
    with pytest.raises(LabelError, match='is not a safe file name'):
        store.load(EPISODE, name)
    if name:   # the model itself refuses an empty annotator
        with pytest.raises(LabelError, match='is not a safe file name'):
            store.save(labels(name))
    assert not (session / 'labels').exists()


@pytest.mark.parametrize('episode', ['../episode_0001', 'gold', '.x'])
def test_an_unsafe_or_reserved_episode_id_is_refused(session, episode):
    with pytest.raises(LabelError, match='episode id'):
        LabelStore(session).save(labels(episode=episode))
    assert not (session / 'labels').exists()


def test_the_gold_folder_is_not_an_episode(session):
    (session / 'labels' / 'gold').mkdir(parents=True)
    (session / 'labels' / 'gold' / 'v1.yaml').write_text('episodes: []\n')
    assert LabelStore(session).episodes() == []


@pytest.mark.parametrize(('change', 'message'), [
    ({'task': 7}, r'\(new revision\): task: expected text'),
    ({'annotator': 'x' * 300}, r'cannot save labels: File name too long'),
])
def test_a_set_that_would_not_load_back_is_not_saved(session, change, message):
    store = LabelStore(session)
    store.save(labels())
    with pytest.raises(LabelError, match=message):
        store.save(dataclasses.replace(labels(), **change))
    assert len(store.history(EPISODE, 'ann')) == 1


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in root.rglob('*') if p.is_file()}


def test_nothing_outside_labels_is_written(session):
    before = _snapshot(session)
    store = LabelStore(session)
    store.save(labels())
    store.save(labels(end_ns=7), note='again')
    store.save(labels(ADJUDICATED, role=Role.ADJUDICATOR))
    store.load_all(EPISODE)
    after = _snapshot(session)
    added = set(after) - set(before)
    assert added and all(p.startswith('labels/') for p in added)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(p.name for p in (session / EPISODE).iterdir()) == sorted(
        ['metadata.yaml', f'{EPISODE}_0.mcap', 'episode.yaml'])


def test_with_an_assignment_file_only_its_annotators_may_save(session):
    store = LabelStore(session)
    (session / 'labels').mkdir()
    (session / 'labels' / 'assignments.yaml').write_text('annotators: [ann, bob]\n')
    assert store.roster() == ('ann', 'bob')
    assert store.save(labels('bob')) == 1
    with pytest.raises(LabelError, match=r"dan\.json: annotator: 'dan' is not one of the "
                                         r"annotators of .*assignments\.yaml \(ann, bob\)"):
        store.save(labels('dan'))
    assert 'dan' not in store.annotators(EPISODE)
    # Machines and the adjudicator are not assigned work: they save as before.
    assert store.save(labels('prelabel', role=Role.MACHINE)) == 1
    assert store.save(labels(ADJUDICATED, role=Role.ADJUDICATOR)) == 1


@pytest.mark.parametrize('content', ['annotators: ann\n', 'annotators: [1, 2]\n', '[: bad\n'])
def test_a_damaged_assignment_file_is_refused_naming_it(session, content):
    (session / 'labels').mkdir()
    (session / 'labels' / 'assignments.yaml').write_text(content)
    with pytest.raises(LabelError, match=r'assignments\.yaml'):
        LabelStore(session).save(labels('ann'))
