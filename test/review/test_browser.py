"""The review page in a real browser: headless Chromium driven through ChromeDriver.

The session is recorded without DDS (test/dataset/recording.py), pre-labelled, and labelled
by two simulated annotators; the real server (``review.server.create_app``) runs under
uvicorn in a thread on a free port. Everything is done with the keyboard, as the
annotator's guide says, and checked against what the API and the label files on disk say.

Screenshots go to ``test-artifacts/review/``; with ``HUMANOID_DATA_DOC_SCREENSHOTS=1`` the
episode view and the reviewer's view are also copied to ``docs/images/`` for the guide.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import threading
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from test.dataset.recording import REPO, record

CHROMIUM = Path('/usr/bin/chromium')
CHROMEDRIVER = Path('/usr/bin/chromedriver')
if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
    pytest.skip('the browser tests need Debian\'s chromium and chromium-driver '
                '(make system-deps installs them)', allow_module_level=True)

pytest.importorskip('av')
pytest.importorskip('uvicorn')
selenium = pytest.importorskip('selenium')

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
import uvicorn  # noqa: E402

from humanoid_data.cli.labels import prelabel_sessions  # noqa: E402
from humanoid_data.labels.prelabel import PRELABEL  # noqa: E402
from humanoid_data.labels.store import LabelStore  # noqa: E402
from humanoid_data.review.server import create_app  # noqa: E402
from humanoid_data.sim.annotators import annotate  # noqa: E402
from humanoid_data.sim.demo_annotators import PROFILES  # noqa: E402

ARTIFACTS = REPO / 'test-artifacts' / 'review'
DOC_IMAGES = REPO / 'docs' / 'images'
WAIT_S = 60
TOKEN = 'review-test-token'


@pytest.fixture(scope='module')
def session(tmp_path_factory):
    """A recorded session with its pre-labels and two simulated annotators' label sets."""
    root = tmp_path_factory.mktemp('review')
    path, _ = record(root, 'session_a', REPO / 'config' / 'humanoid.yaml', episodes=1)
    done, failed = prelabel_sessions([path], REPO / 'config' / 'phases.yaml',
                                     REPO / 'config' / 'contact.yaml')
    assert not failed and len(done) == 1
    store = LabelStore(path)
    episode = done[0].episode.name
    prelabels = store.load(episode, PRELABEL)
    careful, hurried = PROFILES
    # Late enough that every boundary lies beyond the adjudication tolerance.
    hurried = replace(hurried, boundary_bias_ms=300.0, boundary_sd_ms=10.0)
    for profile in (careful, hurried):
        store.save(annotate(prelabels, profile, seed=1), note='simulated annotator')
    return path, episode, (careful.name, hurried.name)


@contextlib.contextmanager
def serving(app):
    """Run ``app`` under uvicorn in a thread on a free loopback port; yield the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level='warning'))
    thread = threading.Thread(target=server.run, kwargs={'sockets': [sock]}, daemon=True)
    thread.start()
    for _ in range(600):           # the thread ends early only when the server failed
        if server.started or not thread.is_alive():
            break
        thread.join(0.05)
    assert server.started, 'the review server did not start'
    try:
        yield f'http://127.0.0.1:{port}'
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture(scope='module')
def browser():
    """Headless Chromium, nothing fetched from outside."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix='review_chromium_')
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                '--disable-background-networking', '--disable-component-update',
                '--disable-sync', '--no-first-run', '--window-size=1500,1100',
                '--autoplay-policy=no-user-gesture-required', f'--user-data-dir={profile}'):
        options.add_argument(arg)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_script_errors(browser):
    """Every test ends without an uncaught error in the page's script."""
    browser.get_log('browser')
    yield
    errors = [e['message'] for e in browser.get_log('browser') if 'Uncaught' in e['message']]
    assert errors == []


def api_get(base, path, token=None):
    """GET an API path, with the bearer token when one is given."""
    request = urllib.request.Request(base + path)
    if token:
        request.add_header('Authorization', f'Bearer {token}')
    with urllib.request.urlopen(request, timeout=WAIT_S) as resp:
        return json.loads(resp.read())


