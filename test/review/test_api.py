"""The review workbench's HTTP API (docs/review.md) on a recorded, pre-labelled session.

The session is recorded without DDS (test/dataset/recording.py), pre-labelled, and two
simulated annotators label it from the simulator's truth in the bag. Tests that write
work on a copy (bags hard-linked: they are only read).
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from humanoid_data.bag.episode_reader import EpisodeReader
from humanoid_data.cli.labels import prelabel_sessions
from humanoid_data.cli.main import main
from humanoid_data.cli.review import (
    bind, check_host, is_loopback, roster_warnings, url_of)
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.errors import ConfigError
from humanoid_data.labels import store as store_module
from humanoid_data.labels.gold import freeze_gold
from humanoid_data.labels.model import (
    Choice, ContactLabel, EpisodeRef, LabelSet, LabelSource, PhaseLabel, Role)
from humanoid_data.labels.prelabel import PRELABEL
from humanoid_data.labels.store import LabelStore
from humanoid_data.review.episode_data import MAX_POINTS
from humanoid_data.review.rules import User
from humanoid_data.review.server import create_app
from humanoid_data.sim.annotators import annotate, truth_label_set
from humanoid_data.sim.demo_annotators import PROFILES
from test.dataset.recording import REPO, record

TestClient = pytest.importorskip('starlette.testclient').TestClient

TAXONOMY = REPO / 'config' / 'phases.yaml'
CONTACT = REPO / 'config' / 'contact.yaml'
EPISODE = 'episode_0001'
CAREFUL, HURRIED = (p.name for p in PROFILES)
BIG = 1_795_977_978_595_855_242      # a robot stamp beyond 2**53


@pytest.fixture(scope='module')
def recorded(tmp_path_factory):
    """A session of two episodes with pre-labels and two simulated annotators."""
    root = tmp_path_factory.mktemp('review')
    session, _ = record(root, 'good', REPO / 'config' / 'humanoid.yaml', episodes=2)
    done, failed = prelabel_sessions([session], TAXONOMY, CONTACT)
    assert not failed and len(done) == 2
    version = load_taxonomy(TAXONOMY).version
    store = LabelStore(session)
    for folder in sorted(session.glob('episode_*')):
        reader = EpisodeReader(folder)
        reader.scan()
        reader.close_samples()
        meta = reader.meta
        events = [e for e in reader.events if meta.start_ns <= e.stamp_ns <= meta.stop_ns]
        truth = truth_label_set(EpisodeRef(folder.name, session.name, meta.episode_uuid),
                                events, meta.stop_ns, taxonomy=version, task=meta.task,
                                outcome=meta.outcome or None)
        for profile in PROFILES:
            store.save(annotate(truth, profile), note='simulated annotator')
    return session


def _link_or_copy(source, target):
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@pytest.fixture
def session(recorded, tmp_path):
    """A copy of the recorded session that a test may write to."""
    copy = tmp_path / 'sessions' / recorded.name
    shutil.copytree(recorded, copy, copy_function=_link_or_copy)
    return copy


def client(sessions, annotator=CAREFUL, role=Role.ANNOTATOR, **kwargs):
    """A test client of a workbench serving ``sessions``."""
    if isinstance(sessions, Path):
        sessions = [sessions]
    return TestClient(create_app(sessions, annotator, role, **kwargs))


def episode_url(session, episode=EPISODE):
    """The API path of one episode."""
    return f'/api/episodes/{session.name}/{episode}'


def assignments(session, **values):
    """Write the session's labels/assignments.yaml."""
    body = {'annotators': [CAREFUL, HURRIED], 'per_episode': 1, 'blind': True,
            'show_prelabels': True, 'assignments': [], **values}
    (session / 'labels' / 'assignments.yaml').write_text(yaml.safe_dump(body))


