"""The arbiter node's behaviour: take the workers' chunks, tick, own the stagger schedule.

Host-independent: the host hands every arriving chunk to :meth:`ArbiterRole.on_action`, calls
:meth:`ArbiterRole.tick` on its constant-period timer and publishes the command, and tells the
workers their next start (:meth:`ArbiterRole.worker_next_start`). The chunk is the worker's
report to the schedule: it carries when the inference started and how long it took.

Worker liveness is decided here, from time passed in: a worker silent for longer than
:func:`silence_limit` after the completion its schedule expects is *inactive*, and the schedule
spreads the cycle over the others (``Schedule.set_active``); a host that sees a worker process
exit says so at once (:meth:`ArbiterRole.worker_exited`). The worker's next chunk (a frozen one
resumed, a restarted one) makes it active again. A simulator reset (new episode) reaches
:meth:`ArbiterRole.on_reset`: chunks computed from states before it are dropped and refused.

Under max_time a chunk is *released* to the arbiter only at ``started + T_max`` (the paper's
padding to the maximum: the action takes effect one full cycle after its worker started, so
actions arrive exactly ``T_max / N`` apart whatever each inference took; the cost is age).
Its report reaches the schedule on arrival. exp_time, manual and none release on arrival:
fresher actions, uneven spacing when inference time varies.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from rt_async_control.core.arbiter import Arbiter, Decision
from rt_async_control.core.config import StackConfig
from rt_async_control.core.messages import ActionChunk, chunk_problem
from rt_async_control.core.schedule import apply_config, make_schedule, Schedule
from rt_async_control.core.schedule_grid import tolerance
from rt_async_control.core.stats import TickStats
from rt_async_control.errors import InputError


@dataclass
class WorkerHealth:
    """What the arbiter knows of one worker.

    :param last_seen: host time its last chunk arrived (``nan`` before the first).
    :param actions: chunks received.
    :param rejected: chunks the arbiter refused (shape, non-finite, too old...).
    :param last_reason: the reason of the last refusal, if any.
    :param active: whether the schedule counts on it (see the module docstring).
    :param dropouts: how often it became inactive (silent, or its process exited).
    :param inactive_since: host time it last became inactive (``nan`` while never).
    :param exited_at: host time its process was last reported exited (``nan``: never).
    """

    last_seen: float = math.nan
    actions: int = 0
    rejected: int = 0
    last_reason: str | None = None
    active: bool = True
    dropouts: int = 0
    inactive_since: float = math.nan
    exited_at: float = math.nan


def silence_limit(cycle: float, max_action_age_s: float) -> float:
    """Return how long a worker may stay silent after its expected completion, seconds.

    Two cycles, and at least a cycle plus the action age limit: a worker that is late by
    less has an action that could still act, and one slow inference (a new maximum of
    max_time) should not count as a dead worker. A false alarm costs little: the worker's next
    chunk takes it back.

    :param cycle: the schedule's cycle, seconds.
    :param max_action_age_s: the arbiter's age limit, seconds.
    :return: the limit, seconds.
    """
    return max(2.0 * cycle, cycle + max_action_age_s)


class ArbiterRole:
    """Core :class:`Arbiter`, the schedule and :class:`TickStats`, behind one host API.

    :param config: the whole stack's config (arbiter, schedule and control period are used).
    :param num_workers: number of inference workers (>= 1).
    :param lower: lower command limits ``(action_dim,)``.
    :param upper: upper command limits ``(action_dim,)``.
    :param initial: start-up command (``None``: the config's default command, else zeros).
    """

    def __init__(self, config: StackConfig, num_workers: int, lower: np.ndarray,
                 upper: np.ndarray, initial: np.ndarray | None = None) -> None:
        """Build arbiter, schedule and statistics; nothing runs until :meth:`start`."""
        if num_workers < 1:
            raise InputError(f'num_workers: {num_workers} must be >= 1')
        self.config = config
        self.num_workers = int(num_workers)
        self._lower = np.asarray(lower, np.float64)
        self._upper = np.asarray(upper, np.float64)
        self.arbiter = Arbiter(config.arbiter, len(self._lower), self._lower, self._upper,
                               initial)
        self.schedule: Schedule = make_schedule(config.schedule, self.num_workers)
        self.stats = TickStats(config.control_period_s)
        self.health = [WorkerHealth() for _ in range(self.num_workers)]
        self.reports = [0] * self.num_workers
        self.started = math.nan
        # Freshness in the paper's sense: a tick acts on an action (row) not applied before.
        self._accepted = [0] * self.num_workers
        self._last_key: tuple[int, int, int] | None = None
        self.fresh = False
        self.fresh_ticks = 0
        self.resets = 0
        #: Counts changes of the active set: a host re-publishes the schedule when it moves.
        self.active_changes = 0
        self.last_reset = math.nan
        self._next_liveness = -math.inf
        # max_time chunks waiting for their padded release: (release time, chunk), arrival order.
        self._held: list[tuple[float, ActionChunk]] = []

    @classmethod
    def for_task(cls, config: StackConfig, num_workers: int, task: object) -> ArbiterRole:
        """Build for a task (a ``TaskSpec``: its command limits)."""
        return cls(config, num_workers, task.command_lower,  # type: ignore[attr-defined]
                   task.command_upper)  # type: ignore[attr-defined]

    @property
    def action_dim(self) -> int:
        """Return the number of command entries."""
        return self.arbiter.action_dim

    def start(self, now: float) -> None:
        """Anchor the schedule at ``now`` (the common start time); worker i starts at offset i.

        :param now: host time, seconds.
        """
        self.started = float(now)
        self.schedule.start(now)

    def on_action(self, chunk: ActionChunk, now: float) -> str | None:
        """Take one worker's chunk: offer it to the arbiter and report it to the schedule.

        :param chunk: the chunk (``started`` and ``inference_time`` are the report).
        :param now: arrival time, seconds.
        :return: ``None`` if the arbiter kept it, else the rejection reason.
        """
        worker = chunk.worker_id
        if not 0 <= worker < self.num_workers:
            return 'unknown_worker'
        health = self.health[worker]
        health.last_seen = now
        health.actions += 1
        # Back (resumed or restarted): in the schedule before its report. Not for a chunk its
        # process sent before it exited (read after the exit notice): a restarted process
        # starts its inferences after the notice.
        if not health.active and not chunk.started <= health.exited_at:
            health.active = True
            self._apply_active(now)
        # A refused chunk still took the worker's time: the schedule needs the report anyway
        # (unless it is from an exited process, which the schedule would take back).
        if health.active and math.isfinite(chunk.started) and (
                0.0 <= chunk.inference_time < math.inf):
            self.schedule.report(worker, chunk.started, chunk.inference_time)
            self.stats.record_inference(worker, chunk.inference_time)
            self.reports[worker] += 1
        release = self.release_time(chunk)
        # A malformed chunk is refused (and counted) on arrival, never held.
        if release > self._release_bound(now) and chunk_problem(chunk, self.action_dim) is None:
            self._held.append((release, chunk))
            return None
        return self._offer(chunk, now)

    def release_time(self, chunk: ActionChunk) -> float:
        """Return when ``chunk`` may act: ``started + T_max`` under max_time, else on arrival.

        Read after the chunk's report, so a new maximum (``T_max`` = its own inference time)
        releases at once.

        :param chunk: a chunk that has been reported to the schedule.
        :return: host time, seconds (``-inf``: no padding).
        """
        if self.schedule.mode != 'max_time' or not math.isfinite(chunk.started):
            return -math.inf
        return chunk.started + self.schedule.cycle

    def _offer(self, chunk: ActionChunk, now: float) -> str | None:
        health = self.health[chunk.worker_id]
        reason = self.arbiter.offer(chunk, now)
        if reason is not None:
            health.rejected += 1
            health.last_reason = reason
        else:
            self._accepted[chunk.worker_id] += 1
        return reason

    def _release_bound(self, now: float) -> float:
        # ``started + cycle`` computed in floats can land a rounding step past the tick it is
        # due at; the schedule's own tolerance for "the same instant" absorbs that.
        return now + tolerance(now, self.schedule.cycle)

    def _release_held(self, now: float) -> None:
        held = self._held
        if not held:
            return
        bound = self._release_bound(now)
        keep = []
        for release, chunk in held:
            if release <= bound:
                self._offer(chunk, now)
            else:
                keep.append((release, chunk))
        self._held = keep

    def tick(self, now: float) -> Decision:
        """Decide and record the command of the tick at ``now``.

        :param now: host time of the tick (the actual wake time, so the period error is real).
        :return: the decision (``fallback`` set on an inaction tick).
        """
        if now >= self._next_liveness:
            self.check_liveness(now)
        self._release_held(now)
        decision = self.arbiter.tick(now)
        self.stats.record_tick(now, decision)
        key = None
        if decision.fallback is None:
            # The arbiter holds one chunk per worker, the last accepted one: it is the one used.
            worker = decision.worker_id
            key = (worker, self._accepted[worker], decision.row)
        self.fresh = key is not None and key != self._last_key
        self.fresh_ticks += self.fresh
        self._last_key = key
        return decision

    def check_liveness(self, now: float) -> list[int]:
        """Mark workers silent beyond :func:`silence_limit` inactive; re-spread the schedule.

        :meth:`tick` calls this every quarter cycle; a host may call it any time.

        :param now: host time, seconds.
        :return: the workers that became inactive.
        """
        cycle = self.schedule.cycle
        self._next_liveness = now + 0.25 * cycle
        if not self.schedule_started:
            return []
        limit = cycle + silence_limit(cycle, self.arbiter.config.max_action_age_s)
        silent = [i for i, health in enumerate(self.health) if health.active and (
            now > max(self.schedule.next_start(i), _or(health.last_seen, -math.inf)) + limit)]
        for i in silent:
            self._deactivate(i, now)
        if silent:
            self._apply_active(now)
        return silent

    def worker_exited(self, worker: int, now: float) -> None:
        """Take a worker whose process exited out of the schedule at once (no timeout).

        :param worker: the worker index.
        :param now: host time, seconds.
        """
        if not 0 <= worker < self.num_workers:
            return
        self.health[worker].exited_at = now
        if self.health[worker].active:
            self._deactivate(worker, now)
            self._apply_active(now)

    def on_reset(self, stamp: float) -> None:
        """Take a simulator reset (new episode) at host time ``stamp``.

        Every chunk computed from a state measured before ``stamp`` is dropped, and refused if
        it arrives later (``discarded`` in the arbiter's counters): old actions must not act
        in the new episode. A time jump backwards needs no call (the arbiter sees it).

        :param stamp: host time the new episode began, seconds.
        """
        self.resets += 1
        self.last_reset = float(stamp)
        self.arbiter.discard_before(stamp)

    @property
    def active_workers(self) -> tuple[int, ...]:
        """Return the workers the schedule counts on."""
        return tuple(i for i, health in enumerate(self.health) if health.active)

    def _deactivate(self, worker: int, now: float) -> None:
        health = self.health[worker]
        health.active = False
        health.dropouts += 1
        health.inactive_since = now

    def _apply_active(self, now: float) -> None:
        # With no worker left there is nothing to spread: the schedule keeps its last set
        # and the first worker back gets it.
        self.active_changes += 1
        active = self.active_workers
        if active and self.schedule_started:
            self.schedule.set_active(active, now)

    def worker_next_start(self, worker: int) -> float:
        """Return when ``worker`` should start next (host time; in the past means now)."""
        return self.schedule.next_start(worker)

    def schedule_anchor(self) -> float:
        """Return the schedule grid's anchor (``nan`` where the schedule does not say)."""
        # Not in the Schedule protocol (yet): the grid schedules keep it as ``_anchor``.
        return float(getattr(self.schedule, 'anchor', getattr(self.schedule, '_anchor',
                                                              math.nan)))

    def planned(self, now: float, steps: int) -> np.ndarray:
        """Return the commands expected at the next ``steps`` ticks from ``now``.

        For delay-aware policies: the commands in flight while a worker infers.

        :param now: host time, seconds.
        :param steps: number of commands.
        :return: ``(steps, action_dim)``.
        """
        return self.arbiter.planned(now, steps, self.config.control_period_s)

    def reconfigure(self, config: StackConfig, now: float) -> None:
        """Apply a live configuration change; the command does not jump.

        The schedule change takes effect at its next cycle (same mode) or as a fresh schedule
        started at ``now`` (new mode, :func:`~rt_async_control.core.schedule.apply_config`).
        New arbiter settings (a new default command too) apply from the next tick; the held
        chunks and the last command stay. Everything is checked before anything changes.

        :param config: the new, validated config.
        :param now: host time, seconds.
        :raises InputError: a change that cannot apply live (control period, task) or does
            not fit (default command length, manual offsets per worker); nothing changed then.
        """
        for name in ('task', 'control_period_s', 'state_period_s'):
            if getattr(config, name) != getattr(self.config, name):
                raise InputError(f'{name} = {getattr(config, name)!r}: cannot change while '
                                 f'running (is {getattr(self.config, name)!r})')
        # Everything that can refuse is checked first and applied only when all of it stands:
        # a refused change leaves arbiter and schedule exactly as they were.
        if config.arbiter != self.config.arbiter:
            # A throwaway arbiter checks the settings against the command size (e.g. the
            # default command's length); the running one then takes them in place, keeping
            # its chunks, command, counters and reset cut-off.
            Arbiter(config.arbiter, self.arbiter.action_dim, self._lower, self._upper)
        schedule = self.schedule
        if config.schedule != self.config.schedule:
            # A same-mode change checks before it changes anything; a new mode is a new object.
            schedule = apply_config(schedule, config.schedule, now)
        self.arbiter.reconfigure(config.arbiter)
        self.schedule = schedule
        self.config = config

    def diagnostics(self, now: float) -> dict[str, object]:
        """Return the live health figures (for a status line or ``/diagnostics``).

        :param now: host time, seconds.
        :return: ``elapsed_s``, ``ticks``, ``control_rate_hz``, ``inaction_ratio`` (default
            behaviour acted), ``stale_ratio`` (no fresh action),
            ``action_age_ms`` (p50), ``missed_ticks``, ``schedule``, ``cycle_s``, and
            ``workers``: per worker ``last_seen_s`` (seconds ago), ``actions``, ``rejected``,
            ``inference_p50_ms``, ``inference_p99_ms``, ``next_start_in_s``.
        """
        stats = self.stats
        elapsed = now - self.started if math.isfinite(self.started) else math.nan
        span = stats.intervals.count * stats.intervals.mean if stats.intervals.count else 0.0
        workers = []
        for i, health in enumerate(self.health):
            window = stats.inference.get(i)
            workers.append({
                'worker': i,
                'last_seen_s': now - health.last_seen,
                'actions': health.actions,
                'rejected': health.rejected,
                'last_reason': health.last_reason,
                'active': health.active,
                'dropouts': health.dropouts,
                'inference_p50_ms': window.percentile(50) * 1e3 if window else math.nan,
                'inference_p99_ms': window.percentile(99) * 1e3 if window else math.nan,
                'next_start_in_s': self.schedule.next_start(i) - now
                if self.schedule_started else math.nan,
            })
        return {
            'elapsed_s': elapsed,
            'ticks': stats.ticks,
            'control_rate_hz': stats.intervals.count / span if span > 0 else math.nan,
            'inaction_ratio': stats.inaction_ticks / stats.ticks if stats.ticks else math.nan,
            'stale_ratio': 1.0 - self.fresh_ticks / stats.ticks if stats.ticks else math.nan,
            'action_age_ms': stats.action_age.percentile(50) * 1e3,
            'missed_ticks': stats.missed_ticks,
            'schedule': self.schedule.mode,
            'cycle_s': self.schedule.cycle,
            'active_workers': len(self.active_workers),
            'resets': self.resets,
            'workers': workers,
        }

    @property
    def schedule_started(self) -> bool:
        """Return whether :meth:`start` was called."""
        return math.isfinite(self.started)

    def summary(self) -> dict[str, object]:
        """Return the run's figures: tick statistics, arbiter counters, schedule, workers.

        :return: :meth:`TickStats.summary` plus ``control_rate_hz``, ``fallback_ticks`` (the
            default behaviour acted), ``fresh_ticks`` (an action or chunk row not applied at an
            earlier tick), ``stale_ticks`` (the others: the paper's inaction), ``num_workers``,
            ``schedule``, ``cycle_s``, ``offsets_s``, ``counters`` and ``workers``.
        """
        out = dict(self.stats.summary())
        interval = self.stats.intervals
        out['control_rate_hz'] = 1.0 / interval.mean if interval.count else math.nan
        # TickStats counts a tick where the default behaviour acted; the paper's inaction is
        # any tick without a fresh action (a held single action repeated counts too).
        out['fallback_ticks'] = self.stats.inaction_ticks
        out['fresh_ticks'] = self.fresh_ticks
        out['stale_ticks'] = self.stats.ticks - self.fresh_ticks
        out['num_workers'] = self.num_workers
        out['schedule'] = self.schedule.mode
        out['cycle_s'] = self.schedule.cycle
        out['offsets_s'] = list(self.schedule.offsets())
        out['counters'] = self.arbiter.counters()
        out['resets'] = self.resets
        out['workers'] = [{'worker': i, 'actions': h.actions, 'rejected': h.rejected,
                           'selected': self.stats.selections.get(i, 0),
                           'active': h.active, 'dropouts': h.dropouts}
                          for i, h in enumerate(self.health)]
        return out


def _or(value: float, default: float) -> float:
    return value if value == value else default
