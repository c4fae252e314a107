"""The one table of parameters: name, type, default, unit, range, description, live or not.

Every host reads parameters through this table. The YAML loader (:mod:`.params`) checks names
and types against it; :mod:`.config` takes its defaults and ranges from it; a ROS node loops
over :func:`node_parameters` to declare each parameter and passes the values it got to
``StackConfig.from_params({node: values})``, which validates them the same way. A parameter
that is not ``read_only`` may be changed while running: the node builds the new config with
``config.with_values(node, changes)`` and rejects the change if that raises. In a node::

    for d in node_parameters('arbiter').values():
        descriptor = ParameterDescriptor(
            type=getattr(ParameterType, d.ros_type), description=d.ros_description,
            additional_constraints=d.constraints, read_only=d.read_only)
        # + floating_point_range / integer_range from d.ros_range (scalars only)
        # an empty list default cannot be typed by rclpy: declare it by type instead
        self.declare_parameter(d.name, list(d.default) if d.kind.endswith('_array')
                               else d.default, descriptor)
    values = {name: self.get_parameter(name).value for name in node_parameters('arbiter')}
    values = {name: value for name, value in values.items() if value is not None}
    config = StackConfig.from_params({'arbiter': values})

Shared parameters live in the ``/**`` section of a parameter file and are declared by every
node; the others belong to one node (``sim``, ``inference``, ``arbiter``). Array values may
be lists, tuples, ``array.array`` (what rclpy returns) or 1-D numpy arrays.

Parameters of section :data:`HOST` concern how a host runs a node, not the control law: which
worker a ROS process is, the SCHED_FIFO priority of a timing thread, the robot's joint names.
They are in this table so that one parameter file serves ``ros2 launch`` and
``rt-async-control run`` alike; the typed config keeps them apart (``StackConfig.host``) and
each host honours what applies to it (see :class:`~.config.HostConfig`).
"""

from __future__ import annotations

import array
from dataclasses import dataclass, fields, MISSING
import functools
import math
from typing import Any

import numpy as np

from rt_async_control.errors import InputError

SHARED = '/**'
#: The section of the parameters of the host (ROS process or embedded runtime) only.
HOST = 'host'
NODES: tuple[str, ...] = ('sim', 'inference', 'arbiter')

# kind -> (rclpy ParameterType member name, what the user should write)
KINDS: dict[str, tuple[str, str]] = {
    'bool': ('PARAMETER_BOOL', 'true or false'),
    'int': ('PARAMETER_INTEGER', 'an integer'),
    'float': ('PARAMETER_DOUBLE', 'a number'),
    'str': ('PARAMETER_STRING', 'a string'),
    'float_array': ('PARAMETER_DOUBLE_ARRAY', 'a list of numbers'),
    'str_array': ('PARAMETER_STRING_ARRAY', 'a list of strings'),
}


