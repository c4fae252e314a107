"""Parameters of the ROS host only, in the core table's form, and what they mean.

ROS-free (tests and launch files read it without rclpy). The core config never sees these:
which worker a process is, the real-time priority of a timing thread, the robot's names of the
task's joints.
"""

from __future__ import annotations

from collections.abc import Sequence

from rt_async_control.core.parameters import ParameterDef
from rt_async_control.errors import InputError


def _joint_names_parameter(node: str) -> ParameterDef:
    return ParameterDef(node, 'joint_names', 'str_array', (), '', "the robot's names of the "
                        "task's joints, in the task's order (state joints for the workers, "
                        'actuated joints for the arbiter); empty = the names in '
                        'sim/<task>.yaml', 'ros', 'joint_names', read_only=True)


#: Parameters of the ROS host only (not part of the core config), by node.
ROS_ONLY: dict[str, tuple[ParameterDef, ...]] = {
    'sim': (
        ParameterDef('sim', 'realtime_priority', 'int', 0, '', 'SCHED_FIFO priority of the '
                     'stepping thread; 0 = normal scheduling (needs CAP_SYS_NICE or rtprio)',
                     'ros', 'realtime_priority', low=0, high=99, read_only=True),
    ),
    'inference': (
        ParameterDef('inference', 'worker_index', 'int', 0, '', 'which worker this process '
                     'is (0 .. num_workers-1); selects its start time in the schedule',
                     'ros', 'worker_index', low=0, high=255, read_only=True),
        _joint_names_parameter('inference'),
    ),
    'arbiter': (
        ParameterDef('arbiter', 'realtime_priority', 'int', 0, '', 'SCHED_FIFO priority of '
                     'the output thread; 0 = normal scheduling (needs CAP_SYS_NICE or rtprio)',
                     'ros', 'realtime_priority', low=0, high=99, read_only=True),
        _joint_names_parameter('arbiter'),
    ),
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
