"""The two messages every host passes around: a stamped state and a stamped action chunk.

Both are transport-neutral: the ROS nodes convert ``sensor_msgs/JointState`` and
``trajectory_msgs/JointTrajectory`` to and from them, the embedded runtime copies them through
shared memory. Time is a float in seconds on whatever clock the host uses.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np


@dataclass(frozen=True, slots=True)
class StampedState:
    """A measured robot state and the observation vector the policy consumes.

    :param stamp: time the state was measured, seconds.
    :param seq: sequence number, increasing by one per published state.
    :param joint_names: names of the joints, in the order of the arrays below.
    :param position: joint positions, shape ``(n_joints,)``.
    :param velocity: joint velocities, shape ``(n_joints,)``.
    :param effort: joint efforts, shape ``(n_joints,)``.
    :param observation: the policy's input vector, shape ``(obs_dim,)``.
    """

    stamp: float
    seq: int
    joint_names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray
    observation: np.ndarray


@dataclass(frozen=True, slots=True)
class ActionChunk:
    """The output of one inference: ``H`` command rows ``step`` seconds apart.

    Row ``k`` covers ``[observation_stamp + k*step, observation_stamp + (k+1)*step)``; before
    the first row's time row 0 applies. A single action (``H == 1``) has ``step = math.inf``:
    it holds until it is older than the arbiter's ``max_action_age_s``. The constructor never
    raises on bad data (it arrives from other processes); :func:`chunk_problem` says what is
    wrong with it and the arbiter rejects it.

    :param observation_stamp: stamp of the :class:`StampedState` the worker used, seconds.
    :param worker_id: the worker that produced it.
    :param inference_time: measured seconds of this call, including any emulated part.
    :param actions: command rows, shape ``(H, action_dim)``, float64, ``H >= 1``.
    :param step: seconds between rows; set to ``math.inf`` whenever ``H == 1``.
    :param started: when the worker started this inference (``nan`` if unknown).
    """

    observation_stamp: float
    worker_id: int
    inference_time: float
    actions: np.ndarray
    step: float = math.inf
    started: float = math.nan

    def __post_init__(self) -> None:
        """Make ``step`` infinite for a single-row chunk, as the contract defines it."""
        actions = self.actions
        if isinstance(actions, np.ndarray) and actions.ndim == 2 and actions.shape[0] == 1:
            object.__setattr__(self, 'step', math.inf)

    @property
    def horizon(self) -> int:
        """Return ``H``, the number of rows."""
        return int(self.actions.shape[0])

    @property
    def end(self) -> float:
        """Return the time at which the chunk is exhausted (``inf`` for ``H == 1``)."""
        return self.observation_stamp + len(self.actions) * self.step

    def row_at(self, now: float) -> int:
        """Return the index of the row covering ``now``, clamped to ``[0, H - 1]``.

        :param now: the time of interest, seconds.
        :return: the row index; row 0 before the observation stamp and for ``H == 1``.
        """
        return row_index(self.observation_stamp, self.step, len(self.actions), now)


def row_index(stamp: float, step: float, horizon: int, now: float) -> int:
    """Return the row of a chunk that covers ``now``, clamped to ``[0, horizon - 1]``.

    :param stamp: the chunk's observation stamp, seconds.
    :param step: seconds between rows (``inf`` for a single action).
    :param horizon: number of rows ``H``.
    :param now: the time of interest, seconds.
    :return: the row index.
    """
    elapsed = now - stamp
    if elapsed <= 0.0 or step == math.inf:
        return 0
    # The relative nudge makes an exact multiple of ``step`` (0.03 / 0.01 = 2.9999...) land
    # on the row it starts, not the one before.
    k = int(elapsed / step * (1.0 + 1e-12))
    return k if k < horizon else horizon - 1


def chunk_problem(chunk: ActionChunk, action_dim: int) -> str | None:
    """Say why a chunk cannot be used whatever the time, or ``None`` if it can.

    Checked once when a chunk arrives, so selection every tick compares only times.

    :param chunk: the chunk to check.
    :param action_dim: the number of command entries the robot expects.
    :return: ``'shape'``, ``'non_finite'`` or ``None``.
    """
    actions = chunk.actions
    if (
        not isinstance(actions, np.ndarray)
        or actions.ndim != 2
        or actions.shape[0] < 1
        or actions.shape[1] != action_dim
    ):
        return 'shape'
    step = chunk.step
    if actions.shape[0] > 1 and not (math.isfinite(step) and step > 0.0):
        return 'shape'
    if not math.isfinite(chunk.observation_stamp) or not np.isfinite(actions).all():
        return 'non_finite'
    return None


def state_problem(state: StampedState, n_joints: int, obs_dim: int) -> str | None:
    """Say what is wrong with a state's shapes or values, or ``None`` if nothing is.

    :param state: the state to check.
    :param n_joints: expected length of position, velocity and effort.
    :param obs_dim: expected length of the observation vector.
    :return: a short reason naming the field, or ``None``.
    """
    if len(state.joint_names) != n_joints:
        return f'joint_names has {len(state.joint_names)} names, expected {n_joints}'
    for name in ('position', 'velocity', 'effort', 'observation'):
        value = getattr(state, name)
        expected = obs_dim if name == 'observation' else n_joints
        if not isinstance(value, np.ndarray) or value.shape != (expected,):
            shape = getattr(value, 'shape', None)
            return f'{name} has shape {shape}, expected ({expected},)'
    if not math.isfinite(state.stamp):
        return f'stamp is {state.stamp}'
    if not np.isfinite(state.observation).all():
        return 'observation is not finite'
    return None
