"""The ROS host's own parameters (worker index, real-time priority, robot joint names).

ROS-free (tests and launch files read it without rclpy). They are defined in the one
parameter table (:mod:`rt_async_control.core.parameters`, section ``host``) like every other
parameter, so the same parameter file serves ``ros2 launch`` and ``rt-async-control run``; a
node takes them out of its values before building the core config, which keeps them apart in
``StackConfig.host``.
"""

from __future__ import annotations

from collections.abc import Sequence

from rt_async_control.core.parameters import HOST, node_parameters, NODES, ParameterDef
from rt_async_control.errors import InputError

#: The host parameters of each node, from the table (what a node pops from its values).
ROS_ONLY: dict[str, tuple[ParameterDef, ...]] = {
    node: tuple(d for d in node_parameters(node).values() if d.section == HOST)
    for node in NODES
}


def robot_joint_names(given: Sequence[str], task_names: Sequence[str],
                      name: str) -> tuple[str, ...]:
    """Return the robot's joint names for the task's joints (the task's own when none given).

    :param given: the ``joint_names`` parameter (may be empty).
    :param task_names: the task's joints, in order.
    :param name: the parameter name, for the error.
    :return: one robot name per task joint.
    :raises InputError: a list of the wrong length.
    """
    if not given:
        return tuple(task_names)
    if len(given) != len(task_names):
        raise InputError(f'{name} = {list(given)!r}: needs {len(task_names)} names, one per '
                         f'task joint {list(task_names)!r}')
    return tuple(given)
