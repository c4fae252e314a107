"""Declare a node's parameters from the core table and validate live changes with the core.

The table (:mod:`rt_async_control.core.parameters`) is the only place a parameter's type,
default, unit, range, description and live-ness are written. Here each definition becomes a
``declare_parameter`` call with a ``ParameterDescriptor``; a change requested with
``ros2 param set`` (or the SetParameters service) is accepted only if the core config built
from all current values plus the proposed ones validates, so an invalid value is rejected with
the core's one-line reason and the old value stays.

A few parameters concern only the host (which worker a process is, the real-time priority
of a timing thread, the robot's joint names); they are in the same table (section ``host``,
listed per node in :data:`~rt_async_control.nodes.host_parameters.ROS_ONLY`).
"""

from __future__ import annotations

import array
from collections.abc import Callable, Iterable, Mapping
import threading
from typing import Any, Generic, TypeVar

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from rt_async_control.core.parameters import node_parameters, ParameterDef
from rt_async_control.errors import InputError

T = TypeVar('T')


def descriptor_for(definition: ParameterDef) -> ParameterDescriptor:
    """Return the ``ParameterDescriptor`` of one table entry.

    :param definition: the table entry.
    :return: description with unit and choices, range for scalar numbers, read-only flag.
    """
    desc = ParameterDescriptor(
        description=definition.ros_description,
        type=getattr(ParameterType, definition.ros_type),
        read_only=definition.read_only,
    )
    if definition.choices:
        desc.additional_constraints = 'one of: ' + ', '.join(definition.choices)
    if definition.low is not None or definition.high is not None:
        # ROS ranges are inclusive and need both ends; an open lower bound (> 0) is left to
        # the core config, which rejects it with its own reason.
        if definition.kind == 'float':
            low = definition.low if definition.low is not None else -1e308
            high = definition.high if definition.high is not None else 1e308
            desc.floating_point_range = [
                FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
        elif definition.kind == 'int':
            low = definition.low if definition.low is not None else -(2**63)
            high = definition.high if definition.high is not None else 2**63 - 1
            desc.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=0)]
    return desc


def plain(value: Any) -> Any:
    """Return a parameter value as the core table expects it (arrays as lists).

    :param value: a value as rclpy returns it (arrays may be ``array.array``).
    :return: the same value, with arrays as lists.
    """
    if isinstance(value, array.array):
        return list(value)
    return value


def definitions(node_name: str) -> dict[str, ParameterDef]:
    """Return every parameter a node declares: the table's shared ones, then its own.

    :param node_name: ``'sim'``, ``'inference'`` or ``'arbiter'``.
    :return: name -> definition (host parameters included).
    """
    return dict(node_parameters(node_name))


def declare_all(node: Node, node_name: str) -> dict[str, Any]:
    """Declare all parameters of ``node_name`` on ``node``; return their effective values.

    Values come from the parameter file / launch overrides when given, else the table's
    default. An empty array default is declared by type (rclpy would infer a byte array from
    ``[]``) and reads back as the empty default.

    :param node: the rclpy node.
    :param node_name: which table section (``sim``, ``inference``, ``arbiter``).
    :return: name -> value, arrays as lists.
    :raises InputError: a value of the wrong type in the parameter file.
    """
    values: dict[str, Any] = {}
    for name, definition in definitions(node_name).items():
        desc = descriptor_for(definition)
        default = definition.default
        if definition.kind == 'float':
            default = float(default)  # an int default would declare an INTEGER parameter
        elif definition.kind == 'float_array':
            default = [float(v) for v in default]
        elif isinstance(default, tuple):
            default = list(default)
        try:
            if default == [] and definition.kind.endswith('_array'):
                kind = (Parameter.Type.DOUBLE_ARRAY if definition.kind == 'float_array'
                        else Parameter.Type.STRING_ARRAY)
                value = _declare_typed(node, name, kind, desc)
            else:
                value = node.declare_parameter(name, default, desc).value
        except Exception as exc:  # noqa: BLE001 - rclpy raises several unrelated types
            raise InputError(f'{node.get_name()}.{name}: {exc}'.replace('\n', ' ')) from exc
        values[name] = plain(value) if value is not None else default
    return values


def _declare_typed(node: Node, name: str, kind: Parameter.Type,
                   desc: ParameterDescriptor) -> Any:
    # Declared by type: the value of an override, else unset (None). Jazzy returns the unset
    # parameter; rclpy versions that read it back through get_parameter raise instead.
    try:
        return node.declare_parameter(name, kind, desc).value
    except ParameterUninitializedException:
        return None


def core_values(node_name: str, values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Return a node's values in the ``{node: values}`` form the core config reads.

    Everything, shared parameters included, goes under the node's own name, never under
    ``'/**'``: the core treats a ``'/**'`` section as a whole parameter file and then checks
    the rules between nodes against the *other* nodes' defaults (a worker would be refused an
    ``emulate_mean_s`` above the default ``max_action_age_s`` that the arbiter does not use).
    The host parameters go along; the config keeps them apart (``StackConfig.host``).

    :param node_name: ``sim``, ``inference`` or ``arbiter``.
    :param values: name -> value, as :func:`declare_all` returns.
    :return: ``{node_name: {...}}``.
    """
    table = node_parameters(node_name)
    return {node_name: {k: v for k, v in values.items() if k in table}}


class LiveParameters(Generic[T]):
    """Validate parameter changes by building the core config; apply the ones that pass.

    ``build(values)`` turns all parameter values into the typed config (raising
    ``InputError``/``ValueError`` on a bad value); ``apply(config, changed)`` hands the
    accepted config to the role, which may raise ``ValueError`` to refuse it unchanged.
    rclpy has already checked types, ranges and read-only flags against the descriptors when
    the callback runs; the change is applied inside the callback (Humble has no post-set
    callback), after everything that can reject it.

    :param node: the rclpy node whose parameters were declared with :func:`declare_all`.
    :param values: the declared values.
    :param build: values -> config; raises on invalid values.
    :param apply: called with the new config and the names that changed.
    """

    def __init__(self, node: Node, values: Mapping[str, Any], build: Callable[[dict], T],
                 apply: Callable[[T, tuple[str, ...]], None]) -> None:
        """Build the initial config (raising on bad start-up values) and register."""
        self._node = node
        self._values = dict(values)
        self._build = build
        self._apply = apply
        self._lock = threading.Lock()
        self.config: T = build(dict(self._values))
        node.add_on_set_parameters_callback(self.parameters_callback)

    @property
    def values(self) -> dict[str, Any]:
        """Return a copy of the current parameter values."""
        with self._lock:
            return dict(self._values)

    def parameters_callback(self, parameters: Iterable[Parameter]) -> SetParametersResult:
        """Accept the proposed values if the core config built with them is valid.

        :param parameters: the parameters being set (all of them are set, or none).
        :return: ``successful=False`` with the core's one-line reason on a bad value.
        """
        with self._lock:
            proposed = dict(self._values)
            changed = []
            for param in parameters:
                if param.name not in proposed:
                    continue  # not ours: leave it to whoever declared it
                proposed[param.name] = plain(param.value)
                changed.append(param.name)
            if not changed:
                return SetParametersResult(successful=True)
            try:
                config = self._build(dict(proposed))
                # The role may still refuse (e.g. manual offsets that do not number the
                # running workers); it changes nothing when it raises.
                self._apply(config, tuple(changed))
            except (ValueError, TypeError) as exc:  # InputError is a ValueError
                return SetParametersResult(successful=False, reason=str(exc))
            self._values = proposed
            self.config = config
            return SetParametersResult(successful=True)
