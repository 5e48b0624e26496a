"""Fixtures of the recording tests."""

from __future__ import annotations

from dataclasses import replace

import pytest


@pytest.fixture
def small_suite(suite):
    """The default suite without the cameras and LiDAR, to keep tests fast."""
    heavy = ('rgb', 'depth', 'lidar', 'camera_info')
    keep = tuple(s for s in suite.streams if s.modality.value not in heavy)
    return replace(suite, streams=keep)
