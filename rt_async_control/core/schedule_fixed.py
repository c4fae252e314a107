"""Schedules that do not learn from measurements: manual offsets and the unstaggered baseline.

manual: worker ``j`` starts at ``anchor + manual_offsets_s[j] + r * manual_cycle_s``, at the
first such slot at or after it finishes. A live change of offsets or cycle takes effect at the
next cycle boundary ``b`` of the running grid (the first ``anchor + r * cycle >= now``): starts
already published before ``b`` stay, the new grid is anchored at ``b``, and waiting workers
whose start lay at or after ``b`` move to their first new slot at or after it (never earlier:
a sleeping worker only notices a start that moved later). Old-grid starts are all before
``b`` and new ones at or after it, and offsets are pairwise different, so a change never makes
a worker start in the past nor two workers start at once.

With a worker out of the schedule (``set_active``) the configured offsets no longer fit: the
active workers are spread evenly over ``manual_cycle_s`` until every worker is back.

none: every worker starts at the anchor and again right after it finishes, the baseline the
paper compares against (actions arrive in bursts; inaction in between).
"""

from __future__ import annotations

from collections.abc import Collection
import math

from rt_async_control.core.schedule_config import ScheduleConfig
from rt_async_control.core.schedule_grid import GridSchedule, slot_at_or_after, tolerance
from rt_async_control.errors import InputError


def check_manual(config: ScheduleConfig, num_workers: int) -> None:
    """Check that a manual config gives one offset per worker.

    :param config: the settings.
    :param num_workers: number of workers.
    :raises InputError: the number of offsets differs from ``num_workers``.
    """
    if len(config.manual_offsets_s) != num_workers:
        raise InputError(f'manual_offsets_s = {list(config.manual_offsets_s)!r}: needs one '
                         f'offset per worker ({num_workers}), got {len(config.manual_offsets_s)}')


class ManualSchedule(GridSchedule):
    """User-given offsets and cycle, changeable live (module docstring).

    :param config: ``manual_offsets_s`` (one per worker) and ``manual_cycle_s``.
    :param num_workers: number of workers.
    :raises InputError: the number of offsets differs from ``num_workers``.
    """

    mode = 'manual'

    def __init__(self, config: ScheduleConfig, num_workers: int):
        super().__init__(config, num_workers, config.manual_cycle_s)
        check_manual(config, num_workers)
        self._offsets = config.manual_offsets_s
        # (boundary, anchor, cycle, offsets) of the grid that still applies before boundary.
        self._previous: tuple[float, float, float, tuple[float, ...]] | None = None

    def _offset(self, worker: int) -> float:
        # The configured offsets need every worker; with some out (set_active), spread evenly.
        if len(self._active) == self.num_workers:
            return self._offsets[worker]
        return self._even_offset(worker, self._cycle)

    def _respread_done(self, stay: Collection[int]) -> None:
        # The re-spread grid applies at once (waiting workers never earlier): no boundary.
        self._previous = None

    def _slot(self, worker: int, t: float) -> float:
        previous = self._previous
        if previous is not None:
            boundary, anchor, cycle, offsets = previous
            if t < boundary:
                slot = slot_at_or_after(anchor, offsets[worker], cycle, t)
                if slot < boundary - tolerance(boundary, cycle):
                    return slot
                t = boundary
            else:
                self._previous = None
        return slot_at_or_after(self._anchor, self._offset(worker), self._cycle, t)

    def report(self, worker: int, started: float, inference_time: float) -> float:
        """Consume one measured inference; return the worker's next start.

        :param worker: the worker that finished.
        :param started: when it started that inference, seconds.
        :param inference_time: how long it took, seconds.
        :return: its next start: the first own slot at or after it finished.
        """
        floor = self._accept_report(worker, started, inference_time)
        nxt = max(self._slot(worker, started + inference_time), floor)
        self._pending[worker] = nxt
        return nxt

    def reconfigure(self, config: ScheduleConfig, now: float) -> None:
        """Take new offsets and cycle from the next cycle boundary on (module docstring).

        :param config: the new settings, same mode.
        :param now: current time, seconds.
        :raises InputError: the mode differs or the offsets do not fit ``num_workers``; the
            schedule is then unchanged.
        """
        self._check_mode(config)
        check_manual(config, self.num_workers)
        self.config = config
        if not self._pending:  # not started: nothing published yet
            self._cycle, self._offsets = config.manual_cycle_s, config.manual_offsets_s
            return
        if self._previous is not None and now < self._previous[0]:
            boundary = self._previous[0]  # a change is already waiting for this boundary
        else:
            boundary = slot_at_or_after(self._anchor, 0.0, self._cycle, now)
            self._previous = (boundary, self._anchor, self._cycle, self.offsets())
        self._anchor, self._cycle, self._offsets = boundary, config.manual_cycle_s, \
            config.manual_offsets_s
        tol = tolerance(boundary, self._cycle)
        for j in self._active:
            if self._pending[j] >= boundary - tol:
                # Never earlier: a sleeping worker only notices a start that moved later.
                self._pending[j] = slot_at_or_after(boundary, self._offset(j), self._cycle,
                                                    self._pending[j])


class UnstaggeredSchedule(GridSchedule):
    """All workers start together and restart as soon as they finish (no stagger).

    :param config: ``initial_inference_time_s`` is the cycle reported before any measurement.
    :param num_workers: number of workers.
    """

    mode = 'none'

    def _offset(self, worker: int) -> float:
        return 0.0 if self._position[worker] >= 0 else math.nan

    def _respread_active(self, stay: Collection[int], now: float) -> None:
        pass  # no grid: every worker restarts when it finishes, active or not

    def __init__(self, config: ScheduleConfig, num_workers: int):
        super().__init__(config, num_workers, config.initial_inference_time_s)

    def _first_start_at_or_after(self, worker: int, t: float) -> float:
        return t  # no grid: a planned start stays as it is

    def report(self, worker: int, started: float, inference_time: float) -> float:
        """Consume one measured inference; the worker starts again at once.

        :param worker: the worker that finished.
        :param started: when it started that inference, seconds.
        :param inference_time: how long it took, seconds; the latest is the ``cycle``.
        :return: ``started + inference_time``.
        """
        self._accept_report(worker, started, inference_time)
        if inference_time > 0.0:
            self._cycle = inference_time
        t = started + inference_time
        self._pending[worker] = t
        return t

    def reconfigure(self, config: ScheduleConfig, now: float) -> None:
        """Take new settings; the unstaggered schedule has none that apply.

        :param config: the new settings, same mode.
        :param now: current time, seconds.
        :raises InputError: the mode differs (use ``switch_schedule``).
        """
        self._check_mode(config)
        self.config = config
