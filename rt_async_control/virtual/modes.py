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
``exp_time``
    ``N`` workers staggered by the expected inference time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import math

from rt_async_control.core.config import ArbiterConfig, StackConfig
from rt_async_control.core.schedule import required_workers
from rt_async_control.errors import InputError

MODES: tuple[str, ...] = ('sequential', 'async', 'max_time', 'exp_time')
SCHEDULES: dict[str, str] = {'sequential': 'none', 'async': 'none', 'max_time': 'max_time',
                             'exp_time': 'exp_time'}
# The quantile of the inference time that sizes N* and the freshness bound: with variable
# times "the maximum" is what a planner can know beforehand, not an unbounded sample.
PLANNING_QUANTILE = 0.99
FRESH_SLACK_PERIODS = 0.5


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
    :param inference_time_max: the planning maximum, which sets ``max_action_age_s``.
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
