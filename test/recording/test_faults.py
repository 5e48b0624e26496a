"""The recorder under faults: hostile events, a bug in the writer, a stalled writer, full disk."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest
from rosbags.rosbag2 import Reader

from humanoid_data.bag import encode
from humanoid_data.bag.verify import verify_bag
from humanoid_data.errors import EpisodeStateError
from humanoid_data.recording import writer as writer_module
from humanoid_data.recording.disk import DiskWatch
from test.hostile import HOSTILE_EVENTS
from test.recording.rig import MS, Rig


def test_hostile_events_are_recorded_as_received_and_recording_goes_on(
        tmp_path, small_suite):
    rig = Rig(tmp_path, small_suite)
    first = rig.engine.start_episode()
    events = rig.index['/humanoid_data/events']
    for text in HOSTILE_EVENTS:
        assert rig.engine.offer(events, encode.string(text)) is None
        rig.run_ms(50)
    rig.engine.stop_episode()
    rig.run_ms(300)
    second = rig.engine.start_episode()       # the writer is alive and takes a new one
    rig.run_ms(100)
    rig.engine.stop_episode()
    rig.finish()
    assert rig.engine.malformed_events == len(HOSTILE_EVENTS)
    with Reader(rig.session.path / first) as bag:
        recorded = [bytes(raw) for c, _, raw in bag.messages()
                    if c.topic == '/humanoid_data/events']
    assert [encode.string(t) for t in HOSTILE_EVENTS] == recorded
    assert rig.episode(first)['flags'] == [] and rig.episode(second)['messages'] > 0


def test_a_bug_in_the_writer_closes_the_episode_with_the_error_and_recording_goes_on(
        tmp_path, small_suite, monkeypatch):
    rig = Rig(tmp_path, small_suite)
    real = writer_module.missing_in_gap
    armed = {'on': True}

    def broken(gap_ns: int, period_ns: int) -> int:
        if armed['on']:
            armed['on'] = False
            raise OverflowError('int too large to convert')
        return real(gap_ns, period_ns)

    first = rig.engine.start_episode()
    rig.run_ms(50)
    monkeypatch.setattr(writer_module, 'missing_in_gap', broken)
    rig.run_ms(300)
    assert rig.engine.wait_for_writer(timeout=60)
    snap = rig.engine.snapshot()
    assert 'OverflowError' in snap.error and snap.state == 'idle'    # closed at once
    second = rig.engine.start_episode()
    rig.run_ms(300)
    rig.engine.stop_episode()
    rig.run_ms(300)
    assert rig.engine.wait_for_writer(timeout=60)
    rig.finish()
    meta = rig.episode(first)
    assert 'OverflowError' in meta['error'] and 'write_error' in meta['flags']
    assert verify_bag(rig.session.path / first).ok
    assert rig.episode(second)['error'] is None and rig.engine.snapshot().error != ''


def test_the_status_clears_when_the_next_episode_succeeds(tmp_path, small_suite,
                                                          monkeypatch):
    rig = Rig(tmp_path, small_suite)
    rig.engine.start_episode()
    rig.run_ms(50)
    monkeypatch.setattr(writer_module, 'missing_in_gap', lambda gap, period: 1 // 0)
    rig.run_ms(400)               # past the hold: messages reach the broken code
    assert rig.engine.wait_for_writer(timeout=60)
    assert 'ZeroDivisionError' in rig.engine.snapshot().error
    monkeypatch.undo()
    rig.engine.start_episode()
    rig.run_ms(200)
    rig.engine.stop_episode()
    rig.run_ms(400)
    assert rig.engine.wait_for_writer(timeout=60)
    assert rig.engine.snapshot().error == ''
    rig.finish()


def test_the_watchdog_reports_a_writer_that_stopped_taking_messages(tmp_path, small_suite,
                                                                    monkeypatch):
    rig = Rig(tmp_path, small_suite, watchdog_s=5.0)
    entered, release = threading.Event(), threading.Event()
    real = writer_module.EpisodeWriter._route

    def stuck(self, item):
        entered.set()
        release.wait(120)
        monkeypatch.setattr(writer_module.EpisodeWriter, '_route', real)
        return real(self, item)

    monkeypatch.setattr(writer_module.EpisodeWriter, '_route', stuck)
    rig.engine.start_episode()
    rig.run_ms(400)               # past the hold: the writer routes, and hangs
    assert entered.wait(120)
    rig.run_ms(10)                # more waits in the queue
    rig.now += 6_000 * MS
    assert 'taken nothing from its queue' in rig.engine.snapshot().error
    release.set()
    rig.engine.stop_episode()
    rig.finish()


def test_disk_time_left_warns_and_a_start_is_refused_below_the_minimum(tmp_path):
    free = {'bytes': 10 * 2 ** 30}
    watch = DiskWatch(tmp_path, warn_minutes=5.0, min_free_bytes=2 ** 30, reserve_bytes=0)
    watch.free_bytes = lambda: free['bytes']
    assert watch.sample(1, 0, recording=True) is not None
    status = watch.sample(1 + 10 ** 9, 100 * 2 ** 20, recording=True)   # 100 MiB/s
    assert status.level == 1 and 'min of recording left' in status.message
    assert 1.4 < status.minutes_left < 1.6          # 9 GiB at 100 MiB/s
    assert watch.refusal() == ''
    free['bytes'] = 2 ** 29
    watch.sample(1 + 3 * 10 ** 9, 200 * 2 ** 20, recording=True)
    assert watch.status.level == 2 and 'disk_min_free_mib' in watch.refusal()


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    result = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(path)],
                            capture_output=True)
    return result.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MiB tmpfs (skipped where mounting is not allowed)."""
    disk = tmp_path / 'disk'
    if os.geteuid() != 0 or not _mount_tmpfs(disk, '24m'):
        pytest.skip('mounting a tmpfs needs root')
    yield disk
    subprocess.run(['umount', '-l', str(disk)], check=False)


