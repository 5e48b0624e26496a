"""Fixtures of the DDS tests: a driver node, a small suite file."""

from __future__ import annotations

import pytest
import yaml


@pytest.fixture
def ros_node():
    """An rclpy node in the test process, shut down cleanly afterwards."""
    rclpy = pytest.importorskip('rclpy')
    from humanoid_data.dds import dds_environment
    dds_environment()
    rclpy.init()
    node = rclpy.create_node('test_driver')
    yield node
    node.destroy_node()
    rclpy.try_shutdown()


@pytest.fixture
def light_suite_file(tmp_path, suite_file):
    """The default suite without cameras and LiDAR, as a file (keeps DDS tests light)."""
    data = yaml.safe_load(suite_file.read_text())
    heavy = ('rgb', 'depth', 'lidar', 'camera_info')
    data['streams'] = [s for s in data['streams'] if s['modality'] not in heavy]
    path = tmp_path / 'light_suite.yaml'
    path.write_text(yaml.safe_dump(data))
    return path
