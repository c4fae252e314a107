"""Typed, validated configuration of the whole stack, built from parameters.

Each dataclass checks itself in ``__post_init__`` against the parameter table
(:mod:`.parameters`: types, ranges, choices) and then its cross-field rules, raising
:class:`~rt_async_control.errors.InputError` (a ``ValueError``) that names the parameter and
the bad value. Defaults come from the same table, so a default exists in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rt_async_control.core.parameters import (
    check_node_values,
    default_of,
    HOST,
    node_parameters,
    NODES,
    ParameterDef,
    section_parameters,
    SHARED,
)
from rt_async_control.core.schedule_config import ScheduleConfig
from rt_async_control.errors import InputError


def _validate(obj: Any, definitions: tuple[ParameterDef, ...]) -> None:
    # Frozen dataclasses: store the canonical form (float for int, tuple for list) in place.
    for definition in definitions:
        value = getattr(obj, definition.field)
        checked = definition.check(value)
        if checked is not value:
            object.__setattr__(obj, definition.field, checked)


def _shared(*names: str) -> tuple[ParameterDef, ...]:
    return tuple(d for d in section_parameters('stack') if d.name in names)


@dataclass(frozen=True)
class SimConfig:
    """Simulator node settings.

    :param task: task name (``sim/<task>.yaml``).
    :param state_period_s: state publishing period, seconds.
    :param realtime_factor: simulated seconds per wall-clock second.
    :param seed: seed of initial-state noise and goals.
    :param publish_clock: publish simulated time on ``/clock``.
    """

    task: str = default_of(SHARED, 'task')
    state_period_s: float = default_of(SHARED, 'state_period_s')
    realtime_factor: float = default_of('sim', 'realtime_factor')
    seed: int = default_of('sim', 'seed')
    publish_clock: bool = default_of('sim', 'publish_clock')

    def __post_init__(self) -> None:
        """Check every field against the parameter table."""
        _validate(self, _shared('task', 'state_period_s') + section_parameters('sim'))


@dataclass(frozen=True)
class InferenceConfig:
    """Inference worker settings (one set for all workers).

    :param model_path: ONNX file; relative to the share directory; empty = the task's default.
    :param warmup_calls: inference calls before the first scheduled one.
    :param providers: ONNX Runtime providers in preference order.
    :param emulate_distribution: ``none``, ``fixed``, ``normal`` or ``lognormal``.
    :param emulate_mean_s: mean emulated inference time, seconds.
    :param emulate_cv: coefficient of variation of the emulated inference time.
    :param seed: seed of the emulated times.
    """

    model_path: str = default_of('inference', 'model_path')
    warmup_calls: int = default_of('inference', 'warmup_calls')
    providers: tuple[str, ...] = default_of('inference', 'providers')
    emulate_distribution: str = default_of('inference', 'emulate_distribution')
    emulate_mean_s: float = default_of('inference', 'emulate_mean_s')
    emulate_cv: float = default_of('inference', 'emulate_cv')
    seed: int = default_of('inference', 'seed')

    def __post_init__(self) -> None:
        """Check every field; an emulated distribution needs a positive mean."""
        _validate(self, section_parameters('inference'))
        if self.emulate_distribution != 'none' and self.emulate_mean_s <= 0.0:
            raise InputError(f'inference.emulate_mean_s = {self.emulate_mean_s!r}: must be > 0 '
                             f'when emulate_distribution is {self.emulate_distribution!r}')

    def model_file(self, task: str) -> Path:
        """Return the ONNX file to load: absolute as given, else under the share directory.

        :param task: the task, for the default ``models/<task>_small.onnx``.
        :return: the path (not checked for existence; the policy loader reports that).
        """
        from rt_async_control.resources import share_path

        relative = self.model_path or f'models/{task}_small.onnx'
        path = Path(relative).expanduser()
        return path if path.is_absolute() else share_path(*path.parts)


@dataclass(frozen=True)
class ArbiterConfig:
    """Arbiter selection and output settings.

    :param max_action_age_s: actions older than this are not used, seconds.
    :param default_behaviour: ``hold``, ``zero`` or ``default`` when nothing valid exists.
    :param default_command: command of ``default`` and the start-up command; may be empty.
    :param rate_limit_per_s: largest change per second of each command entry; 0 = off.
    :param ramp_in_s: blend time from the start-up command to the policy; 0 = off.
    :param future_stamp_tolerance_s: stamps further ahead of now mean a clock jump back.
    :param command_interface: ``forward`` or ``trajectory`` output message.
    """

    max_action_age_s: float = default_of('arbiter', 'max_action_age_s')
    default_behaviour: str = default_of('arbiter', 'default_behaviour')
    default_command: tuple[float, ...] = default_of('arbiter', 'default_command')
    rate_limit_per_s: float = default_of('arbiter', 'rate_limit_per_s')
    ramp_in_s: float = default_of('arbiter', 'ramp_in_s')
    future_stamp_tolerance_s: float = default_of('arbiter', 'future_stamp_tolerance_s')
    command_interface: str = default_of('arbiter', 'command_interface')

    def __post_init__(self) -> None:
        """Check every field; ``default`` behaviour needs a default command."""
        _validate(self, section_parameters('arbiter'))
        if self.default_behaviour == 'default' and not self.default_command:
            raise InputError('arbiter.default_command = []: must be set when '
                             "default_behaviour is 'default'")


@dataclass(frozen=True)
class HostConfig:
    """Parameters of the host only (table section ``host``): how the nodes are run.

    The ROS nodes use all of them. The embedded runtime numbers its workers itself
    (``worker_index`` is accepted and unused), uses a priority above 0 instead of its own
    default for that process (0: its default; ``--no-realtime`` turns SCHED_FIFO off) and, as
    it drives the task's own simulator, accepts only the task's joint names
    (:meth:`StackConfig.check_joint_names`).

    :param sim_realtime_priority: ``sim.realtime_priority``.
    :param worker_index: ``inference.worker_index``.
    :param state_joint_names: ``inference.joint_names``, the robot's names of the state joints.
    :param arbiter_realtime_priority: ``arbiter.realtime_priority``.
    :param command_joint_names: ``arbiter.joint_names``, the robot's names of the actuated
        joints.
    """

    sim_realtime_priority: int = default_of('sim', 'realtime_priority')
    worker_index: int = default_of('inference', 'worker_index')
    state_joint_names: tuple[str, ...] = default_of('inference', 'joint_names')
    arbiter_realtime_priority: int = default_of('arbiter', 'realtime_priority')
    command_joint_names: tuple[str, ...] = default_of('arbiter', 'joint_names')

    def __post_init__(self) -> None:
        """Check every field against the parameter table."""
        _validate(self, section_parameters(HOST))

    def realtime_priority(self, process: str) -> int:
        """Return the priority set for ``'sim'`` or ``'arbiter'`` (0: none set)."""
        return {'sim': self.sim_realtime_priority,
                'arbiter': self.arbiter_realtime_priority}.get(process, 0)


def check_joint_names(given: Sequence[str], task_joints: Sequence[str], name: str,
                      task: str) -> None:
    """Check a ``joint_names`` parameter for a host that drives the task's own simulator.

    :param given: the parameter (empty: nothing to check).
    :param task_joints: the task's joints it must name, in order.
    :param name: the qualified parameter name, for the error.
    :param task: the task name, for the error.
    :raises InputError: a name that is not one of the task's joints, or not all of them in
        the task's order.
    """
    if not given:
        return
    unknown = [j for j in given if j not in task_joints]
    if unknown:
        raise InputError(f'{name} = {list(given)!r}: unknown joint {unknown[0]!r}; task '
                         f'{task!r} has {list(task_joints)!r}')
    if tuple(given) != tuple(task_joints):
        raise InputError(f'{name} = {list(given)!r}: must list the joints of task {task!r} '
                         f'in its order, {list(task_joints)!r}')


@dataclass(frozen=True)
class StackConfig:
    """The whole stack: shared timing, and each node's settings.

    :param task: task name.
    :param control_period_s: arbiter output period, seconds.
    :param state_period_s: simulator state period, seconds.
    :param num_workers: number of inference workers; 0 = auto.
    :param sim: simulator settings (its task and state period equal the shared ones).
    :param inference: worker settings.
    :param arbiter: arbiter settings.
    :param schedule: stagger schedule settings.
    :param host: parameters of the host only (priorities, worker index, joint names).
    """

    task: str = default_of(SHARED, 'task')
    control_period_s: float = default_of(SHARED, 'control_period_s')
    state_period_s: float = default_of(SHARED, 'state_period_s')
    num_workers: int = default_of(SHARED, 'num_workers')
    sim: SimConfig = field(default_factory=SimConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    arbiter: ArbiterConfig = field(default_factory=ArbiterConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    host: HostConfig = field(default_factory=HostConfig)

    def __post_init__(self) -> None:
        """Check the shared fields and the rules that span several nodes."""
        _validate(self, section_parameters('stack'))
        if (self.sim.task, self.sim.state_period_s) != (self.task, self.state_period_s):
            raise InputError(f'sim.task/state_period_s = {self.sim.task!r}/'
                             f'{self.sim.state_period_s!r}: must equal the shared '
                             f'{self.task!r}/{self.state_period_s!r}')
        age = self.arbiter.max_action_age_s
        if age < self.control_period_s:
            raise InputError(f'arbiter.max_action_age_s = {age!r}: must be at least '
                             f'control_period_s = {self.control_period_s!r}')

    def check_across_nodes(self) -> None:
        """Check the rules between different nodes' parameters.

        Not part of construction: a ROS node builds the config from its own parameters only
        and sees defaults for the other nodes'. :meth:`from_params` calls it when it gets both
        nodes' values (a whole parameter file); hosts that hold the whole stack call it too.

        :raises InputError: the emulated inference time is not below ``max_action_age_s``.
        """
        age = self.arbiter.max_action_age_s
        inference = self.inference
        if inference.emulate_distribution != 'none' and inference.emulate_mean_s >= age:
            raise InputError(f'inference.emulate_mean_s = {inference.emulate_mean_s!r}: every '
                             f'action would be older than arbiter.max_action_age_s = {age!r}')

    def check_task(self, timestep_s: float, action_dim: int | None = None) -> None:
        """Check the rules that need the task: the simulator step and the command length.

        The runtime calls this once the task metadata is loaded.

        :param timestep_s: the simulator's physics step, seconds.
        :param action_dim: the number of command entries (``None``: not checked).
        :raises InputError: a period shorter than the step, or a default command of the
            wrong length.
        """
        for name in ('control_period_s', 'state_period_s'):
            period = getattr(self, name)
            if period < timestep_s * (1.0 - 1e-9):
                raise InputError(f'{name} = {period!r}: shorter than the simulator step '
                                 f'{timestep_s!r} s of task {self.task!r}')
        command = self.arbiter.default_command
        if command and action_dim is not None and len(command) != action_dim:
            raise InputError(f'arbiter.default_command = {list(command)!r}: has {len(command)} '
                             f'entries, task {self.task!r} has {action_dim} actuated joints')

    def check_joint_names(self, state_joints: Sequence[str],
                          actuated_joints: Sequence[str]) -> None:
        """Check ``joint_names`` for a host that drives the task's own simulator (no robot).

        Not for the ROS nodes, where the names are the robot's and may differ from the task's.

        :param state_joints: the task's joints, in order.
        :param actuated_joints: the task's actuated joints, in order.
        :raises InputError: see :func:`check_joint_names`.
        """
        check_joint_names(self.host.state_joint_names, state_joints, 'inference.joint_names',
                          self.task)
        check_joint_names(self.host.command_joint_names, actuated_joints,
                          'arbiter.joint_names', self.task)

    @classmethod
    def from_params(cls, params: Mapping[str, Mapping[str, Any]],
                    where: str = '') -> StackConfig:
        """Build the config from parameter values per node (as :func:`load_params` returns).

        A ROS node passes just its own values (``{'arbiter': values}``); parameters that are
        absent keep their defaults. A ``'/**'`` entry applies to every node, under the nodes'
        own values. A shared parameter with different values in different nodes is an error,
        since the nodes must agree on it.

        :param params: node name (``sim``, ``inference``, ``arbiter``, ``/**``) -> values.
        :param where: prefix for errors (a file name and ``': '``), may be empty.
        :return: the validated config.
        :raises InputError: unknown node or parameter, wrong type, bad value.
        """
        checked = {node: check_node_values(node, dict(values), where)
                   for node, values in params.items()}
        wildcard = checked.pop(SHARED, {})
        effective = {}
        for node in NODES:
            if node in checked or wildcard:
                known = node_parameters(node)
                effective[node] = {k: v for k, v in wildcard.items() if k in known}
                effective[node].update(checked.get(node, {}))
        kwargs: dict[str, dict[str, Any]] = {s: {} for s in ('stack', *NODES, 'schedule',
                                                             HOST)}
        for node, values in effective.items():
            for name, value in values.items():
                definition = node_parameters(node)[name]
                target = kwargs.get(definition.section)
                if target is None:
                    continue  # a section the config does not keep
                if definition.node == SHARED and target.get(definition.field, value) != value:
                    shown = ', '.join(f'{n}={v[name]!r}' for n, v in effective.items()
                                      if name in v)
                    raise InputError(f'{where}{name} differs between nodes ({shown}): the '
                                     f'nodes must agree on it')
                target[definition.field] = value
        stack = kwargs['stack']
        try:
            sim = SimConfig(task=stack.get('task', default_of(SHARED, 'task')),
                            state_period_s=stack.get('state_period_s',
                                                     default_of(SHARED, 'state_period_s')),
                            **kwargs['sim'])
            config = cls(sim=sim, inference=InferenceConfig(**kwargs['inference']),
                         arbiter=ArbiterConfig(**kwargs['arbiter']),
                         schedule=ScheduleConfig(**kwargs['schedule']),
                         host=HostConfig(**kwargs[HOST]), **stack)
            if {'inference', 'arbiter'} <= set(effective):
                config.check_across_nodes()
            return config
        except ValueError as exc:
            # InputError is a ValueError; the schedule's own checks may raise a plain one.
            raise InputError(f'{where}{exc}') from None

    def with_values(self, node: str, values: Mapping[str, Any]) -> StackConfig:
        """Return a copy with some of one node's parameters changed (a live update).

        For hosts that hold the whole stack (embedded runtime); a ROS node holds only its own
        values and rebuilds with ``from_params({node: values})``.

        :param node: the node whose parameters change; a shared parameter changes for all.
        :param values: parameter name -> new value.
        :return: the new, validated config; ``self`` is unchanged.
        :raises InputError: the change is invalid (the caller keeps the old config).
        """
        params = to_params(self)
        check_node_values(node, dict(values))
        for name, value in values.items():
            shared = node_parameters(node)[name].node == SHARED
            for other in NODES if shared else (node,):
                params[other][name] = value
        return StackConfig.from_params(params)


def to_params(config: StackConfig) -> dict[str, dict[str, Any]]:
    """Return every node's parameter values, shared ones included.

    The inverse of :meth:`StackConfig.from_params`; lists are tuples.

    :param config: the config.
    :return: node name -> parameter name -> value.
    """
    sections = {'stack': config, 'sim': config.sim, 'inference': config.inference,
                'arbiter': config.arbiter, 'schedule': config.schedule, HOST: config.host}
    return {node: {name: getattr(sections[d.section], d.field)
                   for name, d in node_parameters(node).items() if d.section in sections}
            for node in NODES}


def load_stack_config(path: str | Path) -> StackConfig:
    """Load a ROS 2 parameter file into a validated :class:`StackConfig`.

    :param path: the YAML file.
    :return: the config.
    :raises InputError: unreadable file, malformed YAML, unknown or bad parameter; the
        message starts with the file name.
    """
    from rt_async_control.core.params import load_params

    return StackConfig.from_params(load_params(path), where=f'{path}: ')
