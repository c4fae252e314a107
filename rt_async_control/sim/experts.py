"""Model-based expert controllers, one per task, acting on the observation vector only.

They are the teachers the policies are distilled from, so they see exactly what a policy
sees: ``act(observation)`` decodes the state from the observation (cos/sin angles, velocities,
goal) into a private MuJoCo model and computes the command. They keep no state between calls.

- ``pendulum``: energy-shaping swing-up, LQR balance near upright.
- ``cartpole``: energy-shaping swing-up through partial feedback linearisation of the cart
  (cart acceleration -> force from the model's inertia), with cart centring; LQR near upright.
- ``arm``: closed-form inverse kinematics to the goal (the branch nearest the measured
  angles), then computed torque ``tau = M(q) (Kp (q* - q) - Kd qd) + qfrc_bias - qfrc_passive``
  (inertia, gravity, Coriolis, joint damping all from MuJoCo).

All three are tuned for fresh observations: at an observation delay of 5 control periods
(50 ms) their returns drop clearly, which :class:`~rt_async_control.sim.predict.DelayedExpert`
recovers by predicting the state forward through the in-flight commands.
"""

from __future__ import annotations

import mujoco
import numpy as np

from rt_async_control.sim.lqr import linearise, lqr_gain
from rt_async_control.sim.model import full_inertia, load_model, ObservationCodec, wrap_angle
from rt_async_control.sim.tasks import load_task, TaskSpec


class _ModelExpert:
    """Shared part: a private model and data, the codec, and the command limits."""

    def __init__(self, spec: TaskSpec) -> None:
        """Load a private copy of the task's model."""
        self.spec = spec
        self.model = load_model(spec)
        self.data = mujoco.MjData(self.model)
        self.codec = ObservationCodec.build(spec, self.model)
        self.lower = spec.command_lower
        self.upper = spec.command_upper
        self.inertia = np.zeros((self.model.nv, self.model.nv))

    def reset(self) -> None:
        """Nothing to forget: the experts are stateless."""

    def clip(self, command: np.ndarray) -> np.ndarray:
        """Return ``command`` clipped to the task's command limits."""
        return np.clip(command, self.lower, self.upper)

    def upright_gain(self, q_weights: list[float], r_weight: float) -> np.ndarray:
        """Return the LQR gain around the upright equilibrium (all joints 0, at rest)."""
        mujoco.mj_resetData(self.model, self.data)
        a, b = linearise(self.model, self.data, self.spec.substeps)
        b = b[:, self.codec.actuator_ids]
        return lqr_gain(a, b, np.diag(q_weights), np.eye(b.shape[1]) * r_weight)


class PendulumExpert(_ModelExpert):
    """Energy pumping until near upright, then LQR.

    The LQR is stiff (small input weight) and takes over early (0.8 rad), which catches the
    swing reliably with a torque limit well below the gravity torque; it is tuned for fresh
    observations, so an observation delay hurts it (which is what delay compensation fixes).

    :param spec: the pendulum task.
    :param capture_angle: |angle| (rad) below which LQR takes over.
    :param q_weights: LQR state weights (angle, angular velocity).
    :param r_weight: LQR input weight.
    """

    def __init__(self, spec: TaskSpec, capture_angle: float = 0.8,
                 q_weights: tuple[float, float] = (100.0, 1.0), r_weight: float = 0.01) -> None:
        """Read inertia and gravity torque from the model and compute the LQR gain."""
        super().__init__(spec)
        self.capture_angle = capture_angle
        self.gain = self.upright_gain(list(q_weights), r_weight)
        data = self.data
        data.qpos[:] = np.pi / 2
        data.qvel[:] = 0.0
        mujoco.mj_forward(self.model, data)
        self.mgl = abs(float(data.qfrc_bias[0]))      # gravity torque at horizontal
        self.moment = float(full_inertia(self.model, data, self.inertia)[0, 0])
        self.umax = float(min(-self.lower[0], self.upper[0]))

    def act(self, observation: np.ndarray, in_flight: np.ndarray | None = None) -> np.ndarray:
        """Return the command for ``observation`` (``in_flight`` is ignored).

        :param observation: ``[cos, sin, angular velocity]`` (angle 0 = upright).
        :param in_flight: unused; accepted so the expert is a rollout controller.
        """
        angle = float(np.arctan2(observation[1], observation[0]))
        rate = float(observation[2])
        if abs(angle) < self.capture_angle:
            return self.clip(-self.gain @ np.array([angle, rate]))
        # Energy relative to upright at rest; pump (or brake) along the velocity.
        energy = 0.5 * self.moment * rate * rate + self.mgl * (np.cos(angle) - 1.0)
        push = np.clip(-energy * rate * 4.0, -1.0, 1.0)
        if abs(rate) < 1e-3 and energy < 0:   # at rest hanging down: kick it off
            push = 1.0
        return self.clip(np.array([push * self.umax]))


