"""Simulator: exact stepping, command validation, seeding, perturbations, observation."""

import numpy as np
import pytest

from rt_async_control.core.messages import StampedState
from rt_async_control.errors import InputError
from rt_async_control.sim.model import JointObservation
from rt_async_control.sim.predict import predict
from rt_async_control.sim.simulator import Simulator


def test_advance_takes_whole_steps_without_drift():
    sim = Simulator('pendulum')
    state = sim.advance(0.5)
    assert sim.steps == 250
    assert state.stamp == 250 * sim.spec.timestep_s
    for _ in range(1000):
        sim.advance(0.01)
    assert sim.steps == 250 + 5000
    assert sim.time == sim.steps * sim.spec.timestep_s
    assert sim.advance_to(sim.time + 0.0105) == 5          # never past the requested time
    with pytest.raises(InputError):
        sim.advance(-0.01)


def test_command_is_clipped_and_validated():
    sim = Simulator('arm')
    applied = sim.apply(np.array([100.0, -100.0, 1.0]))
    np.testing.assert_array_equal(applied, [15.0, -40.0, 1.0])
    sim.advance(0.01)
    # Efforts report the actuator force actually applied (gear 1 motors).
    np.testing.assert_allclose(sim.state().effort, applied)
    with pytest.raises(InputError, match='shape'):
        sim.apply(np.zeros(2))
    with pytest.raises(InputError, match='finite'):
        sim.apply(np.array([0.0, np.nan, 0.0]))


def test_reset_is_deterministic_by_seed():
    sim = Simulator('arm', seed=3)

    def trajectory(seed):
        sim.reset(seed)
        out = []
        for _ in range(30):
            sim.apply(np.array([1.0, 5.0, -2.0]))
            out.append(sim.advance(0.01).observation)
        return np.array(out)

    first = trajectory(7)
    np.testing.assert_array_equal(first, trajectory(7))
    assert not np.allclose(first, trajectory(8))


def test_state_fields_and_sequence():
    sim = Simulator('cartpole')
    first = sim.reset(1)
    assert isinstance(first, StampedState)
    assert first.stamp == 0.0 and first.seq == 0
    assert first.joint_names == ('slider', 'hinge')
    assert first.position.shape == first.velocity.shape == first.effort.shape == (2,)
    assert first.observation.shape == (sim.spec.obs_dim,)
    second = sim.advance(0.02)
    assert second.seq == 1 and second.stamp == pytest.approx(0.02)
    # Observation angles are cos/sin of the joint position.
    np.testing.assert_allclose(second.observation[1:3],
                               [np.cos(second.position[1]), np.sin(second.position[1])])


def test_observe_into_buffer_and_noise():
    sim = Simulator('pendulum', seed=2)
    buffer = np.empty(sim.spec.obs_dim)
    assert sim.observe(buffer) is buffer
    np.testing.assert_array_equal(buffer, sim.state().observation)
    noisy = Simulator('pendulum', seed=2, obs_noise_std=0.05)
    assert not np.allclose(noisy.observe(), sim.observe())
    np.testing.assert_array_equal(noisy.state().position, sim.state().position)
    with pytest.raises(InputError):
        Simulator('pendulum', obs_noise_std=-1.0)


def test_push_changes_the_trajectory_then_stops():
    plain, pushed = Simulator('cartpole', seed=0), Simulator('cartpole', seed=0)
    pushed.push('pole', np.array([5.0, 0.0, 0.0]), duration=0.05)
    for sim in (plain, pushed):
        sim.advance(0.3)
    assert not np.allclose(plain.state().position, pushed.state().position)
    assert not pushed.data.xfrc_applied.any()
    with pytest.raises(InputError, match='unknown body'):
        pushed.push('nose', np.zeros(3), 0.1)


def test_arm_goal_moves_on_schedule_and_is_observed():
    sim = Simulator('arm', seed=5)
    spec = sim.spec
    goal_index = [spec.observation.index(f'goal_{a}') for a in 'xyz']
    first = sim.goal
    np.testing.assert_array_equal(sim.observe()[goal_index], first)
    sim.advance(spec.goal['period_s'] - 0.01)
    np.testing.assert_array_equal(sim.goal, first)
    sim.advance(0.01)
    assert not np.allclose(sim.goal, first)
    np.testing.assert_array_equal(sim.observe()[goal_index], sim.goal)


def test_rewards_accumulate_per_control_period():
    stepwise, chunked = Simulator('pendulum', seed=0), Simulator('pendulum', seed=0)
    stepwise.advance(0.004)
    assert stepwise.episode_return == 0.0            # no control period has ended yet
    rewards = []
    stepwise.advance(0.006)
    for _ in range(99):
        rewards.append(stepwise.reward())
        stepwise.advance(0.01)
    rewards.append(stepwise.reward())
    assert all(0.0 < r <= 1.0 for r in rewards)
    assert stepwise.episode_return == pytest.approx(sum(rewards))
    chunked.advance(1.0)                            # same periods, one call
    assert chunked.episode_return == pytest.approx(stepwise.episode_return)
    assert not stepwise.success()                   # still hanging down


@pytest.mark.parametrize('task', ['pendulum', 'cartpole', 'arm'])
def test_prediction_matches_the_simulator(task):
    sim = Simulator(task, seed=4)
    rng = np.random.default_rng(0)
    start = sim.observe()
    spec = sim.spec
    commands = rng.uniform(spec.command_lower, spec.command_upper, (5, spec.action_dim))
    for command in commands:
        sim.apply(command)
        sim.advance(sim.spec.control_period_s)
    np.testing.assert_allclose(predict(task, start, commands), sim.observe(), atol=1e-6)
    np.testing.assert_array_equal(predict(task, start, commands[:0]), start)


def test_goals_keep_moving_past_the_episode_length():
    sim = Simulator('arm', seed=1)
    period = sim.spec.goal['period_s']
    goals = []
    while sim.time < 3 * sim.spec.episode_s:
        goals.append(sim.goal)
        sim.advance(period)
    assert len({tuple(g) for g in goals}) == len(goals)
    assert all(g[2] >= sim.spec.goal['min_z'] for g in goals)


@pytest.mark.parametrize('task', ['cartpole', 'arm'])
def test_joint_observation_rebuilds_the_simulator_observation(task):
    sim = Simulator(task, seed=6)
    sim.apply(sim.spec.command_upper * 0.5)
    state = sim.advance(0.3)
    rebuild = JointObservation(sim.spec)
    np.testing.assert_allclose(rebuild(state.position, state.velocity, sim.goal),
                               state.observation, atol=1e-12)
    if rebuild.needs_goal:
        with pytest.raises(ValueError, match='goal'):
            rebuild(state.position, state.velocity)
