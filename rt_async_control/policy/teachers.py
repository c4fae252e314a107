"""The controllers the policies imitate, and goal relabelling of the states they visit."""

from __future__ import annotations

import numpy as np

from rt_async_control.sim.experts import ArmExpert, make_expert
from rt_async_control.sim.goals import sample_goals
from rt_async_control.sim.predict import DelayedExpert
from rt_async_control.sim.simulator import Simulator
from rt_async_control.sim.tasks import TaskSpec

# Relabelled goals: half near the true goal (this standard deviation, metres), half anywhere.
GOAL_NEAR_STD_M = 0.05


class HomeBranchArmExpert(ArmExpert):
    """The arm expert with its inverse-kinematics branch chosen by the goal alone.

    The stock expert takes the IK solution nearest the *current* angles, so its command jumps
    between full torques of opposite sign across a switching surface in state space. A smooth
    network averages the two sides to about zero there and the arm gets stuck short of the
    goal (about half the episodes failed). Choosing the solution nearest the home posture
    (the task's initial position) makes the joint target a function of the goal only,
    continuous within a goal segment; this expert still succeeds in every seeded episode.
    """

    def __init__(self, spec: TaskSpec) -> None:
        """Build the stock expert and read the home posture from the task metadata."""
        super().__init__(spec)
        self.home = np.asarray(spec.initial_state['position'], dtype=np.float64)

    def inverse_kinematics(self, q: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Return the joint angles for ``goal`` nearest the home posture (``q`` is unused)."""
        return super().inverse_kinematics(self.home, goal)


def make_teacher(task: TaskSpec, history: int) -> object:
    """Return the controller the policy imitates: the expert, or the delay-aware expert.

    :param task: the task.
    :param history: observation delay in control periods (0 = the plain expert).
    :return: an object with ``act(observation, in_flight) -> command``.
    """
    expert = HomeBranchArmExpert(task) if task.name == 'arm' else make_expert(task)
    if history == 0:
        return expert
    delayed = DelayedExpert(task, history)
    delayed.expert = expert  # the same prediction, in front of the same expert variant
    return delayed


def relabel_goals(episodes: list, teacher: object, sim: Simulator, copies: int,
                  rng: np.random.Generator) -> list:
    """Return the visited states again with other goals, labelled by the teacher.

    The teachers are functions of the observation (they keep no state), so a visited state
    with a different goal in its observation is as valid a training input as the original.
    Half the goals are near the true one (precision where the arm settles), half are drawn
    like the task's goals (coverage of the whole reachable space).
    """
    goal_index = sim.codec.goal_obs
    min_z = float(sim.spec.goal.get('min_z', -np.inf))
    out = []
    for observations, flights, _ in episodes:
        if not observations:
            continue
        count = len(observations) * copies
        far = sample_goals(sim.spec, sim.model, sim.codec, rng, count // 2)
        base = np.repeat(np.asarray(observations)[:, goal_index], copies, axis=0)
        near = base[count // 2:] + rng.normal(0.0, GOAL_NEAR_STD_M, (count - count // 2, 3))
        near[:, 2] = np.maximum(near[:, 2], min_z)
        goals = np.concatenate([far, near])[rng.permutation(count)]
        new_obs, new_flights, new_labels = [], [], []
        for i, goal in enumerate(goals):
            observation = np.array(observations[i // copies])
            observation[goal_index] = goal
            flight = flights[i // copies]
            new_obs.append(observation)
            new_flights.append(flight)
            new_labels.append(np.asarray(teacher.act(observation, flight), np.float64).copy())
        out.append((new_obs, new_flights, new_labels))
    return out