class CartpoleExpert(_ModelExpert):
    """Energy-shaping swing-up with cart centring, then LQR near upright.

    Swing-up chooses a cart acceleration ``a = k_e E cos(angle) rate - k_x x - k_v v`` (``E``:
    pole energy relative to upright at rest, which this drives to 0) and turns it into a force
    with the model's inertia (partial feedback linearisation), so the law does not depend on
    the pole's reaction on the cart.

    :param spec: the cartpole task.
    :param capture_angle: |angle| (rad) below which LQR takes over.
    :param energy_gain: ``k_e`` of the swing-up law (m/s^2 per J rad/s).
    :param centring: ``(k_x, k_v)`` pulling the cart back to the track centre.
    :param max_accel: bound on the swing-up part of the cart acceleration (m/s^2).
    """

    def __init__(self, spec: TaskSpec, capture_angle: float = 0.4, energy_gain: float = 8.0,
                 centring: tuple[float, float] = (2.0, 2.0), max_accel: float = 12.0) -> None:
        """Read the pole's inertia and gravity torque and compute the LQR gain."""
        super().__init__(spec)
        self.capture_angle = capture_angle
        self.energy_gain = energy_gain
        self.centring = centring
        self.max_accel = max_accel
        self.gain = self.upright_gain([10.0, 50.0, 1.0, 1.0], 0.01)
        self.cart, self.pole = (self.codec.dof_adr[0], self.codec.dof_adr[1])
        data = self.data
        data.qpos[:] = 0.0
        data.qpos[self.pole] = np.pi / 2
        data.qvel[:] = 0.0
        mujoco.mj_forward(self.model, data)
        self.mgl = abs(float(data.qfrc_bias[self.pole]))
        self.moment = float(full_inertia(self.model, data, self.inertia)[self.pole, self.pole])

    def act(self, observation: np.ndarray, in_flight: np.ndarray | None = None) -> np.ndarray:
        """Return the cart force for ``observation`` (``in_flight`` is ignored).

        :param observation: ``[x, cos, sin, x velocity, angular velocity]``.
        """
        x, c, s, v, rate = (float(o) for o in observation[:5])
        angle = float(np.arctan2(s, c))
        if abs(angle) < self.capture_angle:
            return self.clip(-self.gain @ np.array([x, angle, v, rate]))
        energy = 0.5 * self.moment * rate * rate + self.mgl * (c - 1.0)
        accel = self.energy_gain * energy * c * rate
        if abs(rate) < 1e-3 and energy < 0:   # at rest hanging down: kick it off
            accel = self.max_accel
        accel = float(np.clip(accel, -self.max_accel, self.max_accel))
        accel -= self.centring[0] * x + self.centring[1] * v
        return self.clip(np.array([self.force_for(observation, accel)]))

    def force_for(self, observation: np.ndarray, accel: float) -> float:
        """Return the cart force that gives cart acceleration ``accel`` in this state."""
        model, data = self.model, self.data
        self.codec.decode(observation, data)
        mujoco.mj_forward(model, data)
        m = full_inertia(model, data, self.inertia)
        bias = data.qfrc_bias - data.qfrc_passive
        i, j = self.cart, self.pole
        # Pole row (unactuated): m_ji a + m_jj pole_acc + bias_j = 0.
        pole_acc = -(m[j, i] * accel + bias[j]) / m[j, j]
        return float(m[i, i] * accel + m[i, j] * pole_acc + bias[i])


