"""Compare the virtual-time executor with the real-time embedded runtime on one configuration.

Both run the same :class:`StackConfig` (the one the runtime's ``prepare`` settles on, with its
number of workers and schedule seed), the same model and the same emulated inference times;
the runtime for ``duration_s`` of wall time in separate processes, the executor in virtual
time. Inaction (after start-up), median action age and task return must agree within the
tolerances below. They cannot agree exactly: the runtime adds the real inference time and
wake-up latency to every emulated one, its simulator publishes half a state period after the
ticks, and its processes draw from the same seeds in a different interleaving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Any

from rt_async_control.core.schedule_config import ScheduleConfig
from rt_async_control.policy.onnx_policy import OnnxPolicy
from rt_async_control.resources import share_path
from rt_async_control.roles.worker_role import Emulation
from rt_async_control.sim.simulator import Simulator
from rt_async_control.sim.tasks import load_task
from rt_async_control.virtual.executor import VirtualExecutor
from rt_async_control.virtual.inference_times import MeasuredTimes
from rt_async_control.virtual.modes import freshness_bound, mode_settings, plan_mode

# Absolute tolerance on the inaction fraction after start-up.
INACTION_TOL = 0.05
# Median action age: this fraction of the mean inference time, plus a fixed part for wake-up
# latency, the real inference time and the simulator's half-period offset.
AGE_REL_TOL = 0.1
AGE_ABS_TOL_S = 0.003
# Task return: this fraction of the virtual return (rewards are positive, the zero command's
# return is near 0).
RETURN_REL_TOL = 0.2
CROSSCHECK_SLACK_PERIODS = 1.0


@dataclass(frozen=True)
class CrossCheck:
    """One comparison: the figures of both hosts and whether each agrees.

    :param config: what was run (task, mode, workers, inference time, duration).
    :param runtime: the runtime's figures.
    :param virtual: the executor's figures.
    :param agree: per figure, whether the two agree within its tolerance.
    :param tolerances: per figure, the tolerance used.
    """

    config: dict[str, Any]
    runtime: dict[str, float]
    virtual: dict[str, float]
    agree: dict[str, bool] = field(default_factory=dict)
    tolerances: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Return whether every figure agrees."""
        return all(self.agree.values())

    def lines(self) -> list[str]:
        """Return a human-readable comparison."""
        out = [f"cross-check {self.config}: {'AGREE' if self.ok else 'DISAGREE'}"]
        for key in self.virtual:
            out.append(f'  {key}: runtime {self.runtime[key]:.4g}, virtual '
                       f'{self.virtual[key]:.4g} (tolerance {self.tolerances[key]:.3g}) '
                       f"{'ok' if self.agree[key] else 'DIFFERENT'}")
        return out


def crosscheck(task: str = 'pendulum', mode: str = 'max_time', num_workers: int | None = None,
               mean_s: float = 0.03, cv: float = 0.0, duration_s: float = 6.0,
               realtime: bool = False) -> CrossCheck:
    """Run one configuration on both hosts and compare.

    :param task: task (its ``config/<task>.yaml`` is the base configuration).
    :param mode: interaction mode (:data:`~.modes.MODES`).
    :param num_workers: workers (``sequential`` runs one); ``None``: the runtime's ``auto``
        sizing (``N*`` for its measured real time plus the emulated tail).
    :param mean_s: mean emulated inference time, seconds.
    :param cv: its coefficient of variation (0: fixed, else lognormal).
    :param duration_s: run length, seconds (wall time for the runtime).
    :param realtime: let the runtime try SCHED_FIFO.
    :return: the comparison.
    """
    from rt_async_control.runtime.launcher import launch, prepare, RunOptions
    from rt_async_control.runtime.report import build_summary

    spec = load_task(task)
    settings = mode_settings(mode, num_workers or 1)
    emulation = Emulation('fixed' if cv == 0.0 else 'lognormal', mean_s, cv)
    # The mode's planned freshness time (max_time: its padding maximum for this many
    # inferences); a whole period of slack: real arrivals fall anywhere between two ticks
    # (the sweep's half period fits its aligned virtual clock, not wall-clock arrivals).
    inferences = max(1, round(duration_s / spec.control_period_s))
    age_time = plan_mode(mode, emulation, spec.control_period_s, inferences,
                         ScheduleConfig().exp_margin_std).age_time_s
    bound = freshness_bound(age_time, spec.control_period_s, spec.timestep_s,
                            slack_periods=CROSSCHECK_SLACK_PERIODS)
    options = RunOptions(
        config_path=str(share_path('config', f'{task}.yaml')),
        workers='auto' if num_workers is None and mode != 'sequential' else settings.num_workers,
        schedule=settings.schedule, duration_s=duration_s, emulate=emulation.distribution,
        emulate_mean_s=mean_s, emulate_cv=cv, realtime=realtime, live_status=False,
        params=(('/**', 'state_period_s', spec.timestep_s),
                ('arbiter', 'max_action_age_s', bound),
                ('arbiter', 'default_behaviour', 'zero')))
    plan = prepare(options)
    result = launch(plan, options)
    runtime = build_summary(result)
    config = plan.config
    # The virtual workers draw from the inference times the runtime's workers measured (real
    # pass plus emulated padding): the same times, not just the same distribution.
    measured = [t for name, child in result.children.items() if name.startswith('worker_')
                for t in child.get('npz', {}).get('inference_time', [])]
    times = MeasuredTimes(tuple(measured), source='runtime workers') if measured else (
        Emulation.from_config(config.inference))
    executor = VirtualExecutor(config, OnnxPolicy(plan.model_path, spec), times,
                               Simulator(task, seed=config.sim.seed))
    virtual = executor.run(duration_s=duration_s, seed=config.sim.seed)
    figures_rt = {'inaction_fraction': float(runtime['inaction_ratio_steady']),
                  'action_age_p50_s': float(runtime['action_age_ms']['p50']) * 1e-3,
                  'task_return': float(runtime['task_return'])}
    figures_v = {'inaction_fraction': virtual.inaction_fraction,
                 'action_age_p50_s': virtual.action_age_p50_s,
                 'task_return': virtual.task_return}
    tolerances = {'inaction_fraction': INACTION_TOL,
                  'action_age_p50_s': AGE_REL_TOL * mean_s + AGE_ABS_TOL_S,
                  'task_return': RETURN_REL_TOL * abs(virtual.task_return)}
    agree = {k: math.isfinite(figures_rt[k]) and abs(figures_rt[k] - figures_v[k]) <= tol
             for k, tol in tolerances.items()}
    described = {'task': task, 'mode': mode, 'workers': config.num_workers,
                 'inference': emulation.describe(), 'virtual_times': times.describe(),
                 'duration_s': duration_s, 'runtime_missed_ticks': runtime.get('missed_ticks'),
                 'runtime_crashed': runtime.get('crashed', {})}
    return CrossCheck(described, figures_rt, figures_v, agree, tolerances)
