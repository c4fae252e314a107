"""Staggering schedules: when each of the ``N`` inference workers starts (Riemer et al. 2025).

With one worker whose inference takes ``t_inf``, a controller of period ``T`` gets a fresh
action only every ``t_inf``. With ``N`` workers whose starts are offset by ``t_inf / N`` it
gets one every ``t_inf / N``, and ``N* = ceil(t_inf_max / T)`` workers (:func:`required_workers`)
give one every control period. Staggering removes *inaction*, not delay: each action is still
``t_inf`` old.

How a host uses a schedule (ROS node, embedded runtime, virtual-time executor alike)::

    schedule = make_schedule(config, num_workers)     # config: ScheduleConfig
    schedule.start(now)                               # worker j first starts at now + offset_j
    # worker i's loop: sleep until schedule.next_start(i); read it again on waking (another
    # worker's report may have moved it later); start when the time has come, then
    next_start = schedule.report(i, started, inference_time)

What a host can rely on: ``report`` never returns a start before the report itself
(``started + inference_time``, up to 1e-9 of a cycle); a published start only ever moves
later, never earlier (a sleeping worker would not notice); the measured ``started`` may be a
little late (OS wake-up jitter), which neither skips a cycle nor accumulates. Everything is
pure: time is passed in, nothing sleeps or reads a clock, and ``report`` costs about a
microsecond (floats only; :mod:`rt_async_control.benchmarks.schedule` measures it).

Modes (``ScheduleConfig.mode``, ROS parameter ``schedule``):

``max_time`` (:mod:`.schedule_max_time`)
    The paper's default and the only one of its public code. Offsets ``i * T_max / N`` from the
    largest measured inference time ``T_max``; every cycle is padded to ``T_max``, so starts and
    (for constant inference time) completions are exactly ``T_max / N`` apart. On a new maximum
    ``dt`` reported by worker ``i``, ``T_max = dt``, worker ``i`` restarts at once and worker
    ``j`` is delayed by ``((j - i) mod N) * (dt - T_max_old) / N`` on top of the padding (note
    the direction; the module explains why), so the spacing is ``dt / N`` again within a cycle.
``exp_time`` (:mod:`.schedule_exp_time`)
    Offsets from the expected inference time (running mean + ``exp_margin_std`` * std, weight
    ``exp_alpha``), no padding, re-spread when the estimate drifts by more than
    ``exp_respread_tolerance``. Fewer workers and fresher actions than max_time, less even
    spacing and some inaction when inference varies.
``manual`` (:mod:`.schedule_fixed`)
    ``manual_offsets_s`` within ``manual_cycle_s``; changeable live, from the next cycle on.
``none`` (:mod:`.schedule_fixed`)
    No stagger: all workers start together and restart when they finish (the baseline).

Workers that die, freeze or come back (:meth:`Schedule.set_active`, :mod:`.schedule_grid`):
the host decides which workers are alive (the arbiter role does, from their silence or a
process exit) and the schedule spreads the cycle over those, offsets ``k * cycle / K`` for the
``K`` active workers in worker order, so a dead worker's slot does not leave a gap of two
spacings every cycle. The grid is re-anchored where the remaining workers fit it best; no
waiting worker's start moves earlier, and within one cycle the spacing is even again
(``cycle / K``: with fewer workers than ``N*`` some inaction is then expected). A report from
an inactive worker brings it back at once (``cycle / N`` again within a cycle). Inactive
workers publish the offset ``nan``.

Live changes: a ROS parameter change builds a new :class:`ScheduleConfig` (which validates
itself) and calls :func:`apply_config`; same mode means ``schedule.reconfigure(config, now)``
(manual offsets and cycle from the next cycle boundary, exp_time estimator settings from the
next report); a different mode means :func:`switch_schedule`: a fresh schedule of the new mode
anchored at ``now`` that takes over the old one's pending starts (``handover``). That is the
simplest correct hand-over: a waiting worker gets its first own slot at or after the start it
is sleeping towards (never earlier, which it would not notice; never two at once except in
mode ``none``); a worker that is mid-inference gets its start from its first report to the new
schedule, which needs only the start and inference time it reports anyway.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
import math
from typing import Protocol

from rt_async_control.core.schedule_config import ScheduleConfig
from rt_async_control.core.schedule_exp_time import ExpTimeSchedule
from rt_async_control.core.schedule_fixed import ManualSchedule, UnstaggeredSchedule
from rt_async_control.core.schedule_max_time import MaxTimeSchedule
from rt_async_control.errors import InputError

__all__ = ['ExpTimeSchedule', 'ManualSchedule', 'MaxTimeSchedule', 'Schedule',
           'ScheduleConfig', 'UnstaggeredSchedule', 'apply_config', 'make_schedule',
           'required_workers', 'switch_schedule']

# k inference periods over a period computes as k + a few float steps; within this relative
# tolerance the quotient counts as the integer.
WORKERS_REL_TOL = 1e-9


def required_workers(inference_time_max: float, period: float) -> int:
    """Return ``N* = ceil(inference_time_max / period)``, the workers for no inaction.

    The quotient is rounded down to an integer when it lies within a relative ``1e-9`` of it
    (``WORKERS_REL_TOL``): ``k * (1 / f) / (1 / f)`` computes as ``k + 1e-15`` and must give
    ``k``, not ``k + 1`` (the paper's table: 1, 5, 8, 70, 596 frames at 59.7275 fps need 1, 5,
    8, 70, 596 workers). Real inference times are never that close to a multiple by chance.

    :param inference_time_max: the largest inference time, seconds, finite and > 0.
    :param period: the control period ``T``, seconds, finite and > 0.
    :return: the number of workers, at least 1.
    :raises InputError: a non-positive or non-finite argument (named with its value).
    """
    for name, value in (('inference_time_max', inference_time_max), ('period', period)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0.0 < value < math.inf):
            raise InputError(f'{name} = {value!r}: must be a finite number > 0')
    ratio = inference_time_max / period
    if not ratio < math.inf:
        raise InputError(f'inference_time_max / period = {inference_time_max!r} / '
                         f'{period!r}: too large')
    return max(1, math.ceil(ratio * (1.0 - WORKERS_REL_TOL)))


class Schedule(Protocol):
    """What every host calls; see the module docstring for the loop around it."""

    mode: str
    num_workers: int

    @property
    def cycle(self) -> float:
        """Return the current cycle length, seconds."""
        ...

    def start(self, now: float) -> None:
        """Anchor the schedule; worker ``j`` first starts at ``now + offsets()[j]``."""
        ...

    def next_start(self, worker: int) -> float:
        """Return when ``worker`` should start next; may lie in the past (start now)."""
        ...

    def report(self, worker: int, started: float, inference_time: float) -> float:
        """Consume one measured inference; return that worker's next start."""
        ...

    def offsets(self) -> tuple[float, ...]:
        """Return each worker's phase within the current cycle, seconds."""
        ...

    def handover(self, previous_starts: Sequence[float], now: float) -> None:
        """Start in place of a schedule whose pending starts were ``previous_starts``."""
        ...

    def reconfigure(self, config: ScheduleConfig, now: float) -> None:
        """Apply new settings of the same mode from the next cycle or report."""
        ...

    @property
    def active(self) -> tuple[int, ...]:
        """Return the workers the cycle is spread over, in order."""
        ...

    def set_active(self, workers: Collection[int], now: float) -> None:
        """Re-spread the cycle over ``workers``; an inactive worker rejoins at its report."""
        ...