class ArmExpert(_ModelExpert):
    """Inverse kinematics to the goal, then computed-torque PD with gravity compensation.

    The arm is a pan joint (about z) carrying a planar two-link arm (lift and elbow about the
    pan-rotated y axis), so the inverse kinematics is closed-form; the link lengths are read
    from the model at zero angles. Of the (up to 4) solutions inside the joint limits the one
    nearest the measured angles is used, so the arm does not flip branches mid-reach.

    :param spec: the arm task.
    :param natural_frequency: closed-loop joint bandwidth (rad/s) of the PD, critically damped.
    """

    def __init__(self, spec: TaskSpec, natural_frequency: float = 15.0) -> None:
        """Read the arm's geometry and joint limits from the private model."""
        super().__init__(spec)
        model, data = self.model, self.data
        self.kp = natural_frequency ** 2
        self.kd = 2.0 * natural_frequency
        joints = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n)
                  for n in spec.actuated_joints]
        self.q_low = model.jnt_range[joints, 0].copy()
        self.q_high = model.jnt_range[joints, 1].copy()
        self.dof = self.codec.dof_adr
        self.qadr = self.codec.qpos_adr
        mujoco.mj_resetData(model, data)
        mujoco.mj_kinematics(model, data)
        # Joint anchors at zero angles: shoulder (lift) and elbow; the arm points up (+z).
        self.shoulder = data.xanchor[joints[1]].copy()
        elbow = data.xanchor[joints[2]].copy()
        tip = data.site_xpos[self.codec.site_id].copy()
        self.upper_length = float(np.linalg.norm(elbow - self.shoulder))
        self.fore_length = float(np.linalg.norm(tip - elbow))

    def inverse_kinematics(self, q: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Return the joint angles nearest ``q`` that put the end effector at ``goal``.

        Unreachable goals give the stretched-out posture pointing at them.
        """
        rel = goal - self.shoulder
        horizontal = float(np.hypot(rel[0], rel[1]))
        height = float(rel[2])
        a, b = self.upper_length, self.fore_length
        cos_elbow = (horizontal ** 2 + height ** 2 - a * a - b * b) / (2.0 * a * b)
        elbow = float(np.arccos(np.clip(cos_elbow, -1.0, 1.0)))
        pan = float(np.arctan2(rel[1], rel[0]))
        best, best_cost = q, np.inf
        # Facing the goal (reach forward) or facing away (pan + pi, lean back), elbow +-.
        for pan_c, forward in ((pan, horizontal), (float(wrap_angle(pan + np.pi)), -horizontal)):
            for elbow_c in (elbow, -elbow):
                lift_c = float(np.arctan2(forward, height)
                               - np.arctan2(b * np.sin(elbow_c), a + b * np.cos(elbow_c)))
                candidate = np.array([pan_c, float(wrap_angle(lift_c)), elbow_c])
                if np.any(candidate < self.q_low) or np.any(candidate > self.q_high):
                    continue
                cost = float(np.sum((candidate - q) ** 2))
                if cost < best_cost:
                    best, best_cost = candidate, cost
        return best

    def act(self, observation: np.ndarray, in_flight: np.ndarray | None = None) -> np.ndarray:
        """Return joint torques for ``observation`` (``in_flight`` is ignored)."""
        model, data = self.model, self.data
        self.codec.decode(observation, data)
        q = data.qpos[self.qadr].copy()
        qd = data.qvel[self.dof]
        target = self.inverse_kinematics(q, self.codec.goal(observation))
        mujoco.mj_forward(model, data)
        inertia = full_inertia(model, data, self.inertia)[np.ix_(self.dof, self.dof)]
        accel = self.kp * (target - q) - self.kd * qd
        # Bias = gravity + Coriolis; passive = joint damping, which the motors also cancel.
        torque = inertia @ accel + data.qfrc_bias[self.dof] - data.qfrc_passive[self.dof]
        return self.clip(torque)


def make_expert(task: TaskSpec | str) -> PendulumExpert | CartpoleExpert | ArmExpert:
    """Return the expert controller of ``task``.

    :param task: a task or task name.
    :return: an object with ``act(observation, in_flight=None) -> command`` and ``reset()``.
    """
    spec = load_task(task) if isinstance(task, str) else task
    if spec.name == 'pendulum':
        return PendulumExpert(spec)
    if spec.name == 'cartpole':
        return CartpoleExpert(spec)
    if spec.name == 'arm':
        return ArmExpert(spec)
    raise ValueError(f'no expert for task {spec.name!r}')


__all__ = ['make_expert', 'PendulumExpert', 'wrap_angle']
