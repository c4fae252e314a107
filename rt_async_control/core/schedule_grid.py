"""Slot arithmetic and the state every schedule shares (see :mod:`.schedule`).

A schedule is a *grid*: worker ``j`` may start at ``anchor + offset_j + r * cycle`` for any
integer ``r``. Slots are computed from the anchor every time (never by adding cycles up), so
rounding errors do not accumulate over hours of running.
"""

from __future__ import annotations

from collections.abc import Sequence
import math

from rt_async_control.core.schedule_config import ScheduleConfig
from rt_async_control.errors import InputError

# Two times closer than this are the same instant: 1e-9 of a cycle, plus ~9 float steps of
# the time itself (a monotonic clock reads ~1e6 s, where one step is ~1.2e-10 s).
REL_TOL = 1e-9
ABS_TOL_PER_S = 1e-15


def tolerance(t: float, cycle: float) -> float:
    """Return how close two times near ``t`` on a grid of ``cycle`` count as equal.

    :param t: a time, seconds.
    :param cycle: the grid's cycle, seconds.
    :return: the tolerance, seconds.
    """
    return REL_TOL * cycle + ABS_TOL_PER_S * abs(t)


def slot_at_or_after(anchor: float, offset: float, cycle: float, t: float) -> float:
    """Return the first slot ``anchor + offset + r * cycle`` not before ``t`` (within tolerance).

    :param anchor: grid anchor, seconds.
    :param offset: the worker's phase, seconds.
    :param cycle: grid cycle, seconds, > 0.
    :param t: earliest time, seconds.
    :return: the slot; it may lie below ``t`` by at most :func:`tolerance`.
    """
    origin = anchor + offset
    r = math.ceil((t - origin - tolerance(t, cycle)) / cycle)
    return origin + r * cycle


def nearest_slot(anchor: float, offset: float, cycle: float, t: float) -> float:
    """Return the slot ``anchor + offset + r * cycle`` nearest to ``t``.

    :param anchor: grid anchor, seconds.
    :param offset: the worker's phase, seconds.
    :param cycle: grid cycle, seconds, > 0.
    :param t: a time, seconds.
    :return: the slot.
    """
    origin = anchor + offset
    return origin + round((t - origin) / cycle) * cycle


def just_missed(slot: float, cycle: float, spacing: float, t: float) -> bool:
    """Return whether ``t`` lies less than half a spacing after the slot before ``slot``.

    A worker finishing then has only just missed its slot: starting at once keeps it fresh,
    waiting for ``slot`` would cost almost a whole cycle.

    :param slot: the worker's first slot at or after ``t``.
    :param cycle: grid cycle, seconds.
    :param spacing: distance between neighbouring workers' slots, seconds.
    :param t: when the worker finished, seconds.
    :return: ``True`` when the worker should start at ``t`` instead of ``slot``.
    """
    return t - (slot - cycle) < 0.5 * spacing


def preview_next_start(mode: str, anchor: float, offsets: Sequence[float], cycle: float,
                       worker: int, finished: float) -> float:
    """Return the start a worker can work out alone, before its report reaches the schedule.

    A host whose schedule lives in another process (the arbiter's) uses this until the
    schedule has consumed the worker's report; in steady state both agree. It is the grid
    rule of every mode: the next own slot at or after ``finished``, or ``finished`` itself when
    the slot was only just missed (:func:`just_missed`); ``none`` restarts at once.

    :param mode: the schedule mode.
    :param anchor: the newest grid anchor the worker has seen.
    :param offsets: every worker's phase, seconds.
    :param cycle: the newest cycle the worker has seen, seconds.
    :param worker: the worker index.
    :param finished: when its inference finished, seconds.
    :return: the provisional next start, seconds.
    """
    if mode == 'none' or not (cycle > 0.0 and math.isfinite(anchor)):
        return finished
    slot = slot_at_or_after(anchor, offsets[worker], cycle, finished)
    return finished if just_missed(slot, cycle, cycle / len(offsets), finished) else slot