def put(api, session, label_set, base, episode=EPISODE, **extra):
    """PUT a label set (relative stamps) as the page does."""
    return api.put(f'{episode_url(session, episode)}/labels',
                   json={'base_revision': base, 'label_set': label_set, **extra})


def files_under(folder):
    """Every file below ``folder``, as relative paths."""
    return {p.relative_to(folder) for p in folder.rglob('*') if p.is_file()}


# -- config and list ----------------------------------------------------------------------


def test_config_names_the_user_the_role_and_the_taxonomy(recorded):
    body = client(recorded).get('/api/config').json()
    assert (body['annotator'], body['role']) == (CAREFUL, 'annotator')
    assert body['blind'] is True and body['show_prelabels'] is True
    assert 'success' in body['outcomes'] and body['verdicts'] == ['keep', 'flag', 'reject']
    taxonomy = load_taxonomy(TAXONOMY)
    assert body['taxonomy']['version'] == taxonomy.version
    phases = body['taxonomy']['phases']
    assert [p['name'] for p in phases] == list(taxonomy.task().phase_names)
    assert [p['key'] for p in phases[:3]] == ['1', '2', '3']
    assert phases[0]['description']
    assert [f['name'] for f in body['taxonomy']['failure_modes']] == \
        list(taxonomy.failure_names)


def test_list_is_in_review_queue_order_with_status(recorded):
    rows = client(recorded, 'lead', Role.REVIEWER).get('/api/episodes').json()['episodes']
    assert {r['episode'] for r in rows} == {'episode_0001', 'episode_0002'}
    assert [r['queue'] for r in rows] == [1, 2]
    assert rows[0]['uncertainty'] >= rows[1]['uncertainty']
    store = LabelStore(recorded)
    from humanoid_data.labels.prelabel import uncertainty
    for row in rows:
        assert row['uncertainty'] == uncertainty(store.load(row['episode'], PRELABEL))
        assert row['id'] == f'{recorded.name}/{row["episode"]}'
        assert row['status'] == 'labeled' and row['labeled_by'] == 2
        assert row['annotators'] == sorted([CAREFUL, HURRIED])
        assert row['task'] == 'pick_place' and row['duration_s'] == pytest.approx(7.5)
        assert isinstance(row['flags'], list)


def test_a_blind_annotator_sees_only_their_own_part_of_the_list(recorded):
    rows = client(recorded, CAREFUL).get('/api/episodes').json()['episodes']
    assert all(r['annotators'] == [CAREFUL] and r['labeled_by'] == 1 for r in rows)
    rows = client(recorded, 'newcomer').get('/api/episodes').json()['episodes']
    assert all(r['annotators'] == [] and r['labeled_by'] == 0 for r in rows)
    assert all(r['status'] == 'unlabeled' for r in rows)


def test_status_counts_per_episode_from_the_assignments(session):
    assignments(session, per_episode=2, annotators=[CAREFUL, HURRIED, 'cat'])
    rows = client(session, 'lead', Role.REVIEWER).get('/api/episodes').json()['episodes']
    assert {r['status'] for r in rows} == {'labeled'}
    assignments(session, per_episode=3, annotators=[CAREFUL, HURRIED, 'cat'])
    rows = client(session, 'lead', Role.REVIEWER).get('/api/episodes').json()['episodes']
    assert {r['status'] for r in rows} == {'in_progress'}


# -- episode data -------------------------------------------------------------------------


