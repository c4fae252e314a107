"""Run one episode of a controller on a simulator, optionally with a delayed observation.

With an observation delay of ``d`` control periods the controller acting at period ``k`` sees
the observation measured at period ``k - d`` and the ``d`` commands applied since then
(``in_flight``, oldest first, shape ``(d, action_dim)``). During the first ``d`` periods the
observation is the initial one and the missing older commands are zeros, as if the robot had
rested in its initial state with a zero command before the episode.

A real host cannot give a policy the exact in-flight commands: they are still being computed
by the other staggered workers. What it gives is the arbiter's plan at the worker's start
(``ArbiterRole.planned``), which for single-action chunks is the command being applied at the
observation time, held. :func:`plan_from_in_flight` turns the exact rows into that plan, so
training, evaluation and every host feed a delay-aware policy the same thing.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

import numpy as np

from rt_async_control.errors import InputError
from rt_async_control.sim.simulator import Simulator


def plan_from_in_flight(in_flight: np.ndarray) -> np.ndarray:
    """Return what ``ArbiterRole.planned`` gives for single-action chunks: the oldest row held.

    In the observation-delay rollout the command applied when the observation was measured is
    the oldest in-flight row; the arbiter holds it (the only row of the freshest chunk) for
    every one of the ``d`` planned periods.

    :param in_flight: the exact in-flight commands, oldest first, ``(d, action_dim)``.
    :return: a new ``(d, action_dim)`` array, every row equal to ``in_flight[0]`` (empty
        when ``d`` is 0).
    """
    rows = np.asarray(in_flight, dtype=np.float64)
    if not len(rows):
        return rows.copy()
    rows = rows.reshape(len(rows), -1)
    return np.repeat(rows[:1], len(rows), axis=0)


class Controller(Protocol):
    """What :func:`episode` drives: a policy, an expert, or an expert with prediction."""

    def act(self, observation: np.ndarray, in_flight: np.ndarray) -> np.ndarray:
        """Return the command for a (possibly delayed) observation.

        :param observation: shape ``(obs_dim,)``.
        :param in_flight: commands applied since the observation was measured, oldest first,
            shape ``(d, action_dim)`` (``d`` may be 0).
        """
        ...

    def reset(self) -> None:
        """Forget everything about the previous episode."""
        ...


def episode(sim: Simulator, controller: Controller, seed: int,
            obs_delay_steps: int = 0) -> tuple[float, bool]:
    """Run one full episode at the task's control period and return its score.

    :param sim: the simulator (reset here with ``seed``).
    :param controller: acts once per control period.
    :param seed: episode seed.
    :param obs_delay_steps: observation delay ``d`` in control periods (>= 0).
    :return: ``(episode_return, success)``.
    """
    if obs_delay_steps < 0:
        raise InputError(f'obs_delay_steps must be >= 0, got {obs_delay_steps}')
    spec = sim.spec
    d = int(obs_delay_steps)
    sim.reset(seed)
    controller.reset()
    observations: deque[np.ndarray] = deque(maxlen=d + 1)
    first = sim.observe()
    observations.extend([first] * (d + 1))
    commands = np.zeros((d, spec.action_dim))
    substeps = spec.substeps
    for _ in range(spec.episode_steps):
        command = sim.apply(controller.act(observations[0], commands))
        if d:
            commands[:-1] = commands[1:]
            commands[-1] = command
        sim.advance_steps(substeps)
        observations.append(sim.observe())
    return sim.episode_return, sim.success()
