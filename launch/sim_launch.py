"""Launch the simulated stack: MuJoCo ``sim``, ``num_workers`` inference workers, ``arbiter``.

    ros2 launch rt_async_control sim_launch.py task:=arm num_workers:=4
    ros2 launch rt_async_control sim_launch.py params_file:=/path/my.yaml use_sim_time:=true

The parameter file is read once here with the package's own loader, so a wrong name or type
fails at launch with one line naming it, and every node gets its section with numbers typed
as the node declares them. The task, the number of workers and the worker indices are set
from the launch arguments on top of it.
"""

from __future__ import annotations

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from rt_async_control.nodes.launch_support import (
    flag,
    node_parameters,
    task_and_file,
    worker_count,
)


def launch_nodes(context: LaunchContext) -> list[Node]:
    """Create the nodes once the arguments are known (the worker count sets the node list)."""
    share = get_package_share_directory('rt_async_control')
    task, params_file = task_and_file(LaunchConfiguration('task').perform(context),
                                      LaunchConfiguration('params_file').perform(context), share)
    namespace = LaunchConfiguration('namespace').perform(context)
    # A bool for every node: a string 'true' would not fit the declared bool parameter.
    use_sim_time = flag(LaunchConfiguration('use_sim_time').perform(context), 'use_sim_time')
    sections = node_parameters(params_file)
    num_workers = worker_count(sections, LaunchConfiguration('num_workers').perform(context))
    shared = {'task': task, 'num_workers': num_workers, 'use_sim_time': use_sim_time}

    nodes = [
        Node(
            package='rt_async_control',
            executable='sim_node',
            name='sim',
            namespace=namespace,
            output='screen',
            # The simulator is the clock source when the others run on simulated time.
            parameters=[sections['sim'], shared, {'publish_clock': use_sim_time}],
        ),
        Node(
            package='rt_async_control',
            executable='arbiter_node',
            name='arbiter',
            namespace=namespace,
            output='screen',
            parameters=[sections['arbiter'], shared],
        ),
    ]
    for index in range(num_workers):
        nodes.append(Node(
            package='rt_async_control',
            executable='inference_node',
            name=f'inference_{index}',
            namespace=namespace,
            output='screen',
            parameters=[sections['inference'], shared, {'worker_index': index}],
        ))
    return nodes


def generate_launch_description() -> LaunchDescription:
    """Return the launch description of the simulated stack."""
    # task, num_workers, params_file and namespace are read in launch_nodes, which needs
    # their values to build the node list.
    record = LaunchConfiguration('record')

    declare_task = DeclareLaunchArgument(
        'task', default_value='',
        description='simulated task: pendulum, cartpole or arm (sim/<task>.yaml); empty = the '
                    'task of params_file, or arm')
    declare_num_workers = DeclareLaunchArgument(
        'num_workers', default_value='',
        description='inference workers to start; empty = num_workers of the parameter file '
                    '(0 there = enough for the expected inference time)')
    declare_params_file = DeclareLaunchArgument(
        'params_file', default_value='',
        description='ROS 2 parameter file; empty = config/<task>.yaml of this package')
    declare_use_sim_time = DeclareLaunchArgument(
        'use_sim_time', default_value='false',
        description='run every node on the simulator /clock instead of the system clock')
    declare_namespace = DeclareLaunchArgument(
        'namespace', default_value='',
        description='namespace of all nodes and topics (/clock and /diagnostics stay global)')
    declare_record = DeclareLaunchArgument(
        'record', default_value='false',
        description='record every topic with ros2 bag into ./rosbag2_<date>')

    return LaunchDescription([
        declare_task,
        declare_num_workers,
        declare_params_file,
        declare_use_sim_time,
        declare_namespace,
        declare_record,
        OpaqueFunction(function=launch_nodes),
        ExecuteProcess(cmd=['ros2', 'bag', 'record', '--all'], output='screen',
                       condition=IfCondition(record)),
    ])
