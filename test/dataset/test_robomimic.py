"""robomimic itself loads the HDF5 export: its SequenceDataset, defaults first.

Optional, like the lerobot test: skipped where robomimic or torch is not installed (neither
is part of ``.[test]``; ``pip install -e .[robomimic]`` brings them). The export is a
session recorded and converted here; where the recorder's dependencies are not installed
beside robomimic, ``HUMANOID_DATA_ROBOMIMIC_HDF5`` names an export made elsewhere (for
example ``humanoid-data convert SESSION --out DIR --format hdf5``: ``DIR/dataset.hdf5``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip('robomimic')
torch = pytest.importorskip('torch')

from robomimic.utils import obs_utils  # noqa: E402  (only once robomimic is known there)
from robomimic.utils.dataset import SequenceDataset  # noqa: E402

#: robomimic's default dataset keys (its training configs' train.dataset_keys).
DATASET_KEYS = ('actions', 'rewards', 'dones')
#: Depth is uint16 millimetres; robomimic's depth modality wants (..., H, W, 1) in [0, 1].
DEPTH_RANGE_MM = 10_000.0


@pytest.fixture(scope='module')
def export(tmp_path_factory) -> Path:
    """An HDF5 export: the one named by the environment, else one recorded here."""
    given = os.environ.get('HUMANOID_DATA_ROBOMIMIC_HDF5')
    if given:
        return Path(given)
    pytest.importorskip('av')
    import yaml

    from test.dataset.recording import DATASET, REPO, convert_with, record
    root = tmp_path_factory.mktemp('robomimic_library')
    session, _ = record(root, 'rec', REPO / 'config' / 'humanoid.yaml', episodes=2)
    config = root / 'dataset.yaml'
    config.write_text(yaml.safe_dump(DATASET))
    result = convert_with(config, [session], root / 'out', 'hdf5')
    assert result.failed == {} and len(result.converted) == 2
    return root / 'out' / 'dataset.hdf5'


@pytest.fixture(scope='module')
def modalities(export) -> dict[str, list[str]]:
    """The export's obs keys by robomimic modality, registered with robomimic."""
    with h5py.File(export, 'r') as h5:
        obs = h5['data'][sorted(h5['data'])[0]]['obs']
        keys = {'low_dim': [k for k, d in obs.items() if d.ndim == 2],
                'rgb': [k for k, d in obs.items() if d.ndim == 4],
                'depth': [k for k, d in obs.items() if d.ndim == 3]}
    obs_utils.initialize_obs_utils_with_obs_specs({'obs': keys})
    return keys


def _train_samples(export: Path) -> int:
    with h5py.File(export, 'r') as h5:
        return sum(int(h5['data'][name.decode()].attrs['num_samples'])
                   for name in h5['mask/train'][()])


@pytest.mark.parametrize('cache', [None, 'low_dim', 'all'])
def test_sequence_dataset_with_its_defaults(export, modalities, cache):
    obs_keys = [k for keys in modalities.values() for k in keys]
    dataset = SequenceDataset(export, obs_keys=obs_keys, dataset_keys=DATASET_KEYS,
                              hdf5_cache_mode=cache, filter_by_attribute='train')
    assert len(dataset) == _train_samples(export)
    name = dataset.demos[0]
    n = int(dataset._demo_id_to_demo_length[name])
    first, last = dataset[0], dataset[n - 1]
    dataset.close_and_delete_hdf5_handle()     # robomimic reads with SWMR, h5py below not
    with h5py.File(export, 'r') as h5:
        env = json.loads(h5['data'].attrs['env_args'])        # as FileUtils reads it
        assert set(env) >= {'env_name', 'type', 'env_kwargs'}
        demo = h5['data'][name]
        for key in obs_keys:
            np.testing.assert_array_equal(first['obs'][key][0], demo['obs'][key][0])
            np.testing.assert_array_equal(first['next_obs'][key][0], demo['obs'][key][1])
            np.testing.assert_array_equal(last['next_obs'][key][0], demo['obs'][key][n - 1])
        assert last['dones'][0] == 1 and first['dones'][0] == 0
        assert last['rewards'][0] == (1.0 if demo.attrs['outcome'] == 'success' else 0.0)
        np.testing.assert_array_equal(first['actions'][0], demo['actions'][0])


def test_frame_stacks_sequences_and_a_dataloader_batch(export, modalities):
    obs_keys = [k for keys in modalities.values() for k in keys]
    stack, length = 3, 5
    dataset = SequenceDataset(export, obs_keys=obs_keys, dataset_keys=DATASET_KEYS,
                              frame_stack=stack, seq_length=length, pad_frame_stack=True,
                              pad_seq_length=True, get_pad_mask=True, hdf5_cache_mode='low_dim',
                              filter_by_attribute='train')
    assert len(dataset) == _train_samples(export)
    item = dataset[0]
    steps = stack - 1 + length
    assert item['actions'].shape[0] == item['rewards'].shape[0] == steps
    assert item['pad_mask'][:, 0].tolist() == [False] * (stack - 1) + [True] * length
    state = item['obs']['state']
    np.testing.assert_array_equal(state[0], state[stack - 1])    # padded at the start
    np.testing.assert_array_equal(item['next_obs']['state'][stack - 1], state[stack])
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True, num_workers=1)
    batch = next(iter(loader))
    assert tuple(batch['actions'].shape)[:2] == (4, steps)
    for key in modalities['rgb']:
        images = batch['obs'][key]
        assert images.dtype == torch.uint8 and images.shape[-1] == 3
        processed = obs_utils.process_obs(images, obs_key=key)
        assert processed.shape[-3] == 3 and float(processed.max()) <= 1.0
    for key in modalities['depth']:      # (..., H, W) mm: a processor adds the channel
        obs_utils.DepthModality.set_obs_processor(
            lambda depth: obs_utils.process_frame(depth[..., None], channel_dim=1,
                                                  scale=DEPTH_RANGE_MM))
        try:
            depth = obs_utils.process_obs(batch['obs'][key], obs_key=key)
        finally:
            obs_utils.DepthModality.set_obs_processor(None)
        assert depth.shape[-3] == 1 and float(depth.max()) <= 1.0
