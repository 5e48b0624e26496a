"""The HDF5 export carries robomimic's keys: next_obs, rewards, dones, states, env_args.

One episode is recorded with its events and converted twice over: with its episode.yaml
(outcome success) and without (the operator's episode_end: failure). ``next_obs`` reads
the frames of ``obs`` through virtual datasets, so it must not grow the file, and copies
of the file or of its groups must still read real frames.
"""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from humanoid_data.dataset.checksums import write_file_checksum
from humanoid_data.dataset.hdf5 import ENV_TYPE, dones, link_next_obs, rewards
from humanoid_data.dataset.validate import validate
from test.dataset.recording import convert_one_twice

pytest.importorskip('av')

#: What the file was before robomimic's keys: no next_obs, rewards, dones, states, and
#: numeric datasets gzip without the shuffle filter.
ADDED = ('next_obs', 'rewards', 'dones', 'states')


@pytest.fixture(scope='module')
def export(tmp_path_factory):
    """The HDF5 file of a success and a failure (the same recording, two labels)."""
    result, out = convert_one_twice(tmp_path_factory.mktemp('robomimic'))
    assert result.failed == {} and len(result.converted) == 2
    return out / 'dataset.hdf5'


def _demos(h5: h5py.File) -> list[h5py.Group]:
    return [h5['data'][name] for name in sorted(h5['data'])]


def _assert_shifted(demo: h5py.Group) -> None:
    """Frame k of next_obs is frame k + 1 of obs, for every key; the last is repeated."""
    assert sorted(demo['next_obs']) == sorted(demo['obs'])
    for key, source in demo['obs'].items():
        obs, shifted = source[()], demo['next_obs'][key][()]
        assert shifted.shape == obs.shape and shifted.dtype == obs.dtype, key
        np.testing.assert_array_equal(shifted[:-1], obs[1:], key)
        np.testing.assert_array_equal(shifted[-1], obs[-1], key)


def test_next_obs_is_obs_one_frame_on_and_stores_no_frame(export):
    assert validate(export) == []
    with h5py.File(export, 'r') as h5:
        for demo in _demos(h5):
            _assert_shifted(demo)
            images = demo['next_obs/images_wrist_right']
            assert images.is_virtual and images.id.get_storage_size() == 0
            assert {(m.file_name, m.dset_name) for m in images.virtual_sources()} == {
                ('.', demo['obs/images_wrist_right'].name)}
            assert json.loads(demo['next_obs/state'].attrs['names']) == json.loads(
                demo['obs/state'].attrs['names'])


def test_rewards_dones_states_and_env_args(export):
    with h5py.File(export, 'r') as h5:
        outcomes = {}
        for demo in _demos(h5):
            n = int(demo.attrs['num_samples'])
            outcomes[demo.attrs['session']] = demo.attrs['outcome']
            reward, done = demo['rewards'][()], demo['dones'][()]
            assert reward.shape == done.shape == (n,)
            assert done[-1] == 1 and not done[:-1].any()
            assert not reward[:-1].any()
            assert reward[-1] == (1.0 if demo.attrs['outcome'] == 'success' else 0.0)
            assert demo['states'] == demo['obs/state']          # the same dataset
            assert demo['states'].shape == (n, 76)
        assert outcomes == {'with_yaml': 'success', 'no_yaml': 'failure'}
        env = json.loads(h5['data'].attrs['env_args'])
        assert env == {'env_name': 'humanoid_data', 'type': ENV_TYPE, 'env_kwargs': {}}
        assert ENV_TYPE not in (1, 2, 3)               # no robomimic environment class
        assert int(h5['data'].attrs['total']) == sum(
            int(d.attrs['num_samples']) for d in _demos(h5))
        assert sorted(h5['mask']) == ['flagged', 'ok', 'train', 'valid']
        assert sorted(m.decode() for m in h5['mask/train'][()]) == ['demo_0', 'demo_1']


def test_sparse_rewards_and_dones():
    np.testing.assert_array_equal(rewards(4, 'success'), [0, 0, 0, 1])
    for outcome in ('failure', 'aborted', '', None):
        np.testing.assert_array_equal(rewards(4, outcome), [0, 0, 0, 0])
    np.testing.assert_array_equal(dones(3), [0, 0, 1])
    assert rewards(0, 'success').shape == dones(0).shape == (0,)


