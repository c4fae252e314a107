"""The arbiter node's behaviour: take the workers' chunks, tick, own the stagger schedule.

Host-independent: the host hands every arriving chunk to :meth:`ArbiterRole.on_action`, calls
:meth:`ArbiterRole.tick` on its constant-period timer and publishes the command, and tells the
workers their next start (:meth:`ArbiterRole.worker_next_start`). The chunk is the worker's
report to the schedule: it carries when the inference started and how long it took.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from rt_async_control.core.arbiter import Arbiter, Decision
from rt_async_control.core.config import StackConfig
from rt_async_control.core.messages import ActionChunk
from rt_async_control.core.schedule import apply_config, make_schedule, Schedule
from rt_async_control.core.stats import TickStats
from rt_async_control.errors import InputError


@dataclass
class WorkerHealth:
    """What the arbiter knows of one worker.

    :param last_seen: host time its last chunk arrived (``nan`` before the first).
    :param actions: chunks received.
    :param rejected: chunks the arbiter refused (shape, non-finite, too old...).
    :param last_reason: the reason of the last refusal, if any.
    """

    last_seen: float = math.nan
    actions: int = 0
    rejected: int = 0
    last_reason: str | None = None


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
        reason = self.arbiter.offer(chunk, now)
        if reason is not None:
            health.rejected += 1
            health.last_reason = reason
        else:
            self._accepted[worker] += 1
        # A refused chunk still took the worker's time: the schedule needs the report anyway.
        if math.isfinite(chunk.started) and math.isfinite(chunk.inference_time) and (
                chunk.inference_time >= 0.0):
            self.schedule.report(worker, chunk.started, chunk.inference_time)
            self.stats.record_inference(worker, chunk.inference_time)
            self.reports[worker] += 1
        return reason

    def tick(self, now: float) -> Decision:
        """Decide and record the command of the tick at ``now``.

        :param now: host time of the tick (the actual wake time, so the period error is real).
        :return: the decision (``fallback`` set on an inaction tick).
        """
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
        New arbiter settings apply from the next tick; a new default command rebuilds the
        arbiter starting from the last command with the chunks it held.

        :param config: the new, validated config.
        :param now: host time, seconds.
        :raises InputError: a change that cannot apply live (control period, task); nothing
            changed then.
        """
        for name in ('task', 'control_period_s', 'state_period_s'):
            if getattr(config, name) != getattr(self.config, name):
                raise InputError(f'{name} = {getattr(config, name)!r}: cannot change while '
                                 f'running (is {getattr(self.config, name)!r})')
        schedule = self.schedule
        if config.schedule != self.config.schedule:
            schedule = apply_config(schedule, config.schedule, now)
        if config.arbiter.default_command != self.config.arbiter.default_command:
            old = self.arbiter
            arbiter = Arbiter(config.arbiter, old.action_dim, self._lower, self._upper,
                              old.last_command)
            for chunk in old.candidates:
                arbiter.offer(chunk, now)
            self.arbiter = arbiter
        else:
            self.arbiter.config = config.arbiter
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
        out['workers'] = [{'worker': i, 'actions': h.actions, 'rejected': h.rejected,
                           'selected': self.stats.selections.get(i, 0)}
                          for i, h in enumerate(self.health)]
        return out