@dataclass(frozen=True)
class ParameterDef:
    """One parameter: what a node declares and what a config field is checked against.

    :param node: ``'/**'`` for shared parameters, else the node that owns it.
    :param name: parameter name, snake_case with the unit as suffix.
    :param kind: one of :data:`KINDS`.
    :param default: value when the parameter is not set (lists are tuples).
    :param unit: unit for people (``'s'``, ``'1/s'``, ``''``).
    :param description: what it does and how it interacts with others.
    :param section: the config dataclass it feeds (``stack``, ``sim``, ``inference``,
        ``arbiter``, ``schedule``, ``host``).
    :param field: the field of that dataclass.
    :param low: inclusive lower bound (each element for arrays), ``None`` for none.
    :param high: inclusive upper bound, ``None`` for none.
    :param low_open: the lower bound itself is excluded (``> low``).
    :param choices: allowed values of a string parameter, empty for any.
    :param read_only: fixed at start-up; otherwise it may be changed live.
    """

    node: str
    name: str
    kind: str
    default: Any
    unit: str
    description: str
    section: str
    field: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    read_only: bool = False

    @property
    def live(self) -> bool:
        """Return whether a running node applies a change of this parameter."""
        return not self.read_only

    @property
    def ros_type(self) -> str:
        """Return the ``rcl_interfaces.msg.ParameterType`` constant name for this kind."""
        return KINDS[self.kind][0]

    @property
    def ros_description(self) -> str:
        """Return the description with unit, choices and range, for a ParameterDescriptor."""
        text = self.description
        if self.unit:
            text += f' [{self.unit}]'
        if self.choices:
            text += f' (one of: {", ".join(self.choices)})'
        if not self.read_only:
            text += ' (live)'
        return text

    @property
    def qualified(self) -> str:
        """Return ``node.name`` (or just ``name`` for shared parameters), used in errors."""
        return self.name if self.node == SHARED else f'{self.node}.{self.name}'

    def coerce(self, value: Any, where: str = '') -> Any:
        """Check a value's type and return it in canonical form (float, tuple...).

        Integers are accepted for numbers (YAML writes ``1`` for ``1.0``); booleans are not
        numbers here.

        :param value: the raw value.
        :param where: prefix for the error (a file name and ``': '``), may be empty.
        :return: the value as ``bool``/``int``/``float``/``str``/``tuple``.
        :raises InputError: the type does not fit; names the parameter and the value.
        """
        kind = self.kind
        if kind == 'bool' and isinstance(value, bool):
            return value
        if kind == 'int' and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind == 'float' and _is_number(value):
            return float(value)
        if kind == 'str' and isinstance(value, str):
            return value
        if kind.endswith('_array') and isinstance(value, (list, tuple, array.array, np.ndarray)):
            items = value.tolist() if isinstance(value, (array.array, np.ndarray)) else value
            if kind == 'float_array' and all(_is_number(v) for v in items):
                return tuple(float(v) for v in items)
            if kind == 'str_array' and all(isinstance(v, str) for v in items):
                return tuple(items)
        raise InputError(f'{where}{self.qualified} = {value!r} ({type(value).__name__}): '
                         f'expected {KINDS[kind][1]}')

    def check(self, value: Any, where: str = '') -> Any:
        """Coerce a value and check its range and choices.

        :param value: the raw value.
        :param where: prefix for the error, may be empty.
        :return: the canonical value.
        :raises InputError: wrong type, out of range or not one of the choices.
        """
        value = self.coerce(value, where)
        if self.choices and value not in self.choices:
            raise InputError(f'{where}{self.qualified} = {value!r}: choose from '
                             f'{", ".join(self.choices)}')
        for item in value if self.kind == 'float_array' else (value,):
            if self.kind in ('int', 'float', 'float_array') and not self._in_range(item):
                raise InputError(f'{where}{self.qualified} = {_show(value)}: must be '
                                 f'{self.range_text()}')
        return value

    @property
    def ros_range(self) -> tuple[float, float] | None:
        """Return the inclusive ``(from_value, to_value)`` for a ROS range, ``None`` if none.

        Scalar numbers only (rclpy applies ranges to scalars); array elements and an open
        lower bound are enforced by the config check, which the node runs on every change.
        """
        if self.kind not in ('int', 'float') or (self.low, self.high) == (None, None):
            return None
        if self.kind == 'int':
            return (-(2**63) if self.low is None else int(self.low),
                    2**63 - 1 if self.high is None else int(self.high))
        return (-math.inf if self.low is None else float(self.low),
                math.inf if self.high is None else float(self.high))

    @property
    def constraints(self) -> str:
        """Return the allowed values as text, for a descriptor's ``additional_constraints``."""
        if self.choices:
            return f'one of: {", ".join(self.choices)}'
        if self.kind in ('int', 'float', 'float_array'):
            return ('each ' if self.kind == 'float_array' else '') + self.range_text()
        return ''

    def range_text(self) -> str:
        """Return the allowed range as text, e.g. ``'> 0 and <= 10'``."""
        parts = []
        if self.low is not None:
            parts.append(f'{">" if self.low_open else ">="} {_number_text(self.low)}')
        if self.high is not None:
            parts.append(f'<= {_number_text(self.high)}')
        return ' and '.join(parts) or 'finite'

    def _in_range(self, x: float) -> bool:
        if isinstance(x, float) and not math.isfinite(x):
            return False
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        return self.high is None or x <= self.high


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_text(x: float) -> str:
    return str(x) if isinstance(x, int) else f'{x:g}'


