"""A task's MuJoCo model and the mapping between MuJoCo state and the observation vector.

The observation layout is read from the task metadata by entry name, so encoding (simulator)
and decoding (prediction, experts) are the same code:

- ``cos_<joint>``, ``sin_<joint>``: a hinge angle as cos/sin (decoded with ``atan2``);
- ``<joint>_pos`` / ``<joint>_vel``: a joint position / velocity;
- ``goal_x|y|z``: the goal position (world frame);
- ``<site>_x|y|z``: a site position (world frame), e.g. the end effector.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from rt_async_control.errors import InputError
from rt_async_control.sim.tasks import TaskSpec

_AXES = ('x', 'y', 'z')


def load_model(spec: TaskSpec) -> mujoco.MjModel:
    """Load the task's scene, with the physics timestep the metadata names.

    :param spec: the task.
    :return: a fresh model (callers own it and may change it).
    :raises InputError: the scene cannot be loaded.
    """
    try:
        model = mujoco.MjModel.from_xml_path(str(spec.scene))
    except (ValueError, OSError) as exc:
        raise InputError(f'{spec.scene}: cannot load scene ({exc})'.replace('\n', ' ')) from exc
    model.opt.timestep = spec.timestep_s
    return model


def full_inertia(model: mujoco.MjModel, data: mujoco.MjData, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` (nv, nv) with the dense joint-space inertia matrix after ``mj_forward``.

    :return: ``out``.
    """
    try:  # MuJoCo >= 4: mj_fullM(m, d, dst)
        mujoco.mj_fullM(model, data, out)
    except TypeError:  # MuJoCo 3.x: mj_fullM(m, dst, qM)
        mujoco.mj_fullM(model, out, data.qM)
    return out


def wrap_angle(angle: np.ndarray | float) -> np.ndarray | float:
    """Return ``angle`` wrapped to ``[-pi, pi)``."""
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


