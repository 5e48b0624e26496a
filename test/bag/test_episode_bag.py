"""The episode bag: readable by independent readers, checksummed, safe when the disk fails."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
import yaml
from mcap.reader import make_reader
from rosbags.rosbag2 import Reader

from humanoid_data.bag import episode_bag, encode
from humanoid_data.bag.episode_bag import Compression, EpisodeBag
from humanoid_data.bag.episode_state import LOCK_FILE, EpisodeState, episode_state
from humanoid_data.bag.stamps import header_stamp_ns
from humanoid_data.bag.verify import verify_bag
from humanoid_data.core.topics import topics_for
from humanoid_data.errors import BagError

MS = 1_000_000
T0 = 10 ** 15


def _write(path: Path, suite, messages: int = 300, flush_every: int = 50,
           compression: Compression = Compression.NONE) -> tuple[EpisodeBag, list[bytes]]:
    topics = topics_for(suite)
    ft = next(i for i, t in enumerate(topics) if t.topic == '/wrist/right/ft')
    bag = EpisodeBag(path, topics, compression=compression)
    sent = []
    for k in range(messages):
        data = encode.wrench(T0 + k * MS, 'ft', [float(k), 0.0, 1.0], [0.0, 0.0, 0.0])
        bag.write(ft, T0 + k * MS + 5, data)
        sent.append(data)
        if (k + 1) % flush_every == 0:
            bag.flush()
    return bag, sent


@pytest.mark.parametrize('compression', list(Compression))
def test_round_trip_through_rosbags_and_mcap_with_checksums(tmp_path, suite, compression):
    bag, sent = _write(tmp_path / 'ep', suite, compression=compression)
    bag.close()
    with Reader(tmp_path / 'ep') as reader:
        got = [bytes(raw) for conn, _, raw in reader.messages() if conn.topic == '/wrist/right/ft']
        assert reader.message_count == len(sent)
    assert got == sent
    with (tmp_path / 'ep' / 'ep.mcap').open('rb') as f:
        mcap = make_reader(f, validate_crcs=True)
        assert sum(1 for _ in mcap.iter_messages()) == len(sent)
        chunks = mcap.get_summary().chunk_indexes
        assert {c.compression for c in chunks} == {'' if compression.value == 'none'
                                                   else compression.value}
    report = verify_bag(tmp_path / 'ep')
    assert report.ok and report.checksummed == report.chunks == len(sent) // 50
    meta = yaml.safe_load((tmp_path / 'ep' / 'metadata.yaml').read_text())
    assert meta['rosbag2_bagfile_information']['message_count'] == len(sent)
    assert not (tmp_path / 'ep' / LOCK_FILE).exists()


def test_metadata_and_lock_exist_from_the_moment_the_bag_opens(tmp_path, suite):
    bag, _ = _write(tmp_path / 'ep', suite, messages=10, flush_every=5)
    assert (tmp_path / 'ep' / 'metadata.yaml').is_file()
    (tmp_path / 'ep' / 'episode.yaml').write_text('state: recording\n')
    assert episode_state(tmp_path / 'ep') == EpisodeState.RECORDING   # this process holds it
    bag.close()


@pytest.mark.parametrize('flips', [1, 16])
def test_flipped_bits_are_found_with_their_topics_and_times(tmp_path, suite, flips):
    bag, _ = _write(tmp_path / 'ep', suite)
    bag.close()
    path = tmp_path / 'ep' / 'ep.mcap'
    data = bytearray(path.read_bytes())
    first_chunk = data.index(b'\x06', 100)
    for k in range(flips):   # inside chunk payloads (messages), away from headers
        data[first_chunk + 2000 + 97 * k] ^= 0x10
    path.write_bytes(bytes(data))
    report = verify_bag(tmp_path / 'ep')
    assert not report.ok
    text = report.problems[0].describe()
    assert '/wrist/right/ft' in text and 'checksum mismatch' in text and 'UTC' in text


def test_truncated_file_is_named_unfinished(tmp_path, suite):
    bag, _ = _write(tmp_path / 'ep', suite)
    bag.close()
    path = tmp_path / 'ep' / 'ep.mcap'
    with path.open('r+b') as f:
        f.truncate(path.stat().st_size // 2)
    report = verify_bag(tmp_path / 'ep')
    assert not report.ok and 'repair' in report.problems[-1].reason


def test_a_bag_without_checksums_is_read_and_noted(tmp_path, suite):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from humanoid_data.bag.typestore import typestore_for
    with Writer(tmp_path / 'other', version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection('/ft', 'geometry_msgs/msg/WrenchStamped',
                                     typestore=typestore_for())
        writer.write(conn, T0, encode.wrench(T0, 'ft', [1.0, 0.0, 0.0], [0.0] * 3))
    report = verify_bag(tmp_path / 'other')
    assert report.ok and report.checksummed == 0 and 'not verified' in report.notes[0]


def test_a_full_disk_keeps_what_was_flushed_readable(tmp_path, suite, monkeypatch):
    bag, sent = _write(tmp_path / 'ep', suite, messages=100, flush_every=50)
    real_write = os.write
    calls = {'n': 0}

    def full(fd, data):
        calls['n'] += 1
        if calls['n'] == 1:            # half a chunk reaches the disk, then it is full
            return real_write(fd, bytes(data)[:len(data) // 2])
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(episode_bag.os, 'write', full)
    bag.write(0, T0, sent[0])
    with pytest.raises(BagError, match='No space left'):
        bag.flush()
    monkeypatch.setattr(episode_bag.os, 'write', real_write)
    with pytest.raises(BagError, match='failed earlier'):
        bag.write(0, T0, sent[0])
    bag.close()
    with Reader(tmp_path / 'ep') as reader:     # no summary: read by scanning
        got = [bytes(raw) for c, _, raw in reader.messages() if c.topic == '/wrist/right/ft']
    assert got == sent
    report = verify_bag(tmp_path / 'ep')
    assert report.ok, [p.describe() for p in report.problems]


def test_existing_folder_is_refused_with_its_name(tmp_path, suite):
    (tmp_path / 'ep').mkdir()
    with pytest.raises(BagError, match='ep'):
        EpisodeBag(tmp_path / 'ep', topics_for(suite))


def test_header_stamps_survive(tmp_path, suite):
    bag, sent = _write(tmp_path / 'ep', suite, messages=20, flush_every=7)
    bag.close()
    shutil.copytree(tmp_path / 'ep', tmp_path / 'copy')
    with Reader(tmp_path / 'copy') as reader:
        stamps = [header_stamp_ns(raw) for c, _, raw in reader.messages()]
    assert stamps == [T0 + k * MS for k in range(20)]


def test_a_chunk_closes_at_its_size_bound_between_flushes(tmp_path, suite, monkeypatch):
    bound = 64 * 1024      # well above the schemas that share the first chunk
    monkeypatch.setattr(episode_bag, 'MAX_CHUNK_BYTES', bound)
    topics = topics_for(suite)
    ft = next(i for i, t in enumerate(topics) if t.topic == '/wrist/right/ft')
    bag = EpisodeBag(tmp_path / 'ep', topics)
    data = encode.wrench(T0, 'ft', [1.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    per_chunk = -(-bound // len(data))           # messages that reach the bound
    for k in range(3 * per_chunk):               # never flushed by the caller
        bag.write(ft, T0 + k * MS, data)
    assert bag.counts[ft] == 3 * per_chunk       # each bound closed a chunk: on disk
    bag.close()
    report = verify_bag(tmp_path / 'ep')
    assert report.ok and report.chunks == 3
