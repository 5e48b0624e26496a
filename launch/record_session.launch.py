"""Launch a recording session: the recorder, and optionally the simulated humanoid.

    ros2 launch humanoid_data record_session.launch.py \
        config:=/path/humanoid.yaml output_dir:=recordings sim:=true

``humanoid-data record`` starts the same nodes with the same parameters without
``ros2 launch`` (test/cli/test_launch_agreement.py keeps the two in agreement).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    """Declare the arguments and the session's nodes."""
    share = get_package_share_directory('humanoid_data')
    config = LaunchConfiguration('config')
    actions = [
        DeclareLaunchArgument(
            'config', default_value=os.path.join(share, 'config', 'humanoid.yaml'),
            description='sensor-suite YAML'),
        DeclareLaunchArgument('output_dir', default_value='recordings',
                              description='folder for session folders'),
        DeclareLaunchArgument('sim', default_value='false',
                              description='also start the simulated humanoid'),
    ]
    if not (os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE')
            or os.environ.get('FASTRTPS_DEFAULT_PROFILES_FILE')):
        profile = os.path.join(share, 'config', 'fastdds_profile.xml')
        actions.append(SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', profile))
        actions.append(SetEnvironmentVariable('FASTRTPS_DEFAULT_PROFILES_FILE', profile))
    actions.append(Node(
        package='humanoid_data', executable='sim_robot', name='sim_robot', output='screen',
        parameters=[{'config': config}],
        condition=IfCondition(LaunchConfiguration('sim'))))
    actions.append(Node(
        package='humanoid_data', executable='recorder', name='recorder', output='screen',
        parameters=[{'config': config, 'output_dir': LaunchConfiguration('output_dir')}]))
    return LaunchDescription(actions)
