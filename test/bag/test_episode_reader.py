"""The episode reader: pass 1's sample store, the checked metadata files, wrapped errors."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from humanoid_data.bag import episode_reader, stream_samples
from humanoid_data.bag.stream_samples import StreamSamples
from humanoid_data.core.config import Modality, StreamConfig
from humanoid_data.errors import BagError, DecodeError, HumanoidDataError

FT = StreamConfig('wrist_left_ft', '/wrist/left/ft', 'geometry_msgs/msg/WrenchStamped',
                  Modality.WRENCH, 1000.0)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 7 rows, so a few dozen samples span many blocks and a partial one."""
    monkeypatch.setattr(stream_samples, 'SPILL_ROWS', 7)


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

    monkeypatch.setattr(stream_samples.tempfile, 'TemporaryFile', lambda **kw: FullDisk())
    entry = StreamSamples(FT, tmp_path)
    with pytest.raises(HumanoidDataError) as err:
        for _ in range(7):
            entry.append_value(np.zeros(6))
    assert str(tmp_path) in str(err.value) and '/wrist/left/ft' in str(err.value)
    assert 'No space left' in str(err.value)


# --- the episode folder: metadata.yaml and episode.yaml checked, the bag's errors wrapped ---

T0 = 10 ** 18


def small_bag(folder, joint_names=('a', 'b'), count=400):
    """A bag of ``count`` joint states at 1 kHz and the operator's episode events."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from humanoid_data.bag import encode
    from humanoid_data.bag.typestore import typestore_for
    from humanoid_data.core.events import (
        EpisodeEnd, EpisodeOutcome, EpisodeStart, Outcome, Source, encode_event)
    store = typestore_for()
    events = [EpisodeStart(T0 + 10 ** 6, Source.OPERATOR, task='old', instruction='old'),
              EpisodeEnd(T0 + 2 * 10 ** 6, Source.OPERATOR),          # the previous one
              EpisodeStart(T0 + 50 * 10 ** 6, Source.SIM_TRUTH, task='truth'),
              EpisodeStart(T0 + 100 * 10 ** 6, Source.OPERATOR, task='pick_place',
                           instruction='pick it', operator='ana', tags=('x',)),
              EpisodeEnd(T0 + 300 * 10 ** 6, Source.OPERATOR, outcome=Outcome.FAILURE),
              EpisodeOutcome(T0 + 320 * 10 ** 6, Source.OPERATOR, outcome=Outcome.FAILURE,
                             failure_mode='slip_drop'),
              EpisodeEnd(T0 + 350 * 10 ** 6, Source.OPERATOR)]
    with Writer(folder, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        joints = writer.add_connection('/joint_states', 'sensor_msgs/msg/JointState',
                                       typestore=store)
        marks = writer.add_connection('/humanoid_data/events', 'std_msgs/msg/String',
                                      typestore=store)
        for event in events:
            writer.write(marks, event.stamp_ns, encode.string(encode_event(event)))
        for i in range(count):
            stamp = T0 + i * 10 ** 6
            writer.write(joints, stamp, encode.joint_state(stamp, joint_names,
                                                           np.full(len(joint_names), i * 1.0)))
    return folder


@pytest.fixture
def bag(tmp_path):
    return small_bag(tmp_path / 'session' / 'episode_0001')


def test_without_episode_yaml_the_events_label_the_episode(bag, suite):
    reader = episode_reader.EpisodeReader(bag, suite)
    assert not reader.meta.present and reader.meta.task == ''
    reader.scan()
    meta = reader.meta
    assert meta.from_events and not meta.present
    assert (meta.task, meta.instruction, meta.operator, meta.tags) == (
        'pick_place', 'pick it', 'ana', ('x',))
    assert (meta.start_ns, meta.stop_ns) == (T0 + 100 * 10 ** 6, T0 + 300 * 10 ** 6)
    assert (meta.outcome, meta.failure_mode) == ('failure', 'slip_drop')
    assert reader.samples['/joint_states'].count == 400


def test_episode_yaml_wins_over_the_events(bag, suite):
    (bag / 'episode.yaml').write_text('task: wipe\nstart_ns: 5\nstop_ns: 9\n')
    reader = episode_reader.EpisodeReader(bag, suite)
    reader.scan()
    assert reader.meta.present and (reader.meta.task, reader.meta.stop_ns) == ('wipe', 9)


def _edit_metadata(bag, change):
    import yaml
    path = bag / 'metadata.yaml'
    data = yaml.safe_load(path.read_text())
    change(data['rosbag2_bagfile_information'])
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize(('change', 'named'), [
    (lambda m: m.pop('version'), 'missing key rosbag2_bagfile_information.version'),
    (lambda m: m.update(version='yesterday'), "version: expected an integer 1..9, got "
                                              "'yesterday' (text)"),
    (lambda m: m.update(message_count=2 ** 70), 'message_count: expected an integer 0 or '
                                                'more (below 2**63)'),
    (lambda m: m.update(storage_identifier='sqlite3'), "storage_identifier: expected 'mcap'"),
    (lambda m: m['topics_with_message_count'][0]['topic_metadata'].update(type=7),
     'topics_with_message_count[0].topic_metadata.type: expected text'),
    (lambda m: m['duration'].update(nanoseconds=-1), 'duration.nanoseconds'),
])
def test_a_damaged_metadata_yaml_names_the_key(bag, suite, change, named):
    _edit_metadata(bag, change)
    with pytest.raises(BagError) as err:
        episode_reader.EpisodeReader(bag, suite)
    assert str(bag / 'metadata.yaml') in str(err.value) and named in str(err.value)


@pytest.mark.parametrize(('text', 'named'), [
    (b'start_ns: 2024-05-01\n', 'start_ns: expected an integer'),
    (b'tags: pick\n', 'tags: expected a list of text, got'),
    (b'\xc3\x28 task\n', 'not UTF-8 text (byte 0xc3 at line 1)'),
    (b'', 'empty (delete it to convert the episode from the episode events'),
    (b'dropped: -3\n', 'dropped: expected an integer 0 or more'),
    (b'start_ns: 10\nstop_ns: 5\n', 'stop_ns: expected a stamp not before start_ns 10'),
    (b'outcome: maybe\n', 'outcome: expected one of success, failure, aborted'),
    (b'task: {a: [b\n', 'not valid YAML'),
])
def test_a_damaged_episode_yaml_names_the_key(bag, suite, text, named):
    (bag / 'episode.yaml').write_bytes(text)
    with pytest.raises(BagError) as err:
        episode_reader.EpisodeReader(bag, suite)
    assert str(bag / 'episode.yaml') in str(err.value) and named in str(err.value)


@pytest.mark.parametrize('keep', [0.3, 0.7, 0.999])
def test_a_damaged_bag_is_a_bag_error_naming_it(bag, suite, keep):
    mcap = next(bag.glob('*.mcap'))
    data = mcap.read_bytes()
    mcap.write_bytes(data[:int(len(data) * keep)])
    reader = episode_reader.EpisodeReader(bag, suite)
    with pytest.raises(BagError) as err:
        reader.scan()
    assert str(bag) in str(err.value)
    assert not any(name in str(err.value) for name in ('KeyError', 'struct.error', 'Traceback'))