def test_episode_clock_cameras_signals_and_events_come_from_the_bag(recorded):
    body = client(recorded).get(episode_url(recorded)).json()
    start_ns = yaml.safe_load((recorded / EPISODE / 'episode.yaml').read_text())['start_ns']
    assert body['origin_ns'] == str(start_ns)
    origin = int(body['origin_ns'])
    assert body['duration_ns'] == 7_500_000_000
    reader = EpisodeReader(recorded / EPISODE)
    samples = reader.scan()
    reader.close_samples()
    (camera,) = body['cameras']
    bag_stamps = list(samples[camera['topic']].arrays()[0])
    assert camera['name'] == 'wrist_right_rgb' and camera['fps'] == 30.0
    assert camera['frames'] == len(bag_stamps) == len(camera['stamps_ns'])
    assert [origin + s for s in camera['stamps_ns']] == bag_stamps
    assert camera['video'] == f'{episode_url(recorded)}/video/wrist_right_rgb'
    groups = {s['group'] for s in body['signals']}
    assert groups == {'force', 'pressure', 'joint_speed', 'closure'}
    for signal in body['signals']:
        assert 0 < len(signal['t_ns']) == len(signal['values']) <= MAX_POINTS
        assert signal['t_ns'] == sorted(signal['t_ns'])
    force = next(s for s in body['signals'] if s['group'] == 'force')
    assert force['name'] == 'wrist/right' and force['unit'] == 'N'
    assert len(samples['/wrist/right/ft'].header_ns) > MAX_POINTS   # it was cut down
    closure = next(s for s in body['signals'] if s['name'] == 'hand/right')
    assert 0.0 <= min(closure['values']) and max(closure['values']) <= 1.0
    markers = [e for e in body['events'] if e['kind'] == 'marker']
    assert markers and markers[0]['text'] == 'reach'


def test_a_second_request_is_served_from_the_cache(recorded, monkeypatch):
    api = client(recorded)
    first = api.get(episode_url(recorded)).json()
    from humanoid_data.review import episode_data

    def fail(folder):
        raise AssertionError('the bag was read again')
    monkeypatch.setattr(episode_data, 'read_episode', fail)
    assert api.get(episode_url(recorded)).json()['signals'] == first['signals']


def test_the_video_is_made_once_in_the_session_cache_and_served_in_ranges(session):
    pytest.importorskip('av')
    bag = {p.name: p.stat().st_mtime_ns for p in (session / EPISODE).iterdir()}
    api = client(session)
    url = api.get(episode_url(session)).json()['cameras'][0]['video']
    whole = api.get(url)
    assert whole.status_code == 200 and whole.headers['content-type'] == 'video/mp4'
    assert b'ftyp' in whole.content[:16]
    part = api.get(url, headers={'Range': 'bytes=0-99'})
    assert part.status_code == 206 and part.content == whole.content[:100]
    assert any((session / '.review').glob(f'{EPISODE}-wrist_right_rgb-*.mp4'))
    assert {p.name: p.stat().st_mtime_ns for p in (session / EPISODE).iterdir()} == bag


def test_prebuild_makes_every_video_ahead_so_opening_builds_none(session, monkeypatch):
    pytest.importorskip('av')
    from humanoid_data.review import proxy as proxy_module
    app = create_app([session], CAREFUL, Role.ANNOTATOR)
    assert app.state.workbench.prebuild() == []
    built = sorted((session / '.review').glob('*.mp4'))
    assert len(built) == 2                       # one camera in each of two episodes
    encodes = []
    monkeypatch.setattr(proxy_module, '_encode', lambda *a: encodes.append(a))
    api = TestClient(app)
    for episode in ('episode_0001', 'episode_0002'):
        url = api.get(episode_url(session, episode)).json()['cameras'][0]['video']
        assert api.get(url).status_code == 200
    assert encodes == [] and sorted((session / '.review').glob('*.mp4')) == built


def test_prebuild_stops_when_asked(session):
    import threading
    stop = threading.Event()
    stop.set()
    assert create_app([session], CAREFUL, Role.ANNOTATOR).state.workbench.prebuild(stop) == []
    assert not any((session / '.review').glob('*.mp4'))


def test_an_annotator_sees_only_their_set_and_the_prelabels(recorded):
    body = client(recorded, CAREFUL).get(episode_url(recorded)).json()
    assert {t['annotator'] for t in body['tracks']} == {PRELABEL, CAREFUL}
    assert body['disagreements'] == []
    assert body['mine']['annotator'] == CAREFUL and body['mine']['revision'] == 1
    prelabel = next(t for t in body['tracks'] if t['annotator'] == PRELABEL)
    assert prelabel['role'] == 'machine' and prelabel['revision'] == 1