def wait(driver, condition, message):
    """Wait for a page condition (a callable of the driver), at most ``WAIT_S``."""
    return WebDriverWait(driver, WAIT_S).until(condition, message)


def open_episode(driver, base, session, episode, token=None):
    """Load the episode view and wait until the episode is shown."""
    query = f'?token={token}' if token else ''
    driver.get('about:blank')       # a fresh page, not only a new fragment
    driver.get(f'{base}/{query}#/episode/{session.name}/{episode}')
    wanted = f'{session.name}/{episode}'
    wait(driver, lambda d: d.execute_script(
        "return document.getElementById('episode-view').dataset.episode") == wanted,
        'the episode view did not load')


def keys(driver, *sequence):
    """Send keys to the page (not to any field)."""
    ActionChains(driver).send_keys(*sequence).perform()


def ctrl(driver, key):
    """Press Ctrl+key."""
    ActionChains(driver).key_down(Keys.CONTROL).send_keys(key).key_up(Keys.CONTROL).perform()


def playhead(driver):
    """The playhead, integer ns relative to the origin."""
    return int(driver.find_element(By.ID, 'playhead').get_attribute('data-ns'))


def listed(driver, testid):
    """The data attributes of the page's list items of ``testid``, read at once."""
    return driver.execute_script(
        'return Array.from(document.querySelectorAll(\'[data-testid="\' + arguments[0] '
        '+ \'"]\')).map(el => Object.assign({}, el.dataset))', testid)


def phases(driver):
    """My phases as the page lists them: (name, begin_ns, end_ns), relative."""
    return [(p['name'], int(p['beginNs']), int(p['endNs'])) for p in listed(driver, 'phase')]


def contacts(driver):
    """My contacts as the page lists them: (channel, onset_ns, offset_ns or None)."""
    return [(c['channel'], int(c['onsetNs']), int(c['offsetNs']) if c['offsetNs'] else None)
            for c in listed(driver, 'contact')]


def save_state(driver):
    """(state, revision) of the save indicator."""
    el = driver.find_element(By.ID, 'save-state')
    return el.get_attribute('data-state'), int(el.get_attribute('data-revision'))


def saved_past(driver, revision):
    """A condition: saved with a revision above ``revision``."""
    def check(d):
        state, number = save_state(d)
        return state == 'saved' and number > revision
    return check


