"""Find the package's shared files (config/, launch/) in a source tree or an install."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

from humanoid_data.errors import ConfigError

PACKAGE = 'humanoid_data'


def _candidates() -> Iterator[Path]:
    if os.environ.get('HUMANOID_DATA_SHARE'):
        yield Path(os.environ['HUMANOID_DATA_SHARE'])
    yield Path(__file__).resolve().parent.parent      # source tree or editable install
    try:
        from ament_index_python.packages import get_package_share_directory
        yield Path(get_package_share_directory(PACKAGE))  # colcon install
    except (ImportError, LookupError, OSError):
        pass  # no ROS install, or no ament index in this environment
    yield Path(sys.prefix) / 'share' / PACKAGE         # pip install (data_files)


def share_file(relative: str) -> Path:
    """Return the path of a shared file such as ``config/humanoid.yaml``.

    Raises:
        ConfigError: The file is in none of the known places.

    """
    for root in _candidates():
        path = root / relative
        if path.is_file():
            return path
    raise ConfigError(f'{relative}: not found in the humanoid_data share folders '
                      '(set HUMANOID_DATA_SHARE to the folder holding config/)')


def default_suite() -> Path:
    """The default sensor-suite file."""
    return share_file('config/humanoid.yaml')


def default_urdf() -> Path:
    """The simulated humanoid's URDF (published on ``/robot_description``)."""
    return share_file('config/humanoid.urdf')


def default_taxonomy() -> Path:
    """The default phase-taxonomy file."""
    return share_file('config/phases.yaml')


def default_contact_config() -> Path:
    """The default contact-detection thresholds."""
    return share_file('config/contact.yaml')


def default_sync_config() -> Path:
    """The default sync-health thresholds."""
    return share_file('config/sync.yaml')


def default_teleop_config() -> Path:
    """The default operator key and button mapping."""
    return share_file('config/teleop.yaml')


def default_dataset_config() -> Path:
    """The default dataset-conversion config."""
    return share_file('config/dataset.yaml')
