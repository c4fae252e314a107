"""Typed, validated settings of the stagger schedule (see :mod:`.schedule`).

The field names are the ROS parameter names of the ``arbiter`` node, except ``mode``, whose
parameter is called ``schedule``. :meth:`ScheduleConfig.from_params` builds the dataclass from
such a plain dict, so the YAML loader and the ROS nodes share one construction path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
import math
from typing import Any

from rt_async_control.errors import InputError

MODES: tuple[str, ...] = ('max_time', 'exp_time', 'manual', 'none')

# ROS parameter name -> field name; every other field is called like its parameter.
PARAMETER_TO_FIELD: dict[str, str] = {'schedule': 'mode'}


def _number(name: str, value: Any) -> float:
    # Booleans are ints in Python but never a sensible number of seconds.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f'{name} = {value!r}: expected a number')
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f'{name} = {value!r}: expected a finite number')
    return value


@dataclass(frozen=True)
class ScheduleConfig:
    """How the workers' inference starts are staggered.

    :param mode: ``'max_time'`` (the paper's default: phases from the largest measured
        inference time, cycles padded to it), ``'exp_time'`` (phases from the expected
        inference time), ``'manual'`` (the offsets below) or ``'none'`` (no stagger).
    :param initial_inference_time_s: inference time assumed before anything is measured: the
        starting ``T_max`` of max_time and the starting mean of exp_time, seconds, > 0.
    :param manual_offsets_s: start of each worker within a manual cycle, seconds, each in
        ``[0, manual_cycle_s)``, pairwise different, one per worker.
    :param manual_cycle_s: cycle length of the manual schedule, seconds, > 0.
    :param exp_alpha: weight of the newest measurement in the running (exponentially
        weighted) mean and variance of exp_time, in ``(0, 1]``.
    :param exp_margin_std: exp_time cycle = mean + ``exp_margin_std`` * std, >= 0.
    :param exp_respread_tolerance: relative drift of that cycle from the one the phases were
        spread for that re-spreads them, in ``(0, 1)``.
    :raises InputError: a field is out of range; the message names the field and value.
    """

    mode: str = 'max_time'
    initial_inference_time_s: float = 0.05
    manual_offsets_s: tuple[float, ...] = ()
    manual_cycle_s: float = 0.1
    exp_alpha: float = 0.1
    exp_margin_std: float = 1.0
    exp_respread_tolerance: float = 0.1

    def __post_init__(self) -> None:
        """Check every field; frozen, so a config that exists is valid."""
        if self.mode not in MODES:
            raise InputError(f'schedule = {self.mode!r}: choose from {", ".join(MODES)}')
        init = _number('initial_inference_time_s', self.initial_inference_time_s)
        if init <= 0.0:
            raise InputError(f'initial_inference_time_s = {init!r}: must be > 0')
        cycle = _number('manual_cycle_s', self.manual_cycle_s)
        if cycle <= 0.0:
            raise InputError(f'manual_cycle_s = {cycle!r}: must be > 0')
        if isinstance(self.manual_offsets_s, (str, bytes)) or not hasattr(
                self.manual_offsets_s, '__iter__'):
            raise InputError(f'manual_offsets_s = {self.manual_offsets_s!r}: expected a list '
                             'of numbers')
        offsets = tuple(_number('manual_offsets_s', x) for x in self.manual_offsets_s)
        for x in offsets:
            if not 0.0 <= x < cycle:
                raise InputError(f'manual_offsets_s = {list(offsets)!r}: {x!r} is not in '
                                 f'[0, manual_cycle_s = {cycle!r})')
        if len(set(offsets)) != len(offsets):
            raise InputError(f'manual_offsets_s = {list(offsets)!r}: two workers would start '
                             'at once; offsets must differ')
        alpha = _number('exp_alpha', self.exp_alpha)
        if not 0.0 < alpha <= 1.0:
            raise InputError(f'exp_alpha = {alpha!r}: must be in (0, 1]')
        margin = _number('exp_margin_std', self.exp_margin_std)
        if margin < 0.0:
            raise InputError(f'exp_margin_std = {margin!r}: must be >= 0')
        tol = _number('exp_respread_tolerance', self.exp_respread_tolerance)
        if not 0.0 < tol < 1.0:
            raise InputError(f'exp_respread_tolerance = {tol!r}: must be in (0, 1)')
        # Canonical types (YAML writes 1 for 1.0 and lists for tuples); frozen, so go around.
        for name, value in (('initial_inference_time_s', init), ('manual_cycle_s', cycle),
                            ('manual_offsets_s', offsets), ('exp_alpha', alpha),
                            ('exp_margin_std', margin), ('exp_respread_tolerance', tol)):
            object.__setattr__(self, name, value)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ScheduleConfig:
        """Build the config from ROS-style parameters (``schedule``, ``exp_alpha``...).

        Keys that are not schedule parameters are ignored (the dict may hold every parameter
        of the arbiter node); missing ones take the defaults above.

        :param params: parameter name -> value.
        :return: the validated config.
        :raises InputError: a value is out of range or of the wrong type.
        """
        names = {f.name for f in fields(cls)}
        values = {}
        for key, value in params.items():
            name = PARAMETER_TO_FIELD.get(key, key)
            if name in names and key != 'mode':
                values[name] = value
        return cls(**values)

    def to_params(self) -> dict[str, Any]:
        """Return the config as ROS-style parameters, the inverse of :meth:`from_params`.

        :return: parameter name -> value (lists for tuples, as ROS wants them).
        """
        field_to_param = {v: k for k, v in PARAMETER_TO_FIELD.items()}
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[field_to_param.get(f.name, f.name)] = list(value) if isinstance(
                value, tuple) else value
        return out
