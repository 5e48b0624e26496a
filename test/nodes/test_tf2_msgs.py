"""tf2_msgs over real DDS: /tf_static, latched, reaches a subscriber that joins afterwards."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

rclpy = pytest.importorskip('rclpy')

from geometry_msgs.msg import TransformStamped  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

from humanoid_data.cli.operator import spin_until  # noqa: E402

try:
    from tf2_msgs.msg import TFMessage
except ImportError as error:   # the wheels have none; make install builds it
    pytest.fail(f'tf2_msgs does not import ({error}); run tools/build_tf2_msgs.py with the '
                "venv's python (make install does)", pytrace=False)

TYPE = 'tf2_msgs/msg/TFMessage'
# What tf2_ros's static broadcaster and listener use.
STATIC_QOS = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                        reliability=ReliabilityPolicy.RELIABLE)


def _transform(child, translation, rotation):
    t = TransformStamped()
    t.header.stamp.sec, t.header.stamp.nanosec = 1_700_000_000, 123_456_789
    t.header.frame_id = 'base_link'
    t.child_frame_id = child
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = \
        translation
    (t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z,
     t.transform.rotation.w) = rotation
    return t


def _fields(t):
    """Everything of one transform, from an rclpy message or a rosbags one alike."""
    move, turn = t.transform.translation, t.transform.rotation
    return (t.header.stamp.sec, t.header.stamp.nanosec, t.header.frame_id, t.child_frame_id,
            move.x, move.y, move.z, turn.x, turn.y, turn.z, turn.w)


@contextmanager
def _late_node():
    """A node in a context of its own (its own DDS participant), with its executor."""
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node('late_joiner', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield node, executor
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_tf_static_reaches_a_subscriber_created_after_publication(ros_node):
    sent = TFMessage(transforms=[
        _transform('camera_link', (0.12, -0.03, 1.45), (0.0, 0.0, 0.38268343, 0.92387953)),
        _transform('imu_link', (-0.05, 0.0, 0.91), (0.0, 0.0, 0.0, 1.0)),
    ])
    publisher = ros_node.create_publisher(TFMessage, '/tf_static', STATIC_QOS)
    publisher.publish(sent)

    with _late_node() as (node, executor):
        received, wire = [], []
        node.create_subscription(TFMessage, '/tf_static', received.append, STATIC_QOS)
        node.create_subscription(TFMessage, '/tf_static', wire.append, STATIC_QOS, raw=True)

        def ours() -> list:
            # Data can arrive before the graph names its publisher's node: wait for both.
            return [p for p in node.get_publishers_info_by_topic('/tf_static')
                    if p.node_name == ros_node.get_name()]
        spin_until(lambda: executor.spin_once(timeout_sec=0.05),
                   lambda: bool(received and wire and ours()), 60.0,
                   'the latched /tf_static message and its publisher in the graph')
        publishers = ours()

    expected = [_fields(t) for t in sent.transforms]
    assert len(received) == 1
    assert [_fields(t) for t in received[0].transforms] == expected
    # The bytes on the wire decode with rosbags' own definition of the upstream type.
    typestore = get_typestore(Stores.ROS2_KILTED)
    decoded = typestore.deserialize_cdr(bytes(wire[0]), TYPE)
    assert [_fields(t) for t in decoded.transforms] == expected
    # Advertised as upstream's type, with upstream's type hash, latched.
    [info] = publishers
    assert info.topic_type == TYPE
    assert str(info.topic_type_hash) == typestore.hash_rihs01(TYPE)
    assert info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