def test_without_prelabels_shown_an_annotator_starts_empty(session):
    assignments(session, show_prelabels=False, annotators=[CAREFUL, HURRIED, 'ann'])
    body = client(session, 'ann').get(episode_url(session)).json()
    assert body['tracks'] == []
    mine = body['mine']
    assert mine['revision'] == 0 and mine['annotator'] == 'ann'
    assert mine['label_set']['phases'] == [] and mine['label_set']['role'] == 'annotator'


def test_a_reviewer_sees_every_set_and_the_disagreements(session):
    store = LabelStore(session)
    hurried = store.load(EPISODE, HURRIED)
    moved = replace(hurried.phases[1], begin_ns=hurried.phases[1].begin_ns + 300_000_000)
    changed = replace(hurried, phases=(hurried.phases[0], moved, *hurried.phases[2:]),
                      outcome=Choice('failure'), failure_mode=Choice('slip_drop'))
    store.save(changed, note='disagree')
    body = client(session, 'lead', Role.REVIEWER).get(episode_url(session)).json()
    assert {t['annotator'] for t in body['tracks']} == {PRELABEL, CAREFUL, HURRIED}
    origin = int(body['origin_ns'])
    kinds = {d['kind'] for d in body['disagreements']}
    assert {'phase', 'outcome', 'failure_mode'} <= kinds
    assert all(d['between'] == [CAREFUL, HURRIED] for d in body['disagreements'])
    far = [d for d in body['disagreements'] if d['kind'] == 'phase'
           and d['t0_ns'] <= moved.begin_ns - origin <= d['t1_ns']]
    assert far, body['disagreements']
    assert body['mine']['revision'] == 0 and body['mine']['annotator'] == 'lead'


# -- saving -------------------------------------------------------------------------------


def test_relative_stamps_round_trip_exactly_and_revisions_count_up(session):
    api = client(session, 'ann')
    body = api.get(episode_url(session)).json()
    origin = int(body['origin_ns'])
    mine = body['mine']
    assert mine['revision'] == 0
    prelabels = LabelStore(session).load(EPISODE, PRELABEL)
    assert [p['begin_ns'] + origin for p in mine['label_set']['phases']] == \
        [p.begin_ns for p in prelabels.phases]
    answer = put(api, session, mine['label_set'], 0, note='first pass')
    assert answer.status_code == 200, answer.text
    assert answer.json()['revision'] == 1 and answer.json()['saved_at']
    saved = LabelStore(session).load(EPISODE, 'ann')
    assert saved.phases == prelabels.phases
    assert saved.contacts == prelabels.contacts
    assert (saved.annotator, saved.role) == ('ann', Role.ANNOTATOR)
    assert saved.episode.episode_id == EPISODE and saved.episode.session == session.name
    edited = dict(mine['label_set'], notes=[{'text': 'cube wobbles', 'stamp_ns': -5}])
    answer = put(api, session, edited, 1, note='autosave')
    assert answer.status_code == 200, answer.text
    assert answer.json()['revision'] == 2
    assert LabelStore(session).load(EPISODE, 'ann').notes[0].stamp_ns == origin - 5
    history = api.get(f'{episode_url(session)}/labels/history').json()['revisions']
    assert [(r['revision'], r['note']) for r in history] == [(1, 'first pass'),
                                                             (2, 'autosave')]
    first = api.get(f'{episode_url(session)}/labels', params={'revision': 1}).json()
    assert first['revision'] == 1 and first['note'] == 'first pass'
    assert first['label_set']['phases'] == mine['label_set']['phases']
    latest = api.get(f'{episode_url(session)}/labels').json()
    assert latest['revision'] == 2 and latest['label_set']['notes'][0]['stamp_ns'] == -5
    assert api.get(f'{episode_url(session)}/labels', params={'revision': 3}).status_code \
        == 404
    assert api.get(f'{episode_url(session)}/labels',
                   params={'revision': 'x'}).status_code == 400


