"""The paper's max_time schedule: phases ``i * T_max / N``, every cycle padded to ``T_max``.

Grid: worker ``j`` starts at ``anchor + j * T_max / N + r * T_max``. A worker's next start is
the first slot of its own phase at or after ``base + T_max``, where ``base`` is the slot it
started in (its measured start, snapped to the nearest own slot when within half a spacing, so
wake-up jitter neither skips a cycle nor accumulates). Padding to ``T_max`` means a worker is
always free again when its slot comes: starts are exactly ``T_max / N`` apart, and with a
constant inference time so are the completions, one fresh action every ``T_max / N <= T``
when ``N >= ceil(T_max / T)``. (With varying inference time the completions vary with it.)

A new maximum: worker ``i`` started at ``s`` and measured ``dt > T_max``. It reports at
``t = s + dt``; ``T_max`` becomes ``dt``, worker ``i`` starts again at once, and the grid is
re-anchored so that ``t`` is worker ``i``'s slot: ``anchor = t - i * dt / N``. The offsets
stay ``j * T_max / N``; only anchor and cycle change. Every other worker ``j`` keeps the rule
above on the new grid: its next start is the first new slot at or after
``started_j + T_max_new``. A worker that is waiting has its published start moved now (never
earlier: a sleeping worker only notices a start that moved later); one that is mid-inference
gets it at its own report.

Why this is the shift the issue describes, and in which direction: just before the spike,
worker ``j`` started at ``s + k * T_old / N`` with ``k = (j - i) mod N`` (the workers after
``i`` in phase order started after it). Its cycle padded to the new maximum ends at
``s + k * T_old / N + dt``; the evenly spaced target is ``t + k * dt / N =
s + dt + k * dt / N``. The difference, the extra delay, is ``k * (dt - T_old) / N`` with
``k = (j - i) mod N``. The issue's ``(i - j) mod N`` agrees only for ``N <= 2``; for ``N = 3``
(``T_old = 1``, ``dt = 1.2``, ``i = 0``) it would delay worker 1 by 0.133 instead of 0.067 and
worker 2 by 0.067 instead of 0.133, so starts at 1.2, 1.667, 1.933 instead of 1.2, 1.6, 2.0.
The grid rule gives exactly ``(j - i) mod N`` in that case, and stays right when ``dt``
exceeds ``T_old`` by several spacings (a worker that already started again in the spike's
cycle is padded from that later start): from ``t + dt`` on, every slot is filled, so the
spacing is ``dt / N`` again within one cycle.
"""

from __future__ import annotations

from rt_async_control.core.schedule_config import ScheduleConfig
from rt_async_control.core.schedule_grid import (
    GridSchedule,
    nearest_slot,
    slot_at_or_after,
    tolerance,
)


class MaxTimeSchedule(GridSchedule):
    """Stagger by the largest measured inference time ``T_max`` (module docstring).

    :param config: ``initial_inference_time_s`` is the starting ``T_max``.
    :param num_workers: number of workers ``N``.
    """

    mode = 'max_time'

    def __init__(self, config: ScheduleConfig, num_workers: int):
        super().__init__(config, num_workers, config.initial_inference_time_s)

    def _offset(self, worker: int) -> float:
        return self._even_offset(worker, self._cycle)

    def _next_free(self, worker: int) -> float:
        # Every cycle is padded to T_max: a worker mid-inference starts again one cycle on.
        return self._pending[worker] + self._cycle

    def _padded_next(self, worker: int, started: float, t: float) -> float:
        # First own slot at or after the padded end of the cycle that began at `started`.
        cycle = self._cycle
        spacing = cycle / len(self._active)
        half = 0.5 * spacing
        offset = self._position[worker] * spacing  # active: it reported (set_active)
        base = nearest_slot(self._anchor, offset, cycle, started)
        if abs(started - base) >= half:
            base = started
        nxt = slot_at_or_after(self._anchor, offset, cycle, base + cycle)
        if nxt < t:
            # Finished after its slot: only after a late wake-up (less than half a spacing).
            nxt = t if t - nxt < half else slot_at_or_after(self._anchor, offset, cycle, t)
        return nxt

    def report(self, worker: int, started: float, inference_time: float) -> float:
        """Consume one measured inference; return the worker's next start.

        :param worker: the worker that finished.
        :param started: when it started that inference, seconds.
        :param inference_time: how long it took, seconds.
        :return: its next start; a new maximum may also move other workers' pending starts.
        """
        floor = self._accept_report(worker, started, inference_time)
        t = started + inference_time
        if inference_time > self._cycle:
            self._new_maximum(worker, t, inference_time)
        else:
            self._pending[worker] = max(self._padded_next(worker, started, t), floor)
        return self._pending[worker]

    def _new_maximum(self, worker: int, t: float, t_max: float) -> None:
        old_cycle = self._cycle
        self._cycle = t_max
        self._anchor = t - self._even_offset(worker, t_max)
        tol = tolerance(t, t_max)
        for j in self._active:
            if j == worker:
                self._pending[j] = t
                continue
            pending = self._pending[j]
            if pending <= t + tol:
                continue  # mid-inference (or starting now): padded at its own report
            last = self._last_start[j]
            if last != last:  # nan: never reported; its cycle began one old cycle earlier
                last = pending - old_cycle
            # Never earlier: a sleeping worker only notices a start that moved later.
            self._pending[j] = slot_at_or_after(self._anchor, self._even_offset(j, t_max), t_max,
                                                max(last + t_max, pending))

    def reconfigure(self, config: ScheduleConfig, now: float) -> None:
        """Take new settings; max_time uses none of them live.

        ``initial_inference_time_s`` only seeds ``T_max`` before the first measurement (the
        parameter is read-only); the exp_* and manual_* settings belong to other modes.

        :param config: the new settings, same mode.
        :param now: current time, seconds.
        :raises InputError: the mode differs (use ``switch_schedule``).
        """
        self._check_mode(config)
        self.config = config
