"""Pass 2 reads a few messages by log time and gets exactly what a full pass gets."""

from __future__ import annotations

import pytest

from humanoid_data.bag.episode_reader import SPARSE_READ_FRACTION, EpisodeReader
from test.calibration.episodes import record_episode


@pytest.fixture(scope='module')
def reader(tmp_path_factory):
    found = EpisodeReader(record_episode(tmp_path_factory.mktemp('sparse'), seconds=3.0))
    found.scan()
    yield found
    found.close()


@pytest.mark.parametrize('topic', ['/lidar/points', '/camera/head/image_raw',
                                   '/camera/head/depth/image_raw'])
def test_a_sample_of_messages_by_log_time_equals_the_same_from_a_full_pass(reader, topic):
    entry = reader.samples[topic]
    count = len(entry.receive_ns)
    wanted = {0, count // 3, count - 1}
    assert len(wanted) * SPARSE_READ_FRACTION < count      # the log-time path is taken
    sparse = {i: raw for _, i, raw in reader._read_windows({topic: wanted})}
    in_order = dict(reader._read_in_order(topic, set(range(count))))
    assert sorted(sparse) == sorted(wanted)
    assert all(bytes(sparse[i]) == bytes(in_order[i]) for i in wanted)
    decoded = dict(reader.read(topic, wanted))
    assert sorted(decoded) == sorted(wanted)


def test_an_early_stop_leaves_the_reader_usable(reader):
    topic = '/joint_states'
    everything = sum(1 for _ in reader._messages({topic}))
    partial = reader._messages({topic, '/camera/head/image_raw'})
    next(partial)
    partial.close()
    assert sum(1 for _ in reader._messages({topic})) == everything