def test_a_stale_base_revision_is_a_conflict(session):
    api = client(session, 'ann')
    mine = api.get(episode_url(session)).json()['mine']['label_set']
    assert put(api, session, mine, 0).status_code == 200
    answer = put(api, session, mine, 0)
    assert answer.status_code == 409 and 'base_revision' in answer.json()['error']
    assert len(LabelStore(session).history(EPISODE, 'ann')) == 1


def test_the_adjudicator_saves_with_a_reason_only(session):
    api = client(session, 'boss', Role.ADJUDICATOR)
    body = api.get(episode_url(session)).json()
    mine = body['mine']
    assert mine['annotator'] == 'adjudicated' and mine['revision'] == 0
    assert mine['label_set']['role'] == 'adjudicator' and mine['label_set']['phases']
    assert {t['annotator'] for t in body['tracks']} == {PRELABEL, CAREFUL, HURRIED}
    refused = put(api, session, mine['label_set'], 0)
    assert refused.status_code == 403 and 'reason' in refused.json()['error']
    refused = put(api, session, mine['label_set'], 0, reason='   ')
    assert refused.status_code == 403
    assert not (session / 'labels' / EPISODE / 'adjudicated.json').exists()
    answer = put(api, session, mine['label_set'], 0, reason='careful one was right')
    assert answer.status_code == 200, answer.text
    saved = LabelStore(session).load(EPISODE, 'adjudicated')
    assert saved.role is Role.ADJUDICATOR
    assert [d.text for d in saved.decisions] == ['boss: careful one was right']
    rows = client(session, 'lead', Role.REVIEWER).get('/api/episodes').json()['episodes']
    assert {r['episode']: r['status'] for r in rows}[EPISODE] == 'adjudicated'
    freeze_gold(session, 'v1')
    rows = client(session, 'lead', Role.REVIEWER).get('/api/episodes').json()['episodes']
    assert {r['episode']: r['status'] for r in rows} == {EPISODE: 'gold',
                                                         'episode_0002': 'labeled'}


def test_a_body_naming_another_annotator_is_refused(session):
    api = client(session, 'ann')
    mine = api.get(episode_url(session)).json()['mine']['label_set']
    answer = put(api, session, dict(mine, annotator=CAREFUL), 0)
    assert answer.status_code == 403 and CAREFUL in answer.json()['error']
    assert not (session / 'labels' / EPISODE / 'ann.json').exists()
    assert len(LabelStore(session).history(EPISODE, CAREFUL)) == 1


@pytest.mark.parametrize('change, field', [
    (lambda ls: dict(ls, phases=[dict(ls['phases'][0], end_ns='soon')]), 'phases[0].end_ns'),
    (lambda ls: {k: v for k, v in ls.items() if k != 'taxonomy'}, 'taxonomy'),
    (lambda ls: dict(ls, outcome={'value': 'maybe'}), 'outcome'),
    (lambda ls: dict(ls, verdict={'value': 'reject'}), 'verdict.reason'),
    (lambda ls: dict(ls, phases=[dict(ls['phases'][0], name='dance')]), 'phases[0].name'),
    (lambda ls: dict(ls, contacts=[{'channel': 'x', 'onset_ns': 5, 'offset_ns': 1}]),
     'contacts[0].offset_ns'),
])
def test_a_malformed_label_set_is_refused_naming_the_field(session, change, field):
    api = client(session, 'ann')
    mine = api.get(episode_url(session)).json()['mine']['label_set']
    answer = put(api, session, change(mine), 0)
    assert answer.status_code == 400
    assert field in answer.json()['error'] and EPISODE in answer.json()['error']
    assert not (session / 'labels' / EPISODE / 'ann.json').exists()


