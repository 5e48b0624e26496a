"""Compressed episode bags (lz4, zstd chunks) read back byte for byte by two readers."""

from __future__ import annotations

import pytest
from mcap.reader import make_reader
from rosbags.highlevel import AnyReader

from humanoid_data.bag.stamps import header_stamp_ns
from humanoid_data.bag.verify import verify_bag
from humanoid_data.core.config import STAMP_OFFSETS, parse_suite
from humanoid_data.errors import ConfigError
from test.recording.rig import Rig

EVENTS = '/humanoid_data/events'


@pytest.mark.parametrize('compression', ['lz4', 'zstd'])
def test_compressed_chunks_hold_exactly_what_was_sent(tmp_path, small_suite, compression):
    rig = Rig(tmp_path, small_suite, preroll_s=0.1, compression=compression)
    rig.run_ms(200)
    episode_id = rig.engine.start_episode()
    rig.run_ms(400)
    rig.engine.stop_episode()
    rig.run_ms(300)
    rig.finish()
    folder = rig.session.path / episode_id
    meta = rig.episode(episode_id)
    with next(folder.glob('*.mcap')).open('rb') as stream:
        reader = make_reader(stream)
        chunks = {c.compression for c in reader.get_summary().chunk_indexes}
        from_mcap = {(c.topic, m.log_time): bytes(m.data)
                     for _, c, m in reader.iter_messages() if c.topic != EVENTS}
    assert chunks == {compression}
    checked = 0
    with AnyReader([folder]) as bag:
        for conn, log_ns, raw in bag.messages():
            if conn.topic == EVENTS:
                continue
            stamp = header_stamp_ns(raw, STAMP_OFFSETS.get(conn.msgtype, 4))
            key = (conn.topic, stamp)
            if key in rig.sent:    # latched messages are offered by hand, not by the sim
                assert bytes(raw) == rig.sent[key], conn.topic
                checked += 1
            assert from_mcap[(conn.topic, log_ns)] == bytes(raw)
    assert checked == meta['messages'] > 0
    assert verify_bag(folder).ok


def test_a_suite_names_its_compression(suite_file):
    import yaml
    data = yaml.safe_load(suite_file.read_text())
    data.pop('compression', None)
    assert parse_suite({**data, 'compression': 'lz4'}, 's.yaml').compression == 'lz4'
    assert parse_suite(data, 's.yaml').compression == ''
    with pytest.raises(ConfigError, match=r"^s.yaml: compression: 'gzip' is not one of: "
                                          'none, lz4, zstd'):
        parse_suite({**data, 'compression': 'gzip'}, 's.yaml')
