"""Conversion on a Ray cluster (``convert --ray``): one task per episode.

A cluster of two node processes (a head and a second node, one CPU each) is started once
for the module. The output must be the one of ``-j 2``; a worker that dies is retried
once, a stuck one is cancelled at its deadline and retried once, a damaged bag fails
alone; a run never stops a cluster it did not start.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from pathlib import Path

import psutil
import pytest

from humanoid_data.dataset import batch
from humanoid_data.dataset.batch import convert
from humanoid_data.dataset.ray_runner import CPUS_ENV, MEMORY_ENV, in_ray, task_resources
from humanoid_data.dataset.sources import describe_sources
from humanoid_data.errors import ConfigError
from test.dataset import ray_workers
from test.dataset.recording import REPO, two_episode_session

ray = pytest.importorskip('ray')
pytest.importorskip('av')

LEROBOT_FILES = ('data/chunk-000/file-000.parquet', 'meta/stats.json', 'meta/info.json',
                 'meta/episodes/chunk-000/file-000.parquet', 'meta/tasks.parquet',
                 'videos/observation.images.wrist_right/chunk-000/file-000.mp4')


@pytest.fixture(scope='module')
def recorded(tmp_path_factory):
    return two_episode_session(tmp_path_factory.mktemp('sessions'))


@pytest.fixture(scope='module')
def cluster():
    """A head and a second node, one CPU each, as separate processes on this machine."""
    from ray.cluster_utils import Cluster
    head = Cluster(initialize_head=True, head_node_args={'num_cpus': 1})
    try:
        head.add_node(num_cpus=1)
        head.wait_for_nodes()
        yield head
    finally:
        head.shutdown()


def run(recorded, sources, out, fmt, ray_address=None, jobs=1, states=None):

    return convert(sources, out, fmt, recorded[3], REPO / 'config' / 'phases.yaml',
                   REPO / 'config' / 'contact.yaml', jobs=jobs, ray=ray_address,
                   on_progress=lambda episode, state: (states if states is not None
                                                       else []).append(state))


def staged(out, fmt):

    return sorted(p.name.split('__')[1] for p in (out / '.staging' / fmt).iterdir()
                  if p.is_dir())


def same_dataset(a, b):
    """Assert two outputs hold the same files, byte for byte, but for the stage timings.

    Each episode's episode.json holds the wall time of its stages, and the checksum list
    covers those files; the rest must be equal. Returns how many files were compared.
    """
    files = sorted(p.relative_to(a) for p in a.rglob('*')
                   if p.is_file() and '.staging' not in p.parts)
    assert files == sorted(p.relative_to(b) for p in b.rglob('*')
                           if p.is_file() and '.staging' not in p.parts)
    assert {str(f) for f in files} >= set(LEROBOT_FILES)
    for rel in files:
        mine, theirs = (a / rel).read_bytes(), (b / rel).read_bytes()
        if rel.name == 'episode.json':
            mine, theirs = (json.loads(x) for x in (mine, theirs))
            assert mine.pop('timings').keys() == theirs.pop('timings').keys(), rel
        elif rel.name == 'humanoid_data_checksums.json':
            mine, theirs = (json.loads(x)['files'] for x in (mine, theirs))
            mine, theirs = ({k: v for k, v in x.items() if not k.endswith('episode.json')}
                            for x in (mine, theirs))
        assert mine == theirs, rel
    return len(files)


def test_ray_gives_the_dataset_of_local_processes_and_a_rerun_reuses_it(
        recorded, cluster, tmp_path):
    session = recorded[1]
    local, on_ray = tmp_path / 'j2', tmp_path / 'ray'
    local_states, states = [], []
    expected = run(recorded, [session], local, 'lerobot', jobs=2, states=local_states)
    result = run(recorded, [session], on_ray, 'lerobot', cluster.address, states=states)
    assert result.failed == {} and len(result.converted) == 2
    assert result.converted == expected.converted and result.flagged == expected.flagged
    assert sorted(states) == sorted(local_states)      # verdicts, in finishing order
    assert same_dataset(on_ray, local) > len(LEROBOT_FILES)     # the sidecars too
    again_states = []
    again = run(recorded, [session], on_ray, 'lerobot', cluster.address, states=again_states)
    assert len(again.resumed) == 2 and again.converted == result.converted
    assert again_states == ['resumed', 'resumed']
    assert not ray.is_initialized()                    # the runs disconnected ...
    assert cluster.head_node.remaining_processes_alive()   # ... and left the cluster up


def test_a_worker_that_dies_is_retried_once(recorded, cluster, tmp_path, monkeypatch):
    # Every episode's first worker dies (os._exit); ray_workers.VICTIM's second one too.
    monkeypatch.setattr(batch, 'stage_outcome', ray_workers.crashes)
    monkeypatch.setenv(MEMORY_ENV, '200')     # a memory reservation is passed on to Ray
    out = tmp_path / 'out'
    result = run(recorded, [recorded[1]], out, 'hdf5', cluster.address)
    assert result.converted == ['good/episode_0001']
    [(name, reason)] = result.failed.items()
    assert name == f'good/{ray_workers.VICTIM}'
    assert reason.startswith(f'{recorded[1] / ray_workers.VICTIM}: the converting process '
                             'died, twice (WorkerCrashedError')
    for episode in ('episode_0001', ray_workers.VICTIM):
        first, second = ray_workers.attempts(out, episode)
        assert first != second                                  # a fresh worker each time
    assert staged(out, 'hdf5') == ['episode_0001']   # the dead attempts' folders removed


def test_a_stuck_episode_is_cancelled_retried_and_reported(recorded, cluster, tmp_path,
                                                           monkeypatch):
    # The victim's task never answers, so its deadline (0 s) decides every time: nothing
    # races it. The other episode keeps the usual deadline and converts.
    monkeypatch.setattr(batch, 'stage_outcome', ray_workers.hangs)
    usual = batch.deadline_s
    monkeypatch.setattr(batch, 'deadline_s', lambda folder: 0.0
                        if folder.name == ray_workers.VICTIM else usual(folder))
    out = tmp_path / 'out'
    states = []
    result = run(recorded, [recorded[1]], out, 'hdf5', cluster.address, states=states)
    assert result.converted == ['good/episode_0001']
    [(name, reason)] = result.failed.items()
    assert name == f'good/{ray_workers.VICTIM}'
    assert 'no result within 0 s, twice' in reason and 'the Ray task was cancelled' in reason
    assert sorted(states) == ['failed', 'ok']
    pids = ray_workers.attempts(out, ray_workers.VICTIM)
    assert len(pids) == 2 and not any(psutil.pid_exists(pid) for pid in pids)   # killed
    assert staged(out, 'hdf5') == ['episode_0001']      # nothing half-staged kept


def test_a_damaged_bag_fails_alone(recorded, cluster, tmp_path):
    bad = tmp_path / 'bad' / 'truncated'
    shutil.copytree(recorded[1], bad)
    mcap = next((bad / 'episode_0001').glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    result = run(recorded, [tmp_path / 'bad'], tmp_path / 'out', 'hdf5', cluster.address)
    assert result.converted == ['truncated/episode_0002']
    reason = result.failed['truncated/episode_0001']
    assert 'damaged bag' in reason and str(mcap) in reason and 'file ends' in reason


def test_relative_paths_mean_the_drivers_and_an_unseen_bag_is_named(recorded, cluster,
                                                                    tmp_path, monkeypatch):
    # The nodes were started in another folder than this one: the tasks work in the
    # driver's. The second episode is shipped as a path no node has.
    root, session = recorded[0], recorded[1]
    monkeypatch.chdir(root)
    shipped = batch.worker_args
    unseen = tmp_path / 'not_mounted' / 'episode_0002'
    monkeypatch.setattr(batch, 'worker_args', lambda source, stage: (
        (str(unseen),) if source.folder.name == 'episode_0002' else (str(source.folder),))
        + shipped(source, stage)[1:])
    out = Path(os.path.relpath(tmp_path / 'out', root))
    result = run(recorded, [Path(session.name)], out, 'hdf5', cluster.address)
    assert result.converted == ['good/episode_0001']
    assert result.failed['good/episode_0002'] == (
        f'{unseen}: not found on Ray node {socket.gethostname()}; the bags and OUT must be '
        'on storage every node mounts at the same path')
    assert staged(tmp_path / 'out', 'hdf5') == ['episode_0001']


def test_a_task_the_nodes_cannot_import_fails_with_a_hint(recorded, cluster, tmp_path,
                                                          monkeypatch):
    # A body from a module only this process can import: the nodes cannot unpickle it,
    # as they could not without humanoid_data installed. Not retried: it would fail again.
    (tmp_path / 'only_here.py').write_text(
        'def stage(*args):\n    raise AssertionError("never runs")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_here
    monkeypatch.setitem(sys.modules, 'only_here', only_here)     # forgotten after the test
    monkeypatch.setattr(batch, 'stage_outcome', only_here.stage)
    result = run(recorded, [recorded[1]], tmp_path / 'out', 'hdf5', cluster.address)
    assert sorted(result.failed) == ['good/episode_0001', 'good/episode_0002']
    for name, reason in result.failed.items():
        assert reason.startswith(f'{recorded[1] / name.split("/")[1]}: the Ray task failed: ')
        assert "No module named 'only_here'" in reason and 'installed on every node' in reason
        assert 'Traceback' not in reason and '\n' not in reason


def test_without_an_address_a_local_cluster_runs_and_is_stopped(recorded, tmp_path,
                                                                monkeypatch):
    monkeypatch.delenv('RAY_ADDRESS', raising=False)
    monkeypatch.setattr(batch, 'stage_outcome', ray_workers.stages)
    auth = os.environ.get('RAY_AUTH_MODE')
    before = {p.pid for p in psutil.process_iter(['name']) if p.info['name'] == 'gcs_server'}
    out = tmp_path / 'out'
    monkeypatch.setenv(CPUS_ENV, '1000')       # more than this machine has: said at once
    with pytest.raises(ConfigError, match=f'no node of the Ray cluster can hold a task of '
                                          f'1000 CPUs .* lower {CPUS_ENV}'):
        run(recorded, [recorded[1] / 'episode_0001'], out, 'hdf5', '')
    monkeypatch.delenv(CPUS_ENV)
    result = run(recorded, [recorded[1] / 'episode_0001'], out, 'hdf5', '')
    assert result.converted == ['good/episode_0001'] and result.failed == {}
    assert len(ray_workers.attempts(out, 'episode_0001')) == 1
    after = {p.pid for p in psutil.process_iter(['name']) if p.info['name'] == 'gcs_server'}
    assert after == before and not ray.is_initialized()   # the local cluster is stopped
    assert os.environ.get('RAY_AUTH_MODE') == auth        # and Ray's setting taken back


def test_an_unreachable_address_is_a_config_error(recorded, tmp_path):
    todo = [(source, tmp_path / source.folder.name) for source in describe_sources(
        [recorded[1]])]
    with socket.socket() as taken:             # bound, not listening: connections refused
        taken.bind(('127.0.0.1', 0))
        address = f'127.0.0.1:{taken.getsockname()[1]}'
        with pytest.raises(ConfigError, match=f'--ray {address}: cannot reach the Ray '
                                              f'cluster at {address}'):
            list(in_ray(todo, address, ()))
    with pytest.raises(ConfigError, match="'nonsense' is not a Ray address"):
        list(in_ray(todo, 'nonsense', ()))
    assert not ray.is_initialized()


def test_without_ray_installed_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'ray', None)       # import ray raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'humanoid_data\[cluster\]'"):
        list(in_ray([], '', ()))


def test_task_resources_come_from_the_environment(monkeypatch):
    monkeypatch.delenv(CPUS_ENV, raising=False)
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    assert task_resources() == {'num_cpus': 1.0}
    monkeypatch.setenv(CPUS_ENV, '0.5')
    monkeypatch.setenv(MEMORY_ENV, '1500')
    assert task_resources() == {'num_cpus': 0.5, 'memory': 1.5e9}
    for bad in ('0', '-1', 'two', 'inf', 'nan'):
        monkeypatch.setenv(CPUS_ENV, bad)
        with pytest.raises(ConfigError, match=CPUS_ENV):
            task_resources()
