"""The MuJoCo simulator of one task: step, apply a command, observe, score.

No clock and no sleeping: hosts decide when to call :meth:`Simulator.advance`. Sim time is an
integer count of physics steps times the timestep, so it never drifts. Reward, success and
goal changes happen at control-period boundaries (whole numbers of physics steps), so an
episode scores the same however it is advanced.
"""

from __future__ import annotations

import mujoco
import numpy as np

from rt_async_control.core.messages import StampedState
from rt_async_control.errors import InputError
from rt_async_control.sim.goals import goal_count, sample_goals
from rt_async_control.sim.model import load_model, ObservationCodec
from rt_async_control.sim.scoring import Scorer
from rt_async_control.sim.tasks import load_task, steps_in, TaskSpec


class Simulator:
    """One MuJoCo scene with its task's command interface, observation and scoring.

    :param task: a :class:`TaskSpec` or a task name.
    :param seed: seed of the first episode (initial state, goals, observation noise).
    :param obs_noise_std: standard deviation of Gaussian noise added to every observation
        entry (scalar or per entry); the state arrays and the scoring stay noise-free.
    """

    def __init__(self, task: TaskSpec | str, seed: int = 0,
                 obs_noise_std: float | np.ndarray = 0.0) -> None:
        """Load the scene and start the first episode with ``seed``."""
        self.spec = load_task(task) if isinstance(task, str) else task
        self.model = load_model(self.spec)
        self.data = mujoco.MjData(self.model)
        self.codec = ObservationCodec.build(self.spec, self.model)
        self.scorer = Scorer(self.spec)
        noise = np.broadcast_to(np.asarray(obs_noise_std, dtype=np.float64),
                                (self.spec.obs_dim,)).copy()
        if np.any(noise < 0) or not np.all(np.isfinite(noise)):
            raise InputError(f'obs_noise_std must be finite and >= 0, got {obs_noise_std!r}')
        self.obs_noise_std = noise
        self._substeps = self.spec.substeps
        self._goal_steps = (steps_in(float(self.spec.goal['period_s']), self.spec.timestep_s)
                            if self.spec.goal else 0)
        self._goal_mocap = (int(self.model.body_mocapid[mujoco.mj_name2id(
            self.model, mujoco.mjtObj.mjOBJ_BODY, str(self.spec.goal['mocap_body']))])
            if self.spec.goal.get('mocap_body') else -1)
        self._command = np.zeros(self.spec.action_dim)
        self._obs = np.zeros(self.spec.obs_dim)
        self._goals = np.zeros((0, 3))
        self._goal = np.zeros(3)
        self._goal_rng = np.random.default_rng(0)
        self._steps = 0
        self._seq = 0
        self._push_end = -1
        self._last_reward = 0.0
        self._kinematics_fresh = False
        self.seed = seed
        self.reset(seed)

    # -- episode ---------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> StampedState:
        """Start a new episode: initial state and goals drawn from ``seed``.

        :param seed: episode seed; None reuses the last one (same episode again).
        :return: the initial state (stamp 0).
        """
        if seed is not None:
            self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        self._noise_rng = np.random.default_rng([self.seed, 1])
        init = self.spec.initial_state
        n = len(self.spec.joint_names)
        position = np.asarray(init['position'], dtype=np.float64)
        position = position + rng.uniform(-1.0, 1.0, n) * np.asarray(init['position_noise'])
        velocity = rng.uniform(-1.0, 1.0, n) * np.asarray(init['velocity_noise'])
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self.codec.qpos_adr] = position
        self.data.qvel[self.codec.dof_adr] = velocity
        if self.spec.goal:
            # Own stream, drawn segment by segment: runs longer than an episode keep getting
            # new goals, and the first goal_count(spec) goals depend on the seed only.
            self._goal_rng = np.random.default_rng([self.seed, 2])
            self._goals = self._draw_goals(goal_count(self.spec))
            self._set_goal(0)
        self._command[:] = 0.0
        self.data.ctrl[:] = 0.0
        self._steps = 0
        self._seq = 0
        self._push_end = -1
        self._last_reward = 0.0
        self.scorer.reset()
        mujoco.mj_forward(self.model, self.data)
        self._kinematics_fresh = True
        return self.state()

    @property
    def time(self) -> float:
        """Return the sim time in seconds (whole physics steps since reset)."""
        return self._steps * self.spec.timestep_s

    @property
    def steps(self) -> int:
        """Return the number of physics steps since reset."""
        return self._steps

    @property
    def done(self) -> bool:
        """Return whether the episode length has been reached."""
        return self._steps >= self.spec.episode_steps * self._substeps

    @property
    def goal(self) -> np.ndarray | None:
        """Return the current goal position (a copy), or None for tasks without a goal."""
        return self._goal.copy() if len(self._goals) else None

    @property
    def command(self) -> np.ndarray:
        """Return the command being held (a copy)."""
        return self._command.copy()

    # -- command and stepping --------------------------------------------------------------
    def apply(self, command: np.ndarray) -> np.ndarray:
        """Hold ``command`` from now on (zero-order hold), clipped to the actuator limits.

        :param command: shape ``(action_dim,)``, finite.
        :return: the clipped command actually applied.
        :raises InputError: wrong shape or a non-finite entry.
        """
        command = np.asarray(command, dtype=np.float64)
        if command.shape != (self.spec.action_dim,):
            raise InputError(f'command must have shape ({self.spec.action_dim},) for task '
                             f'{self.spec.name}, got {command.shape}')
        if not np.all(np.isfinite(command)):
            raise InputError(f'command must be finite, got {command.tolist()}')
        np.clip(command, self.spec.command_lower, self.spec.command_upper, out=self._command)
        self.data.ctrl[self.codec.actuator_ids] = self._command
        return self._command.copy()

    def advance(self, duration: float) -> StampedState:
        """Step the physics by ``duration`` (rounded to whole timesteps), holding the command.

        :param duration: seconds, >= 0.
        :return: the state at the new time.
        """
        if not duration >= 0.0:
            raise InputError(f'advance duration must be >= 0, got {duration!r}')
        self.advance_steps(steps_in(duration, self.spec.timestep_s))
        return self.state()

    def advance_to(self, time: float) -> int:
        """Step the physics up to the last whole timestep not after ``time``.

        :param time: sim time in seconds; earlier than now does nothing.
        :return: the number of physics steps taken.
        """
        target = int(np.floor(time / self.spec.timestep_s + 1e-6))
        n = max(0, target - self._steps)
        self.advance_steps(n)
        return n

    def advance_steps(self, count: int) -> None:
        """Take ``count`` physics steps, scoring each control period as it ends."""
        target = self._steps + int(count)
        sub = self._substeps
        while self._steps < target:
            stop = min(target, (self._steps // sub + 1) * sub)
            if self._push_end > self._steps:
                stop = min(stop, self._push_end)
            mujoco.mj_step(self.model, self.data, nstep=stop - self._steps)
            self._steps = stop
            self._kinematics_fresh = False
            if self._steps == self._push_end:
                self.data.xfrc_applied[:] = 0.0
            if self._steps % sub == 0:
                self._tick()

    def _tick(self) -> None:
        # Score the control period that just ended, then move the goal when its time comes.
        self._fresh_kinematics()
        data, codec = self.data, self.codec
        distance = 0.0
        segment = 0
        if len(self._goals):
            distance = float(np.linalg.norm(data.site_xpos[codec.site_id] - self._goal))
            segment = (self._steps - 1) // self._goal_steps
        self._last_reward = self.scorer.tick(self.time, data.qpos[codec.qpos_adr],
                                             data.qvel[codec.dof_adr], self._command,
                                             distance, segment)
        if len(self._goals) and self._steps % self._goal_steps == 0:
            index = self._steps // self._goal_steps
            if index >= len(self._goals):
                self._goals = np.concatenate([self._goals, self._draw_goals(1)])
            self._set_goal(index)

    def _draw_goals(self, count: int) -> np.ndarray:
        return sample_goals(self.spec, self.model, self.codec, self._goal_rng, count)

    def _set_goal(self, index: int) -> None:
        self._goal[:] = self._goals[index]
        if self._goal_mocap >= 0:
            self.data.mocap_pos[self._goal_mocap] = self._goal

    def _fresh_kinematics(self) -> None:
        # mj_step leaves site positions at the pre-step configuration; recompute when needed.
        if not self._kinematics_fresh and self.codec.site_id >= 0:
            mujoco.mj_kinematics(self.model, self.data)
        self._kinematics_fresh = True

    # -- perturbation ----------------------------------------------------------------------
    def push(self, body: str, force: np.ndarray, duration: float,
             torque: np.ndarray | None = None) -> None:
        """Apply an external force (N, world frame) at a body's centre of mass for a while.

        :param body: body name in the scene.
        :param force: shape ``(3,)``.
        :param duration: seconds (rounded to whole timesteps), from now.
        :param torque: optional shape ``(3,)`` torque (N m).
        :raises InputError: unknown body or bad shapes.
        """
        body_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, body)
        if body_id < 0:
            raise InputError(f'push: unknown body {body!r} in task {self.spec.name}')
        wrench = np.zeros(6)
        wrench[:3] = np.asarray(force, dtype=np.float64).reshape(3)
        if torque is not None:
            wrench[3:] = np.asarray(torque, dtype=np.float64).reshape(3)
        self.data.xfrc_applied[:] = 0.0
        self.data.xfrc_applied[body_id] = wrench
        self._push_end = self._steps + max(1, steps_in(duration, self.spec.timestep_s))

    # -- observation and state -------------------------------------------------------------
    def observe(self, out: np.ndarray | None = None) -> np.ndarray:
        """Return the observation vector now (with noise if configured).

        :param out: optional destination ``(obs_dim,)`` to avoid an allocation.
        :return: ``out`` or a new array.
        """
        self._fresh_kinematics()
        target = self._obs if out is None else out
        self.codec.encode(self.data, self._goal, target)
        if self.obs_noise_std.any():
            target += self._noise_rng.standard_normal(self.spec.obs_dim) * self.obs_noise_std
        return target.copy() if out is None else target

    def state(self) -> StampedState:
        """Return the stamped state now; each call takes the next sequence number."""
        codec = self.codec
        state = StampedState(
            stamp=self.time, seq=self._seq, joint_names=self.spec.joint_names,
            position=self.data.qpos[codec.qpos_adr].copy(),
            velocity=self.data.qvel[codec.dof_adr].copy(),
            effort=self.data.qfrc_actuator[codec.dof_adr].copy(),
            observation=self.observe())
        self._seq += 1
        return state

    # -- scoring ---------------------------------------------------------------------------
    def reward(self) -> float:
        """Return the reward of the last completed control period (0 before the first)."""
        return self._last_reward

    @property
    def episode_return(self) -> float:
        """Return the sum of the rewards of the control periods completed since reset."""
        return self.scorer.episode_return

    def success(self) -> bool:
        """Return whether the episode so far meets the task's success criterion."""
        return self.scorer.success(self.time)
