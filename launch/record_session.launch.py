"""Launch a recording session: recorder (live sync and contacts included), markers.

    ros2 launch humanoid_data record_session.launch.py \
        config:=/path/humanoid.yaml output_dir:=recordings sim:=true

Arguments: ``sim`` also starts the simulated humanoid; ``companions`` (default true)
detects contacts live, in the recorder from the messages it receives (its ``contacts``
parameter, ``~/tare`` on the recorder); ``contact_monitor`` (default false) detects them
in a contact_monitor process instead, which receives the force-torque and tactile
streams again; ``sync_monitor`` (default false) starts the separate sync
monitor, which receives every stream again (the recorder publishes the same sync
statuses itself); ``teleop`` (default true) starts marker_teleop for pedals and service
calls. For the keyboard UI, run ``humanoid-data teleop`` (or
``ros2 run humanoid_data marker_teleop --ros-args -p ui:=true``) in a terminal, with
``teleop:=false`` here.

``humanoid-data record`` starts the same nodes with the same parameters without
``ros2 launch`` (test/cli/test_launch_agreement.py keeps the two in agreement).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node


# The simulator and the companions yield the CPU to the recorder (humanoid_data.cli.plan).
YIELD = 'nice -n 5'


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
        DeclareLaunchArgument('companions', default_value='true',
                              description='detect contacts live (in the recorder)'),
        DeclareLaunchArgument('contact_monitor', default_value='false',
                              description='detect contacts in contact_monitor instead (a '
                                          'second receive of the contact streams)'),
        DeclareLaunchArgument('sync_monitor', default_value='false',
                              description='also start sync_monitor (a second receive of '
                                          'every stream; the recorder grades sync itself)'),
        DeclareLaunchArgument('teleop', default_value='true',
                              description='start marker_teleop (pedal, services; no UI)'),
    ]
    if not (os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE')
            or os.environ.get('FASTRTPS_DEFAULT_PROFILES_FILE')):
        profile = os.path.join(share, 'config', 'fastdds_profile.xml')
        actions.append(SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', profile))
        actions.append(SetEnvironmentVariable('FASTRTPS_DEFAULT_PROFILES_FILE', profile))
    actions.append(Node(
        package='humanoid_data', executable='sim_robot', name='sim_robot', output='screen',
        parameters=[{'config': config}], prefix=YIELD,
        condition=IfCondition(LaunchConfiguration('sim'))))
    companions = LaunchConfiguration('companions')
    separate = LaunchConfiguration('contact_monitor')
    # 'true' and 'false' as launch gives them; the expressions give Python values.
    in_own_process = PythonExpression(["'", companions, "' == 'true' and '", separate,
                                       "' == 'true'"])
    in_recorder = PythonExpression(["'", companions, "' == 'true' and '", separate,
                                    "' != 'true'"])
    tare_node = PythonExpression(["'/contact_monitor' if '", separate,
                                  "' == 'true' else '/recorder'"])
    for executable, condition in (('contact_monitor', in_own_process),
                                  ('sync_monitor', LaunchConfiguration('sync_monitor'))):
        actions.append(Node(
            package='humanoid_data', executable=executable, name=executable, output='screen',
            parameters=[{'config': config}], prefix=YIELD,
            condition=IfCondition(condition)))
    actions.append(Node(
        package='humanoid_data', executable='marker_teleop', name='marker_teleop',
        output='screen', parameters=[{'ui': False, 'contact_monitor': tare_node}],
        prefix=YIELD, condition=IfCondition(LaunchConfiguration('teleop'))))
    actions.append(Node(
        package='humanoid_data', executable='recorder', name='recorder', output='screen',
        parameters=[{'config': config, 'output_dir': LaunchConfiguration('output_dir'),
                     'contacts': in_recorder}]))
    return LaunchDescription(actions)
