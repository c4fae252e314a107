"""Launch the inference workers and the arbiter for a real robot behind ros2_control (no sim).

    ros2 launch rt_async_control robot_launch.py task:=arm num_workers:=4 \
        state_topic:=/joint_states controller:=forward_command_controller \
        command_topic:=/effort_controller/commands model_path:=/models/arm.onnx

The robot's ``joint_state_broadcaster`` provides the state; the arbiter feeds
``forward_command_controller`` (``std_msgs/Float64MultiArray``) or
``joint_trajectory_controller`` (``trajectory_msgs/JointTrajectory``). The task names the
policy's joint order, limits and observation (sim/<task>.yaml); ``joint_names`` maps them to
the robot's joint names. For tasks with a goal (arm), publish it as
``geometry_msgs/PointStamped`` on ``goal_topic``.
"""

from __future__ import annotations

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from rt_async_control.nodes.launch_support import (
    flag,
    node_parameters,
    robot_joints,
    task_and_file,
    worker_count,
)

#: Controller type -> (arbiter command_interface, the topic name the arbiter publishes).
CONTROLLERS = {
    'forward_command_controller': ('forward', 'forward_command_controller/commands'),
    'joint_trajectory_controller': ('trajectory',
                                    'joint_trajectory_controller/joint_trajectory'),
}


def launch_nodes(context: LaunchContext) -> list[Node]:
    """Create the workers and the arbiter once the arguments are known."""
    share = get_package_share_directory('rt_async_control')

    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    controller = arg('controller')
    if controller not in CONTROLLERS:
        raise RuntimeError(f'controller:={controller!r}: choose from {", ".join(CONTROLLERS)}')
    interface, command_source = CONTROLLERS[controller]
    # The controller's own topic unless told otherwise: <controller name>/<its input>.
    command_topic = arg('command_topic') or '/' + command_source
    task, params_file = task_and_file(arg('task'), arg('params_file'), share)
    sections = node_parameters(params_file)
    num_workers = worker_count(sections, arg('num_workers'))
    # A bool: a string 'true' would not fit the declared bool parameter.
    shared = {'task': task, 'num_workers': num_workers,
              'use_sim_time': flag(arg('use_sim_time'), 'use_sim_time')}
    state_joints, actuated_joints = robot_joints(task, arg('joint_names'))
    # Only what is given: an empty list has no type for ROS, an empty path means the file's.
    arbiter = {'command_interface': interface}
    worker = {'joint_names': state_joints} if state_joints else {}
    if actuated_joints:
        arbiter['joint_names'] = actuated_joints
    if arg('model_path'):
        worker['model_path'] = arg('model_path')
    namespace = arg('namespace')

    nodes = [Node(
        package='rt_async_control',
        executable='arbiter_node',
        name='arbiter',
        namespace=namespace,
        output='screen',
        parameters=[sections['arbiter'], shared, arbiter],
        remappings=[(command_source, command_topic)],
    )]
    for index in range(num_workers):
        nodes.append(Node(
            package='rt_async_control',
            executable='inference_node',
            name=f'inference_{index}',
            namespace=namespace,
            output='screen',
            parameters=[sections['inference'], shared, {**worker, 'worker_index': index}],
            remappings=[('joint_states', arg('state_topic')), ('goal', arg('goal_topic'))],
        ))
    return nodes


def generate_launch_description() -> LaunchDescription:
    """Return the launch description for a real robot."""
    arguments = [
        DeclareLaunchArgument('task', default_value='',
                              description="policy's task: joint order, limits and observation "
                                          '(sim/<task>.yaml); empty = the task of '
                                          'params_file, or arm'),
        DeclareLaunchArgument('model_path', default_value='',
                              description='ONNX policy; empty = model_path of the parameter '
                                          'file'),
        DeclareLaunchArgument('num_workers', default_value='',
                              description='inference workers; empty = the parameter file'),
        DeclareLaunchArgument('params_file', default_value='',
                              description='ROS 2 parameter file; empty = config/<task>.yaml'),
        DeclareLaunchArgument('controller', default_value='forward_command_controller',
                              description='forward_command_controller (Float64MultiArray) or '
                                          'joint_trajectory_controller (JointTrajectory)'),
        DeclareLaunchArgument('state_topic', default_value='/joint_states',
                              description='sensor_msgs/JointState of the robot '
                                          '(joint_state_broadcaster)'),
        DeclareLaunchArgument('command_topic', default_value='',
                              description="the controller's command topic; empty = "
                                          '/forward_command_controller/commands or '
                                          '/joint_trajectory_controller/joint_trajectory'),
        DeclareLaunchArgument('goal_topic', default_value='goal',
                              description='geometry_msgs/PointStamped goal (tasks with a goal)'),
        DeclareLaunchArgument('joint_names', default_value='',
                              description="robot joint names for the task's joints, in the "
                                          "task's order, comma or space separated; empty = "
                                          "the task's names"),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the nodes and relative topics'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='use /clock (e.g. the robot runs in Gazebo)'),
    ]
    return LaunchDescription([
        *arguments,
        OpaqueFunction(function=launch_nodes),
    ])
