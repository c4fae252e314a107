"""The paper's exp_time schedule: phases from the *expected* inference time, no padding.

Estimator: an exponentially weighted mean ``m`` and variance ``v`` of the measured inference
times, weight ``a = exp_alpha`` on the newest sample ``x`` (West's incremental form):
``d = x - m; m += a * d; v = (1 - a) * (v + a * d * d)``, seeded with
``m = initial_inference_time_s, v = 0``. The target cycle is ``m + exp_margin_std * sqrt(v)``.

Grid: worker ``j`` starts at ``anchor + (j / N + r) * cycle``. A worker that finishes at ``t``
starts again at its next own slot, except when it finished less than half a spacing
(``cycle / (2N)``) after its previous slot: then it starts at ``t`` at once rather than idle a
whole cycle (a fresher action; the spacing to its neighbours shrinks by that lateness). Not
twice in a row: a worker that started late waits for its slot the next time it is late, so
phase errors do not persist (with constant inference time the spacing is even again).

Re-spread: when the target drifts from the grid's cycle by more than
``exp_respread_tolerance`` (relative), or the mean exceeds the grid's cycle (most workers would
finish after their slot, and phases would drift apart cycle after cycle), the grid takes the
target as its cycle and is re-anchored at the reporting worker's finish ``t`` (it starts at
once). A waiting worker moves to the new slot of its phase nearest to its published start, or
stays if that slot is earlier (a sleeping worker only notices a start that moved later; the
next report puts it on the grid); the others land on the new grid at their own reports.

Compared with max_time: for the same spread of inference times it needs fewer workers
(``ceil(cycle / T)`` with the cycle below the maximum), actions are fresher (no padding), but a
slow inference finishes after its slot, so the spacing is less even and a tick without a fresh
action (inaction) happens when inference varies.
"""

from __future__ import annotations

from collections.abc import Collection
import math

from rt_async_control.core.schedule_config import ScheduleConfig
from rt_async_control.core.schedule_grid import (
    GridSchedule,
    just_missed,
    nearest_slot,
    slot_at_or_after,
    tolerance,
)

# The cycle never reaches zero, even if every measurement were 0 s.
MIN_CYCLE_S = 1e-6


class ExpTimeSchedule(GridSchedule):
    """Stagger by the running expected inference time (module docstring).

    :param config: ``initial_inference_time_s`` seeds the mean; ``exp_*`` tune the estimator.
    :param num_workers: number of workers ``N``.
    """

    mode = 'exp_time'

    def __init__(self, config: ScheduleConfig, num_workers: int):
        super().__init__(config, num_workers, config.initial_inference_time_s)
        self.mean = config.initial_inference_time_s
        self.variance = 0.0
        self._alpha = config.exp_alpha
        self._margin = config.exp_margin_std
        self._tolerance = config.exp_respread_tolerance
        # Whether each worker's pending start is off its slot (late); such a worker waits for
        # its slot next time instead of starting late again, so a phase error cannot persist.
        self._late = [False] * num_workers

    def _offset(self, worker: int) -> float:
        return self._even_offset(worker, self._cycle)

    def _next_free(self, worker: int) -> float:
        # A worker mid-inference is expected to finish one mean inference time after its start.
        return self._pending[worker] + self.mean

    def _respread_done(self, stay: Collection[int]) -> None:
        # set_active put every waiting worker on a slot of the new grid: none is late.
        for j in stay:
            self._late[j] = False

    def start(self, now: float) -> None:
        """Anchor the grid at ``now``: worker ``j`` first starts at ``now + j * cycle / N``.

        :param now: current time, seconds.
        """
        super().start(now)
        self._late = [False] * self.num_workers

    @property
    def target_cycle(self) -> float:
        """Return the cycle the estimate asks for: mean + margin * std, seconds."""
        return max(self.mean + self._margin * math.sqrt(self.variance), MIN_CYCLE_S)

    def report(self, worker: int, started: float, inference_time: float) -> float:
        """Consume one measured inference; return the worker's next start.

        :param worker: the worker that finished.
        :param started: when it started that inference, seconds.
        :param inference_time: how long it took, seconds.
        :return: its next start; a re-spread also moves waiting workers' pending starts.
        """
        floor = self._accept_report(worker, started, inference_time)
        t = started + inference_time
        alpha = self._alpha
        d = inference_time - self.mean
        self.mean += alpha * d
        self.variance = (1.0 - alpha) * (self.variance + alpha * d * d)
        target = self.target_cycle
        cycle = self._cycle
        # Re-spread on drift, and whenever the grid is shorter than the mean: then most
        # workers finish after their slot and phases would drift apart cycle after cycle.
        if self.mean > cycle or abs(target - cycle) > self._tolerance * cycle:
            self._respread(worker, t, target)
            return t
        spacing = cycle / len(self._active)
        nxt = slot_at_or_after(self._anchor, self._position[worker] * spacing, cycle, t)
        late = self._late
        if not late[worker] and just_missed(nxt, cycle, spacing, t):
            nxt = t  # just missed its slot: start now rather than a whole cycle later
            late[worker] = True
        else:
            late[worker] = False
        if floor > nxt:  # came back: its slot on the re-spread grid
            nxt, late[worker] = floor, False
        self._pending[worker] = nxt
        return nxt

    def _respread(self, worker: int, t: float, cycle: float) -> None:
        self._cycle = cycle
        self._anchor = t - self._even_offset(worker, cycle)
        tol = tolerance(t, cycle)
        for j in self._active:
            if j == worker:
                self._pending[j] = t
                self._late[j] = False
            elif self._pending[j] > t + tol:  # waiting: to its nearest new slot, never earlier
                pending = self._pending[j]
                slot = nearest_slot(self._anchor, self._even_offset(j, cycle), cycle, pending)
                self._pending[j] = max(pending, slot)
                self._late[j] = slot < pending - tol

    def reconfigure(self, config: ScheduleConfig, now: float) -> None:
        """Take new estimator settings; they apply from the next report.

        A new ``exp_margin_std`` changes the target cycle, so the next report re-spreads the
        grid if the change exceeds the tolerance. ``initial_inference_time_s`` only seeds the
        mean (read-only); the manual_* settings belong to the manual mode.

        :param config: the new settings, same mode.
        :param now: current time, seconds.
        :raises InputError: the mode differs (use ``switch_schedule``).
        """
        self._check_mode(config)
        self.config = config
        self._alpha = config.exp_alpha
        self._margin = config.exp_margin_std
        self._tolerance = config.exp_respread_tolerance
