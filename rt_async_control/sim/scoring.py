"""Reward per control period and the success criterion of an episode.

The reward of a control period is ``exp(-cost)`` of the state at its end, so it lies in
``(0, 1]`` and an episode's return is at most its number of control periods; returns of
different controllers can be compared as ratios.

Both are sampled once per control period, at its end, from the true (noise-free) state, so an
episode scores the same however the simulator is advanced. Weights and tolerances come from
the task metadata (``reward`` and ``success`` sections).
"""

from __future__ import annotations

import math

import numpy as np

from rt_async_control.errors import InputError
from rt_async_control.sim.model import wrap_angle
from rt_async_control.sim.tasks import TaskSpec

_EPS = 1e-9


class Scorer:
    """Reward and success bookkeeping for one episode of one task.

    :param spec: the task; ``success.kind`` is ``upright`` (pendulum, cartpole) or ``reach``
        (arm).
    """

    def __init__(self, spec: TaskSpec) -> None:
        """Read the weights and tolerances of ``spec``."""
        self.spec = spec
        self.kind = str(spec.success['kind'])
        # upright: success.joint is the pole; success.position_joint (optional) the cart.
        self.upright = self._joint(spec.success.get('joint')) if self.kind == 'upright' else -1
        self.cart = self._joint(spec.success.get('position_joint'))
        self.effort_scale = 1.0 / np.maximum(np.abs(spec.command_lower),
                                             np.abs(spec.command_upper))
        self.reset()

    def _joint(self, name: str | None) -> int:
        if name is None:
            return -1
        if name not in self.spec.joint_names:
            raise InputError(f'{self.spec.name}: success names unknown joint {name!r}')
        return self.spec.joint_names.index(name)

    def reset(self) -> None:
        """Forget the episode so far."""
        self.episode_return = 0.0
        self.last_bad = 0.0            # upright: last tick that was out of tolerance
        self.segment_sum: list[float] = []   # reach: distance sums per goal segment window
        self.segment_count: list[int] = []

    def reward(self, qpos: np.ndarray, qvel: np.ndarray, command: np.ndarray,
               distance: float) -> float:
        """Return the reward of one control period ending in this state.

        :param qpos: joint positions (``spec.joint_names`` order).
        :param qvel: joint velocities.
        :param command: command held during the period.
        :param distance: end-effector distance to the goal (reach tasks; else ignored).
        :return: the reward, ``exp(-cost)`` in ``(0, 1]`` (1 = perfect).
        """
        return math.exp(-self.cost(qpos, qvel, command, distance))

    def cost(self, qpos: np.ndarray, qvel: np.ndarray, command: np.ndarray,
             distance: float) -> float:
        """Return the weighted quadratic (reach: linear in distance) cost of one state."""
        w = self.spec.reward
        if self.kind == 'reach':
            u = command * self.effort_scale
            return (w['distance'] * distance + w['velocity'] * float(qvel @ qvel)
                    + w['effort'] * float(u @ u))
        angle = float(wrap_angle(qpos[self.upright]))
        cost = (w['angle'] * angle * angle + w['velocity'] * float(qvel @ qvel)
                + w['effort'] * float(command @ command))
        if self.cart >= 0:
            cost += w['position'] * float(qpos[self.cart]) ** 2
        return cost

    def within_tolerance(self, qpos: np.ndarray, qvel: np.ndarray) -> bool:
        """Return whether an ``upright`` task's state is inside the success tolerances."""
        s = self.spec.success
        ok = (abs(float(wrap_angle(qpos[self.upright]))) <= s['angle_tol']
              and abs(float(qvel[self.upright])) <= s['velocity_tol'])
        if self.cart >= 0:
            ok = ok and abs(float(qpos[self.cart])) <= s['position_tol']
        return ok

    def tick(self, time: float, qpos: np.ndarray, qvel: np.ndarray, command: np.ndarray,
             distance: float, segment: int) -> float:
        """Score the control period that ends at ``time``; return its reward.

        :param time: sim time at the end of the period.
        :param segment: index of the goal segment the period belonged to (reach tasks).
        """
        reward = self.reward(qpos, qvel, command, distance)
        self.episode_return += reward
        if self.kind == 'upright':
            if not self.within_tolerance(qpos, qvel):
                self.last_bad = time
        else:
            period = float(self.spec.goal['period_s'])
            window = float(self.spec.success['window_s'])
            while len(self.segment_sum) <= segment:
                self.segment_sum.append(0.0)
                self.segment_count.append(0)
            if time > (segment + 1) * period - window + _EPS:
                self.segment_sum[segment] += distance
                self.segment_count[segment] += 1
        return reward

    def segment_errors(self) -> list[float]:
        """Return the mean end-effector distance over each goal segment's scored window."""
        return [total / count if count else math.nan
                for total, count in zip(self.segment_sum, self.segment_count)]

    def success(self, time: float) -> bool:
        """Return whether the episode so far meets the success criterion.

        ``upright``: within tolerance for the last ``hold_s`` seconds (``time >= hold_s``).
        ``reach``: every goal segment whose window has been scored has a mean distance below
        ``distance_tol``, and at least one has.
        """
        if self.kind == 'upright':
            hold = float(self.spec.success['hold_s'])
            return time + _EPS >= hold and time - self.last_bad + _EPS >= hold
        errors = [e for e in self.segment_errors() if not math.isnan(e)]
        return bool(errors) and max(errors) < float(self.spec.success['distance_tol'])
