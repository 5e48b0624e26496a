"""Middleware environment shared by every entry point.

Fast DDS reads its XML profile from an environment variable at participant creation, so
this must run before ``rclpy.init``. A profile the user already set is respected.
"""

from __future__ import annotations

import os
from typing import MutableMapping

from humanoid_data.resources import share_file

PROFILE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')


def dds_environment(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Point Fast DDS at our profile (under the older variable name too on Humble and Iron).

    Args:
        env: Environment to update; ``os.environ`` by default.

    Returns:
        The updated environment.

    """
    env = os.environ if env is None else env
    if not any(env.get(name) for name in PROFILE_VARIABLES):
        profile = str(share_file('config/fastdds_profile.xml'))
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = profile
        if env.get('ROS_DISTRO', '').lower() in ('humble', 'iron'):
            env['FASTRTPS_DEFAULT_PROFILES_FILE'] = profile  # Fast DDS 2.x name
    return env
