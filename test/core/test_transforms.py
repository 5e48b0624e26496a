"""The ROS-free transform buffer: composition, interpolation, lookups and their errors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.spatial.transform import Rotation, Slerp

from humanoid_data.core.transforms import (
    QUAT_NORM_TOLERANCE, StampedTransform, Transform, TransformBuffer, TransformError,
    unit_quaternions)
from humanoid_data.errors import HumanoidDataError

T0 = 1_700_000_000_123_456_789      # a realistic epoch stamp: float seconds would blur it

coords = st.floats(-5, 5, allow_nan=False, allow_infinity=False)
quats = st.tuples(*[st.floats(-1, 1, allow_nan=False)] * 4).filter(
    lambda q: np.linalg.norm(q) > 0.1).map(lambda q: np.array(q) / np.linalg.norm(q))
transforms = st.builds(lambda t, q: Transform(np.array(t), Rotation.from_quat(q)),
                       st.tuples(coords, coords, coords), quats)


def matrix(translation, rotation: Rotation) -> np.ndarray:
    """4x4 matrix built straight from SciPy, independent of Transform."""
    m = np.eye(4)
    m[:3, :3] = rotation.as_matrix()
    m[:3, 3] = translation
    return m


def assert_same(a: Transform, b: Transform, atol: float = 1e-9) -> None:
    """Equal as 4x4 matrices (so q and -q agree)."""
    np.testing.assert_allclose(a.as_matrix(), b.as_matrix(), atol=atol)


# -- Transform ----------------------------------------------------------------------------

@given(transforms, transforms, st.lists(st.tuples(coords, coords, coords), min_size=1,
                                        max_size=5))
def test_transform_algebra_matches_matrices(a, b, points):
    p = np.array(points)
    np.testing.assert_allclose((a * b).as_matrix(), a.as_matrix() @ b.as_matrix(),
                               atol=1e-9)
    assert_same(a * a.inverse(), Transform.identity())
    homogeneous = np.c_[p, np.ones(len(p))] @ a.as_matrix().T
    np.testing.assert_allclose(a.apply(p), homogeneous[:, :3], atol=1e-9)
    np.testing.assert_allclose(a.apply(p[0]), homogeneous[0, :3], atol=1e-9)
    assert_same(Transform.from_matrix(a.as_matrix()), a)
    assert a.is_close(Transform.from_quat(a.translation, -a.quat))


def test_transform_is_frozen_and_validated():
    t = Transform.from_quat([1, 2, 3], [0, 0, 0, 1])
    with pytest.raises(ValueError):
        t.translation[0] = 5.0
    with pytest.raises(AttributeError):
        t.translation = np.zeros(3)  # type: ignore[misc]
    for bad in ([1, 2], [np.nan, 0, 0], 'abc'):
        with pytest.raises(TransformError):
            Transform(bad, Rotation.identity())
    with pytest.raises(TransformError, match='one scipy Rotation'):
        Transform(np.zeros(3), Rotation.identity(2))
    with pytest.raises(TransformError, match='rigid'):
        Transform.from_matrix(np.diag([2.0, 1.0, 1.0, 1.0]))
    assert issubclass(TransformError, HumanoidDataError)


def test_quaternions_within_tolerance_are_normalized_others_refused():
    q = unit_quaternions([0, 0, 0, 1 + QUAT_NORM_TOLERANCE / 2])
    np.testing.assert_array_equal(q, [0, 0, 0, 1])
    for bad, says in (([0, 0, 0, 0], 'norm 0'), ([0, 0, 0, 1.5], 'norm 1.5'),
                      ([0, np.nan, 0, 1], 'not finite'), ([0, 0, 1], '4 numbers')):
        with pytest.raises(TransformError, match=says):
            unit_quaternions(bad, "edge 'a' -> 'b'")


# -- composition along the tree -----------------------------------------------------------

@given(st.lists(transforms, min_size=1, max_size=6))
def test_static_chain_equals_scipy_composition(edges):
    buf = TransformBuffer()
    names = [f'f{i}' for i in range(len(edges) + 1)]
    for parent, child, edge in zip(names, names[1:], edges):
        buf.add_static(parent, child, edge)
    expected = np.eye(4)
    rotation = Rotation.identity()
    for edge in edges:
        expected = expected @ matrix(edge.translation, edge.rotation)
        rotation = rotation * edge.rotation
    got = buf.lookup(names[0], names[-1], 0)
    np.testing.assert_allclose(got.as_matrix(), expected, atol=1e-8)
    assert abs(abs(np.dot(got.quat, rotation.as_quat())) - 1) < 1e-9
    # and each intermediate link, up and down
    for i in range(len(names)):
        assert_same(buf.lookup(names[i], names[0], 0) * buf.lookup(names[0], names[i], 0),
                    Transform.identity())


@st.composite
def trees(draw):
    """A random forest-free tree: frame i's parent is one of 0..i-1; edges static or moving.

    Moving edges have samples covering T0 .. T0 + 1000 (plus random ones), so any stamp in
    that range can be looked up.
    """
    n = draw(st.integers(2, 7))
    buf = TransformBuffer(max_gap_ns=None)
    for i in range(1, n):
        parent = draw(st.integers(0, i - 1))
        if draw(st.booleans()):
            buf.add_static(f'f{parent}', f'f{i}', draw(transforms))
        else:
            inner = draw(st.lists(st.integers(T0 + 1, T0 + 999), max_size=4, unique=True))
            for stamp in [T0, T0 + 1000, *inner]:
                buf.add(f'f{parent}', f'f{i}', stamp, draw(transforms))
    return buf, n


@given(trees(), st.data())
@settings(max_examples=60, deadline=None)
def test_round_trips_and_composition_through_any_frame(tree, data):
    buf, n = tree
    a, b, c = (f'f{data.draw(st.integers(0, n - 1))}' for _ in range(3))
    stamp = data.draw(st.integers(T0, T0 + 1000))
    ab, ba = buf.lookup(a, b, stamp), buf.lookup(b, a, stamp)
    assert_same(ab * ba, Transform.identity(), atol=1e-8)
    assert_same(buf.lookup(a, c, stamp) * buf.lookup(c, b, stamp), ab, atol=1e-8)
    assert_same(buf.lookup(a, a, stamp), Transform.identity())


@given(trees(), st.data())
@settings(max_examples=40, deadline=None)
def test_lookup_many_equals_lookup_per_stamp(tree, data):
    buf, n = tree
    a, b = (f'f{data.draw(st.integers(0, n - 1))}' for _ in range(2))
    stamps = np.array(data.draw(st.lists(st.integers(T0, T0 + 1000), max_size=8)),
                      dtype=np.int64)
    translations, rotations = buf.lookup_many(a, b, stamps)
    assert translations.shape == (len(stamps), 3) and len(rotations) == len(stamps)
    for i, stamp in enumerate(stamps):
        assert_same(Transform(translations[i], rotations[i]), buf.lookup(a, b, int(stamp)),
                    atol=1e-12)


# -- interpolation --------------------------------------------------------------------------

samples = st.lists(st.tuples(st.integers(0, 10**12), transforms), min_size=1, max_size=8,
                   unique_by=lambda s: s[0])


@given(samples, st.randoms(use_true_random=False))
def test_exact_at_samples_whatever_the_insertion_order(edge, random):
    ordered, shuffled = TransformBuffer(), TransformBuffer()
    for stamp, transform in edge:
        ordered.add('a', 'b', T0 + stamp, transform)
    random.shuffle(edge)
    for stamp, transform in edge:
        shuffled.add_stamped(StampedTransform('a', 'b', T0 + stamp, transform))
    for stamp, transform in edge:
        for buf in (ordered, shuffled):
            got = buf.lookup('a', 'b', T0 + stamp)
            np.testing.assert_allclose(got.translation, transform.translation, atol=1e-15)
            np.testing.assert_allclose(got.quat, transform.quat, atol=1e-15)


@given(transforms, transforms, st.integers(1, 10**12), st.floats(0, 1))
def test_between_two_samples_equals_linear_and_scipy_slerp(a, b, span, fraction):
    buf = TransformBuffer()
    buf.add('a', 'b', T0, a)
    buf.add('a', 'b', T0 + span, b)
    offset = int(fraction * span)
    got = buf.lookup('a', 'b', T0 + offset)
    f = offset / span
    np.testing.assert_allclose(got.translation,
                               (1 - f) * a.translation + f * b.translation, atol=1e-9)
    both = Rotation.from_quat([a.quat, b.quat])
    expected = Slerp([0.0, float(span)], both)([float(offset)])[0]
    assert (got.rotation.inv() * expected).magnitude() < 1e-7


def test_nanoseconds_are_not_blurred_at_epoch_stamps():
    buf = TransformBuffer()
    buf.add('a', 'b', T0, Transform.from_quat([0, 0, 0], [0, 0, 0, 1]))
    buf.add('a', 'b', T0 + 4, Transform.from_quat([4, 0, 0], [0, 0, 0, 1]))
    xs = buf.lookup_many('a', 'b', np.arange(T0, T0 + 5, dtype=np.int64))[0][:, 0]
    np.testing.assert_array_equal(xs, [0, 1, 2, 3, 4])


def test_empty_lookup_many():
    buf = TransformBuffer()
    buf.add('a', 'b', T0, Transform.identity())
    t, r = buf.lookup_many('a', 'b', np.zeros(0, dtype=np.int64))
    assert t.shape == (0, 3) and len(r) == 0


def test_wrist_camera_on_a_moving_arm():
    """base->shoulder yaws, shoulder->wrist pitches at a 0.4 m reach, wrist->camera fixed."""
    buf = TransformBuffer(max_gap_ns=20_000_000)
    stamps = T0 + np.arange(0, 101) * 10_000_000            # 100 Hz over one second
    seconds = (stamps - T0) / 1e9
    yaw, pitch = 0.8 * seconds, -0.5 + 1.2 * seconds        # rad; linear, so slerp is exact
    n = len(stamps)
    buf.add_many('base', 'shoulder', stamps, np.tile([0, 0, 1.2], (n, 1)),
                 Rotation.from_euler('z', yaw[:, None]).as_quat())
    # shoulder -> wrist: out of order and in two batches, the wrist 0.4 m along x
    order = np.random.default_rng(7).permutation(n)
    for part in (order[: n // 2], order[n // 2:]):
        buf.add_many('shoulder', 'wrist', stamps[part], np.tile([0.4, 0, 0], (len(part), 1)),
                     Rotation.from_euler('y', pitch[part, None]).as_quat())
    camera = Transform.from_quat([0.05, 0, 0.02], Rotation.from_euler('y', np.pi / 2).as_quat())
    buf.add_static('wrist', 'camera', camera)

    def by_hand(s: float) -> np.ndarray:
        cy, sy = np.cos(0.8 * s), np.sin(0.8 * s)
        p = -0.5 + 1.2 * s
        cp, sp = np.cos(p), np.sin(p)
        base_shoulder = np.array([[cy, -sy, 0, 0], [sy, cy, 0, 0], [0, 0, 1, 1.2],
                                  [0, 0, 0, 1]])
        shoulder_wrist = np.array([[cp, 0, sp, 0.4], [0, 1, 0, 0], [-sp, 0, cp, 0],
                                   [0, 0, 0, 1]])
        wrist_camera = np.array([[0, 0, 1, 0.05], [0, 1, 0, 0], [-1, 0, 0, 0.02],
                                 [0, 0, 0, 1]])
        return base_shoulder @ shoulder_wrist @ wrist_camera

    # frames of a 30 Hz camera, between the 100 Hz samples
    frames = T0 + np.arange(0, 30) * 33_333_333
    translations, rotations = buf.lookup_many('base', 'camera', frames)
    for i, stamp in enumerate(frames):
        expected = by_hand((stamp - T0) / 1e9)
        got = matrix(translations[i], rotations[i])
        np.testing.assert_allclose(got, expected, atol=1e-9)
    # a point 1 m in front of the camera (its z), seen from the base, and back
    at = int(frames[7])
    point = buf.lookup('base', 'camera', at).apply([0, 0, 1])
    np.testing.assert_allclose(point, (by_hand((at - T0) / 1e9) @ [0, 0, 1, 1])[:3],
                               atol=1e-9)
    np.testing.assert_allclose(buf.lookup('camera', 'base', at).apply(point), [0, 0, 1],
                               atol=1e-9)
    # shoulder and camera: the common ancestor is the shoulder, base->shoulder unused
    assert_same(buf.lookup('shoulder', 'camera', at),
                buf.lookup('shoulder', 'wrist', at) * camera)
    assert buf.covered('wrist') == (T0, int(stamps[-1])) and buf.covered('camera') is None
    assert buf.parent('camera') == 'wrist' and buf.is_static('camera')


def test_from_messages_objects_and_dicts():
    def stamped(parent, child, stamp_ns, xyz, xyzw, as_dict):
        fields = {
            'header': {'stamp': {'sec': stamp_ns // 10**9, 'nanosec': stamp_ns % 10**9},
                       'frame_id': parent},
            'child_frame_id': child,
            'transform': {'translation': dict(zip('xyz', xyz)),
                          'rotation': dict(zip('xyzw', xyzw))},
        }
        if as_dict:
            return fields

        def ns(value):
            return (SimpleNamespace(**{k: ns(v) for k, v in value.items()})
                    if isinstance(value, dict) else value)
        return ns(fields)
    tf = [{'transforms': [stamped('odom', 'base', T0, (0, 0, 0), (0, 0, 0, 1), True)]},
          SimpleNamespace(transforms=[stamped('odom', 'base', T0 + 10, (1, 0, 0),
                                              (0, 0, 0, 1), False)])]
    static = [{'transforms': [stamped('base', 'imu', 0, (0, 0, 0.1), (0, 0, 0, 1), True)]}]
    buf = TransformBuffer.from_messages(tf=tf, tf_static=static)
    np.testing.assert_allclose(buf.lookup('odom', 'imu', T0 + 5).translation, [0.5, 0, 0.1])
    assert buf.frames() == ['base', 'imu', 'odom']
    bad = [{'transforms': [stamped('base', 'lidar', 0, (0, 0, 0), (0, 0, 0, 0), True)]}]
    with pytest.raises(TransformError, match="'base' -> 'lidar'.*norm 0"):
        buf.add_messages(bad, static=True)
    with pytest.raises(TransformError, match="no field 'transforms'"):
        buf.add_messages([{}])


# -- errors ----------------------------------------------------------------------------------

def arm() -> TransformBuffer:
    buf = TransformBuffer(max_extrapolation_ns=5, max_gap_ns=100)
    buf.add_static('base', 'torso', Transform.identity())
    for stamp in (1000, 1100, 1300):      # 1100 .. 1300 is a 200 ns gap
        buf.add('torso', 'hand', stamp, Transform.from_quat([stamp, 0, 0], [0, 0, 0, 1]))
    buf.add_static('world', 'table', Transform.identity())
    return buf


def test_unknown_frame_lists_the_known_ones():
    with pytest.raises(TransformError, match="unknown frame 'elbow'; known frames: 'base', "
                                             "'hand', 'table', 'torso', 'world'"):
        arm().lookup('base', 'elbow', 1000)


def test_disconnected_trees_name_both_roots():
    with pytest.raises(TransformError, match="'table' and 'hand' are not connected: "
                                             "'table' is in the tree of 'world', 'hand' "
                                             "in that of 'base'"):
        arm().lookup('hand', 'table', 1000)


def test_two_parents_self_parent_and_cycles_are_refused_at_add():
    buf = arm()
    with pytest.raises(TransformError, match="'hand' would have two parents: 'torso' and "
                                             "'base'"):
        buf.add('base', 'hand', 1000, Transform.identity())
    with pytest.raises(TransformError, match="would close a cycle: 'hand' -> 'base' -> "
                                             "'torso' -> 'hand'"):
        buf.add_static('hand', 'base', Transform.identity())
    with pytest.raises(TransformError, match="'torso' cannot be its own parent"):
        buf.add_static('torso', 'torso', Transform.identity())
    with pytest.raises(TransformError, match="'torso' -> 'hand' is dynamic"):
        buf.add_static('torso', 'hand', Transform.identity())
    with pytest.raises(TransformError, match="'base' -> 'torso' is static"):
        buf.add('base', 'torso', 0, Transform.identity())
    with pytest.raises(TransformError, match='non-empty string'):
        buf.add_static('', 'x', Transform.identity())
    # nothing of the refused edges was kept
    assert buf.parent('base') is None and 'x' not in buf.frames()


def test_static_edges_republished_and_replaced():
    buf = arm()
    buf.add_static('base', 'torso', Transform.identity())
    moved = Transform.from_quat([0, 0, 1], [0, 0, 0, 1])
    with pytest.raises(TransformError, match="static edge 'base' -> 'torso' is already"):
        buf.add_static('base', 'torso', moved)
    buf.add_static('base', 'torso', moved, replace=True)
    np.testing.assert_allclose(buf.lookup('base', 'torso', 0).translation, [0, 0, 1])


@pytest.mark.parametrize('stamp,says', [
    (994, "'torso' -> 'hand' has samples from 1000 to 1300 ns .*first 994 ns"),
    (1306, "'torso' -> 'hand' has samples from 1000 to 1300 ns .*first 1306 ns"),
])
def test_extrapolation_beyond_the_limit_names_edge_and_range(stamp, says):
    with pytest.raises(TransformError, match=f"pose of 'hand' in 'base': edge {says}"):
        arm().lookup('base', 'hand', stamp)


def test_within_the_extrapolation_limit_the_end_sample_holds():
    buf = arm()
    assert buf.lookup('base', 'hand', 995).translation[0] == 1000
    assert buf.lookup('hand', 'base', 1305).translation[0] == -1300


def test_gap_larger_than_max_gap_is_not_bridged():
    buf = arm()
    assert buf.lookup('base', 'hand', 1050).translation[0] == 1050
    assert buf.lookup('base', 'hand', 1300).translation[0] == 1300     # a sample: exact
    with pytest.raises(TransformError, match="edge 'torso' -> 'hand' has no samples between "
                                             "1100 and 1300 ns .200 ns apart, max gap 100 "
                                             "ns., needed at 1200 ns"):
        buf.lookup_many('base', 'hand', np.array([1050, 1200], dtype=np.int64))


@pytest.mark.parametrize('translations,quats,says', [
    ([[0, 0, 0]], [[0, 0, 0, 0]], 'norm 0'),
    ([[0, 0, 0]], [[np.nan, 0, 0, 1]], 'not finite'),
    ([[0, 0, 0]], [[0, 0, 0, 1.1]], 'norm 1.1'),
    ([[0, np.inf, 0]], [[0, 0, 0, 1]], 'translation #0 is not finite'),
    ([[0, 0, 0], [0, 0, 0]], [[0, 0, 0, 1]], '2 stamps, 2 translations and 1 quaternions'),
])
def test_bad_samples_name_the_edge(translations, quats, says):
    buf = arm()
    stamps = np.arange(len(translations), dtype=np.int64)
    with pytest.raises(TransformError, match=f"edge 'torso' -> 'wrist'.*{says}"):
        buf.add_many('torso', 'wrist', stamps, translations, quats)
    assert 'wrist' not in buf.frames()


def test_stamps_are_integer_nanoseconds():
    buf = arm()
    with pytest.raises(TransformError, match="edge 'torso' -> 'hand': stamps are integer"):
        buf.add('torso', 'hand', 1.5, Transform.identity())  # type: ignore[arg-type]
    with pytest.raises(TransformError, match="lookup of 'hand' in 'base'.*dtype float64"):
        buf.lookup_many('base', 'hand', np.array([1000.0]))
    with pytest.raises(TransformError, match='stamps are integer'):
        buf.lookup('base', 'hand', True)
    with pytest.raises(TransformError, match='max_gap_ns must be integer'):
        TransformBuffer(max_gap_ns=0.1)  # type: ignore[arg-type]


def test_conflicting_samples_at_one_stamp():
    buf = arm()
    buf.add('torso', 'hand', 1000, Transform.from_quat([1000, 0, 0], [0, 0, 0, 1]))  # again
    assert buf.lookup('base', 'hand', 1000).translation[0] == 1000
    buf.add('torso', 'hand', 1000, Transform.identity())
    for _ in range(2):       # reported at every lookup until the edge is rebuilt
        with pytest.raises(TransformError, match="edge 'torso' -> 'hand' has two different "
                                                 'samples at 1000 ns'):
            buf.lookup('base', 'hand', 1050)


def test_an_edge_without_samples():
    buf = arm()
    buf.add_many('torso', 'wrist', np.zeros(0, dtype=np.int64), np.zeros((0, 3)),
                 np.zeros((0, 4)))
    assert buf.parent('wrist') == 'torso'
    with pytest.raises(TransformError, match="edge 'torso' -> 'wrist' has no samples"):
        buf.lookup('base', 'wrist', 1000)


def test_root_and_fixed_chains_are_read_from_the_tree():
    buf = TransformBuffer()
    buf.add_static('base', 'torso', Transform.identity())
    buf.add_static('torso', 'head_camera', Transform.identity())
    buf.add('torso', 'arm', 0, Transform.identity())
    buf.add_static('arm', 'wrist_camera', Transform.identity())
    assert buf.root('wrist_camera') == 'base'
    assert buf.is_fixed('base', 'head_camera')
    assert not buf.is_fixed('base', 'wrist_camera')
    assert buf.is_fixed('arm', 'wrist_camera')
    assert not buf.is_fixed('head_camera', 'wrist_camera')
    buf.add_static('elsewhere', 'island', Transform.identity())
    with pytest.raises(TransformError, match="'base' and 'island' are not connected"):
        buf.is_fixed('base', 'island')
    with pytest.raises(TransformError, match="unknown frame 'nowhere'"):
        buf.root('nowhere')
