"""Shared fixtures: isolated ROS environment per test process, suite factories."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Every test process talks DDS on loopback only, on its own domain, and logs into a
# temporary folder, so parallel runs never see each other and leave nothing behind.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', str(10 + os.getpid() % 90))
os.environ['ROS_LOG_DIR'] = tempfile.mkdtemp(prefix='humanoid_data_roslog_')

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def suite_file() -> Path:
    """The default sensor-suite file."""
    return REPO / 'config' / 'humanoid.yaml'


@pytest.fixture
def suite(suite_file):
    """The default suite, parsed."""
    from humanoid_data.core.config import load_suite
    return load_suite(suite_file)


@pytest.fixture
def contact_config():
    """The default contact thresholds, parsed."""
    from humanoid_data.core.contact_config import load_contact_config
    return load_contact_config(REPO / 'config' / 'contact.yaml')


@pytest.fixture
def taxonomy():
    """The default phase taxonomy, parsed."""
    from humanoid_data.core.phases import load_taxonomy
    return load_taxonomy(REPO / 'config' / 'phases.yaml')
