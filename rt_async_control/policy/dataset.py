"""Training data: the rollout controller that records labels, and network input/targets."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from rt_async_control.policy.mlp import MlpPolicy
from rt_async_control.sim.rollout import plan_from_in_flight


class NumpyMlp:
    """The network's forward pass in numpy: cheap enough to call every step of a rollout."""

    def __init__(self, model: MlpPolicy) -> None:
        """Copy the weights of ``model`` (float64, transposed for ``x @ w``)."""
        linears = [m for m in model.net if isinstance(m, torch.nn.Linear)]
        self.layers = [(m.weight.detach().double().numpy().T.copy(),
                        m.bias.detach().double().numpy().copy()) for m in linears]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Return the network output for one normalised input vector."""
        for weight, bias in self.layers[:-1]:
            x = np.tanh(x @ weight + bias)
        weight, bias = self.layers[-1]
        return x @ weight + bias


class Normaliser:
    """Maps raw observations / commands to network inputs and outputs (see metadata)."""

    def __init__(self, obs_mean: np.ndarray, obs_std: np.ndarray, offset: np.ndarray,
                 scale: np.ndarray, history: int, plan: bool = True) -> None:
        """Keep the statistics; ``history`` in-flight commands follow the observation.

        :param plan: feed the network the arbiter's plan (``plan_from_in_flight``) rather
            than the exact in-flight commands (metadata ``in_flight``).
        """
        self.obs_mean, self.obs_std = obs_mean, obs_std
        self.offset, self.scale, self.history = offset, scale, history
        self.plan = plan

    def inputs(self, observation: np.ndarray, in_flight: np.ndarray) -> np.ndarray:
        """Return the network input for a raw observation and the exact ``(history, dim)``."""
        obs = (observation - self.obs_mean) / self.obs_std
        if not self.history:
            return obs
        flight = plan_from_in_flight(in_flight) if self.plan else in_flight
        return np.concatenate([obs, ((flight - self.offset) / self.scale).ravel()])


class Recorder:
    """Rollout controller that labels every observation with the teacher's command.

    The teacher and the record get the exact in-flight commands (labels in hindsight); the
    student's input is built from them by :class:`Normaliser`, which gives it only what a
    host can (the plan), so it learns the best command given what it can know.

    It executes the teacher's command (plus exploration noise) with probability ``beta`` and
    the student's otherwise, and keeps the per-episode sequences so chunk targets (rows
    ``k`` = the label ``k`` periods later) can be built once the episode ends.
    """

    def __init__(self, teacher: object, student: Callable[[np.ndarray, np.ndarray], np.ndarray]
                 | None, history: int, action_dim: int, beta: float, noise: np.ndarray,
                 lower: np.ndarray, upper: np.ndarray, rng: np.random.Generator) -> None:
        """Set up an empty record; ``student`` None means the teacher always acts."""
        self.teacher, self.student = teacher, student
        self.history, self.action_dim = history, action_dim
        self.beta, self.noise, self.rng = beta, noise, rng
        self.lower, self.upper = lower, upper
        self.episodes: list[tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = []

    def reset(self) -> None:
        """Start recording a new episode."""
        # episode() resets its controller at the start of every episode.
        self.episodes.append(([], [], []))
        self.teacher.reset()

    def act(self, observation: np.ndarray, in_flight: np.ndarray | None = None) -> np.ndarray:
        """Record the teacher's label for ``observation`` and return the executed command."""
        if not self.episodes:
            self.reset()
        flight = in_flight_array(in_flight, self.history, self.action_dim)
        label = np.asarray(self.teacher.act(observation, in_flight), np.float64).copy()
        observations, flights, labels = self.episodes[-1]
        observations.append(np.array(observation, np.float64))
        flights.append(flight)
        labels.append(label)
        if self.student is None or self.rng.random() < self.beta:
            command = label + self.rng.standard_normal(label.shape) * self.noise
        else:
            command = self.student(observation, flight)
        return np.clip(command, self.lower, self.upper)


def in_flight_array(in_flight: np.ndarray | None, history: int, action_dim: int) -> np.ndarray:
    # The same left-padding with the zero command as OnnxPolicy (centre = 0 for symmetric
    # limits), so training inputs match what the exported model sees.
    out = np.zeros((history, action_dim))
    if history and in_flight is not None and len(in_flight):
        recent = np.asarray(in_flight, np.float64).reshape(len(in_flight), -1)[-history:]
        out[history - len(recent):] = recent
    return out


def episode_arrays(episodes: list, normaliser: Normaliser, horizon: int,
                   action_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Return network inputs and chunk targets (float32) of recorded episodes.

    :param episodes: ``(observations, in_flight, labels)`` lists per episode.
    :return: inputs ``(N, input_dim)`` and targets ``(N, horizon * action_dim)``.
    """
    inputs, targets = [], []
    for observations, flights, labels in episodes:
        if not observations:
            continue
        labels_arr = (np.asarray(labels) - normaliser.offset) / normaliser.scale
        count = len(labels_arr)
        # Row k of the chunk is the label k periods later (the last one repeats at the end).
        rows = np.minimum(np.arange(count)[:, None] + np.arange(horizon)[None, :], count - 1)
        targets.append(labels_arr[rows].reshape(count, horizon * action_dim))
        inputs += [normaliser.inputs(o, f) for o, f in zip(observations, flights)]
    return np.asarray(inputs, np.float32), np.concatenate(targets).astype(np.float32)