@pytest.mark.parametrize('body, field', [
    (b'{"base_revision": 0, ', 'JSON'),
    (b'[]', 'object'),
    (b'{"label_set": {}}', 'base_revision'),
    (b'{"base_revision": -1, "label_set": {}}', 'base_revision'),
    (b'{"base_revision": 0, "label_set": 3}', 'label_set'),
    (b'{"base_revision": 0, "label_set": {}, "note": 7}', 'note'),
    (b'{"base_revision": 0, "label_set": {}, "who": "me"}', 'who'),
])
def test_a_malformed_request_is_refused_naming_the_field(session, body, field):
    answer = client(session, 'ann').put(f'{episode_url(session)}/labels', content=body)
    assert answer.status_code == 400 and field in answer.json()['error']


def test_unknown_session_episode_camera_and_route_are_404(recorded):
    api = client(recorded)
    assert api.get('/api/episodes/nowhere/episode_0001').status_code == 404
    assert api.get(episode_url(recorded, 'episode_0099')).status_code == 404
    answer = api.get(f'{episode_url(recorded)}/video/head_rgb')
    assert answer.status_code == 404 and 'wrist_right_rgb' in answer.json()['error']
    assert api.get('/api/nothing').status_code == 404
    assert api.get('/api/nothing').json()['error']
    assert api.get(f'{episode_url(recorded)}/labels').status_code == 200
    assert client(recorded, 'ann').get(f'{episode_url(recorded)}/labels').status_code == 404


@pytest.mark.parametrize('path', [
    '/api/episodes/good/%2e%2e',
    '/api/episodes/%2e%2e/episode_0001',
    '/api/episodes/good/..%2F..%2Fsuite.yaml',
    '/api/episodes/good/%2Fetc%2Fpasswd',
    '/api/episodes/good/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc',
    '/api/episodes/good/.review',
    '/api/episodes/good/labels',
    '/api/episodes/good/gold',
    '/api/episodes/good/episode_0001%2F..',
    '/api/episodes/good/episode_0001/video/%2e%2e',
    '/api/episodes/good/episode_0001/video/..%2F..%2Fsuite.yaml',
    '/api/episodes/good/episode_0001/video/%2Fetc%2Fpasswd',
    '/static/..%2Fserver.py',
    '/static/%2e%2e/server.py',
])
def test_path_traversal_is_refused_and_touches_nothing(session, path):
    root = session.parent
    before = files_under(root.parent)
    api = client(session, 'ann')
    for suffix in ('', '/labels', '/labels/history'):
        answer = api.get(path + suffix)
        assert answer.status_code in (400, 404), (path + suffix, answer.text)
        assert answer.json()['error']
        answer = api.put(path + '/labels', json={'base_revision': 0, 'label_set': {}})
        assert answer.status_code in (400, 404, 405), (path, answer.text)
    assert files_under(root.parent) == before


def test_the_token_is_required_when_set(recorded):
    api = client(recorded, token='s3cret')
    assert api.get('/api/config').status_code == 401
    assert api.get('/api/config', headers={'Authorization': 'Bearer wrong'}).status_code \
        == 401
    assert api.get('/api/episodes', params={'token': 's3cret'}).status_code == 401
    assert api.get(episode_url(recorded)).status_code == 401
    answer = api.get('/api/config', headers={'Authorization': 'Bearer s3cret'})
    assert answer.status_code == 200 and answer.json()['annotator'] == CAREFUL
    assert api.get('/').status_code == 401
    assert api.get('/', params={'token': 'wrong'}).status_code == 401
    assert api.get('/', params={'token': 's3cret'}).status_code != 401
    assert api.get('/', headers={'Authorization': 'Bearer s3cret'}).status_code != 401
    assert client(recorded).get('/api/config').status_code == 200


