"""What the fuzzers found, kept as plain examples: each must stay an error of our own."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from humanoid_data.bag import encode
from humanoid_data.bag.decode import MAX_COMPRESSED_PIXELS, decode
from humanoid_data.bag.typestore import typestore_for
from humanoid_data.core.yaml_file import parse_yaml_text
from humanoid_data.errors import ConfigError, DecodeError

T0 = 1_800_000_000 * 10 ** 9
STORE = typestore_for()
TYPES = STORE.types
CLOUD = 'sensor_msgs/msg/PointCloud2'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'


@pytest.mark.parametrize(('text', 'named'), [
    ('a: 1\nb: !!timestamp 2.0\n', 'line 2, column 4: not a valid timestamp'),
    ('!!timestamp space: next_phase\n', 'line 1, column 1: not a valid timestamp'),
    ('a: !!bool maybe\n', 'line 1, column 4: not a valid bool'),
    ('a: !!int ""\n', 'line 1, column 4: not a valid int'),
])
def test_a_tag_pyyaml_cannot_construct_is_a_config_error_naming_the_line(text, named):
    with pytest.raises(ConfigError, match=f'cfg.yaml: not valid YAML at {named}'):
        parse_yaml_text(text, 'cfg.yaml')


def _cloud(fields, point_step=16, width=2, data=bytes(32)):
    msg = TYPES[CLOUD](encode.header(T0, 'lidar'), 1, width,
                       [TYPES['sensor_msgs/msg/PointField'](*f) for f in fields], False,
                       point_step, point_step * width, np.frombuffer(data, np.uint8), True)
    return STORE.serialize_cdr(msg, CLOUD).tobytes()


@pytest.mark.parametrize(('fields', 'point_step', 'named'), [
    ([('x', 0, 7, 1), ('x', 4, 7, 1)], 16, 'do not lay out'),            # a name twice
    ([('x', 0, 7, 0xffffffff)], 16, '4294967295 values does not fit'),   # a huge count
    ([('x', 14, 7, 1)], 16, 'do not lay out'),                            # past the end
    ([('x', 0, 7, 1)], 0, 'does not fit a point of 0 bytes'),             # no room at all
    ([('x', 0, 99, 1)], 16, 'unsupported PointField datatype 99'),
])
def test_a_point_cloud_whose_fields_do_not_fit_is_a_decode_error(fields, point_step, named):
    with pytest.raises(DecodeError, match=named):
        decode(_cloud(fields, point_step), CLOUD)


def test_an_empty_point_cloud_decodes():
    cloud = decode(_cloud([('x', 0, 7, 1)], width=0, data=b''), CLOUD)
    assert cloud.points.shape == (0,) and cloud.points.dtype.names == ('x',)


def _compressed(data: bytes, fmt: str = 'png') -> bytes:
    msg = TYPES[COMPRESSED](encode.header(T0, 'cam'), fmt, np.frombuffer(data, np.uint8))
    return STORE.serialize_cdr(msg, COMPRESSED).tobytes()


def _png(width: int, height: int, idat: bytes, idat_length: int | None = None) -> bytes:
    def chunk(kind: bytes, body: bytes, length: int | None = None) -> bytes:
        return (struct.pack('>I', len(body) if length is None else length) + kind + body
                + struct.pack('>I', zlib.crc32(kind + body)))
    return (b'\x89PNG\r\n\x1a\n'
            + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0))
            + chunk(b'IDAT', idat, idat_length) + chunk(b'IEND', b''))


def test_a_png_chunk_claiming_a_gigabyte_is_refused_before_decoding():
    raw = _compressed(_png(8, 3, zlib.compress(bytes(27)), idat_length=0x40000013))
    with pytest.raises(DecodeError, match='runs past'):
        decode(raw, COMPRESSED)


def test_a_png_declaring_a_gigapixel_is_refused_before_decoding():
    raw = _compressed(_png(60000, 60000, zlib.compress(bytes(60001))))
    with pytest.raises(DecodeError, match=f'60000x60000 pixels, more than '
                                          f'{MAX_COMPRESSED_PIXELS}'):
        decode(raw, COMPRESSED)


def test_a_jpeg_declaring_a_huge_frame_is_refused_before_decoding():
    sof = b'\xff\xc0' + struct.pack('>HBHHB', 11, 8, 0xffff, 0xffff, 1) + b'\x01\x11\x00'
    raw = _compressed(b'\xff\xd8' + b'\xff\xe0\x00\x04ab' + sof + b'\xff\xda', 'jpeg')
    with pytest.raises(DecodeError, match='65535x65535 pixels'):
        decode(raw, COMPRESSED)


def test_a_compressed_image_neither_png_nor_jpeg_is_refused():
    with pytest.raises(DecodeError, match="format 'bmp' is neither PNG nor JPEG"):
        decode(_compressed(b'BM' + bytes(60), 'bmp'), COMPRESSED)


@pytest.mark.parametrize(('ext', 'shape', 'encoding'), [
    ('.png', (3, 4, 3), 'rgb8'), ('.jpg', (8, 8), 'mono8'), ('.png', (2, 5), 'mono8')])
def test_png_and_jpeg_still_decode(ext, shape, encoding):
    import cv2
    ok, blob = cv2.imencode(ext, np.full(shape, 100, np.uint8))
    image = decode(_compressed(blob.tobytes(), ext[1:]), COMPRESSED)
    assert image.encoding == encoding and image.pixels.shape == shape


def test_a_second_document_is_refused_without_reading_the_rest(monkeypatch):
    import yaml
    real_parse, seen = yaml.parse, []

    def counting(*args, **kwargs):
        for event in real_parse(*args, **kwargs):
            seen.append(event)
            yield event

    monkeypatch.setattr(yaml, 'parse', counting)
    with pytest.raises(ConfigError, match='line 2, column 1: but found another document'):
        parse_yaml_text('a: 1\n' + '---\n' * 40000, 'teleop.yaml')
    assert len(seen) < 10


def test_nested_qos_text_in_metadata_is_refused_before_rosbags_parses_it(tmp_path, suite):
    from humanoid_data.bag.episode_bag import EpisodeBag
    from humanoid_data.bag.metadata import check_bag_metadata
    from humanoid_data.core.topics import topics_for
    from humanoid_data.errors import BagError
    import yaml
    EpisodeBag(tmp_path / 'ep', topics_for(suite)[:2]).close()
    path = tmp_path / 'ep' / 'metadata.yaml'
    meta = yaml.safe_load(path.read_text())
    entry = meta['rosbag2_bagfile_information']['topics_with_message_count'][1]
    entry['topic_metadata']['offered_qos_profiles'] = '{' * 40_000   # rosbags: 9 s, recursion
    path.write_text(yaml.safe_dump(meta))
    with pytest.raises(BagError, match=r'topics_with_message_count\[1\].*offered_qos_profiles'):
        check_bag_metadata(tmp_path / 'ep')


def test_an_unterminated_string_of_escaped_quotes_is_scanned_in_linear_time():
    from humanoid_data.core.events import decode_event
    from humanoid_data.errors import EventError
    for n in (1_000, 30_000):           # was quadratic: 29 s of CPU at 32,000
        with pytest.raises(EventError, match='not JSON'):
            decode_event('{' + '\\"' * n)
