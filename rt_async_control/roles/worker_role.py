"""The inference worker's behaviour: run the policy on the freshest state, stamp the chunk.

Host-independent: a host (rclpy node, embedded-runtime process, virtual-time executor) decides
*when* a worker starts (the schedule), hands it the newest state and a clock, and publishes
what comes back. The clock is injected, so the same code measures real inference time in
real time and reads virtual time (where a real pass takes no time) in the executor.

Emulated inference time: to stand in for a bigger model, each call may be padded by a time
drawn here from a seeded distribution (``fixed``, ``normal`` or ``lognormal``, given by mean
and coefficient of variation). The chunk reports ``real + emulated`` as its inference time;
the host waits until ``started + inference_time`` before publishing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math
from statistics import NormalDist
from typing import Protocol

import numpy as np

from rt_async_control.core.messages import ActionChunk, StampedState
from rt_async_control.errors import InputError

DISTRIBUTIONS: tuple[str, ...] = ('none', 'fixed', 'normal', 'lognormal')


class Policy(Protocol):
    """What a worker runs: :class:`~rt_async_control.policy.onnx_policy.OnnxPolicy` fits."""

    def __call__(self, observation: np.ndarray,
                 in_flight: np.ndarray | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class Emulation:
    """A distribution of emulated inference times, in seconds.

    :param distribution: ``'none'``, ``'fixed'``, ``'normal'`` or ``'lognormal'``.
    :param mean_s: mean of the drawn time, seconds (>= 0).
    :param cv: coefficient of variation, std / mean (>= 0; ignored by ``fixed``).
    """

    distribution: str = 'none'
    mean_s: float = 0.0
    cv: float = 0.0

    def __post_init__(self) -> None:
        """Validate the distribution name and its parameters."""
        if self.distribution not in DISTRIBUTIONS:
            raise InputError(f'emulate_distribution: {self.distribution!r} is not one of '
                             f'{", ".join(DISTRIBUTIONS)}')
        if not (math.isfinite(self.mean_s) and self.mean_s >= 0.0):
            raise InputError(f'emulate_mean_s: {self.mean_s!r} must be finite and >= 0')
        if not (math.isfinite(self.cv) and self.cv >= 0.0):
            raise InputError(f'emulate_cv: {self.cv!r} must be finite and >= 0')

    @classmethod
    def from_config(cls, inference: object) -> Emulation:
        """Build from an inference config (fields ``emulate_distribution/_mean_s/_cv``).

        :param inference: the core ``InferenceConfig`` (or anything with those fields).
        :return: the emulation.
        """
        return cls(str(getattr(inference, 'emulate_distribution', 'none')),
                   float(getattr(inference, 'emulate_mean_s', 0.0)),
                   float(getattr(inference, 'emulate_cv', 0.0)))

    @property
    def active(self) -> bool:
        """Return whether calls are padded at all."""
        return self.distribution != 'none' and self.mean_s > 0.0

    def describe(self) -> str:
        """Return e.g. ``'lognormal mean 40 ms cv 0.2'`` or ``'none'``."""
        if not self.active:
            return 'none'
        cv = '' if self.distribution == 'fixed' else f' cv {self.cv:g}'
        return f'{self.distribution} mean {self.mean_s * 1e3:g} ms{cv}'

    def draw(self, rng: np.random.Generator) -> float:
        """Draw one emulated time (seconds, >= 0).

        :param rng: the caller's generator (one per worker, seeded).
        :return: the drawn time.
        """
        if not self.active:
            return 0.0
        if self.distribution == 'fixed' or self.cv == 0.0:
            return self.mean_s
        if self.distribution == 'normal':
            return max(0.0, float(rng.normal(self.mean_s, self.cv * self.mean_s)))
        mu, sigma = self._lognormal()
        return float(rng.lognormal(mu, sigma))

    def quantile(self, q: float) -> float:
        """Return the ``q`` quantile of the drawn time (what worker sizing plans for).

        :param q: in ``(0, 1)``.
        :return: seconds.
        """
        if not self.active:
            return 0.0
        if self.distribution == 'fixed' or self.cv == 0.0:
            return self.mean_s
        z = NormalDist().inv_cdf(q)
        if self.distribution == 'normal':
            return max(0.0, self.mean_s * (1.0 + z * self.cv))
        mu, sigma = self._lognormal()
        return math.exp(mu + z * sigma)

    def _lognormal(self) -> tuple[float, float]:
        # Parameters of the underlying normal that give this mean and CV.
        sigma2 = math.log1p(self.cv * self.cv)
        return math.log(self.mean_s) - 0.5 * sigma2, math.sqrt(sigma2)


@dataclass(frozen=True, slots=True)
class Inference:
    """What one worker call returns to its host.

    :param chunk: the stamped chunk; its ``inference_time`` is ``real + emulated``.
    :param real: measured seconds from ``started`` to the end of the policy call.
    :param emulated: drawn padding; the host publishes at ``started + chunk.inference_time``.
    """

    chunk: ActionChunk
    real: float
    emulated: float

    @property
    def publish_at(self) -> float:
        """Return when the host should publish the chunk (same clock as ``started``)."""
        return self.chunk.started + self.chunk.inference_time


class WorkerRole:
    """One inference worker: policy call, emulated padding, stamping.

    :param worker_id: this worker's index (0-based).
    :param policy: the policy (``policy(observation, in_flight) -> (H, action_dim)``).
    :param emulation: emulated inference time; ``Emulation()`` for none.
    :param seed: base seed of the emulated times; worker ``i`` draws from ``seed + i``.
    :param chunk_step_s: seconds between chunk rows (``inf`` for single actions).
    :param history: in-flight commands a delay-aware policy takes (0 = plain policy).
    """

    def __init__(self, worker_id: int, policy: Policy, emulation: Emulation | None = None,
                 seed: int = 0, chunk_step_s: float = math.inf, history: int = 0) -> None:
        """Keep the policy and seed this worker's generator."""
        if worker_id < 0:
            raise InputError(f'worker_id: {worker_id} must be >= 0')
        self.worker_id = int(worker_id)
        self.policy = policy
        self.emulation = emulation or Emulation()
        self.rng = np.random.default_rng(int(seed) + self.worker_id)
        self.chunk_step_s = float(chunk_step_s)
        self.history = int(history)
        self.calls = 0

    @classmethod
    def from_policy(cls, worker_id: int, policy: object, inference_config: object) -> WorkerRole:
        """Build a worker for an ``OnnxPolicy`` and the core ``InferenceConfig``.

        :param worker_id: this worker's index.
        :param policy: the loaded policy (its ``metadata`` gives chunk step and history).
        :param inference_config: emulation settings and ``seed``.
        :return: the role.
        :raises InputError: a single-action delay-aware model trained on the exact commands in
            flight: every host gives the arbiter's plan instead (``in_flight: plan``), so it
            would act on an input it never saw.
        """
        metadata = getattr(policy, 'metadata', None)
        if (getattr(metadata, 'history', 0) > 0 and getattr(metadata, 'chunk_horizon', 1) == 1
                and getattr(metadata, 'in_flight', 'plan') != 'plan'):
            raise InputError(f'{getattr(metadata, "task", "?")} model: in_flight = '
                             f'{metadata.in_flight!r}: it was trained on the exact commands in '
                             "flight, but workers get the arbiter's plan; retrain it with "
                             '`rt-async-control train TASK --delay-aware S`')
        return cls(worker_id, policy,  # type: ignore[arg-type]
                   Emulation.from_config(inference_config),
                   seed=int(getattr(inference_config, 'seed', 0)),
                   chunk_step_s=float(getattr(metadata, 'chunk_step_s', math.inf)),
                   history=int(getattr(metadata, 'history', 0)))

    def infer(self, state: StampedState, started: float, clock: Callable[[], float],
              in_flight: np.ndarray | None = None) -> Inference:
        """Run the policy on ``state`` and return the stamped chunk.

        :param state: the freshest state (its stamp becomes the chunk's observation stamp).
        :param started: when this inference started (the host's clock).
        :param clock: the host's clock, read once after the policy call to measure it.
        :param in_flight: commands a delay-aware policy takes, oldest first (``(k, dim)``).
        :return: the chunk, the measured time and the emulated padding.
        """
        actions = np.asarray(self.policy(state.observation, in_flight), dtype=np.float64)
        if actions.ndim == 1:
            actions = actions.reshape(1, -1)
        real = max(0.0, clock() - started)
        emulated = self.emulation.draw(self.rng)
        self.calls += 1
        chunk = ActionChunk(observation_stamp=state.stamp, worker_id=self.worker_id,
                            inference_time=real + emulated, actions=actions,
                            step=self.chunk_step_s, started=started)
        return Inference(chunk, real, emulated)