class GridSchedule:
    """State and reads shared by all schedules: the grid and each worker's pending start.

    Subclasses set ``mode``, implement ``_offset(j)``, ``report`` and ``reconfigure``.

    :param config: the validated schedule settings.
    :param num_workers: number of inference workers, >= 1.
    :param cycle: the initial cycle, seconds.
    """

    mode = ''

    def __init__(self, config: ScheduleConfig, num_workers: int, cycle: float):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
            raise InputError(f'num_workers = {num_workers!r}: must be an integer >= 1')
        self.config = config
        self.num_workers = num_workers
        self._cycle = cycle
        self._anchor = math.nan
        self._pending: list[float] = []
        # Last reported start of each worker; nan until its first report.
        self._last_start: list[float] = [math.nan] * num_workers

    @property
    def cycle(self) -> float:
        """Return the current cycle length, seconds."""
        return self._cycle

    @property
    def anchor(self) -> float:
        """Return the grid's anchor: worker ``j``'s slots are ``anchor + offset_j + r * cycle``.

        ``nan`` before :meth:`start`. It moves when max_time sees a new maximum, exp_time
        re-spreads, or a manual change reaches its cycle boundary.
        """
        return self._anchor

    @property
    def started(self) -> bool:
        """Return whether :meth:`start` has been called."""
        return bool(self._pending)

    def _offset(self, worker: int) -> float:
        raise NotImplementedError

    def offsets(self) -> tuple[float, ...]:
        """Return each worker's phase within the current cycle, seconds.

        :return: one offset per worker.
        """
        return tuple(self._offset(j) for j in range(self.num_workers))

    def start(self, now: float) -> None:
        """Anchor the grid at ``now``: worker ``j`` first starts at ``now + offset_j``.

        :param now: current time, seconds.
        """
        self._anchor = now
        self._pending = [now + self._offset(j) for j in range(self.num_workers)]

    def handover(self, previous_starts: Sequence[float], now: float) -> None:
        """Start in place of another schedule whose pending starts were ``previous_starts``.

        The grid is anchored at ``now``. A worker whose previous start still lies ahead is
        asleep until then and would not notice an earlier one, so it gets its first own slot at
        or after that start; the others are mid-inference (or starting now) and get theirs
        from their first report.

        :param previous_starts: the previous schedule's ``next_start(j)`` for every worker.
        :param now: current time, seconds.
        """
        self.start(now)
        for j, previous in enumerate(previous_starts):
            if previous > now:
                self._pending[j] = self._first_start_at_or_after(j, previous)

    def _first_start_at_or_after(self, worker: int, t: float) -> float:
        return slot_at_or_after(self._anchor, self._offset(worker), self._cycle, t)

    def next_start(self, worker: int) -> float:
        """Return when ``worker`` should start next (read it again on waking: it may move).

        :param worker: worker index in ``[0, num_workers)``.
        :return: time, seconds; may lie in the past, which means "start now".
        """
        return self._pending[worker]

    def _check_report(self, worker: int, started: float, inference_time: float) -> None:
        # A handful of comparisons: cheap enough for every report.
        if not self._pending:
            raise RuntimeError(f'{self.mode} schedule: report() before start()')
        if not 0 <= worker < self.num_workers:
            raise InputError(f'worker = {worker!r}: must be in [0, {self.num_workers})')
        if not 0.0 <= inference_time < math.inf or not -math.inf < started < math.inf:
            raise InputError(f'worker {worker}: inference_time = {inference_time!r}, started '
                             f'= {started!r}: must be finite and inference_time >= 0')

    def _check_mode(self, config: ScheduleConfig) -> None:
        if config.mode != self.mode:
            raise InputError(f'schedule = {config.mode!r}: a running {self.mode} schedule '
                             'cannot change mode in place; use switch_schedule()')
