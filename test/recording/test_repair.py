"""A recorder killed with SIGKILL mid-episode: the episode is named, repaired, readable again."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from rosbags.rosbag2 import Reader

from humanoid_data.bag.episode_state import (
    EpisodeState, UnfinishedEpisodeError, episode_state, require_finished)
from humanoid_data.bag.inspect import inspect_bag
from humanoid_data.bag.verify import verify_bag
from humanoid_data.cli.main import main
from humanoid_data.core.config import load_suite
from humanoid_data.core.settings import RecorderSettings
from humanoid_data.core.topics import topics_for
from humanoid_data.recording.engine import RecorderEngine
from humanoid_data.recording.repair import ORIGINAL_DIR, repair, repair_episode
from humanoid_data.recording.session import Session

REPO = Path(__file__).resolve().parents[2]

# The child records on a fake clock, makes sure the writer flushed (barriers, no sleep),
# reports what it had received, and dies by SIGKILL with the episode open.
CHILD = textwrap.dedent('''
    import json, logging, os, signal, sys
    from dataclasses import replace
    from pathlib import Path
    from humanoid_data.core.config import load_suite
    from humanoid_data.core.settings import RecorderSettings
    from humanoid_data.core.topics import topics_for
    from humanoid_data.recording.engine import RecorderEngine
    from humanoid_data.recording.session import Session
    from humanoid_data.sim.humanoid import SimulatedHumanoid
    root, suite_file = Path(sys.argv[1]), sys.argv[2]
    suite = load_suite(suite_file)
    keep = ('wrist_right_rgb', 'joint_states', 'joint_command', 'wrist_right_ft',
            'tactile_right_index', 'tactile_right_thumb', 'imu')
    suite = replace(suite, streams=tuple(s for s in suite.streams if s.name in keep))
    now = [10 ** 15]
    session = Session(root, 's', suite)
    engine = RecorderEngine(topics_for(suite), session, RecorderSettings(preroll_s=0.2),
                            logging.getLogger('child'), clock=lambda: now[0])
    index = {t.topic: i for i, t in enumerate(engine.topics)}
    sim = SimulatedHumanoid(suite, start_ns=now[0])
    def run(ms):
        for _ in range(ms):
            now[0] += 1_000_000
            for out in sim.step(now[0]):
                engine.offer(index[out.topic], out.data)
    run(300)
    episode = engine.start_episode(task='pick_place', operator='ann')
    sim.play_cycle(now[0] + 100_000_000)
    run(2500)
    assert engine.wait_for_writer(timeout=120)
    # One more flush period on the clock: the writer's next pass releases the held
    # messages and puts the open chunk on disk before the barrier, whatever its timing.
    now[0] += 2 * int(RecorderSettings().flush_period_s * 1e9)
    assert engine.wait_for_writer(timeout=120)
    print(json.dumps({'episode': episode, 'received': sum(engine.received)}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
''')


@pytest.fixture(scope='module')
def killed(tmp_path_factory):
    """A session whose recorder was killed with an episode open."""
    root = tmp_path_factory.mktemp('killed')
    result = subprocess.run([sys.executable, '-c', CHILD, str(root),
                             str(REPO / 'config' / 'humanoid.yaml')],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == -signal.SIGKILL, result.stderr
    info = json.loads(result.stdout.strip().splitlines()[-1])
    return root / 's', info


def _copy(killed, tmp_path) -> Path:
    import shutil
    session = tmp_path / 's'
    shutil.copytree(killed[0], session)
    return session


def test_a_killed_episode_is_named_with_the_repair_command(killed, tmp_path, capsys):
    session = _copy(killed, tmp_path)
    folder = session / killed[1]['episode']
    assert (folder / 'metadata.yaml').is_file()
    assert yaml.safe_load((folder / 'episode.yaml').read_text())['state'] == 'recording'
    assert episode_state(folder) == EpisodeState.INTERRUPTED
    with pytest.raises(UnfinishedEpisodeError, match='humanoid-data repair'):
        require_finished(folder)
    assert main(['inspect', str(folder)]) == 2
    assert f'humanoid-data repair {folder}' in capsys.readouterr().err


def test_a_recorder_opening_the_session_says_how_to_repair(killed, tmp_path, caplog):
    session = _copy(killed, tmp_path)
    suite = load_suite(session / 'suite.yaml')
    engine = RecorderEngine(topics_for(suite), Session(tmp_path, 's', suite),
                            RecorderSettings(), logging.getLogger('again'))
    try:
        assert engine.snapshot().unfinished == (str(session / killed[1]['episode']),)
    finally:
        engine.close(timeout=60)
    assert 'humanoid-data repair' in caplog.text


def test_repair_recovers_everything_flushed_and_keeps_the_original(killed, tmp_path):
    session = _copy(killed, tmp_path)
    folder = session / killed[1]['episode']
    progress = yaml.safe_load((folder / 'episode.yaml').read_text())['progress']
    report = repair_episode(folder)
    assert report.action == 'repaired' and report.messages == progress['messages'] > 0
    assert report.seconds_lost == pytest.approx(
        (progress['received_until_ns'] - progress['written_until_ns']) / 1e9, abs=1e-3)
    assert episode_state(folder) == EpisodeState.RECOVERED
    assert verify_bag(folder).ok
    meta = yaml.safe_load((folder / 'episode.yaml').read_text())
    assert meta['state'] == 'recovered' and 'recovered' in meta['flags']
    assert meta['task'] == 'pick_place' and meta['operator'] == 'ann'
    assert meta['recovered']['was'] == 'interrupted'
    assert meta['messages'] == report.messages and meta['missing_by_stamps'] >= 0
    with Reader(folder) as bag:
        assert sum(1 for _ in bag.messages()) == report.messages
    assert inspect_bag(folder).messages == report.messages
    assert (folder / ORIGINAL_DIR / f'{folder.name}.mcap').is_file()
    again = repair_episode(folder)                 # nothing left to do
    assert again.action == 'already readable'


def test_repair_of_a_session_finds_its_unfinished_episodes(killed, tmp_path, capsys):
    session = _copy(killed, tmp_path)
    assert main(['repair', str(session), '--drop-original', '--json']) == 0
    out = json.loads(capsys.readouterr().out)
    assert [Path(r['folder']).name for r in out['repaired']] == [killed[1]['episode']]
    assert not (session / killed[1]['episode'] / ORIGINAL_DIR).exists()
    reports, failed = repair([session])            # a second run finds nothing
    assert reports == [] and failed == {}


def test_kill_then_convert_names_it_then_repair_then_convert(killed, tmp_path):
    from humanoid_data.dataset.batch import convert
    from test.dataset.recording import DATASET
    session = _copy(killed, tmp_path)
    config = tmp_path / 'dataset.yaml'
    data = dict(DATASET, streams={k: v for k, v in DATASET['streams'].items()
                                  if k != 'lidar'})
    config.write_text(yaml.safe_dump(data))

    def run(out):
        return convert([session], tmp_path / out, 'hdf5', config,
                       REPO / 'config' / 'phases.yaml', REPO / 'config' / 'contact.yaml')

    before = run('before')
    assert not before.converted and len(before.failed) == 1
    assert 'humanoid-data repair' in next(iter(before.failed.values()))
    reports, failed = repair([session])
    assert len(reports) == 1 and not failed
    after = run('after')          # the kept original under .original/ is not an episode
    assert len(after.converted) == 1 and not after.failed, after.failed


def test_a_copy_that_does_not_verify_leaves_the_original_untouched(killed, tmp_path,
                                                                   monkeypatch):
    from humanoid_data.errors import BagError
    from humanoid_data.recording import repair as module
    session = _copy(killed, tmp_path)
    folder = session / killed[1]['episode']
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    monkeypatch.setattr(module, '_verify_copy', lambda copy, expected: (_ for _ in ()).throw(
        BagError(f'{copy}: does not verify')))
    with pytest.raises(BagError, match='does not verify'):
        repair_episode(folder)
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert after == before and episode_state(folder) == EpisodeState.INTERRUPTED
