"""The paper's interaction modes, as settings of the one stack.

Each mode is a number of workers and a stagger schedule of the core; nothing behaves
differently per mode except through those two settings:

``sequential``
    One process observes, infers, acts, and observes again at once (schedule ``none``, one
    worker). While it thinks the arbiter's default behaviour acts.
``async``
    ``N`` workers that all start together and restart when they finish (schedule ``none``):
    asynchronous but not staggered, so actions still arrive in bursts.
``max_time``
    ``N`` workers staggered by the largest measured inference time (the paper's default).
    Each action is released ``T_max`` after its worker started (padding), so actions arrive
    ``T_max / N`` apart: no inaction, at the cost of age.
``exp_time``
    ``N`` workers staggered by the expected inference time; actions act on arrival (fresher,
    uneven when inference varies).

Planning (:func:`plan_mode`), as the paper plans each mode before a run:

- max_time: "offsets from the maximum observed inference time". ``N* = ceil(T_max / T)`` and
  the freshness bound both come from a planning maximum ``T_max``: the quantile
  ``1 - MAX_MISS / n`` of the inference time, ``n`` the inferences of one episode (about one per
  control period under max_time with ``N*`` workers). The largest of ``n`` draws then stays
  below it with probability ``(1 - MAX_MISS / n) ** n ~ exp(-MAX_MISS)`` (90 %). The schedule
  starts from that maximum (``initial_inference_time_s``, the maximum measured beforehand) and
  raises it only when a draw exceeds it, so the offsets never re-anchor in a typical run.
  A padded action is ``T_max`` old at its release and acts at the first tick at or after it,
  up to one control period later: the bound covers ``T_max + T``. The 99th percentile would
  be exceeded in most episodes (600 draws), and every padded action after it refused as too
  old.
- exp_time: "offsets from the expected inference time; fewer workers". ``N = ceil(cycle / T)``
  with the cycle the schedule targets, ``mean + exp_margin_std * std``. Actions act on
  arrival, as old as their own inference: the bound is the 99th percentile
  (:data:`FRESH_QUANTILE`), so 1 % of the slowest are refused rather than letting stale ones
  act.
- async and sequential: ``N* = ceil(t99 / T)`` (sequential runs one) and the 99th-percentile
  bound: they release on arrival too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import math
from typing import Protocol

from rt_async_control.core.config import ArbiterConfig, StackConfig
from rt_async_control.core.schedule import required_workers
from rt_async_control.errors import InputError
from rt_async_control.sim.tasks import load_task

MODES: tuple[str, ...] = ('sequential', 'async', 'max_time', 'exp_time')
SCHEDULES: dict[str, str] = {'sequential': 'none', 'async': 'none', 'max_time': 'max_time',
                             'exp_time': 'exp_time'}
# The quantile of the inference time that bounds freshness for the modes that act on arrival
# (and sizes N for async): with variable times, what a planner can know beforehand.
FRESH_QUANTILE = 0.99
# max_time plans for the quantile 1 - MAX_MISS / (inferences per episode): the episode's
# largest draw exceeds it with probability about 1 - exp(-MAX_MISS), 10 %.
MAX_MISS = 0.1
FRESH_SLACK_PERIODS = 0.5


class Quantiles(Protocol):
    """What planning reads of an inference-time source (``Emulation``, ``MeasuredTimes``)."""

    @property
    def mean_s(self) -> float:
        """Return the mean, seconds."""

    @property
    def cv(self) -> float:
        """Return the coefficient of variation."""

    def quantile(self, q: float) -> float:
        """Return the ``q`` quantile, seconds."""


@dataclass(frozen=True)
class ModeSettings:
    """What a mode sets in the stack config.

    :param mode: one of :data:`MODES`.
    :param schedule: the core schedule mode.
    :param num_workers: workers actually run.
    """

    mode: str
    schedule: str
    num_workers: int


def mode_settings(mode: str, num_workers: int) -> ModeSettings:
    """Return the schedule and worker count of a mode.

    :param mode: one of :data:`MODES`.
    :param num_workers: requested workers (>= 1); ``sequential`` always runs one.
    :return: the settings.
    :raises InputError: unknown mode or a worker count below 1.
    """
    if mode not in MODES:
        raise InputError(f'mode = {mode!r}: choose from {", ".join(MODES)}')
    if num_workers < 1:
        raise InputError(f'num_workers = {num_workers!r}: must be >= 1')
    workers = 1 if mode == 'sequential' else int(num_workers)
    return ModeSettings(mode, SCHEDULES[mode], workers)


@dataclass(frozen=True)
class ModePlan:
    """How a mode is planned for one inference-time source (module docstring).

    :param num_workers: the planned ``N`` (1 for sequential).
    :param worker_time_s: the inference time ``N`` is sized for, seconds.
    :param age_time_s: the time the freshness bound covers (:func:`freshness_bound`), seconds.
    :param seed_s: the schedule's ``initial_inference_time_s``: the planning maximum for
        max_time, the mean for the others.
    """

    num_workers: int
    worker_time_s: float
    age_time_s: float
    seed_s: float


def max_time_quantile(inferences: int) -> float:
    """Return the quantile max_time plans its maximum for (module docstring).

    :param inferences: inferences expected in one episode (>= 1).
    :return: ``1 - MAX_MISS / inferences``.
    """
    return 1.0 - MAX_MISS / max(1, int(inferences))


def plan_mode(mode: str, times: Quantiles, control_period_s: float, inferences: int,
              exp_margin_std: float) -> ModePlan:
    """Return the planned workers and the freshness time of ``mode``.

    :param mode: one of :data:`MODES`.
    :param times: the inference-time source (``quantile``, ``mean_s``, ``cv``).
    :param control_period_s: the control period ``T``, seconds.
    :param inferences: inferences expected in one episode (the episode's control periods).
    :param exp_margin_std: the exp_time schedule's margin in standard deviations.
    :return: the plan.
    """
    mode_settings(mode, 1)
    t99, mean = times.quantile(FRESH_QUANTILE), times.mean_s
    if mode == 'max_time':
        t_max = max(times.quantile(max_time_quantile(inferences)), t99)
        # Released at started + T_max, acting at the next tick: up to one period more.
        return ModePlan(planned_workers(t_max, control_period_s), t_max,
                        t_max + control_period_s, t_max)
    if mode == 'exp_time':
        cycle = mean + exp_margin_std * time_std(times)
        return ModePlan(planned_workers(cycle, control_period_s), cycle, t99, mean)
    workers = 1 if mode == 'sequential' else planned_workers(t99, control_period_s)
    return ModePlan(workers, t99, t99, mean)


def time_std(times: Quantiles) -> float:
    """Return the standard deviation of the inference time, seconds (0 for a fixed time)."""
    if getattr(times, 'distribution', '') == 'fixed':
        return 0.0
    return float(times.cv) * times.mean_s


def planned_workers(inference_time_max: float, control_period_s: float) -> int:
    """Return ``N*`` for a planning maximum of the inference time (the core's formula).

    :param inference_time_max: the planning maximum, seconds.
    :param control_period_s: the control period, seconds.
    :return: the number of workers that gives one fresh action every period.
    """
    return required_workers(inference_time_max, control_period_s)


def freshness_bound(inference_time_max: float, control_period_s: float,
                    state_period_s: float, slack_periods: float = FRESH_SLACK_PERIODS) -> float:
    """Return the ``max_action_age_s`` under which an action counts as fresh.

    Fresh: at most the planning maximum of the inference time, plus one state period (a
    worker that starts between two states uses one up to that much older than its start),
    plus ``slack_periods`` control periods. Half a period (the default) is the paper's model:
    an action acts at the tick it arrives for, not again at the next one (with a whole period
    a sequential agent at twice the period would never show inaction: it would hold each
    action for two ticks). A tiny margin keeps float round-off on the fresh side.

    :param inference_time_max: the planning maximum of the inference time, seconds.
    :param control_period_s: the control period, seconds.
    :param state_period_s: the state period, seconds.
    :param slack_periods: control periods of slack, >= 0.
    :return: seconds.
    """
    if not slack_periods >= 0.0:
        raise InputError(f'freshness slack = {slack_periods!r} periods: must be >= 0')
    return inference_time_max + state_period_s + (slack_periods + 1e-6) * control_period_s


def mode_config(base: StackConfig, mode: str, num_workers: int, expected_time_s: float,
                inference_time_max: float,
                slack_periods: float = FRESH_SLACK_PERIODS) -> StackConfig:
    """Return ``base`` with a mode's schedule, workers and freshness bound set.

    :param base: the stack config (task, periods, arbiter defaults).
    :param mode: one of :data:`MODES`.
    :param num_workers: requested workers.
    :param expected_time_s: the operator's estimate of the inference time, which seeds the
        schedules (``initial_inference_time_s``).
    :param inference_time_max: the inference time the freshness bound covers
        (:attr:`ModePlan.age_time_s`), which sets ``max_action_age_s``.
    :param slack_periods: freshness slack beyond it (:func:`freshness_bound`).
    :return: the validated config.
    """
    settings = mode_settings(mode, num_workers)
    if not (math.isfinite(expected_time_s) and expected_time_s > 0.0):
        raise InputError(f'expected inference time = {expected_time_s!r}: must be > 0')
    schedule = replace(base.schedule, mode=settings.schedule,
                       initial_inference_time_s=float(expected_time_s))
    arbiter: ArbiterConfig = replace(base.arbiter, max_action_age_s=freshness_bound(
        inference_time_max, base.control_period_s, base.state_period_s, slack_periods))
    return replace(base, num_workers=settings.num_workers, schedule=schedule, arbiter=arbiter)


def episode_inferences(task: str) -> int:
    """Return the inferences expected in one episode of ``task``: one per control period."""
    return load_task(task).episode_steps


def planned_config(base: StackConfig, mode: str, times: Quantiles,
                   num_workers: int | None = None,
                   slack_periods: float = FRESH_SLACK_PERIODS) -> StackConfig:
    """Return ``base`` set up for ``mode`` as :func:`plan_mode` plans it for ``times``.

    :param base: the stack config (its task gives the episode length).
    :param mode: one of :data:`MODES`.
    :param times: the inference-time source.
    :param num_workers: workers to run (``None``: the planned ``N``).
    :param slack_periods: freshness slack (:func:`freshness_bound`).
    :return: the validated config.
    """
    plan = plan_mode(mode, times, base.control_period_s, episode_inferences(base.task),
                     base.schedule.exp_margin_std)
    return mode_config(base, mode, num_workers or plan.num_workers, plan.seed_s,
                       plan.age_time_s, slack_periods)