def screenshot(driver, name, doc_name=None):
    """Save a screenshot under test-artifacts/review/ (and docs/images/ when asked)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path))
    if doc_name and os.environ.get('HUMANOID_DATA_DOC_SCREENSHOTS') == '1':
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_IMAGES / doc_name)
    return path


@pytest.fixture(scope='module')
def annotator_server(session):
    """The workbench of annotator ``ann``, with a token."""
    with serving(create_app([session[0]], 'ann', 'annotator', token=TOKEN)) as base:
        yield base


def test_annotator_moves_a_boundary_by_keyboard(browser, session, annotator_server):
    path, episode, _ = session
    base = annotator_server
    open_episode(browser, base, path, episode, TOKEN)

    # The video plays: it has data to show, and its time advances while playing.
    wait(browser, lambda d: d.execute_script(
        "return document.querySelector('video').readyState") >= 2, 'the video did not load')
    start = browser.execute_script("return document.querySelector('video').currentTime")
    keys(browser, ' ')
    wait(browser, lambda d: d.execute_script(
        "return document.querySelector('video').currentTime") > start + 0.1,
        'the video does not play')
    keys(browser, ' ')
    wait(browser, lambda d: d.execute_script("return document.querySelector('video').paused"),
         'the video did not pause')
    wait(browser, lambda d: playhead(d) > 0, 'the playhead did not follow the video')

    # To the second boundary, five frames on, and move it there (keys only).
    keys(browser, Keys.HOME, ']', ']')
    before = phases(browser)
    edges = sorted({b for _, b, _ in before} | {e for _, _, e in before})
    boundary = playhead(browser)
    assert boundary in edges and boundary > 0
    keys(browser, *[Keys.ARROW_RIGHT] * 5)
    target = playhead(browser)
    assert target > boundary
    assert min(edges, key=lambda e: abs(e - target)) == boundary
    keys(browser, 'b')
    wait(browser, lambda d: any(b == target for _, b, _ in phases(d)),
         'the boundary did not move')
    moved = phases(browser)
    assert any(e == target for _, _, e in moved), 'the neighbouring phase did not follow'
    assert not any(b == boundary or e == boundary for _, b, e in moved)

    _, revision = save_state(browser)
    ctrl(browser, 's')
    wait(browser, saved_past(browser, revision), 'the save did not finish')
    status = browser.find_element(By.ID, 'status').text
    _, saved = save_state(browser)
    assert f'revision {saved}' in status
    screenshot(browser, 'episode_annotator.png', 'review_episode.png')

    # Reloaded, the boundary is where it was put; on disk too (absolute stamps).
    browser.refresh()
    open_episode(browser, base, path, episode, TOKEN)
    assert any(b == target for _, b, _ in phases(browser))
    data = api_get(base, f'/api/episodes/{path.name}/{episode}', TOKEN)
    assert data['mine']['revision'] == saved
    origin = int(data['origin_ns'])
    on_disk = LabelStore(path).load(episode, 'ann')
    assert origin + target in {p.begin_ns for p in on_disk.phases}
    assert origin + target in {p.end_ns for p in on_disk.phases}
    moved_phase = next(p for p in on_disk.phases if p.begin_ns == origin + target)
    assert moved_phase.source.value == 'human'


def test_contact_added_and_deleted_by_keyboard_is_saved(browser, session, annotator_server):
    path, episode, _ = session
    base = annotator_server
    open_episode(browser, base, path, episode, TOKEN)
    channel = browser.find_element(By.ID, 'channel').text
    assert channel and channel != '(none)'
    initial = contacts(browser)

    keys(browser, Keys.HOME, *[Keys.ARROW_RIGHT] * 3)
    onset = playhead(browser)
    keys(browser, 'c', *[Keys.ARROW_RIGHT] * 6)
    offset = playhead(browser)
    assert not any(ch == channel and on <= offset and (off is None or off >= onset)
                   for ch, on, off in initial), 'the test span is not free'
    keys(browser, 'c')
    wait(browser, lambda d: (channel, onset, offset) in contacts(d), 'no contact added')
    _, revision = save_state(browser)
    ctrl(browser, 's')
    wait(browser, saved_past(browser, revision), 'the contact was not saved')
    origin = int(api_get(base, f'/api/episodes/{path.name}/{episode}', TOKEN)['origin_ns'])
    on_disk = LabelStore(path).load(episode, 'ann')
    assert (channel, origin + onset, origin + offset) in {
        (c.channel, c.onset_ns, c.offset_ns) for c in on_disk.contacts}

    keys(browser, Keys.ARROW_LEFT, Keys.ARROW_LEFT, 'x')
    wait(browser, lambda d: (channel, onset, offset) not in contacts(d), 'not deleted')
    _, revision = save_state(browser)
    ctrl(browser, 's')
    wait(browser, saved_past(browser, revision), 'the deletion was not saved')
    on_disk = LabelStore(path).load(episode, 'ann')
    assert (channel, origin + onset, origin + offset) not in {
        (c.channel, c.onset_ns, c.offset_ns) for c in on_disk.contacts}
    assert len(on_disk.contacts) == len(initial)


def test_reviewer_sees_the_annotators_disagree(browser, session):
    path, episode, (first, second) = session
    with serving(create_app([path], 'rev', 'reviewer')) as base:
        open_episode(browser, base, path, episode)
        wait(browser, lambda d: d.execute_script(     # streamed: no token, range requests
            "return document.querySelector('video').readyState") >= 2, 'no video')
        items = listed(browser, 'disagreement')
        pairs = [set(d['between'].split(',')) for d in items]
        assert {first, second} in pairs
        timed = [d for d in items if set(d['between'].split(',')) == {first, second}
                 and d['kind'] == 'phase' and d.get('t0Ns')]
        assert timed, 'no timed phase disagreement between the two annotators'
        # d goes to the first disagreement: the playhead into its span, highlighted.
        keys(browser, 'd')
        wait(browser, lambda d: d.find_elements(
            By.CSS_SELECTOR, '#disagreements li.current'), 'd selected none')
        if items[0].get('t0Ns'):
            lo, hi = sorted((int(items[0]['t0Ns']), int(items[0]['t1Ns'])))
            wait(browser, lambda d: lo <= playhead(d) <= hi, 'd did not go to it')
        screenshot(browser, 'episode_reviewer.png', 'review_reviewer.png')

        # To a boundary the two disagree on; a takes the first one's boundary into mine.
        for _ in range(len(items)):
            current = listed(browser, 'disagreement')
            chosen = [x for x in current if x.get('current') == '1']
            if chosen and set(chosen[0]['between'].split(',')) == {first, second} \
                    and chosen[0]['kind'] == 'phase' and chosen[0]['t0Ns'] != chosen[0]['t1Ns']:
                break
            keys(browser, 'd')
        else:
            pytest.fail('d never reached a boundary the two annotators disagree on')
        d = chosen[0]
        assert browser.find_element(By.ID, 'other-track').text.startswith(first)
        keys(browser, 'a')
        view = api_get(base, f'/api/episodes/{path.name}/{episode}')
        theirs = next(t['label_set'] for t in view['tracks'] if t['annotator'] == first)
        mid = (int(d['t0Ns']) + int(d['t1Ns'])) / 2
        wanted = min((p['begin_ns'] for p in theirs['phases'] if p['name'] == d['name']),
                     key=lambda b: abs(b - mid))
        wait(browser, lambda drv: (d['name'], wanted) in {(n, b) for n, b, _ in phases(drv)},
             'a did not take the boundary')
        assert any(e == wanted for _, _, e in phases(browser)), 'the neighbour did not follow'


def test_page_loads_nothing_from_elsewhere(browser, session, annotator_server):
    path, episode, _ = session
    base = annotator_server
    browser.get_log('browser')          # forget what earlier tests logged
    browser.get(f'{base}/?token={TOKEN}#/')
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="episode-row"]'),
         'the episode list is empty')
    rows = browser.find_elements(By.CSS_SELECTOR, '[data-testid="episode-row"]')
    assert [r.get_attribute('data-id') for r in rows] == [f'{path.name}/{episode}']
    screenshot(browser, 'episode_list.png')
    keys(browser, Keys.ENTER)
    wait(browser, lambda d: d.execute_script(
        "return document.getElementById('episode-view').dataset.episode")
        == f'{path.name}/{episode}', 'Enter did not open the episode')
    wait(browser, lambda d: d.execute_script(
        "return document.querySelector('video').readyState") >= 2, 'the video did not load')
    keys(browser, '?')
    assert browser.find_element(By.ID, 'help').is_displayed()
    keys(browser, '?')
    urls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat([location.href])")
    assert urls
    errors = [e for e in browser.get_log('browser') if e['level'] == 'SEVERE']
    assert errors == [], 'the page reported errors'
    outside = [u for u in urls if not (u.startswith(base + '/') or u.startswith('blob:'))
               and not u.startswith('data:')]
    assert outside == []


def ask_answer(driver, answer):
    """Answer the page's text question (its own field, not a browser prompt)."""
    field = WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.ID, 'ask-input') if d.find_element(
            By.ID, 'ask').is_displayed() else False, 'no question asked')
    field.send_keys(answer, Keys.ENTER)
    wait(driver, lambda d: not d.find_element(By.ID, 'ask').is_displayed(), 'still asking')