_MODES = {'max_time': MaxTimeSchedule, 'exp_time': ExpTimeSchedule, 'manual': ManualSchedule,
          'none': UnstaggeredSchedule}


def make_schedule(config: ScheduleConfig, num_workers: int) -> Schedule:
    """Build the schedule of ``config.mode`` for ``num_workers`` workers (not started).

    :param config: validated settings.
    :param num_workers: number of workers, >= 1.
    :return: the schedule; call ``start(now)`` before the first ``next_start``.
    :raises InputError: ``num_workers`` < 1, or manual offsets that do not number
        ``num_workers``.
    """
    return _MODES[config.mode](config, num_workers)


def switch_schedule(previous: Schedule, config: ScheduleConfig, now: float) -> Schedule:
    """Replace a running schedule by one of another mode, started at ``now``.

    :param previous: the running schedule (its worker count carries over).
    :param config: the new settings.
    :param now: current time, seconds.
    :return: the new, started schedule; report every later inference to it.
    :raises InputError: invalid for this number of workers (``previous`` stays usable).
    """
    schedule = make_schedule(config, previous.num_workers)
    schedule.set_active(previous.active, now)  # not started yet: only the offsets follow
    schedule.handover([previous.next_start(j) for j in range(previous.num_workers)], now)
    return schedule


def apply_config(schedule: Schedule, config: ScheduleConfig, now: float) -> Schedule:
    """Apply a live configuration change: reconfigure in place, or switch mode.

    :param schedule: the running schedule.
    :param config: the new, validated settings.
    :param now: current time, seconds.
    :return: the schedule to use from now on (``schedule`` itself unless the mode changed).
    :raises InputError: the change does not fit (e.g. offsets per worker); nothing changed.
    """
    if config.mode == schedule.mode:
        schedule.reconfigure(config, now)
        return schedule
    return switch_schedule(schedule, config, now)