def test_opening_the_page_with_the_token_sets_a_cookie_for_the_video(recorded):
    api = client(recorded, token='s3cret')
    api.cookies.set('humanoid_data_token', 'wrong')
    assert api.get('/api/config').status_code == 401
    api.cookies.clear()
    page = api.get('/', params={'token': 's3cret'})
    assert page.status_code == 200
    cookie = page.headers['set-cookie'].lower()
    assert 'httponly' in cookie and 'samesite=strict' in cookie
    # A <video> sends no header: the cookie alone authorizes the API and the video.
    assert api.get('/api/config').status_code == 200
    assert api.get(episode_url(recorded)).status_code == 200


def test_a_failing_save_says_why_and_loses_nothing(session, monkeypatch):
    api = client(session, 'ann')
    mine = api.get(episode_url(session)).json()['mine']['label_set']
    assert put(api, session, mine, 0, note='kept').status_code == 200

    def full(path, document):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(store_module, 'write_atomically', full)
    answer = put(api, session, dict(mine, notes=[{'text': 'lost'}]), 1)
    assert answer.status_code == 507
    assert 'No space left on device' in answer.json()['error']
    assert str(session.parent) not in answer.json()['error']
    monkeypatch.undo()
    latest = api.get(f'{episode_url(session)}/labels').json()
    assert latest['revision'] == 1 and latest['note'] == 'kept'
    assert latest['label_set']['notes'] == []


def test_the_roster_refuses_an_annotator_not_on_it(session):
    assignments(session)
    api = client(session, 'stranger')
    mine = api.get(episode_url(session)).json()['mine']['label_set']
    answer = put(api, session, mine, 0)
    assert answer.status_code == 403 and 'stranger' in answer.json()['error']
    assert not (session / 'labels' / EPISODE / 'stranger.json').exists()
    api = client(session, CAREFUL)
    body = api.get(episode_url(session)).json()
    answer = put(api, session, body['mine']['label_set'], body['mine']['revision'])
    assert answer.status_code == 200 and answer.json()['revision'] == 2
    (warning,) = roster_warnings([session], User('stranger', Role.ANNOTATOR))
    assert 'stranger' in warning and 'refused' in warning
    assert roster_warnings([session], User(CAREFUL, Role.ANNOTATOR)) == []


# -- a session of label sets only ---------------------------------------------------------


def test_a_session_without_bags_works_on_big_stamps(tmp_path):
    session = tmp_path / 'labels_only'
    version = load_taxonomy(TAXONOMY).version
    store = LabelStore(session.mkdir() or session)
    ref = EpisodeRef('ep_a', session.name)
    theirs = LabelSet(ref, 'bob', Role.ANNOTATOR, version, 'pick_place',
                      phases=(PhaseLabel('reach', BIG, BIG + 1_000_000_001),),
                      contacts=(ContactLabel('wrist/right', BIG + 7, None,
                                             source=LabelSource.HUMAN),))
    store.save(theirs)
    api = client(session, 'ann')
    rows = api.get('/api/episodes').json()['episodes']
    assert [r['episode'] for r in rows] == ['ep_a']
    body = api.get('/api/episodes/labels_only/ep_a').json()
    assert body['origin_ns'] == str(BIG)
    assert body['cameras'] == [] and body['signals'] == [] and body['tracks'] == []
    mine = dict(body['mine']['label_set'],
                phases=[{'name': 'reach', 'begin_ns': 3, 'end_ns': 1_000_000_001}],
                contacts=[{'channel': 'wrist/right', 'onset_ns': 7, 'offset_ns': None,
                           'slips_ns': [9]}])
    answer = put(api, session, mine, 0, episode='ep_a', origin_ns=str(BIG))
    assert answer.status_code == 200, answer.text
    saved = store.load('ep_a', 'ann')
    assert (saved.phases[0].begin_ns, saved.phases[0].end_ns) == (BIG + 3, BIG + 1_000_000_001)
    assert saved.contacts[0].onset_ns == BIG + 7 and saved.contacts[0].slips_ns == (BIG + 9,)
    body = client(session, 'lead', Role.REVIEWER).get('/api/episodes/labels_only/ep_a').json()
    assert body['origin_ns'] == str(BIG)
    track = next(t for t in body['tracks'] if t['annotator'] == 'ann')
    assert track['label_set']['phases'][0]['begin_ns'] == 3
    stale = put(api, session, mine, 1, episode='ep_a', origin_ns='12')
    assert stale.status_code == 409 and 'origin_ns' in stale.json()['error']


