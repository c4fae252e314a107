"""Score a policy in simulation, faster than real time, with an optional observation delay.

Returns are sums of negative costs, so "how much of the return is kept" is measured on a
normalised scale that does not depend on the cost's units::

    normalised_return = (R - R_default) / (R_expert - R_default)

``R_default`` is the return of the default behaviour (a zero command every period), and
``R_expert`` is the task's expert at zero delay, on the same seeds. 1 is as good as the expert
without latency, 0 is no better than doing nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
import math
from pathlib import Path

import numpy as np

from rt_async_control.errors import InputError
from rt_async_control.policy.metadata import IN_FLIGHT_PLAN
from rt_async_control.policy.onnx_policy import OnnxPolicy
from rt_async_control.sim.experts import make_expert
from rt_async_control.sim.rollout import episode, plan_from_in_flight
from rt_async_control.sim.simulator import Simulator
from rt_async_control.sim.tasks import steps_in, TaskSpec


class PolicyController:
    """Rollout controller around an :class:`OnnxPolicy`.

    With an observation ``delay_steps`` periods old, a chunk model's row ``delay_steps``
    (the one planned for "now") is applied; a single-action model's only row otherwise.
    A model trained on the arbiter's plan (metadata ``in_flight: plan``) is given the plan
    (:func:`plan_from_in_flight`), as every host does, not the exact in-flight commands.
    """

    def __init__(self, policy: OnnxPolicy, delay_steps: int = 0) -> None:
        """Wrap ``policy`` for observations ``delay_steps`` control periods old."""
        self.policy = policy
        self.row = min(max(0, delay_steps), policy.metadata.chunk_horizon - 1)
        self.plan = policy.metadata.history > 0 and policy.metadata.in_flight == IN_FLIGHT_PLAN

    def reset(self) -> None:
        """Nothing to forget: the policy is stateless."""

    def act(self, observation: np.ndarray, in_flight: np.ndarray | None = None) -> np.ndarray:
        """Return the command for ``observation``, given the commands still in flight."""
        if self.plan and in_flight is not None:
            in_flight = plan_from_in_flight(in_flight)
        return self.policy(observation, in_flight)[self.row]


class ZeroController:
    """The default behaviour the returns are normalised against: a zero command."""

    def __init__(self, action_dim: int) -> None:
        """Make the zero command once."""
        self.command = np.zeros(action_dim)

    def reset(self) -> None:
        """Nothing to forget."""

    def act(self, observation: np.ndarray, in_flight: np.ndarray | None = None) -> np.ndarray:
        """Return the zero command."""
        return self.command


def run_episodes(task: TaskSpec, controller: object, seeds: Sequence[int],
                 delay_steps: int = 0) -> tuple[list[float], list[bool]]:
    """Run one seeded episode per seed with ``controller``; return returns and successes."""
    sim = Simulator(task)
    returns, successes = [], []
    for seed in seeds:
        episode_return, success = episode(sim, controller, seed=int(seed),
                                          obs_delay_steps=delay_steps)
        returns.append(float(episode_return))
        successes.append(bool(success))
    return returns, successes


def normalised_return(value: float, default: float, reference: float) -> float:
    """Return ``(value - default) / (reference - default)`` (nan when they coincide)."""
    span = reference - default
    return (value - default) / span if abs(span) > 1e-12 else math.nan


@dataclass(frozen=True)
class EvaluationReport:
    """Scores of one model on one task at one observation delay.

    :param task: the task name.
    :param model: the model path.
    :param episodes: number of seeded episodes.
    :param delay_s: the observation delay (whole control periods).
    :param returns: episode returns, in seed order.
    :param successes: episode successes, in seed order.
    :param default_return: mean return of the zero command on the same seeds.
    :param expert_return: mean return of the expert at zero delay on the same seeds.
    """

    task: str
    model: str
    episodes: int
    delay_s: float
    returns: tuple[float, ...]
    successes: tuple[bool, ...]
    default_return: float
    expert_return: float

    @property
    def mean_return(self) -> float:
        """Return the mean episode return."""
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        """Return the standard deviation of the episode returns."""
        return float(np.std(self.returns))

    @property
    def success_rate(self) -> float:
        """Return the fraction of successful episodes."""
        return float(np.mean(self.successes))

    @property
    def normalised_return(self) -> float:
        """Return ``(R - R_default) / (R_expert - R_default)`` of the mean return."""
        return normalised_return(self.mean_return, self.default_return, self.expert_return)

    def as_dict(self) -> dict[str, object]:
        """Return the JSON record (the summary, not the per-episode lists)."""
        data = asdict(self)
        del data['returns'], data['successes']
        data.update(mean_return=self.mean_return, std_return=self.std_return,
                    success_rate=self.success_rate, normalised_return=self.normalised_return)
        return data

    def lines(self) -> list[str]:
        """Return the human-readable report."""
        return [
            f'model {self.model} on {self.task}: {self.episodes} episodes, observation delay '
            f'{self.delay_s * 1e3:g} ms',
            f'mean return {self.mean_return:.2f} (std {self.std_return:.2f}), success rate '
            f'{self.success_rate:.0%}',
            f'normalised return {self.normalised_return:.3f} = (R - R_zero_command) / '
            f'(R_expert - R_zero_command), R_zero_command {self.default_return:.2f}, '
            f'R_expert {self.expert_return:.2f} (zero delay, same seeds)',
        ]


def delay_steps_for(delay_s: float, control_period_s: float) -> int:
    """Return the observation delay in whole control periods.

    :raises InputError: a negative delay or one that is not close to a whole number of periods.
    """
    if not delay_s >= 0:
        raise InputError(f'delay must be >= 0 seconds, got {delay_s}')
    steps = steps_in(delay_s, control_period_s)
    if abs(steps * control_period_s - delay_s) > 0.25 * control_period_s:
        raise InputError(f'delay {delay_s} s is not a whole number of {control_period_s} s '
                         f'control periods')
    return steps


def evaluate_controller(task: TaskSpec, controller: object, model: str, episodes: int,
                        delay_s: float = 0.0, seed: int = 0,
                        baselines: Callable[[], tuple[float, float]] | None = None,
                        ) -> EvaluationReport:
    """Evaluate any rollout controller and normalise against the default and the expert.

    :param baselines: returns ``(default_return, expert_return)``; computed when ``None``.
    """
    steps = delay_steps_for(delay_s, task.control_period_s)
    seeds = range(seed, seed + episodes)
    returns, successes = run_episodes(task, controller, seeds, steps)
    default, expert = baselines() if baselines else baseline_returns(task, seeds)
    return EvaluationReport(task.name, model, episodes, steps * task.control_period_s,
                            tuple(returns), tuple(successes), default, expert)


def baseline_returns(task: TaskSpec, seeds: Sequence[int]) -> tuple[float, float]:
    """Return the mean returns of the zero command and of the expert at zero delay."""
    default, _ = run_episodes(task, ZeroController(task.action_dim), seeds)
    expert, _ = run_episodes(task, make_expert(task), seeds)
    return float(np.mean(default)), float(np.mean(expert))


def evaluate_model(path: str | Path, task: TaskSpec, episodes: int = 20, delay_s: float = 0.0,
                   seed: int = 0, providers: Sequence[str] | str = ('cpu',)
                   ) -> EvaluationReport:
    """Load an ONNX policy (checked against ``task``) and evaluate it.

    :param path: the ``.onnx`` file.
    :param task: the task; the model must have been trained for it.
    :param episodes: seeded episodes (seeds ``seed .. seed + episodes - 1``).
    :param delay_s: fixed observation delay, rounded to whole control periods.
    :param seed: first seed.
    :param providers: ONNX Runtime providers (see ``choose_providers``).
    :raises InputError: a model that cannot be loaded or does not fit the task.
    """
    policy = OnnxPolicy(path, task=task, providers=providers)
    steps = delay_steps_for(delay_s, task.control_period_s)
    return evaluate_controller(task, PolicyController(policy, steps), str(path), episodes,
                               delay_s, seed)