def _show(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def _schedule_default(name: str) -> Any:
    # The schedule's defaults live with its dataclass (owned by the schedule module); the
    # table repeats none of them.
    from rt_async_control.core.schedule_config import ScheduleConfig

    for f in fields(ScheduleConfig):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
    raise KeyError(f'ScheduleConfig has no default for {name!r}')


def _build() -> tuple[ParameterDef, ...]:
    p = ParameterDef
    big = 1e6
    return (
        # Shared ('/**'): every node declares these.
        p(SHARED, 'task', 'str', 'pendulum', '', 'simulated task, sim/<task>.yaml '
          '(pendulum, cartpole, arm)', 'stack', 'task', read_only=True),
        p(SHARED, 'control_period_s', 'float', 0.01, 's', 'arbiter output period T; at '
          'least the simulator timestep; sets the number of workers N* = ceil(t_inf / T)',
          'stack', 'control_period_s', low=0.0, low_open=True, high=10.0, read_only=True),
        p(SHARED, 'state_period_s', 'float', 0.01, 's', 'simulator state publishing period; '
          'at least the simulator timestep', 'stack', 'state_period_s', low=0.0, low_open=True,
          high=10.0, read_only=True),
        p(SHARED, 'num_workers', 'int', 0, '', 'inference workers; 0 = auto, the N* the '
          'schedule needs for the measured inference time', 'stack', 'num_workers', low=0,
          high=256, read_only=True),
        # sim
        p('sim', 'realtime_factor', 'float', 1.0, '', 'simulated seconds per wall-clock '
          'second', 'sim', 'realtime_factor', low=0.0, low_open=True, high=100.0,
          read_only=True),
        p('sim', 'seed', 'int', 0, '', 'seed of the initial-state noise and goals', 'sim',
          'seed', low=0, high=2**31 - 1, read_only=True),
        p('sim', 'publish_clock', 'bool', False, '', 'publish simulated time on /clock (for '
          'use_sim_time)', 'sim', 'publish_clock', read_only=True),
        # inference
        p('inference', 'model_path', 'str', '', '', 'ONNX policy; relative paths are under '
          'the package share directory; empty = models/<task>_small.onnx', 'inference',
          'model_path', read_only=True),
        p('inference', 'warmup_calls', 'int', 10, '', 'inference calls made before the first '
          'scheduled one (the first calls are slow)', 'inference', 'warmup_calls', low=0,
          high=100000, read_only=True),
        p('inference', 'providers', 'str_array', ('cpu',), '', 'ONNX Runtime providers in '
          'preference order (cpu, cuda, tensorrt, auto); CPU is always the last resort',
          'inference', 'providers', read_only=True),
        p('inference', 'emulate_distribution', 'str', 'none', '', 'pad each inference to a '
          'time drawn from this distribution, to emulate a larger model', 'inference',
          'emulate_distribution', choices=('none', 'fixed', 'normal', 'lognormal')),
        p('inference', 'emulate_mean_s', 'float', 0.0, 's', 'mean emulated inference time; '
          'must stay below arbiter max_action_age_s', 'inference', 'emulate_mean_s', low=0.0,
          high=10.0),
        p('inference', 'emulate_cv', 'float', 0.0, '', 'coefficient of variation (std / mean) '
          'of the emulated inference time', 'inference', 'emulate_cv', low=0.0, high=10.0),
        p('inference', 'seed', 'int', 0, '', 'seed of the emulated inference times (worker i '
          'uses seed + i)', 'inference', 'seed', low=0, high=2**31 - 1, read_only=True),
        # arbiter: schedule (defaults from ScheduleConfig)
        p('arbiter', 'schedule', 'str', _schedule_default('mode'), '', 'stagger schedule of '
          'the workers', 'schedule', 'mode', choices=('max_time', 'exp_time', 'manual', 'none')),
        p('arbiter', 'manual_offsets_s', 'float_array', _schedule_default('manual_offsets_s'),
          's', 'start of each worker within the cycle of schedule manual; one per worker, each '
          'below manual_cycle_s, all different', 'schedule', 'manual_offsets_s', low=0.0,
          high=big),
        p('arbiter', 'manual_cycle_s', 'float', _schedule_default('manual_cycle_s'), 's',
          'cycle length of schedule manual', 'schedule', 'manual_cycle_s', low=0.0,
          low_open=True, high=big),
        p('arbiter', 'exp_alpha', 'float', _schedule_default('exp_alpha'), '', 'smoothing of '
          'the running mean and variance of the inference time (schedule exp_time)',
          'schedule', 'exp_alpha', low=0.0, low_open=True, high=1.0),
        p('arbiter', 'exp_margin_std', 'float', _schedule_default('exp_margin_std'), '',
          'exp_time cycle = mean + margin * std of the inference time', 'schedule',
          'exp_margin_std', low=0.0, high=100.0),
        p('arbiter', 'exp_respread_tolerance', 'float',
          _schedule_default('exp_respread_tolerance'), '', 'relative change of the expected '
          'inference time that re-spreads the exp_time offsets, below 1', 'schedule',
          'exp_respread_tolerance', low=0.0, low_open=True, high=1.0),
        p('arbiter', 'initial_inference_time_s', 'float',
          _schedule_default('initial_inference_time_s'), 's', 'inference time assumed before '
          'the first measurement (max_time and exp_time)', 'schedule',
          'initial_inference_time_s', low=0.0, low_open=True, high=big, read_only=True),
        # arbiter: selection and output
        p('arbiter', 'max_action_age_s', 'float', 0.25, 's', 'an action older than this '
          '(now - observation stamp) is not used; at least control_period_s and above the '
          'inference time', 'arbiter', 'max_action_age_s', low=0.0, low_open=True, high=big),
        p('arbiter', 'default_behaviour', 'str', 'hold', '', 'command when no valid action '
          'exists: hold the last command, zero, or default_command', 'arbiter',
          'default_behaviour', choices=('hold', 'zero', 'default')),
        p('arbiter', 'default_command', 'float_array', (), '', 'command of default_behaviour '
          'default and the start-up command; one entry per actuated joint, or empty',
          'arbiter', 'default_command', low=-big, high=big),
        p('arbiter', 'rate_limit_per_s', 'float', 0.0, '1/s', 'largest change of each command '
          'entry per second, in command units; 0 = off', 'arbiter', 'rate_limit_per_s',
          low=0.0, high=1e9),
        p('arbiter', 'ramp_in_s', 'float', 0.0, 's', 'blend from the start-up command to the '
          'policy over this time after the first action; 0 = off', 'arbiter', 'ramp_in_s',
          low=0.0, high=3600.0),
        p('arbiter', 'future_stamp_tolerance_s', 'float', 0.05, 's', 'an action stamped more '
          'than this after now means the clock jumped back; it is discarded', 'arbiter',
          'future_stamp_tolerance_s', low=0.0, high=big),
        p('arbiter', 'command_interface', 'str', 'forward', '', 'output message: forward '
          '(Float64MultiArray) or trajectory (JointTrajectory)', 'arbiter', 'command_interface',
          choices=('forward', 'trajectory'), read_only=True),
        # host: how a node is run, not what it computes (HostConfig says who honours what).
        p('sim', 'realtime_priority', 'int', 0, '', 'SCHED_FIFO priority of the stepping '
          'thread; 0 = normal scheduling (needs CAP_SYS_NICE or rtprio)', HOST,
          'sim_realtime_priority', low=0, high=99, read_only=True),
        p('inference', 'worker_index', 'int', 0, '', 'which worker this process is '
          '(0 .. num_workers-1); selects its start time in the schedule', HOST,
          'worker_index', low=0, high=255, read_only=True),
        p('inference', 'joint_names', 'str_array', (), '', "the robot's names of the task's "
          "state joints, in the task's order; empty = the names in sim/<task>.yaml", HOST,
          'state_joint_names', read_only=True),
        p('arbiter', 'realtime_priority', 'int', 0, '', 'SCHED_FIFO priority of the output '
          'thread; 0 = normal scheduling (needs CAP_SYS_NICE or rtprio)', HOST,
          'arbiter_realtime_priority', low=0, high=99, read_only=True),
        p('arbiter', 'joint_names', 'str_array', (), '', "the robot's names of the task's "
          "actuated joints, in the task's order; empty = the names in sim/<task>.yaml", HOST,
          'command_joint_names', read_only=True),
    )


PARAMETERS: tuple[ParameterDef, ...] = _build()


@functools.cache
def node_parameters(node: str) -> dict[str, ParameterDef]:
    """Return the parameters a node declares: the shared ones, then its own, by name.

    :param node: ``'sim'``, ``'inference'``, ``'arbiter'`` or ``'/**'`` (all of them).
    :return: name -> definition, in table order.
    :raises InputError: unknown node name.
    """
    if node == SHARED:
        return {d.name: d for d in PARAMETERS if d.node == SHARED} | {
            d.name: d for d in PARAMETERS if d.node != SHARED}
    if node not in NODES:
        raise InputError(f'unknown node {node!r}: known nodes are {", ".join(NODES)}')
    return {d.name: d for d in PARAMETERS if d.node in (SHARED, node)}


def section_parameters(section: str) -> tuple[ParameterDef, ...]:
    """Return the parameters that feed one config dataclass (``'arbiter'``, ``'sim'``...).

    :param section: a :attr:`ParameterDef.section`.
    :return: their definitions, in table order.
    """
    return tuple(d for d in PARAMETERS if d.section == section)


def default_of(node: str, name: str) -> Any:
    """Return a parameter's default (used as the config dataclasses' field defaults).

    :param node: the owning node, or ``'/**'``.
    :param name: the parameter name.
    :return: the default value.
    """
    for d in PARAMETERS:
        if d.node == node and d.name == name:
            return d.default
    raise KeyError(f'no parameter {node}.{name}')


def check_node_values(node: str, values: dict[str, Any], where: str = '') -> dict[str, Any]:
    """Check names and types of one node's values; return them in canonical form.

    Ranges are checked later by the config dataclasses, which see all values together.

    :param node: ``'sim'``, ``'inference'``, ``'arbiter'`` or ``'/**'``.
    :param values: parameter name -> raw value.
    :param where: prefix for errors (a file name and ``': '``), may be empty.
    :return: name -> coerced value.
    :raises InputError: unknown name (the known ones are listed) or wrong type.
    """
    known = node_parameters(node)
    out = {}
    for name, value in values.items():
        definition = known.get(name)
        if definition is None:
            raise InputError(f'{where}unknown parameter {node}.{name}; known: '
                             f'{", ".join(known)}')
        out[name] = definition.coerce(value, where)
    return out