def phase_at(items, t):
    """The name of the listed top-level phase holding ``t``."""
    return next((n for n, b, e in items if '/' not in n and b <= t < e), None)


def test_split_relabel_undo_redo_verdict_and_note(browser, session, annotator_server):
    path, episode, _ = session
    base = annotator_server
    open_episode(browser, base, path, episode, TOKEN)
    original = phases(browser)
    keys(browser, Keys.HOME, ']', *[Keys.ARROW_RIGHT] * 3)
    t = playhead(browser)
    first = phase_at(original, t)
    keys(browser, 's')
    wait(browser, lambda d: len(phases(d)) == len(original) + 1, 'not split')
    assert (first, t) in {(n, b) for n, b, _ in phases(browser)}
    keys(browser, '3')                      # key 3: the taxonomy's third phase, lift
    wait(browser, lambda d: phase_at(phases(d), t) == 'lift', 'not relabelled')
    ctrl(browser, 'z')
    wait(browser, lambda d: phase_at(phases(d), t) == first, 'relabel not undone')
    ctrl(browser, 'y')
    wait(browser, lambda d: phase_at(phases(d), t) == 'lift', 'relabel not redone')
    ctrl(browser, 'z')
    ctrl(browser, 'z')
    wait(browser, lambda d: phases(d) == original, 'split not undone')
    ActionChains(browser).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys('z') \
        .key_up(Keys.SHIFT).key_up(Keys.CONTROL).perform()
    wait(browser, lambda d: len(phases(d)) == len(original) + 1, 'split not redone')
    keys(browser, Keys.ARROW_LEFT, 'm')      # the first half, merged with the second
    wait(browser, lambda d: phases(d) == original, 'not merged back')

    keys(browser, 'v')                      # keep -> flag: asks why
    ask_answer(browser, 'camera blurred in the grasp')
    wait(browser, lambda d: 'flag' in d.find_element(By.ID, 'verdict').text, 'no verdict')
    noted = playhead(browser)
    keys(browser, 'n')
    ask_answer(browser, 'look again here')
    wait(browser, lambda d: listed(d, 'note'), 'no note')
    _, revision = save_state(browser)
    ctrl(browser, 's')
    wait(browser, saved_past(browser, revision), 'not saved')
    origin = int(api_get(base, f'/api/episodes/{path.name}/{episode}', TOKEN)['origin_ns'])
    on_disk = LabelStore(path).load(episode, 'ann')
    assert on_disk.verdict.value == 'flag'
    assert on_disk.verdict.reason == 'camera blurred in the grasp'
    assert ('look again here', origin + noted) in {(n.text, n.stamp_ns) for n in on_disk.notes}
    assert on_disk.time_spent_s >= 0


