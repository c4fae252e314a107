"""ROS-free helpers of the launch files: parameter sections per node, the worker count.

The launch files import this module (it needs neither rclpy nor launch), so what they compute
is tested without ROS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rt_async_control.core.config import StackConfig
from rt_async_control.core.params import load_params
from rt_async_control.core.schedule import required_workers
from rt_async_control.errors import InputError
from rt_async_control.nodes.host_parameters import robot_joint_names
from rt_async_control.roles.worker_role import Emulation

#: Quantile of the emulated inference time that the automatic worker count plans for.
AUTO_QUANTILE = 0.99
#: Task of the launch files when neither ``task`` nor ``params_file`` is given.
DEFAULT_TASK = 'arm'


def ros_values(values: dict[str, Any]) -> dict[str, Any]:
    """Return one node's values as launch_ros passes them (lists, no empty lists).

    An empty list has no element type, so ROS cannot tell which array it is; it is left out
    and the node keeps its (empty) default.

    :param values: canonical values from :func:`~rt_async_control.core.params.load_params`.
    :return: name -> value.
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, (list, tuple)):
            if not value:
                continue
            value = list(value)
        out[name] = value
    return out


def node_parameters(params_file: str | Path) -> dict[str, dict[str, Any]]:
    """Read a parameter file and return each node's section, ``/**`` merged in.

    :param params_file: the YAML file.
    :return: ``{'sim': {...}, 'inference': {...}, 'arbiter': {...}}``.
    :raises InputError: unreadable file, unknown or mistyped parameter, invalid values.
    """
    params = load_params(params_file)
    StackConfig.from_params(params, where=f'{params_file}: ')  # fail at launch, in one line
    return {node: ros_values(params.get(node, {})) for node in ('sim', 'inference', 'arbiter')}


def flag(text: str, name: str) -> bool:
    """Return a boolean launch argument, read as launch's ``IfCondition`` reads it.

    :param text: the argument's value.
    :param name: the argument's name, for the error.
    :return: ``True`` for ``true``/``1``, ``False`` for ``false``/``0`` (any case).
    :raises InputError: any other text.
    """
    value = text.strip().lower()
    if value in ('true', '1'):
        return True
    if value in ('false', '0'):
        return False
    raise InputError(f'{name}:={text!r}: must be true or false')


def task_and_file(task: str, params_file: str, share: str | Path) -> tuple[str, Path]:
    """Return the task and the parameter file from the ``task`` and ``params_file`` arguments.

    :param task: the ``task`` argument; empty = the parameter file's ``task``.
    :param params_file: the ``params_file`` argument; empty = ``config/<task>.yaml``.
    :param share: the package share directory.
    :return: ``(task, parameter file)``; with neither argument :data:`DEFAULT_TASK` and its
        file. A given task overrides the file's (the file's other values still apply).
    """
    task, params_file = task.strip(), params_file.strip()
    if not params_file:
        task = task or DEFAULT_TASK
        return task, Path(share) / 'config' / f'{task}.yaml'
    if not task:
        config = StackConfig.from_params(load_params(params_file), where=f'{params_file}: ')
        task = config.task
    return task, Path(params_file)


def worker_count(sections: dict[str, dict[str, Any]], argument: str = '') -> int:
    """Return how many inference workers to launch.

    :param sections: as :func:`node_parameters` returns.
    :param argument: the ``num_workers`` launch argument; empty = the parameter file's value.
    :return: the argument, else the file's ``num_workers``, else (0 = auto) ``N*`` for the
        expected inference time: the emulated time's 99th percentile or
        ``initial_inference_time_s``, whichever is larger, over ``control_period_s``.
    :raises InputError: an argument that is not a whole number >= 1.
    """
    if argument.strip():
        try:
            count = int(argument)
        except ValueError:
            count = 0
        if count < 1:
            raise InputError(f'num_workers:={argument!r}: must be a whole number >= 1')
        return count
    config = StackConfig.from_params({'inference': sections.get('inference', {}),
                                      'arbiter': sections.get('arbiter', {})})
    if config.num_workers > 0:
        return config.num_workers
    expected = max(config.schedule.initial_inference_time_s,
                   Emulation.from_config(config.inference).quantile(AUTO_QUANTILE))
    return required_workers(expected, config.control_period_s)


def robot_joints(task: str, names: str) -> tuple[list[str], list[str]]:
    """Map the task's joints to a robot's joint names given as one launch argument.

    :param task: the task name (``sim/<task>.yaml`` gives its state and actuated joints).
    :param names: the robot's names of the task's state joints, in the task's order, comma
        or space separated; empty keeps the task's names.
    :return: ``(state joint names, actuated joint names)`` for the workers and the arbiter;
        both empty when ``names`` is empty.
    :raises InputError: not one name per state joint of the task.
    """
    from rt_async_control.sim.tasks import load_task

    given = [n for n in names.replace(',', ' ').split() if n]
    if not given:
        return [], []
    spec = load_task(task)
    state = robot_joint_names(given, spec.joint_names, 'joint_names')
    mapping = dict(zip(spec.joint_names, state))
    return list(state), [mapping[j] for j in spec.actuated_joints]
