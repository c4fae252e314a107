"""Slot arithmetic and the state every schedule shares (see :mod:`.schedule`).

A schedule is a *grid*: worker ``j`` may start at ``anchor + offset_j + r * cycle`` for any
integer ``r``. Slots are computed from the anchor every time (never by adding cycles up), so
rounding errors do not accumulate over hours of running. Only the *active* workers have
slots (:meth:`GridSchedule.set_active`): an inactive one's offset is ``nan``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
import math

from rt_async_control.core.schedule_config import ScheduleConfig
from rt_async_control.errors import InputError

# Two times closer than this are the same instant: 1e-9 of a cycle, plus ~9 float steps of
# the time itself (a monotonic clock reads ~1e6 s, where one step is ~1.2e-10 s).
REL_TOL = 1e-9
ABS_TOL_PER_S = 1e-15
_NONE = -math.inf  # no floor on a worker's next start


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
    offset = offsets[worker]
    if mode == 'none' or not (cycle > 0.0 and math.isfinite(anchor) and math.isfinite(offset)):
        return finished  # no grid, or this worker is out of the schedule: it rejoins at once
    # Inactive workers publish a nan offset; the others share the cycle (set_active).
    active = sum(1 for x in offsets if x == x)
    slot = slot_at_or_after(anchor, offset, cycle, finished)
    return finished if just_missed(slot, cycle, cycle / active, finished) else slot


def best_anchor(refs: Sequence[float], offsets: Sequence[float], cycle: float) -> float:
    """Return the anchor that puts every worker on a slot at or after its time, waiting least.

    Worker ``j`` (offset ``offsets[j]``) can start at ``refs[j]`` at the earliest; on a grid
    anchored at ``A`` it starts at its first slot at or after that, after a wait
    ``(A + offset_j - ref_j) mod cycle``. The total wait is smallest when one worker starts
    right on time, so only the ``len(refs)`` anchors ``ref_i - offset_i`` are candidates; with
    the phases ``phi_i = (ref_i - offset_i) mod cycle`` sorted, candidate ``m`` waits
    ``sum_j (phi_m - phi_j) mod cycle = k * phi_m - sum(phi) + cycle * (k - 1 - m)`` in all
    (``O(k log k)``, not ``O(k^2)``: a re-spread of hundreds of workers stays cheap).

    :param refs: per worker, the earliest time it can start, seconds (at least one).
    :param offsets: per worker, its offset on the new grid, seconds.
    :param cycle: the grid's cycle, seconds, > 0.
    :return: the anchor, seconds.
    """
    base = refs[0] - offsets[0]
    phases = []
    for i, (r, o) in enumerate(zip(refs, offsets)):
        phase = (r - o - base) % cycle
        # A phase a rounding error short of the cycle is 0 (the slot rule's tolerance).
        phases.append((0.0 if phase >= cycle - tolerance(r, cycle) else phase, i))
    phases.sort()
    k = len(phases)
    best = min(range(k), key=lambda m: k * phases[m][0] + cycle * (k - 1 - m))
    i = phases[best][1]
    return refs[i] - offsets[i]


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
        # Last reported start and inference time of each worker; nan until its first report.
        self._last_start: list[float] = [math.nan] * num_workers
        self._last_inference: list[float] = [math.nan] * num_workers
        # The workers in the schedule (set_active), in order; position -1: out of it.
        self._active: tuple[int, ...] = tuple(range(num_workers))
        self._position: list[int] = list(range(num_workers))
        # A worker that came back waits for the slot set_active gave it (-inf: none).
        self._joining: list[float] = [_NONE] * num_workers

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

    @property
    def active(self) -> tuple[int, ...]:
        """Return the workers the cycle is spread over, in order (all until set_active)."""
        return self._active

    def _offset(self, worker: int) -> float:
        raise NotImplementedError

    def _even_offset(self, worker: int, cycle: float) -> float:
        # Active workers share the cycle evenly in worker order; an inactive one has no phase.
        position = self._position[worker]
        return position * cycle / len(self._active) if position >= 0 else math.nan

    def _next_free(self, worker: int) -> float:
        # The earliest next start of a worker that is mid-inference: its pending start (when
        # the inference began) plus the inference time it took last.
        last = self._last_inference[worker]
        return self._pending[worker] + (last if last == last else 0.0)

    def set_active(self, workers: Collection[int], now: float) -> None:
        """Spread the cycle over ``workers`` only (a worker died, froze, or came back).

        Active workers get the offsets ``k * cycle / len(workers)`` in worker order (manual:
        the configured offsets while every worker is active); an inactive one has the offset
        ``nan``, keeps its pending start and comes back by its next :meth:`report` (or another
        call). The grid is re-anchored where the workers that stay fit it best
        (:func:`best_anchor`); a waiting worker moves to its first new slot at or after its
        pending start (never earlier: a sleeping worker only notices a start that moved
        later), a worker mid-inference lands on the new grid at its report, so the spacing is
        even again within one cycle. Cheap, but not for every report: ``O(k log k)``.

        :param workers: the active workers, at least one, each in ``[0, num_workers)``.
        :param now: current time, seconds.
        :raises InputError: an empty set or a worker out of range (nothing changed).
        """
        active = tuple(sorted({int(w) for w in workers}))
        if not active or not 0 <= active[0] <= active[-1] < self.num_workers:
            raise InputError(f'active workers = {list(workers)!r}: need at least one, each in '
                             f'[0, {self.num_workers})')
        if active == self._active:
            return
        stay = [j for j in active if self._position[j] >= 0]
        self._active = active
        self._position = [-1] * self.num_workers
        for k, j in enumerate(active):
            self._position[j] = k
        if self._pending:
            self._respread_active(stay, now)

    def _respread_active(self, stay: Collection[int], now: float) -> None:
        # Hook: a schedule without a grid (none) overrides this with nothing.
        cycle = self._cycle
        tol = tolerance(now, cycle)
        stay = frozenset(stay)
        # The earliest each can start: a waiting worker its pending start (never earlier), one
        # mid-inference when it is free again, a newcomer now (it reports as it comes back).
        refs = [now if j not in stay else p if (p := self._pending[j]) > now + tol
                else max(self._next_free(j), now) for j in self._active]
        offsets = [self._offset(j) for j in self._active]
        self._anchor = best_anchor(refs, offsets, cycle)
        for j, ref, offset in zip(self._active, refs, offsets):
            if j not in stay:
                self._pending[j] = self._joining[j] = slot_at_or_after(self._anchor, offset,
                                                                       cycle, ref)
            elif self._pending[j] > now + tol:
                self._pending[j] = slot_at_or_after(self._anchor, offset, cycle, ref)
        self._respread_done(stay)

    def _respread_done(self, stay: Collection[int]) -> None:
        """Let a subclass reset per-worker state after :meth:`set_active` moved the grid."""

    def _rejoin(self, worker: int, t: float) -> None:
        # A report from an inactive worker: it is back (set_active adds it at its finish).
        self.set_active(self._active + (worker,), t)

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
        # An inactive worker (nan offset) starts at once: its first report brings it back.
        self._pending = [now + x if x == x else now for x in self.offsets()]

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
            if previous > now and self._position[j] >= 0:
                self._pending[j] = self._first_start_at_or_after(j, previous)

    def _first_start_at_or_after(self, worker: int, t: float) -> float:
        return slot_at_or_after(self._anchor, self._offset(worker), self._cycle, t)

    def next_start(self, worker: int) -> float:
        """Return when ``worker`` should start next (read it again on waking: it may move).

        :param worker: worker index in ``[0, num_workers)``.
        :return: time, seconds; may lie in the past, which means "start now".
        """
        return self._pending[worker]

    def _accept_report(self, worker: int, started: float, inference_time: float) -> float:
        # Checks, notes the report and returns the earliest next start it may get (-inf, or
        # the slot of a worker that came back); a handful of operations, as for every report.
        if not self._pending:
            raise RuntimeError(f'{self.mode} schedule: report() before start()')
        if not 0 <= worker < self.num_workers:
            raise InputError(f'worker = {worker!r}: must be in [0, {self.num_workers})')
        if not 0.0 <= inference_time < math.inf or not -math.inf < started < math.inf:
            raise InputError(f'worker {worker}: inference_time = {inference_time!r}, started '
                             f'= {started!r}: must be finite and inference_time >= 0')
        self._last_start[worker] = started
        self._last_inference[worker] = inference_time
        if self._position[worker] < 0:
            self._rejoin(worker, started + inference_time)
        floor = self._joining[worker]
        if floor != _NONE:
            self._joining[worker] = _NONE
        return floor

    def _check_mode(self, config: ScheduleConfig) -> None:
        if config.mode != self.mode:
            raise InputError(f'schedule = {config.mode!r}: a running {self.mode} schedule '
                             'cannot change mode in place; use switch_schedule()')
