"""An episode's window and labels: from episode.yaml, else from the episode events in its bag.

The operator console sends episode_start (task, instruction, operator) and episode_end
(outcome, failure mode) on the events topic, so the bag holds them even when the
recorder's episode.yaml is lost; the converter then takes the window and labels from
them, flagged ``no_episode_yaml``, and never a default task.
"""

from __future__ import annotations

import shutil

import h5py
import pytest
import yaml

from humanoid_data.dataset.validate import validate
from test.dataset.recording import OPERATOR_INSTRUCTION, convert_one_twice

pytest.importorskip('av')


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """One episode recorded with its events, converted with and without episode.yaml."""
    result, out = convert_one_twice(tmp_path_factory.mktemp('labels'))
    with h5py.File(out / 'dataset.hdf5') as h5:
        demos = {h5['data'][d].attrs['session']: dict(h5['data'][d].attrs) for d in h5['data']}
    return result, demos, out


def test_the_events_give_the_window_and_labels(converted):
    result, demos, _ = converted
    assert sorted(result.converted) == ['no_yaml/episode_0001', 'with_yaml/episode_0001']
    bare, full = demos['no_yaml'], demos['with_yaml']
    assert bare['num_samples'] == full['num_samples']       # no pre-roll: the operator's start
    assert bare['task'] == full['task'] == 'pick_place'
    assert bare['instruction'] == OPERATOR_INSTRUCTION
    assert (bare['outcome'], bare['failure_mode']) == ('failure', 'slip_drop')
    assert full['outcome'] == 'success'          # episode.yaml wins when it is there
    assert yaml.safe_load(bare['flags']) == ['no_episode_yaml']
    assert yaml.safe_load(full['flags']) == []


def test_demos_name_their_source_and_the_file_its_checksum(converted, tmp_path):
    result, demos, out = converted
    for session, attrs in demos.items():
        source = result.sources[f'{session}/episode_0001']
        assert attrs['source_path'] == f'{session}/episode_0001'
        assert attrs['source_id'] == source.source_id
        assert attrs['source_verified'] in ('ok', 'no checksums')
    assert validate(out) == []
    copy = tmp_path / 'dataset.hdf5'
    shutil.copyfile(out / 'dataset.hdf5', copy)
    shutil.copyfile(out / 'dataset.hdf5.sha256.json', tmp_path / 'dataset.hdf5.sha256.json')
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    assert any('its bytes changed' in p for p in validate(copy))
    (tmp_path / 'dataset.hdf5.sha256.json').unlink()
    assert any('dataset.hdf5.sha256.json: missing' in p for p in validate(copy))
