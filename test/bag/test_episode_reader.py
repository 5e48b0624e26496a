"""Pass 1's sample store: values kept in a scratch file and read back by row."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from humanoid_data.bag import episode_reader
from humanoid_data.bag.episode_reader import StreamSamples
from humanoid_data.core.config import Modality, StreamConfig
from humanoid_data.errors import DecodeError, HumanoidDataError

FT = StreamConfig('wrist_left_ft', '/wrist/left/ft', 'geometry_msgs/msg/WrenchStamped',
                  Modality.WRENCH, 1000.0)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 7 rows, so a few dozen samples span many blocks and a partial one."""
    monkeypatch.setattr(episode_reader, 'SPILL_ROWS', 7)


def filled(tmp_path, values: np.ndarray) -> StreamSamples:
    entry = StreamSamples(FT, tmp_path)
    for i, row in enumerate(values):
        entry.header_ns.append(1000 * i)
        entry.receive_ns.append(1000 * i + 5)
        entry.append_value(row)
    entry.finish()
    return entry


def test_rows_come_back_from_the_scratch_file(small_blocks, tmp_path):
    rng = np.random.default_rng(3)
    values = rng.normal(size=(52, 6))
    values[[4, 30], 2] = np.nan
    values[17, 0] = np.inf
    entry = filled(tmp_path, values)
    assert entry.count == 52 and entry.width == 6
    wanted = rng.integers(0, 52, 40)            # any order, with repeats
    np.testing.assert_array_equal(entry.rows(wanted), values[wanted])
    assert entry.rows(np.empty(0, np.int64)).shape == (0, 6)
    np.testing.assert_array_equal(entry.finite(), np.isfinite(values).all(1))
    stamps, rows = zip(*entry.blocks())
    np.testing.assert_array_equal(np.concatenate(stamps), 1000 * np.arange(52))
    np.testing.assert_array_equal(np.concatenate(rows), values)
    assert not list(tmp_path.iterdir())          # anonymous: nothing left behind
    entry.close()


def test_a_sample_of_another_width_is_refused(tmp_path):
    entry = StreamSamples(FT, tmp_path)
    entry.append_value(np.zeros(6))
    with pytest.raises(DecodeError, match='/wrist/left/ft: a sample of 5 values'):
        entry.append_value(np.zeros(5))


def test_a_full_scratch_disk_names_the_folder_and_topic(small_blocks, tmp_path, monkeypatch):
    class FullDisk:
        def write(self, data):
            raise OSError(errno.ENOSPC, 'No space left on device')

        def close(self):
            pass

    monkeypatch.setattr(episode_reader.tempfile, 'TemporaryFile', lambda **kw: FullDisk())
    entry = StreamSamples(FT, tmp_path)
    with pytest.raises(HumanoidDataError) as err:
        for _ in range(7):
            entry.append_value(np.zeros(6))
    assert str(tmp_path) in str(err.value) and '/wrist/left/ft' in str(err.value)
    assert 'No space left' in str(err.value)