def test_copies_of_the_file_and_its_groups_read_real_frames(export, tmp_path):
    moved = tmp_path / 'elsewhere' / 'moved.hdf5'
    moved.parent.mkdir()
    shutil.copyfile(export, moved)
    whole, same_path, renamed = (tmp_path / f'{n}.hdf5' for n in ('whole', 'same', 'renamed'))
    with h5py.File(export, 'r') as h5:
        with h5py.File(whole, 'w') as out:             # h5py copy of every top-level group
            for name in h5:
                h5.copy(h5[name], out, name=name)
        with h5py.File(same_path, 'w') as out:         # one demo, to its own path
            h5.copy(h5['data/demo_1'], out.require_group('data'), name='demo_1')
        with h5py.File(renamed, 'w') as out:           # a merge: demo_1 as demo_7
            out.create_group('data')
            h5.copy(h5['data/demo_0'], out['data'], name='demo_0')
            h5.copy(h5['data/demo_1'], out['data'], name='demo_7')
            h5.copy(h5['mask'], out, name='mask')
            for key, value in h5['data'].attrs.items():
                out['data'].attrs[key] = value
            out['data'].attrs['total'] = sum(int(d.attrs['num_samples'])
                                             for d in out['data'].values())
        expected = h5['data/demo_1/next_obs/images_wrist_right'][()]
    for path in (moved, whole, same_path):
        with h5py.File(path, 'r') as h5:
            for demo in _demos(h5):
                _assert_shifted(demo)
            np.testing.assert_array_equal(
                h5['data/demo_1/next_obs/images_wrist_right'][()], expected)
    write_file_checksum(whole)
    assert validate(whole) == []
    # Under another name the copy's mappings still name demo_1's path: validate says so,
    # and link_next_obs points them at the copy's own obs.
    write_file_checksum(renamed)
    problems = validate(renamed)
    assert any('demo_7/next_obs/images_wrist_right: reads .:/data/demo_1/obs/' in p
               for p in problems), problems
    with h5py.File(renamed, 'a') as h5:
        link_next_obs(h5['data/demo_7'])
    with h5py.File(renamed, 'r') as h5:
        _assert_shifted(h5['data/demo_7'])
        assert h5['data/demo_7/next_obs/images_wrist_right'][0].any()
    write_file_checksum(renamed)
    problems = validate(renamed)
    assert not any('next_obs' in p for p in problems), problems


def test_validate_names_wrong_next_obs_rewards_and_dones(export, tmp_path):
    path = tmp_path / 'dataset.hdf5'
    shutil.copyfile(export, path)
    with h5py.File(path, 'a') as h5:
        demo = h5['data/demo_0']
        state = demo['obs/state'][()]
        del demo['next_obs/state']
        demo['next_obs'].create_dataset('state', data=state)       # not shifted
        demo['rewards'][0] = 1.0
        demo['dones'][-1] = 0
        del h5['data/demo_1/next_obs/imu']
        h5['data'].attrs['env_args'] = 'robosuite'
    write_file_checksum(path)
    problems = validate(path)
    where = f'{path}: demo_0/'
    assert f'{where}next_obs/state: not obs/state shifted by one frame (the last repeated)' \
        in problems, problems
    assert any(p.startswith(f'{where}rewards are not 1 at the last step') for p in problems)
    assert any(p.startswith(f'{where}dones are not 1 at the last step') for p in problems)
    assert any(p.startswith(f'{path}: demo_1/next_obs: keys') for p in problems)
    assert any('env_args is not JSON' in p for p in problems)


def _today(source: h5py.File, target: h5py.File) -> None:
    """Write ``source`` as the converter did before robomimic's keys (the same frames)."""
    def visit(name: str, item) -> None:
        if any(part in ADDED for part in name.split('/')[2:3]):
            return
        if isinstance(item, h5py.Group):
            target.require_group(name).attrs.update(item.attrs)
        elif item.chunks and item.ndim >= 3 and item.chunks[0] == 1:    # images, depth
            source.copy(item, target, name=name)
        else:
            numeric = item.compression == 'gzip'
            target.create_dataset(name, data=item[()],
                                  compression='gzip' if numeric else None).attrs.update(
                                      item.attrs)
    source.visititems(visit)
    target.attrs.update(source.attrs)


def test_the_file_is_no_larger_than_before(export, tmp_path):
    today = tmp_path / 'today.hdf5'
    with h5py.File(export, 'r') as h5, h5py.File(today, 'w') as out:
        _today(h5, out)
    with h5py.File(today, 'r') as h5:
        assert 'next_obs' not in h5['data/demo_0'] and 'rewards' not in h5['data/demo_0']
        assert h5['data/demo_0/obs/images_wrist_right'].shape[0] > 100
    size, before = export.stat().st_size, today.stat().st_size
    assert size <= 1.05 * before, (size, before)
