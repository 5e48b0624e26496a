"""Every camera's frames come from one pass over the bag, and are the frames they were.

An episode with three cameras (head RGB and depth from one trigger, the right wrist) is
converted to HDF5; each exported frame is compared with its own message read on its own
(the header stamp the export says it used).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import yaml

from humanoid_data.bag.episode_reader import EpisodeReader
from humanoid_data.dataset.batch import convert
from humanoid_data.dataset.hdf5 import obs_name
from humanoid_data.resources import share_file
from test.calibration.episodes import record_episode

pytest.importorskip('av')
CAMERAS = ('head_rgb', 'head_depth', 'wrist_right_rgb')


def test_one_pass_images_equal_each_frame_read_on_its_own(tmp_path):
    episode = record_episode(tmp_path / 'rec', seconds=2.0)
    data = yaml.safe_load(share_file('config/dataset.yaml').read_text())
    data['streams'] = {name: plan for name, plan in data['streams'].items()
                       if name in CAMERAS + ('joint_states', 'joint_command')}
    data['streams']['joint_command']['required'] = False   # HDF5 needs an action key
    data['quality']['min_duration_s'] = 0.5
    config = tmp_path / 'dataset.yaml'
    config.write_text(yaml.safe_dump(data))
    result = convert([episode], tmp_path / 'out', 'hdf5', config,
                     share_file('config/phases.yaml'), share_file('config/contact.yaml'))
    assert result.failed == {} and len(result.converted) == 1, result
    reader = EpisodeReader(episode)
    reader.scan()
    with h5py.File(tmp_path / 'out' / 'dataset.hdf5') as h5:
        demo = h5['data']['demo_0']
        for name in CAMERAS:
            stream = reader.suite.stream(name)
            header = reader.samples[stream.topic].arrays()[0]
            used = demo['stamps'][f'{name}.stamp_ns'][()]
            images = demo['obs'][obs_name(data['streams'][name]['key'])]
            frames = [k for k in range(len(used)) if used[k] >= 0]
            index = {k: int(np.flatnonzero(header == used[k])[0]) for k in frames}
            decoded = dict(reader.read(stream.topic, set(index.values())))
            assert len(frames) > 30 and len(decoded) == len(set(index.values())), name
            for k in frames:
                assert np.array_equal(images[k], decoded[index[k]].pixels), (name, k)
    reader.close()
