"""What every node shares: executor choice, the main() skeleton, parameters, QoS."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from dataclasses import MISSING, fields
from typing import Any, Callable, Mapping, Sequence, TypeVar

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rcl_interfaces.msg import ParameterDescriptor

from humanoid_data.core.config import Reliability
from humanoid_data.core.settings import settings_from
from humanoid_data.dds import dds_environment
from humanoid_data.errors import ConfigError, HumanoidDataError

S = TypeVar('S')


def events_executor_available() -> bool:
    """Whether ``make_executor`` returns the events executor (Jazzy on, not overridden)."""
    if os.environ.get('HUMANOID_DATA_EXECUTOR', 'events') == 'single':
        return False
    try:
        from rclpy.experimental import EventsExecutor  # noqa: F401
    except ImportError:  # Humble
        return False
    return True


def make_executor(message_info: bool = False) -> Any:
    """Return the events executor where the distribution has it, else single-threaded.

    The multi-threaded executor lost most 1 kHz messages on a 2-core machine; both of
    these keep up, the events executor with less CPU. A node whose callbacks take the
    message info (publisher sequence numbers) gets the single-threaded executor: the
    events executor of Kilted fails on such callbacks.
    """
    if message_info or not events_executor_available():
        return SingleThreadedExecutor()
    from rclpy.experimental import EventsExecutor
    return EventsExecutor()


def run_node(factory: Callable[[], Node], args: Sequence[str] | None = None,
             step: Callable[[Node], bool] | None = None) -> int:
    """Initialise rclpy, spin the node in the main thread, shut down cleanly.

    SIGINT and SIGTERM only set a flag: the loop then ends, the node's ``close()`` runs
    while the context is still valid (a recorder finishes its bags, the simulator writes
    its ledger), and only then is rclpy shut down.

    ``step``, when given, runs in the same loop after every spin (a terminal UI reading
    keys); it returns False to end the loop.

    Returns:
        0 on a normal or interrupted end, 1 when the node reported a HumanoidDataError.

    """
    dds_environment()
    rclpy.init(args=None if args is None else list(args),
               signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    node = None
    executor = None
    code = 0
    try:
        node = factory()
        executor = make_executor(getattr(node, 'needs_message_info', False))
        executor.add_node(node)
        # spin_once in a loop: EventsExecutor.spin() on Kilted's wheels did not return on
        # shutdown; this loop works for both executors and sees the stop flag.
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1 if step is None else 0.02)
            if step is not None and not step(node):
                break
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except HumanoidDataError as err:
        print(f'error: {err}', file=sys.stderr, flush=True)
        code = 1
    finally:
        if node is not None:
            close = getattr(node, 'close', None)
            if close is not None:
                close()
            node.destroy_node()
        if executor is not None:
            executor.shutdown()
        rclpy.try_shutdown()
    return code


def declare_settings(node: Node, cls: type[S]) -> S:
    """Declare one ROS parameter per dataclass field and return the validated settings."""
    values = {}
    for f in fields(cls):  # type: ignore[arg-type]
        default = f.default if f.default is not MISSING else ''
        node.declare_parameter(f.name, default, ParameterDescriptor(
            description=f.metadata.get('description', '')))
        values[f.name] = node.get_parameter(f.name).value
    return settings_from(cls, values, f'node {node.get_name()} parameters')


def message_class(msgtype: str) -> type:
    """Return the rclpy message class of a long type name (``sensor_msgs/msg/Image``)."""
    package, _, name = msgtype.split('/')
    try:
        module = importlib.import_module(f'{package}.msg')
    except ImportError as err:
        hint = (' (make install builds tf2_msgs into the venv when no ROS install provides '
                'it: tools/build_tf2_msgs.py)' if package == 'tf2_msgs' else '')
        raise ConfigError(f'message type {msgtype}: package {package} is not installed'
                          f'{hint}') from err
    return getattr(module, name)


def sensor_qos(reliability: Reliability, depth: int) -> QoSProfile:
    """Return the QoS of a sensor stream, as configured per stream in the suite."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth,
        reliability=(ReliabilityPolicy.RELIABLE if reliability == Reliability.RELIABLE
                     else ReliabilityPolicy.BEST_EFFORT),
        durability=DurabilityPolicy.VOLATILE)


def publisher_qos(reliability: Reliability, depth: int, rate_hz: float) -> QoSProfile:
    """Return the QoS of a sensor publisher: at least two seconds of history.

    A reliable KEEP_LAST writer forgets unacknowledged samples once its history is full;
    a publisher that falls behind and then sends a burst would lose messages there, out
    of any subscriber's sight. Two seconds of history absorb such bursts.
    """
    return sensor_qos(reliability, max(depth, int(rate_hz * 2) + 1))


def recorder_qos(reliability: Reliability, depth: int, rate_hz: float) -> QoSProfile:
    """Return a recording subscription's QoS: at least two seconds of reader history.

    A KEEP_LAST reader overwrites the oldest unread sample when its history is full, and
    the middleware reports nothing; the recorder counts such losses from sequence
    numbers, and two seconds of history make them rare when the process is starved.
    """
    return sensor_qos(reliability, max(depth, int(rate_hz * 2) + 1))


def latched_qos(depth: int = 1) -> QoSProfile:
    """A latched topic (``/robot_description``, ``/tf_static``): reliable, transient local.

    The publisher keeps its one message (depth 1) for late joiners; a subscriber with the
    same durability gets it whenever it starts. A subscriber keeps more (``depth``):
    several publishers may latch on one topic (each driver its own /tf_static mounts),
    and all their messages arrive at once when it joins.
    """
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


#: History of a latched subscription: room for every publisher's message on join.
LATCHED_READER_DEPTH = 100


def events_qos(depth: int = 1000) -> QoSProfile:
    """Events are labels: reliable, and kept for late joiners."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def diagnostic_status(name: str, level: int, message: str, hardware_id: str,
                      values: Mapping[str, object]) -> Any:
    """Return a ``diagnostic_msgs/DiagnosticStatus`` with its values as strings."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
    return DiagnosticStatus(level=bytes([level]), name=name, message=message,
                            hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])


def publish_diagnostics(node: Node, publisher: Any, statuses: Sequence[Any]) -> None:
    """Publish statuses as one ``DiagnosticArray`` stamped with the node's clock."""
    from diagnostic_msgs.msg import DiagnosticArray
    array = DiagnosticArray(status=list(statuses))
    array.header.stamp = node.get_clock().now().to_msg()
    publisher.publish(array)
