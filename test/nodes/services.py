"""Calling a node's Trigger services from a test, robust to a lost first reply."""

from __future__ import annotations

from typing import Any, Callable

import rclpy
from std_srvs.srv import Trigger

from humanoid_data.cli.operator import spin_until


def call_trigger(node: Any, client: Any, effect: Callable[[], bool] | None = None,
                 timeout_s: float = 30.0) -> Any:
    """Call ``client`` and return its reply, or None when only ``effect()`` was seen.

    The first call after discovery can lose its reply: the server may answer before its
    reply writer has matched the client's reply reader (a race of ROS 2 service
    discovery, ros2/rmw_fastrtps#842, seen under load). The request itself is reliable
    and ``service_is_ready`` says its writer matched, so it arrives; a test that can
    observe what the call does passes ``effect`` and waits for whichever comes first.
    """
    future = client.call_async(Trigger.Request())
    spin_until(lambda: rclpy.spin_once(node, timeout_sec=0.05),
               lambda: future.done() or (effect is not None and effect()), timeout_s,
               f'service {client.srv_name}')
    return future.result() if future.done() else None


def accepted(reply: Any) -> bool:
    """Whether a reply from ``call_trigger`` did not refuse (a lost reply, None, did not)."""
    return reply is None or bool(reply.success)