def test_stale_save_is_a_conflict_with_reload(browser, session, annotator_server):
    path, episode, _ = session
    base = annotator_server
    open_episode(browser, base, path, episode, TOKEN)
    store = LabelStore(path)
    latest = store.save(store.load(episode, 'ann'), note='another tab')
    keys(browser, 'o')
    ctrl(browser, 's')
    wait(browser, lambda d: save_state(d)[0] == 'conflict', 'no conflict shown')
    assert 'another save' in browser.find_element(By.ID, 'status').text
    reload = browser.find_element(By.ID, 'reload')
    assert reload.is_displayed()
    reload.click()
    wait(browser, lambda d: save_state(d) == ('saved', latest), 'not reloaded')


def test_failed_save_says_so_and_keeps_the_edits(browser, session, annotator_server):
    path, episode, _ = session
    base = annotator_server
    open_episode(browser, base, path, episode, TOKEN)
    browser.execute_script("""
        window.realFetch = window.fetch;
        window.fetch = (url, init) => (init && init.method === 'PUT')
          ? Promise.resolve(new Response(JSON.stringify({error: 'no space left on device'}),
                            {status: 507, headers: {'Content-Type': 'application/json'}}))
          : window.realFetch(url, init);""")
    keys(browser, 'o')
    outcome = browser.find_element(By.ID, 'outcome').text.split()[0]
    ctrl(browser, 's')
    wait(browser, lambda d: save_state(d)[0] == 'error', 'the failure is not shown')
    status = browser.find_element(By.ID, 'status').text
    assert 'SAVE FAILED' in status and 'no space left on device' in status
    assert browser.find_element(By.ID, 'outcome').text.split()[0] == outcome
    browser.execute_script('window.fetch = window.realFetch;')
    _, revision = save_state(browser)
    ctrl(browser, 's')
    wait(browser, saved_past(browser, revision), 'the retry did not save')
    assert LabelStore(path).load(episode, 'ann').outcome.value == outcome


