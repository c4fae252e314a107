"""Experts succeed at zero delay; prediction recovers what an observation delay costs."""

import mujoco
import numpy as np
import pytest

from rt_async_control.errors import InputError
from rt_async_control.sim.experts import make_expert
from rt_async_control.sim.lqr import linearise, lqr_gain
from rt_async_control.sim.predict import DelayedExpert
from rt_async_control.sim.rollout import episode
from rt_async_control.sim.simulator import Simulator

DELAY = 5


def run(task, controller, seeds, delay=0):
    sim = Simulator(task)
    results = [episode(sim, controller, seed, delay) for seed in seeds]
    return float(np.mean([r for r, _ in results])), float(np.mean([s for _, s in results]))


@pytest.mark.parametrize('task', ['pendulum', 'cartpole', 'arm'])
def test_expert_succeeds_at_zero_delay(task):
    _, success = run(task, make_expert(task), range(100, 120))
    assert success >= 0.95


@pytest.mark.parametrize('task', ['pendulum', pytest.param('arm', marks=pytest.mark.slow)])
def test_prediction_recovers_the_delay_loss(task):
    seeds = range(200, 210)
    undelayed, _ = run(task, make_expert(task), seeds)
    plain, _ = run(task, make_expert(task), seeds, DELAY)
    compensated, success = run(task, DelayedExpert(task, DELAY), seeds, DELAY)
    # Returns are sums of rewards in (0, 1], so ratios compare controllers.
    assert compensated >= 0.95 * undelayed
    assert success >= 0.9
    assert plain < 0.9 * undelayed
    assert plain < compensated


def test_delayed_expert_checks_in_flight_shape():
    controller = DelayedExpert('pendulum', DELAY)
    with pytest.raises(InputError, match='in_flight'):
        controller.act(np.array([1.0, 0.0, 0.0]), np.zeros((DELAY - 1, 1)))
    with pytest.raises(InputError):
        DelayedExpert('pendulum', -1)


def test_episode_rejects_negative_delay():
    with pytest.raises(InputError):
        episode(Simulator('pendulum'), make_expert('pendulum'), 0, obs_delay_steps=-1)


@pytest.mark.parametrize('task', ['pendulum', 'cartpole'])
def test_lqr_gain_stabilises_the_linearisation(task):
    expert = make_expert(task)
    mujoco.mj_resetData(expert.model, expert.data)    # upright, at rest
    a, b = linearise(expert.model, expert.data, expert.spec.substeps)
    closed = a - b[:, expert.codec.actuator_ids] @ expert.gain
    assert max(abs(np.linalg.eigvals(closed))) < 1.0
    assert max(abs(np.linalg.eigvals(a))) > 1.0      # upright is unstable without it


def test_lqr_gain_rejects_uncontrollable_system():
    with pytest.raises(ValueError):
        lqr_gain(np.eye(2) * 1.5, np.zeros((2, 1)), np.eye(2), np.eye(1), iterations=200)
