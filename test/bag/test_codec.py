"""CDR <-> numpy for every supported type, header peeking, fixed-layout encoders."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from humanoid_data.bag import encode
from humanoid_data.bag.decode import decode
from humanoid_data.bag.stamps import header_stamp_ns, string_payload, with_header_stamp
from humanoid_data.errors import DecodeError

STAMP = 1_795_000_000_123_456_789


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'mono8', '16UC1', '32FC1'])
def test_image_round_trip(encoding):
    rng = np.random.default_rng(1)
    shape = (6, 5, 3) if encoding in ('rgb8', 'bgr8') else (6, 5)
    dtype = {'16UC1': np.uint16, '32FC1': np.float32}.get(encoding, np.uint8)
    pixels = (rng.random(shape) * 200).astype(dtype)
    out = decode(encode.image(STAMP, 'cam', pixels, encoding), 'sensor_msgs/msg/Image')
    assert out.header_ns == STAMP and out.frame_id == 'cam' and out.encoding == encoding
    np.testing.assert_array_equal(out.pixels, pixels)
    assert out.pixels.dtype == dtype


def test_joint_state_round_trip():
    names = ('a', 'bb', 'ccc')
    raw = encode.joint_state(STAMP, names, np.array([1.0, 2, 3]), np.array([4.0, 5, 6]),
                             np.array([7.0, 8, 9]))
    out = decode(raw, 'sensor_msgs/msg/JointState')
    assert out.names == names
    np.testing.assert_array_equal(out.velocity, [4, 5, 6])


def test_wrench_imu_cloud_camera_info_string():
    w = decode(encode.wrench(STAMP, 'ft', [1, 2, 3], [4, 5, 6]),
               'geometry_msgs/msg/WrenchStamped')
    np.testing.assert_array_equal(w.force, [1, 2, 3])
    np.testing.assert_array_equal(w.torque, [4, 5, 6])
    i = decode(encode.imu(STAMP, 'imu', [0, 0, 0, 1], [1, 2, 3], [0, 0, 9.81]),
               'sensor_msgs/msg/Imu')
    np.testing.assert_array_equal(i.linear_acceleration, [0, 0, 9.81])
    xyzi = np.arange(40, dtype=np.float32).reshape(10, 4)
    c = decode(encode.point_cloud(STAMP, 'lidar', xyzi), 'sensor_msgs/msg/PointCloud2')
    np.testing.assert_array_equal(c.points['intensity'], xyzi[:, 3])
    np.testing.assert_array_equal(c.points['x'], xyzi[:, 0])
    k = decode(encode.camera_info(STAMP, 'cam', 640, 480, 500.0, 500.0),
               'sensor_msgs/msg/CameraInfo')
    assert k.k[0, 0] == 500.0 and (k.width, k.height) == (640, 480)
    assert decode(encode.string('héllo'), 'std_msgs/msg/String') == 'héllo'


def test_header_peek_matches_decoded_stamp():
    raw = encode.wrench(STAMP, 'ft', [0, 0, 0], [0, 0, 0])
    assert header_stamp_ns(raw) == STAMP
    assert string_payload(encode.string('{"a":1}')) == '{"a":1}'


def test_restamped_message_decodes_with_new_stamp_and_same_content():
    raw = encode.wrench(STAMP, 'ft', [1, 2, 3], [4, 5, 6])
    later = STAMP + 2_500_000_123
    moved = with_header_stamp(raw, later)
    assert header_stamp_ns(moved) == later and len(moved) == len(raw)
    assert moved[12:] == raw[12:]
    sample = decode(moved, 'geometry_msgs/msg/WrenchStamped')
    assert sample.header_ns == later and list(sample.force) == [1, 2, 3]


@pytest.mark.parametrize('raw', [b'', b'\x00\x01', b'\x05\x05\x00\x00' + bytes(12)])
def test_peek_rejects_garbage(raw):
    with pytest.raises(DecodeError):
        header_stamp_ns(raw)


def test_decode_rejects_truncated_and_unknown():
    raw = encode.image(STAMP, 'cam', np.zeros((4, 4), np.uint8), 'mono8')
    with pytest.raises(DecodeError):
        decode(raw[:30], 'sensor_msgs/msg/Image')
    with pytest.raises(DecodeError, match='no decoder'):
        decode(raw, 'sensor_msgs/msg/Temperature')


def test_fixed_layouts_equal_full_serialization():
    names = tuple(f'j{i}' for i in range(7))
    p, v, e = (np.linspace(0, 1, 7) * k for k in (1, 2, 3))
    assert encode.joint_state_layout(names).fill(STAMP, p, v, e) == \
        encode.joint_state(STAMP, names, p, v, e)
    assert encode.wrench_layout('ft').fill(STAMP, [1, 2, 3], [4, 5, 6]) == \
        encode.wrench(STAMP, 'ft', [1, 2, 3], [4, 5, 6])
    pad = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert encode.float_image_layout('pad', 4, 4).fill(STAMP, pad.reshape(-1)) == \
        encode.image(STAMP, 'pad', pad, '32FC1')
    assert encode.imu_layout('imu').fill(STAMP, [0, 0, 0, 1], [1, 2, 3], [4, 5, 6]) == \
        encode.imu(STAMP, 'imu', [0, 0, 0, 1], [1, 2, 3], [4, 5, 6])


@pytest.mark.parametrize('frame', ['', 'a', 'ab', 'abc', 'wrist_right_ft_link'])
def test_fast_paths_agree_with_rosbags(frame):
    from humanoid_data.bag import decode as module
    from humanoid_data.bag.typestore import typestore_for

    def generic(raw, msgtype):
        return module._DECODERS[msgtype](typestore_for().deserialize_cdr(raw, msgtype))

    raw = encode.wrench(STAMP, frame, [1.5, -2.0, 3.25], [0.1, 0.2, -0.3])
    fast, slow = decode(raw, 'geometry_msgs/msg/WrenchStamped'), generic(
        raw, 'geometry_msgs/msg/WrenchStamped')
    assert (fast.header_ns, fast.frame_id) == (slow.header_ns, slow.frame_id) == (STAMP, frame)
    np.testing.assert_array_equal(fast.force, slow.force)
    np.testing.assert_array_equal(fast.torque, slow.torque)
    rng = np.random.default_rng(len(frame))
    for encoding, pixels in [('rgb8', rng.integers(0, 255, (3, 5, 3), np.uint8)),
                             ('mono8', rng.integers(0, 255, (3, 5), np.uint8)),
                             ('16UC1', rng.integers(0, 9999, (3, 5), np.uint16)),
                             ('32FC1', rng.normal(size=(4, 4)).astype(np.float32))]:
        raw = encode.image(STAMP, frame, pixels, encoding)
        fast = decode(raw, 'sensor_msgs/msg/Image')
        slow = generic(raw, 'sensor_msgs/msg/Image')
        assert (fast.header_ns, fast.frame_id, fast.encoding) == (
            slow.header_ns, slow.frame_id, slow.encoding)
        np.testing.assert_array_equal(fast.pixels, slow.pixels)
        np.testing.assert_array_equal(fast.pixels, pixels)


_NAME = st.text(alphabet='abcdefghijklmnopqrstuvwxyz_0123456789', max_size=13)


@settings(max_examples=100, deadline=None)
@given(st.lists(_NAME, max_size=8), _NAME, st.booleans(), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_joint_state_and_imu_fast_paths_agree_with_rosbags(names, frame, with_velocity,
                                                           with_effort, seed):
    from humanoid_data.bag import decode as module
    from humanoid_data.bag.fastcdr import imu_arrays, joint_arrays
    from humanoid_data.bag.typestore import typestore_for

    store = typestore_for()
    types = store.types
    rng = np.random.default_rng(seed)
    n = len(names)
    sequences = [rng.normal(size=n), rng.normal(size=n if with_velocity else 0),
                 rng.normal(size=n if with_effort else 0)]
    header = encode.header(STAMP, frame)
    raw = store.serialize_cdr(types['sensor_msgs/msg/JointState'](header, list(names),
                                                                  *sequences),
                              'sensor_msgs/msg/JointState').tobytes()
    fast = joint_arrays(raw)
    assert fast is not None
    stamp, frame_id, got_names, *arrays = fast
    assert (stamp, frame_id, got_names) == (STAMP, frame, tuple(names))
    for got, sent in zip(arrays, sequences):
        np.testing.assert_array_equal(got, sent)
    slow = module._joints(store.deserialize_cdr(raw, 'sensor_msgs/msg/JointState'))
    assert decode(raw, 'sensor_msgs/msg/JointState').names == slow.names
    assert joint_arrays(raw[:-1]) is None

    values = rng.normal(size=10)
    raw = encode.imu(STAMP, frame, values[:4], values[4:7], values[7:])
    stamp, frame_id, orientation, angular, linear = imu_arrays(raw)
    slow = module._imu(store.deserialize_cdr(raw, 'sensor_msgs/msg/Imu'))
    assert (stamp, frame_id) == (slow.header_ns, slow.frame_id) == (STAMP, frame)
    for got, want, sent in ((orientation, slow.orientation, values[:4]),
                            (angular, slow.angular_velocity, values[4:7]),
                            (linear, slow.linear_acceleration, values[7:])):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, sent)
    assert imu_arrays(raw[:-8 * 10]) is None


def test_joint_names_are_reparsed_when_they_change():
    from humanoid_data.bag.fastcdr import joint_arrays
    sets = [('a', 'b'), ('a', 'b'), ('a', 'bc'), ('a',), ('a', 'b', 'c'), ('a', 'b')]
    for k, names in enumerate(sets):
        position = np.arange(len(names)) + k
        raw = encode.joint_state(STAMP + k, names, position, position * 2)
        stamp, _, got, pos, vel, eff = joint_arrays(raw)
        assert (stamp, got) == (STAMP + k, names)
        np.testing.assert_array_equal(pos, position)
        np.testing.assert_array_equal(vel, position * 2)
        assert len(eff) == 0
