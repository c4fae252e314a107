"""The simulator node's behaviour: keep physics at the host's time, publish states when due.

Host-independent: the host calls :meth:`SimRole.apply` when a command arrives and
:meth:`SimRole.advance` at (or after) each publishing deadline; both take ``now`` on the host
clock. Sim time follows host time from :meth:`SimRole.start` on, scaled by the realtime
factor; state stamps are on the host clock, so an action's age (``now - observation stamp``)
means the same on every node. An episode that reaches its length is scored, recorded and a new
one starts (seed + 1): the stack keeps running like a robot would. ``episode`` counts the
episodes and ``episode_start`` is the host time the running one began: a host passes each new
one on to the arbiter (states stamped from then on belong to the new episode).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import math

import numpy as np

from rt_async_control.core.messages import StampedState
from rt_async_control.errors import InputError
from rt_async_control.sim.simulator import Simulator

#: Times closer than this count as the same instant (float sums of periods drift by ~1e-15 s).
TIME_TOLERANCE_S = 1e-9


@dataclass(frozen=True, slots=True)
class Episode:
    """One finished (or, in a summary, the running) episode.

    :param seed: the episode's seed.
    :param episode_return: sum of the rewards of its control periods.
    :param success: whether it met the task's success criterion.
    :param duration_s: simulated seconds it ran.
    """

    seed: int
    episode_return: float
    success: bool
    duration_s: float


class SimRole:
    """Simulator host behaviour: zero-order hold of commands, states every ``state_period_s``.

    :param simulator: the MuJoCo simulator (its current episode is the first one).
    :param state_period_s: seconds between published states (host time).
    :param realtime_factor: simulated seconds per host second.
    :param reset_episodes: start a new episode when one reaches its length.
    """

    def __init__(self, simulator: Simulator, state_period_s: float,
                 realtime_factor: float = 1.0, reset_episodes: bool = True) -> None:
        """Keep the simulator; nothing runs until :meth:`start`."""
        if not (math.isfinite(state_period_s) and state_period_s > 0.0):
            raise InputError(f'state_period_s: {state_period_s!r} must be > 0')
        if not (math.isfinite(realtime_factor) and realtime_factor > 0.0):
            raise InputError(f'realtime_factor: {realtime_factor!r} must be > 0')
        self.sim = simulator
        self.state_period_s = float(state_period_s)
        self.realtime_factor = float(realtime_factor)
        self.reset_episodes = reset_episodes
        self.episodes: list[Episode] = []
        self.commands = 0
        #: Index of the running episode (0 first) and the host time it began.
        self.episode = 0
        self.episode_start = math.nan
        self._t0 = math.nan
        self._episode_offset = 0.0   # sim seconds of the episodes already finished
        # The next state is due at ``_t0 + _next_index * state_period_s``: an index, not a
        # running sum, so hours of periods accumulate no rounding error.
        self._next_index = 1

    @classmethod
    def from_config(cls, config: object) -> SimRole:
        """Build from the core ``StackConfig`` (task, state period, sim seed and factor).

        :param config: the stack config.
        :return: the role with a fresh simulator.
        """
        sim_config = config.sim  # type: ignore[attr-defined]
        simulator = Simulator(config.task, seed=int(sim_config.seed))  # type: ignore[attr-defined]
        return cls(simulator, float(config.state_period_s),  # type: ignore[attr-defined]
                   float(sim_config.realtime_factor))

    @property
    def spec(self):  # noqa: ANN201 - TaskSpec
        """Return the task being simulated."""
        return self.sim.spec

    def start(self, now: float) -> StampedState:
        """Anchor sim time 0 (of the current episode) at host time ``now``.

        :param now: host time, seconds.
        :return: the initial state, stamped ``now``; the next is due one period later.
        """
        self._t0 = float(now)
        self._episode_offset = -self.sim.time
        self.episode_start = self.host_time(0.0)
        self._next_index = 1
        return self._stamped(self.sim.state())

    def sim_time(self, now: float) -> float:
        """Return the sim time (of the current episode) that corresponds to host ``now``."""
        return (now - self._t0) * self.realtime_factor - self._episode_offset

    def host_time(self, sim_time: float) -> float:
        """Return the host time at which the current episode reaches ``sim_time``."""
        return self._t0 + (sim_time + self._episode_offset) / self.realtime_factor

    def apply(self, command: np.ndarray, now: float) -> np.ndarray:
        """Hold ``command`` from ``now`` on: physics first catches up with the old command.

        :param command: ``(action_dim,)``, clipped to the actuator limits.
        :param now: host time the command takes effect.
        :return: the clipped command applied.
        """
        self._catch_up(now)
        self.commands += 1
        return self.sim.apply(command)

    def advance(self, now: float) -> StampedState | None:
        """Advance physics to ``now``; return a state if one was due by ``now``.

        A late call yields one state (the current one), never a burst of old ones.

        :param now: host time, seconds.
        :return: the state stamped with its host time, or ``None`` if none is due yet.
        """
        self._catch_up(now)
        # A host computing ``now`` as a sum of periods lands a few float steps short of due.
        due = self.next_state_due()
        if now < due - TIME_TOLERANCE_S:
            return None
        periods = max(1, math.floor((now - due) / self.state_period_s) + 1)
        self._next_index += periods
        return self._stamped(self.sim.state())

    def next_state_due(self) -> float:
        """Return the host time at which the next state is due (``inf`` before start)."""
        if math.isnan(self._t0):
            return math.inf
        return self._t0 + self._next_index * self.state_period_s

    def _catch_up(self, now: float) -> None:
        if math.isnan(self._t0):
            raise RuntimeError('SimRole.start(now) must be called first')
        self.sim.advance_to(self.sim_time(now))
        if self.reset_episodes and self.sim.done:
            self._new_episode()

    def _new_episode(self) -> None:
        # Hosts watch ``episode``: a reset must reach the arbiter (ArbiterRole.on_reset with
        # ``episode_start``), so actions computed in the old episode do not act in the new.
        self.episodes.append(self.current_episode())
        self._episode_offset += self.sim.time
        self.sim.reset(self.sim.seed + 1)
        self.episode += 1
        self.episode_start = self.host_time(0.0)

    def current_episode(self) -> Episode:
        """Return the running episode's score so far."""
        return Episode(self.sim.seed, float(self.sim.episode_return), bool(self.sim.success()),
                       float(self.sim.time))

    def summary(self) -> dict[str, object]:
        """Return task return and success over the finished episodes (else the running one).

        :return: ``task_return`` (mean episode return), ``task_success`` (fraction of
            episodes that succeeded), ``episodes`` (count), ``commands`` applied.
        """
        done = self.episodes or [self.current_episode()]
        return {
            'task_return': float(np.mean([e.episode_return for e in done])),
            'task_success': float(np.mean([e.success for e in done])),
            'episodes': len(self.episodes),
            'partial_episode': not self.episodes,
            'commands': self.commands,
        }

    def _stamped(self, state: StampedState) -> StampedState:
        # The simulator stamps sim time; every other node works on the host clock.
        return replace(state, stamp=self.host_time(state.stamp))
