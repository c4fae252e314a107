"""Goal positions for reaching tasks: reachable by construction, drawn from a seeded RNG."""

from __future__ import annotations

import mujoco
import numpy as np

from rt_async_control.sim.model import ObservationCodec
from rt_async_control.sim.tasks import TaskSpec


def goal_count(spec: TaskSpec) -> int:
    """Return how many goal segments one episode has (0 for tasks without a goal)."""
    if not spec.goal:
        return 0
    period = float(spec.goal['period_s'])
    return max(1, int(np.ceil(spec.episode_s / period - 1e-9)))


def sample_goals(spec: TaskSpec, model: mujoco.MjModel, codec: ObservationCodec,
                 rng: np.random.Generator, count: int) -> np.ndarray:
    """Draw ``count`` goals as the end-effector position of random joint angles.

    Angles are uniform in ``goal.position_low .. position_high``; goals lower than
    ``goal.min_z`` are drawn again, so every goal is reachable and above the floor.

    :return: shape ``(count, 3)``.
    """
    low = np.asarray(spec.goal['position_low'], dtype=np.float64)
    high = np.asarray(spec.goal['position_high'], dtype=np.float64)
    min_z = float(spec.goal.get('min_z', -np.inf))
    site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, str(spec.goal['site']))
    data = mujoco.MjData(model)
    goals = np.empty((count, 3))
    for i in range(count):
        while True:
            data.qpos[codec.qpos_adr] = rng.uniform(low, high)
            mujoco.mj_kinematics(model, data)
            if data.site_xpos[site, 2] >= min_z:
                goals[i] = data.site_xpos[site]
                break
    return goals
