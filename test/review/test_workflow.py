"""The whole review loop through the workbench's API, then qa and convert see the result.

Two annotators correct a phase boundary and a contact blind, a reviewer sees where they
disagree, the adjudicator settles it with a reason, and the annotation QA and the
converter take what was saved. (The keyboard and the page are tested in
test_browser.py; here every step is the request the page makes.)
"""

from __future__ import annotations

import os
import shutil

import pyarrow.parquet as pq
import pytest
import yaml

from humanoid_data.cli.labels import prelabel_sessions
from humanoid_data.dataset.validate import validate
from humanoid_data.labels.model import Role
from humanoid_data.labels.qa import qa_sessions
from humanoid_data.labels.store import ADJUDICATED, LabelStore
from humanoid_data.review.server import create_app
from test.dataset.recording import DATASET, REPO, convert_with, record

TestClient = pytest.importorskip('starlette.testclient').TestClient

TAXONOMY = REPO / 'config' / 'phases.yaml'
CONTACT = REPO / 'config' / 'contact.yaml'
EPISODE = 'episode_0001'
MS = 1_000_000


@pytest.fixture(scope='module')
def prelabelled(tmp_path_factory):
    """One recorded, pre-labelled episode and a dataset config."""
    root = tmp_path_factory.mktemp('workflow')
    session, _ = record(root, 'flow', REPO / 'config' / 'humanoid.yaml', episodes=1)
    done, failed = prelabel_sessions([session], TAXONOMY, CONTACT)
    assert not failed and len(done) == 1
    config = root / 'dataset.yaml'
    config.write_text(yaml.safe_dump(DATASET))
    return session, config


@pytest.fixture
def session(prelabelled, tmp_path):
    """A copy of the session to write labels into (bags hard-linked: only read)."""
    copy = tmp_path / prelabelled[0].name
    shutil.copytree(prelabelled[0], copy, copy_function=os.link)
    return copy


def open_as(session, name, role):
    """The page's view of the episode for ``name`` in ``role``, and its client."""
    api = TestClient(create_app([session], name, role, taxonomy=TAXONOMY))
    view = api.get(f'/api/episodes/{session.name}/{EPISODE}')
    assert view.status_code == 200, view.text
    return api, view.json()


def save(api, session, view, label_set, **extra):
    answer = api.put(f'/api/episodes/{session.name}/{EPISODE}/labels',
                     json={'base_revision': view['mine']['revision'], 'label_set': label_set,
                           **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()['revision']


def correct(label_set, boundary_shift_ns, contact_channel):
    """Move the grasp's start (and the reach's end) and drop one contact channel."""
    phases = [dict(p) for p in label_set['phases']]
    names = [p['name'] for p in phases]
    grasp = names.index('grasp')
    phases[grasp]['begin_ns'] += boundary_shift_ns
    phases[grasp - 1]['end_ns'] += boundary_shift_ns
    for edited in (phases[grasp], phases[grasp - 1]):
        edited['source'], edited['confidence'] = 'human', None
    contacts = [c for c in label_set['contacts'] if c['channel'] != contact_channel]
    assert len(contacts) < len(label_set['contacts'])
    return {**label_set, 'phases': phases, 'contacts': contacts}


def grasp_begin(label_set):
    return next(p['begin_ns'] for p in label_set['phases'] if p['name'] == 'grasp')


def test_annotators_reviewer_and_adjudicator_then_qa_and_convert(prelabelled, session,
                                                                 tmp_path):
    # Two annotators, blind, each start from the pre-labels and correct them.
    api, ann = open_as(session, 'ann', Role.ANNOTATOR)
    assert ann['mine']['revision'] == 0 and ann['mine']['label_set']['phases']
    prelabel_grasp = grasp_begin(ann['mine']['label_set'])
    channel = ann['mine']['label_set']['contacts'][0]['channel']
    assert save(api, session, ann, correct(ann['mine']['label_set'], 40 * MS, channel)) == 1
    api, bob = open_as(session, 'bob', Role.ANNOTATOR)
    assert 'ann' not in {t['annotator'] for t in bob['tracks']}       # blind
    assert save(api, session, bob, correct(bob['mine']['label_set'], 400 * MS, channel)) == 1

    # The reviewer sees both and where they disagree.
    _, review = open_as(session, 'lead', Role.REVIEWER)
    assert {'ann', 'bob'} <= {t['annotator'] for t in review['tracks']}
    grasp_rows = [d for d in review['disagreements'] if d['kind'] == 'phase'
                  and set(d['between']) == {'ann', 'bob'}]
    assert grasp_rows, review['disagreements']
    assert any(d['t0_ns'] is not None and
               min(d['t0_ns'], d['t1_ns']) <= prelabel_grasp + 400 * MS and
               max(d['t0_ns'], d['t1_ns']) >= prelabel_grasp + 40 * MS for d in grasp_rows)

    # The adjudicator takes ann's boundary, with a reason.
    api, judge = open_as(session, 'judge', Role.ADJUDICATOR)
    ann_set = next(t['label_set'] for t in judge['tracks'] if t['annotator'] == 'ann')
    settled = {**judge['mine']['label_set'], 'phases': ann_set['phases'],
               'contacts': ann_set['contacts']}
    assert save(api, session, judge, settled, reason='the wrist camera shows the touch') == 1
    store = LabelStore(session)
    final = store.load(EPISODE, ADJUDICATED)
    origin = int(judge['origin_ns'])
    assert next(p.begin_ns for p in final.phases if p.name == 'grasp') == \
        origin + prelabel_grasp + 40 * MS
    assert any(d.text == 'judge: the wrist camera shows the touch' for d in final.decisions)

    # qa compares the two annotators: bob's boundary, 360 ms from ann's, matches at no
    # tolerance; every other boundary is the pre-labels' in both ...
    result = qa_sessions([session])
    assert {'ann', 'bob'} <= set(result.agreement.annotators)
    phases = result.agreement.pair('ann', 'bob').phases
    counts = phases.boundary(250.0)
    assert counts.reference - counts.matched == 1 and phases.mean_offset_ms == 0.0
    # ... and convert writes the adjudicated labels with their provenance.
    out = tmp_path / 'dataset'
    convert_with(prelabelled[1], [session], out, 'lerobot')
    assert validate(out) == []
    [row] = pq.read_table(out / 'meta' / 'episodes' / 'chunk-000' /
                          'file-000.parquet').to_pylist()
    assert row['labels/source'] == 'adjudicated'