# -- the command --------------------------------------------------------------------------


def test_the_command_refuses_a_public_address_without_a_token(recorded, capsys):
    assert main(['review', str(recorded), '--host', '0.0.0.0']) == 2
    error = capsys.readouterr().err
    assert '--token' in error and '0.0.0.0' in error
    with pytest.raises(ConfigError):
        check_host('192.168.1.20', None)
    check_host('192.168.1.20', 'tok')
    assert is_loopback('127.0.0.1') and is_loopback('::1') and is_loopback('localhost')
    assert not is_loopback('0.0.0.0')


def test_port_zero_binds_a_free_port_and_the_url_names_it():
    sock = bind('127.0.0.1', 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        assert url_of(sock, '127.0.0.1', None) == f'http://127.0.0.1:{port}/'
        assert url_of(sock, '127.0.0.1', 'a b') == f'http://127.0.0.1:{port}/?token=a%20b'
    finally:
        sock.close()


# -- the pieces ---------------------------------------------------------------------------


def test_downsampling_keeps_a_one_sample_spike_and_the_bound():
    import numpy as np
    from humanoid_data.review.episode_data import downsample
    t = np.arange(100_001, dtype=np.int64) * 1_000_000
    values = np.zeros(len(t))
    values[54_321] = 42.0
    kept_t, kept = downsample(t, values)
    assert len(kept) <= MAX_POINTS and kept.max() == 42.0
    assert kept_t[int(np.argmax(kept))] == t[54_321]
    assert list(kept_t) == sorted(kept_t)
    short_t, short = downsample(t[:10], values[:10])
    assert len(short) == 10


def test_disagreements_name_the_pair_the_span_and_why():
    from humanoid_data.review.rules import disagreements
    version = load_taxonomy(TAXONOMY).version
    ref = EpisodeRef('e')
    ms = 1_000_000
    a = LabelSet(ref, 'ann', Role.ANNOTATOR, version, 'pick_place',
                 phases=(PhaseLabel('reach', 0, 1000 * ms), PhaseLabel('grasp', 1000 * ms,
                                                                       2000 * ms)),
                 contacts=(ContactLabel('wrist/right', 1100 * ms, 1500 * ms),),
                 outcome=Choice('success'))
    b = replace(a, annotator='bob',
                phases=(PhaseLabel('reach', 0, 1140 * ms), PhaseLabel('grasp', 1140 * ms,
                                                                      2000 * ms)),
                contacts=(), outcome=Choice('failure'))
    close = replace(b, annotator='cat', phases=a.phases, contacts=a.contacts,
                    outcome=a.outcome)
    pre = replace(b, annotator=PRELABEL, role=Role.MACHINE)
    found = disagreements({'ann': a, 'bob': b, PRELABEL: pre})
    by_kind = {d.kind: d for d in found}
    assert set(by_kind) == {'phase', 'contact', 'outcome'}
    assert by_kind['phase'].detail.startswith('boundary 140 ms apart')
    assert (by_kind['phase'].t0_ns, by_kind['phase'].t1_ns) == (1000 * ms, 1140 * ms)
    assert by_kind['contact'].detail == 'contact only in ann'
    assert by_kind['outcome'].t0_ns is None and 'failure' in by_kind['outcome'].detail
    assert all(d.between == ('ann', 'bob') for d in found)
    assert disagreements({'ann': a, 'cat': close}) == []
