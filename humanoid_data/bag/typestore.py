"""The rosbags type store matching the ROS 2 distribution in use.

Message definitions and RIHS01 hashes embedded in a bag come from here, so a bag recorded
on Humble carries Humble's definitions. ``ROS_DISTRO`` picks the store; without it (a
machine with only PyPI wheels, or offline conversion) the newest store is used.
"""

from __future__ import annotations

import os
from functools import lru_cache

from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from humanoid_data.errors import ConfigError

_DISTRO_STORES = {
    'humble': Stores.ROS2_HUMBLE,
    'iron': Stores.ROS2_IRON,
    'jazzy': Stores.ROS2_JAZZY,
    'kilted': Stores.ROS2_KILTED,
}


@lru_cache(maxsize=None)
def typestore_for(distro: str | None = None) -> Typestore:
    """Return the type store of ``distro`` (default: ``$ROS_DISTRO``, else the newest)."""
    name = (distro or os.environ.get('ROS_DISTRO', '')).lower()
    return get_typestore(_DISTRO_STORES.get(name, Stores.ROS2_KILTED))


def check_msgtype(msgtype: str, where: str) -> None:
    """Raise ``ConfigError`` naming ``where`` unless ``msgtype`` is a known message type."""
    if msgtype not in typestore_for().types:
        raise ConfigError(f'{where}: unknown message type {msgtype!r}')


def msgdef(msgtype: str) -> tuple[str, str]:
    """Return the full ros2msg definition text and RIHS01 hash of ``msgtype``."""
    store = typestore_for()
    text, _ = store.generate_msgdef(msgtype, ros_version=2)
    return text, store.hash_rihs01(msgtype)