@dataclass(frozen=True)
class ObservationCodec:
    """Index tables that turn MuJoCo state into the observation vector and back.

    :param spec: the task.
    :param qpos_adr: qpos address of every state joint (``spec.joint_names`` order).
    :param dof_adr: dof address of every state joint.
    :param actuator_ids: actuator id per command entry (``spec.actuated_joints`` order).
    """

    spec: TaskSpec
    qpos_adr: np.ndarray
    dof_adr: np.ndarray
    actuator_ids: np.ndarray
    pos_obs: np.ndarray      # observation index of each '<joint>_pos'
    pos_adr: np.ndarray      # its qpos address
    cos_obs: np.ndarray      # observation index of each 'cos_<joint>'
    sin_obs: np.ndarray      # ... of the matching 'sin_<joint>'
    ang_adr: np.ndarray      # qpos address of that joint
    vel_obs: np.ndarray      # observation index of each '<joint>_vel'
    vel_adr: np.ndarray      # its dof address
    goal_obs: np.ndarray     # observation indices of goal_x, goal_y, goal_z (or empty)
    site_obs: np.ndarray     # observation indices of <site>_x, _y, _z (or empty)
    site_id: int             # that site's id, -1 if none

    @classmethod
    def build(cls, spec: TaskSpec, model: mujoco.MjModel) -> ObservationCodec:
        """Resolve every observation entry and joint name against the model.

        :raises InputError: a name in the metadata that the scene does not have.
        """
        index = {name: i for i, name in enumerate(spec.observation)}

        def joint(name: str) -> int:
            jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
            if jid < 0:
                raise InputError(f'{spec.scene}: task {spec.name} names unknown joint {name!r}')
            return jid

        pos_obs, pos_adr, cos_obs, sin_obs, ang_adr, vel_obs, vel_adr = ([] for _ in range(7))
        goal_obs: list[int] = []
        site_obs: list[int] = []
        site_id = -1
        for i, name in enumerate(spec.observation):
            if name.startswith('cos_'):
                jid = joint(name[4:])
                cos_obs.append(i)
                sin_obs.append(index.get('sin_' + name[4:], -1))
                ang_adr.append(model.jnt_qposadr[jid])
            elif name.startswith('sin_'):
                if 'cos_' + name[4:] not in index:
                    raise InputError(f'{spec.name}: observation {name!r} has no cos_ partner')
            elif name.endswith('_pos'):
                pos_obs.append(i)
                pos_adr.append(model.jnt_qposadr[joint(name[:-4])])
            elif name.endswith('_vel'):
                vel_obs.append(i)
                vel_adr.append(model.jnt_dofadr[joint(name[:-4])])
            elif name in ('goal_x', 'goal_y', 'goal_z'):
                goal_obs.append(i)
            elif name[-2:] in ('_x', '_y', '_z'):
                sid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, name[:-2])
                if sid < 0:
                    raise InputError(f'{spec.name}: observation {name!r} names no site')
                site_id = sid
                site_obs.append(i)
            else:
                raise InputError(f'{spec.name}: unknown observation entry {name!r}')
        joints = [joint(n) for n in spec.joint_names]
        actuators = []
        for name in spec.actuated_joints:
            jid = joint(name)
            match = np.flatnonzero((model.actuator_trnid[:, 0] == jid)
                                   & (model.actuator_trntype == mujoco.mjtTrn.mjTRN_JOINT))
            if match.size != 1:
                raise InputError(f'{spec.scene}: joint {name!r} needs exactly one actuator')
            actuators.append(int(match[0]))

        def ints(values: list[int]) -> np.ndarray:
            return np.asarray(values, dtype=np.intp)

        return cls(spec, ints([model.jnt_qposadr[j] for j in joints]),
                   ints([model.jnt_dofadr[j] for j in joints]), ints(actuators),
                   ints(pos_obs), ints(pos_adr), ints(cos_obs), ints(sin_obs), ints(ang_adr),
                   ints(vel_obs), ints(vel_adr), ints(goal_obs), ints(site_obs), site_id)

    def encode(self, data: mujoco.MjData, goal: np.ndarray | None, out: np.ndarray) -> None:
        """Write the observation of ``data`` (kinematics up to date) into ``out``.

        :param data: MuJoCo data after ``mj_forward`` / ``mj_step`` (site positions valid).
        :param goal: the goal position, or None for tasks without one.
        :param out: destination, shape ``(obs_dim,)``.
        """
        qpos = data.qpos
        out[self.pos_obs] = qpos[self.pos_adr]
        angles = qpos[self.ang_adr]
        out[self.cos_obs] = np.cos(angles)
        out[self.sin_obs] = np.sin(angles)
        out[self.vel_obs] = data.qvel[self.vel_adr]
        if self.goal_obs.size:
            out[self.goal_obs] = goal
        if self.site_id >= 0:
            out[self.site_obs] = data.site_xpos[self.site_id]

    def decode(self, observation: np.ndarray, data: mujoco.MjData) -> None:
        """Set ``data.qpos`` / ``data.qvel`` to the state encoded in ``observation``.

        Joints not in the observation keep their values; call ``mj_forward`` afterwards.
        """
        data.qpos[self.pos_adr] = observation[self.pos_obs]
        data.qpos[self.ang_adr] = np.arctan2(observation[self.sin_obs], observation[self.cos_obs])
        data.qvel[self.vel_adr] = observation[self.vel_obs]

    def goal(self, observation: np.ndarray) -> np.ndarray | None:
        """Return the goal position in ``observation`` (None for tasks without one)."""
        return observation[self.goal_obs] if self.goal_obs.size else None


class JointObservation:
    """Build the task's observation from measured joint positions, velocities and the goal.

    ``sensor_msgs/JointState`` carries no observation vector, so a worker (or a real robot's
    ``joint_states``) rebuilds it exactly as the simulator encodes it: a private model is set
    to the joints and its kinematics computed when the observation holds a site position.

    :param spec: the task.
    """

    def __init__(self, spec: TaskSpec) -> None:
        """Load the task's model once; calls reuse it."""
        self.spec = spec
        self.model = load_model(spec)
        self.data = mujoco.MjData(self.model)
        self.codec = ObservationCodec.build(spec, self.model)
        self.needs_goal = bool(self.codec.goal_obs.size)
        self._out = np.zeros(spec.obs_dim)

    def __call__(self, position: np.ndarray, velocity: np.ndarray,
                 goal: np.ndarray | None = None) -> np.ndarray:
        """Return the observation of one measured joint state.

        :param position: joint positions in ``spec.joint_names`` order.
        :param velocity: joint velocities in the same order.
        :param goal: the goal position for tasks with one (``needs_goal``), else ``None``.
        :return: a new ``(obs_dim,)`` array.
        :raises ValueError: the task needs a goal and none is given.
        """
        if self.needs_goal and goal is None:
            raise ValueError(f'task {self.spec.name} needs a goal to build its observation')
        data, codec = self.data, self.codec
        data.qpos[codec.qpos_adr] = position
        data.qvel[codec.dof_adr] = velocity
        if codec.site_id >= 0:
            mujoco.mj_kinematics(self.model, data)
        codec.encode(data, goal, self._out)
        return self._out.copy()