def test_adjudicator_saves_with_a_reason(browser, session):
    path, episode, _ = session
    with serving(create_app([path], 'judge', 'adjudicator')) as base:
        open_episode(browser, base, path, episode)
        keys(browser, 'o')
        wait(browser, lambda d: save_state(d)[0] == 'dirty', 'no edit')
        ctrl(browser, 's')
        ask_answer(browser, 'the cube slid off after release')
        wait(browser, saved_past(browser, 0), 'the adjudicated set was not saved')
        adjudicated = LabelStore(path).load(episode, 'adjudicated')
        assert any('judge' in d.text and 'the cube slid off after release' in d.text
                   for d in adjudicated.decisions)


def test_channel_contact_edges_failure_mode_and_instruction(
        browser, session, annotator_server):
    path, episode, _ = session
    base = annotator_server
    open_episode(browser, base, path, episode, TOKEN)
    first = browser.find_element(By.ID, 'channel').text
    keys(browser, Keys.ARROW_DOWN)
    wait(browser, lambda d: d.find_element(By.ID, 'channel').text != first, 'same channel')
    keys(browser, Keys.ARROW_UP)
    wait(browser, lambda d: d.find_element(By.ID, 'channel').text == first, 'not back')
    mine = [c for c in contacts(browser) if c[0] == first]
    assert mine, 'the pre-labels have a contact on the first channel'
    onset = mine[0][1]
    keys(browser, Keys.HOME, '.')
    wait(browser, lambda d: playhead(d) == onset, '. did not go to the onset')
    ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.ARROW_LEFT) \
        .key_up(Keys.SHIFT).perform()
    earlier = playhead(browser)
    assert earlier == onset - 100_000_000
    keys(browser, 'B')
    wait(browser, lambda d: (first, earlier) in {(c, on) for c, on, _ in contacts(d)},
         'Shift+B did not move the onset')
    keys(browser, '.')
    wait(browser, lambda d: playhead(d) > earlier, '. did not go on')
    keys(browser, ',')
    wait(browser, lambda d: playhead(d) == earlier, ', did not come back to the onset')
    keys(browser, 'f')
    wait(browser, lambda d: d.find_element(By.ID, 'failure-mode').text != '(none)',
         'f set no failure mode')
    keys(browser, 'i')
    ask_answer(browser, Keys.CONTROL + 'a' + Keys.NULL + 'put the cube on the mat')
    wait(browser, lambda d: d.find_element(By.ID, 'instruction').text
         == 'put the cube on the mat', 'instruction unchanged')
    keys(browser, '+', '+', '-', '0', Keys.END, Keys.HOME)
    assert playhead(browser) == 0
    before = phases(browser)
    keys(browser, ']', Keys.ARROW_RIGHT, Keys.DELETE)
    wait(browser, lambda d: len(phases(d)) == len(before) - 1, 'Delete removed no phase')
    ctrl(browser, 'z')
    wait(browser, lambda d: phases(d) == before, 'Delete not undone')
    _, revision = save_state(browser)
    ctrl(browser, 's')
    wait(browser, saved_past(browser, revision), 'not saved')
    saved = LabelStore(path).load(episode, 'ann')
    assert saved.instructions[0].text == 'put the cube on the mat'
    assert saved.failure_mode is not None and saved.failure_mode.source.value == 'human'
