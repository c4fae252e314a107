"""Delay compensation: predict the observation now from a delayed one and the commands since.

A private MuJoCo model of the task is set to the state encoded in the delayed observation and
stepped through the in-flight commands (each held for one control period). The goal, if any,
is carried over unchanged (a goal that moved during the delay is not known yet).
"""

from __future__ import annotations

import mujoco
import numpy as np

from rt_async_control.errors import InputError
from rt_async_control.sim.model import load_model, ObservationCodec
from rt_async_control.sim.tasks import load_task, steps_in, TaskSpec


class Predictor:
    """Forward model of one task (private model and data, reused between calls).

    :param task: a task or task name.
    """

    def __init__(self, task: TaskSpec | str) -> None:
        """Load the task's model."""
        self.spec = load_task(task) if isinstance(task, str) else task
        self.model = load_model(self.spec)
        self.data = mujoco.MjData(self.model)
        self.codec = ObservationCodec.build(self.spec, self.model)

    def __call__(self, observation: np.ndarray, commands_in_flight: np.ndarray,
                 step_s: float | None = None) -> np.ndarray:
        """Return the observation predicted after the in-flight commands.

        :param observation: delayed observation, shape ``(obs_dim,)``.
        :param commands_in_flight: shape ``(d, action_dim)``, oldest first; ``d`` may be 0.
        :param step_s: how long each command is held (default: the control period).
        :return: a new observation array.
        """
        spec, model, data, codec = self.spec, self.model, self.data, self.codec
        commands = np.asarray(commands_in_flight, dtype=np.float64).reshape(-1, spec.action_dim)
        if len(commands) == 0:
            return np.array(observation, dtype=np.float64)
        substeps = steps_in(spec.control_period_s if step_s is None else step_s,
                            spec.timestep_s)
        mujoco.mj_resetData(model, data)
        codec.decode(observation, data)
        for command in commands:
            data.ctrl[codec.actuator_ids] = np.clip(command, spec.command_lower,
                                                    spec.command_upper)
            mujoco.mj_step(model, data, nstep=substeps)
        mujoco.mj_kinematics(model, data)
        out = np.empty(spec.obs_dim)
        codec.encode(data, codec.goal(observation), out)
        return out


_PREDICTORS: dict[str, Predictor] = {}


def predict(task: TaskSpec | str, observation: np.ndarray, commands_in_flight: np.ndarray,
            step_s: float | None = None) -> np.ndarray:
    """Predict the observation after ``commands_in_flight`` (a cached :class:`Predictor`).

    :param task: a task or task name.
    :param observation: delayed observation, shape ``(obs_dim,)``.
    :param commands_in_flight: shape ``(d, action_dim)``, oldest first.
    :param step_s: seconds each command is held (default: the control period).
    :return: the predicted observation.
    """
    name = task if isinstance(task, str) else task.name
    if name not in _PREDICTORS:
        _PREDICTORS[name] = Predictor(task)
    return _PREDICTORS[name](observation, commands_in_flight, step_s)


class DelayedExpert:
    """The task's expert acting on the observation predicted through the in-flight commands.

    :param task: a task or task name.
    :param delay_steps: observation delay ``d`` in control periods it expects (the length of
        ``in_flight``); 0 makes it the plain expert.
    """

    def __init__(self, task: TaskSpec | str, delay_steps: int) -> None:
        """Build the expert and a private predictor."""
        from rt_async_control.sim.experts import make_expert

        self.spec = load_task(task) if isinstance(task, str) else task
        if delay_steps < 0:
            raise InputError(f'delay_steps must be >= 0, got {delay_steps}')
        self.delay_steps = int(delay_steps)
        self.expert = make_expert(self.spec)
        self.predictor = Predictor(self.spec)

    def reset(self) -> None:
        """Reset the wrapped expert."""
        self.expert.reset()

    def act(self, observation: np.ndarray, in_flight: np.ndarray) -> np.ndarray:
        """Return the expert's command for the predicted current observation.

        :param observation: delayed observation, shape ``(obs_dim,)``.
        :param in_flight: the ``delay_steps`` commands applied since, oldest first.
        :raises InputError: ``in_flight`` has the wrong shape.
        """
        in_flight = np.asarray(in_flight, dtype=np.float64)
        expected = (self.delay_steps, self.spec.action_dim)
        if in_flight.shape != expected:
            raise InputError(f'in_flight must have shape {expected}, got {in_flight.shape}')
        return self.expert.act(self.predictor(observation, in_flight))
