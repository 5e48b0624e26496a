"""Finding the episodes of a conversion: nothing skipped silently, every one identified."""

from __future__ import annotations

import fcntl
import os
import uuid

import pytest
import yaml

from humanoid_data.dataset.batch import convert
from humanoid_data.dataset.sources import describe_sources, find_episodes, source_id
from humanoid_data.errors import ConfigError
from test.dataset.recording import DATASET, REPO

META = {'rosbag2_bagfile_information': {'version': 8, 'storage_identifier': 'mcap'}}


def episode(folder, *, meta=True, mcap=b'\x89MCAP0\r\n' + bytes(64), episode_yaml=None):
    """A folder that looks like an episode (its bag need not be readable)."""
    folder.mkdir(parents=True)
    if meta:
        (folder / 'metadata.yaml').write_text(yaml.safe_dump(META))
    if mcap is not None:
        (folder / f'{folder.name}.mcap').write_bytes(mcap)
    if episode_yaml is not None:
        (folder / 'episode.yaml').write_text(yaml.safe_dump(episode_yaml))
    return folder


def test_every_folder_that_looks_like_an_episode_is_found(tmp_path):
    episode(tmp_path / 's1' / 'episode_0001')
    episode(tmp_path / 's1' / 'episode_0002', meta=False)         # its recorder was killed
    episode(tmp_path / 's1' / 'discarded' / 'episode_0003')       # the operator's decision
    (tmp_path / 's1' / 'sim_truth').mkdir()
    found = find_episodes([tmp_path])
    assert [f.name for f in found] == ['episode_0001', 'episode_0002']


def test_source_paths_are_relative_to_the_source_argument(tmp_path):
    one = episode(tmp_path / 'sessions' / 's1' / 'episode_0001')
    [tree] = describe_sources([tmp_path / 'sessions'])
    assert tree.path == 's1/episode_0001' and tree.name == 's1/episode_0001'
    [session] = describe_sources([tmp_path / 'sessions' / 's1'])
    assert session.path == 'episode_0001'
    [itself] = describe_sources([one])
    assert itself.path == 's1/episode_0001'


def test_the_source_id_is_the_uuid_or_a_hash_of_the_bag(tmp_path):
    given = str(uuid.uuid4())
    with_uuid = episode(tmp_path / 'a' / 'episode_0001', episode_yaml={'episode_uuid': given})
    assert source_id(with_uuid) == given
    plain = episode(tmp_path / 'b' / 'episode_0001')
    same = episode(tmp_path / 'c' / 'episode_0001')
    other = episode(tmp_path / 'd' / 'episode_0001', mcap=b'\x89MCAP0\r\n' + bytes(65))
    assert len(source_id(plain)) == 16 and int(source_id(plain), 16) >= 0
    assert source_id(plain) == source_id(same) != source_id(other)
    broken = episode(tmp_path / 'e' / 'episode_0001', meta=False)
    (broken / 'episode.yaml').write_bytes(b'\xff not yaml')
    assert len(source_id(broken)) == 16          # never raises; the conversion names it


def test_names_stay_unique_across_sources(tmp_path):
    first = episode(tmp_path / 'x' / 's1' / 'episode_0001')
    second = episode(tmp_path / 'y' / 's1' / 'episode_0001', mcap=b'\x89MCAP0\r\n' + bytes(9))
    copy = episode(tmp_path / 'z' / 's1' / 'episode_0001')          # same bytes as first
    found = describe_sources([tmp_path / 'x', tmp_path / 'y', tmp_path / 'z'])
    names = {s.folder: s.name for s in found}
    assert len(set(names.values())) == 3
    assert names[first] == f's1/episode_0001@{source_id(first)}'
    assert names[second] == f's1/episode_0001@{source_id(second)}'
    assert names[copy] == f's1/episode_0001@{source_id(first)}#2'


def _convert(tmp_path, sources):
    config = tmp_path / 'dataset.yaml'
    config.write_text(yaml.safe_dump(DATASET))
    return convert(sources, tmp_path / 'out', 'lerobot', config, REPO / 'config' / 'phases.yaml',
                   REPO / 'config' / 'contact.yaml')


def test_unfinished_episodes_fail_with_the_repair_command(tmp_path):
    root = tmp_path / 'src'
    killed = episode(root / 's1' / 'episode_0001', meta=False)
    died = episode(root / 's1' / 'episode_0002', episode_yaml={'state': 'recording'})
    live = episode(root / 's1' / 'episode_0003', episode_yaml={'state': 'recording'})
    lock = os.open(live / '.recording.lock', os.O_CREAT | os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)         # a recorder is writing it right now
    try:
        result = _convert(tmp_path, [root])
    finally:
        os.close(lock)
    assert not result.converted and result.output is None
    assert not (tmp_path / 'out' / 'meta').exists()        # nothing kept: nothing written
    for folder in (killed, died):
        reason = result.failed[f's1/{folder.name}']
        assert f'humanoid-data repair {folder}' in reason
    assert 'still being recorded' in result.failed['s1/episode_0003']


def test_no_episode_at_all_is_an_error(tmp_path):
    (tmp_path / 'src' / 's1' / 'discarded' / 'episode_0001').mkdir(parents=True)
    episode(tmp_path / 'src' / 's1' / 'discarded' / 'episode_0002')
    with pytest.raises(ConfigError, match='no episode to convert.*1 discarded'):
        _convert(tmp_path, [tmp_path / 'src'])