def test_a_disk_that_fills_mid_episode_closes_it_readable_with_the_reason(small_disk, suite):
    # The torn chunk is cut off the file (~14 MB of cameras), so after the failure the
    # disk has room again, but less than the minimum.
    rig = Rig(small_disk, suite, disk_min_free_mib=16, disk_reserve_mib=2,
              disk_warn_minutes=5.0, preroll_s=0.0)
    first = rig.engine.start_episode()
    rig.run_ms(1500)              # ~90 MB of cameras: the disk fills
    assert rig.engine.wait_for_writer(timeout=120)
    snap = rig.engine.snapshot()
    assert snap.state == 'idle' and 'No space left' in snap.error
    meta = rig.episode(first)
    assert 'write_error' in meta['flags'] and 'No space left' in meta['error']
    assert meta['state'] == 'complete' and meta['messages'] > 0
    with Reader(rig.session.path / first) as bag:
        assert sum(1 for _ in bag.messages()) == meta['messages']
    assert verify_bag(rig.session.path / first).ok
    with pytest.raises(EpisodeStateError, match='disk'):
        rig.engine.start_episode()      # below the minimum: refused, with the reason
    # Room again (the operator moved the episode away): the next episode clears the status.
    (rig.session.path / first / f'{first}.mcap').unlink()
    rig.now += 2_000 * MS
    assert rig.engine.wait_for_writer(timeout=60)
    rig.now += 2_000 * MS
    assert rig.engine.wait_for_writer(timeout=60)
    second = rig.engine.start_episode()
    rig.run_ms(60)                # ~4 MB: fits
    rig.engine.stop_episode()
    rig.run_ms(400)
    assert rig.engine.wait_for_writer(timeout=60)
    assert rig.engine.snapshot().error == '' and rig.episode(second)['error'] is None
    rig.finish()


def _open_under(folder: Path) -> list[str]:
    """Files under ``folder`` this process holds open."""
    held = []
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink(f'/proc/self/fd/{fd}')
        except OSError:
            continue        # closed while listing
        if target.startswith(str(folder)):
            held.append(target)
    return held


def test_ten_episodes_leave_no_file_open(tmp_path, small_suite):
    rig = Rig(tmp_path, small_suite, preroll_s=0.1)
    for _ in range(10):
        rig.engine.start_episode()
        rig.run_ms(100)
        rig.engine.stop_episode()
        rig.run_ms(300)
    rig.finish()
    assert _open_under(tmp_path) == []
    for folder in sorted(rig.session.path.glob('episode_*')):
        assert rig.episode(folder.name)['state'] == 'complete'
        assert not (folder / '.recording.lock').exists() and verify_bag(folder).ok
