"""Arbiter selection: the newest observation wins, invalid chunks never act, fallbacks say so."""

import math

import numpy as np
import pytest

from rt_async_control.core.arbiter import Arbiter, select
from rt_async_control.core.config import ArbiterConfig
from rt_async_control.core.messages import ActionChunk, StampedState, state_problem
from rt_async_control.errors import InputError

DIM = 2
LOWER = np.array([-5.0, -5.0])
UPPER = np.array([5.0, 5.0])


def chunk(stamp, worker=0, value=1.0, horizon=1, step=0.01, dim=DIM):
    """Return a chunk whose row k is ``value + k`` in every entry."""
    rows = value + np.arange(horizon, dtype=float)[:, None] * np.ones((1, dim))
    return ActionChunk(stamp, worker, 0.03, rows, step)


def make(**overrides):
    config = ArbiterConfig(**{'max_action_age_s': 0.1, **overrides})
    return Arbiter(config, DIM, LOWER, UPPER)


@pytest.mark.parametrize('order', [(0, 1, 2), (2, 1, 0), (1, 2, 0), (2, 0, 1)])
def test_newest_observation_stamp_wins_whatever_the_arrival_order(order):
    stamps = {0: 1.00, 1: 1.02, 2: 1.01}
    arbiter = make()
    for i, worker in enumerate(order):
        assert arbiter.offer(chunk(stamps[worker], worker, value=worker), 1.03 + i * 1e-3) is None
    decision = arbiter.tick(1.05)
    assert decision.worker_id == 1
    assert decision.command.tolist() == [1.0, 1.0]
    assert decision.action_age == pytest.approx(0.03)
    assert decision.fallback is None and decision.row == 0


def test_select_is_pure_and_skips_invalid_candidates():
    fresh_but_exhausted = chunk(0.98, 0, horizon=2, step=0.01)  # ends at 1.00
    older_valid = chunk(0.95, 1)
    too_old = chunk(0.80, 2)
    future = chunk(1.50, 3)
    candidates = [fresh_but_exhausted, older_valid, too_old, future]
    picked = select(candidates, 1.0, 0.1, future_tolerance=0.05)
    assert picked == (older_valid, 0)
    assert select([too_old, future], 1.0, 0.1, future_tolerance=0.05) is None
    assert select([], 1.0, 0.1) is None


@pytest.mark.parametrize('now, row', [(0.995, 0), (1.0, 0), (1.009, 0), (1.01, 1), (1.025, 2),
                                      (1.039, 3)])
def test_the_row_covering_now_is_applied(now, row):
    arbiter = make(future_stamp_tolerance_s=0.01)
    assert arbiter.offer(chunk(1.0, horizon=4, value=0.5), 0.995) is None
    decision = arbiter.tick(now)
    assert decision.row == row
    assert decision.command.tolist() == [0.5 + row] * DIM


def test_single_action_has_infinite_step_and_holds_until_too_old():
    single = ActionChunk(1.0, 0, 0.03, np.ones((1, DIM)), 0.01)
    assert single.step == math.inf and single.end == math.inf
    arbiter = make(max_action_age_s=0.1)
    arbiter.offer(single, 1.0)
    assert arbiter.tick(1.1).fallback is None
    assert arbiter.tick(1.1001).fallback == 'hold'
    assert arbiter.expirations['too_old'] == 1


def test_chunk_exhausted_during_ticks_falls_back_to_next_freshest():
    arbiter = make()
    arbiter.offer(chunk(1.00, 0, value=3.0, horizon=8), 1.001)
    arbiter.offer(chunk(1.01, 1, value=-3.0, horizon=2), 1.011)
    assert arbiter.tick(1.02).worker_id == 1
    decision = arbiter.tick(1.03)  # worker 1's chunk covers [1.01, 1.03)
    assert decision.worker_id == 0 and decision.row == 3
    assert arbiter.expirations['exhausted'] == 0  # pruned only when nothing is valid


BAD = {
    'wrong action_dim': (lambda: chunk(1.0, dim=3), 'shape'),
    'one-dimensional': (lambda: ActionChunk(1.0, 0, 0.0, np.ones(DIM), 0.01), 'shape'),
    'no rows': (lambda: ActionChunk(1.0, 0, 0.0, np.ones((0, DIM)), 0.01), 'shape'),
    'zero step': (lambda: chunk(1.0, horizon=3, step=0.0), 'shape'),
    'nan': (lambda: ActionChunk(1.0, 0, 0.0, np.array([[0.0, np.nan]]), 0.01), 'non_finite'),
    'inf': (lambda: ActionChunk(1.0, 0, 0.0, np.array([[np.inf, 0.0]]), 0.01), 'non_finite'),
    'nan stamp': (lambda: chunk(math.nan), 'non_finite'),
    'too old': (lambda: chunk(0.85), 'too_old'),
    'exhausted': (lambda: chunk(0.95, horizon=4, step=0.01), 'exhausted'),
    'future': (lambda: chunk(1.2), 'future'),
}


@pytest.mark.parametrize('name', list(BAD))
def test_invalid_chunk_is_rejected_counted_and_never_acts(name):
    make_chunk, reason = BAD[name]
    arbiter = make(default_behaviour='zero')
    assert arbiter.offer(make_chunk(), 1.0) == reason
    assert arbiter.rejections[reason] == 1
    assert sum(arbiter.rejections.values()) == 1
    decision = arbiter.tick(1.0)
    assert decision.fallback == 'zero' and decision.worker_id == -1
    assert decision.command.tolist() == [0.0, 0.0]


def test_out_of_order_chunk_of_the_same_worker_is_rejected_but_other_workers_count():
    arbiter = make()
    assert arbiter.offer(chunk(1.02, 0), 1.03) is None
    assert arbiter.offer(chunk(1.01, 0), 1.03) == 'out_of_order'
    assert arbiter.offer(chunk(1.02, 0), 1.03) == 'out_of_order'
    assert arbiter.offer(chunk(1.01, 1), 1.03) is None
    assert len(arbiter.candidates) == 2


@pytest.mark.parametrize('behaviour, expected', [('hold', [2.0, 2.0]), ('zero', [0.0, 0.0]),
                                                 ('default', [0.5, -0.5])])
def test_default_behaviour_acts_and_is_reported(behaviour, expected):
    arbiter = make(default_behaviour=behaviour, default_command=(0.5, -0.5))
    arbiter.offer(chunk(1.0, value=2.0), 1.0)
    assert arbiter.tick(1.05).fallback is None
    decision = arbiter.tick(1.2)
    assert decision.fallback == behaviour
    assert (decision.worker_id, decision.row) == (-1, -1)
    assert math.isnan(decision.action_age)
    assert decision.command.tolist() == expected
    assert (arbiter.ticks, arbiter.inaction_ticks) == (2, 1)


def test_start_up_command_is_held_before_the_first_action():
    arbiter = Arbiter(ArbiterConfig(), DIM, LOWER, UPPER, initial=np.array([1.0, 2.0]))
    assert arbiter.tick(0.0).command.tolist() == [1.0, 2.0]
    assert arbiter.tick(0.01).fallback == 'hold'


@pytest.mark.parametrize('value, expected', [(9.0, [5.0, 5.0]), (-7.0, [-5.0, -5.0]),
                                             (4.0, [4.0, 4.0])])
def test_commands_are_clipped_to_actuator_limits(value, expected):
    arbiter = make()
    arbiter.offer(chunk(1.0, value=value), 1.0)
    assert arbiter.tick(1.0).command.tolist() == expected


def test_zero_and_default_fallbacks_are_clipped_too():
    config = ArbiterConfig(default_behaviour='zero')
    arbiter = Arbiter(config, 1, np.array([0.2]), np.array([1.0]))
    assert arbiter.tick(0.0).command.tolist() == [0.2]


def test_decision_command_cannot_change_the_held_command():
    arbiter = make()
    arbiter.offer(chunk(1.0, value=2.0), 1.0)
    command = arbiter.tick(1.0).command
    with pytest.raises(ValueError):
        command[0] = 100.0
    assert arbiter.tick(1.5).command.tolist() == [2.0, 2.0]


@pytest.mark.parametrize('kwargs, message', [
    ({'lower': np.zeros(3)}, 'limits'),
    ({'lower': np.array([1.0, 1.0]), 'upper': np.array([0.0, 2.0])}, 'lower <= upper'),
    ({'config': ArbiterConfig(default_command=(1.0, 2.0, 3.0))}, 'default_command'),
    ({'initial': np.array([np.nan, 0.0])}, 'initial'),
    ({'action_dim': 0}, 'action_dim'),
])
def test_constructor_rejects_inconsistent_input(kwargs, message):
    args = {'config': ArbiterConfig(), 'action_dim': DIM, 'lower': LOWER, 'upper': UPPER,
            **kwargs}
    with pytest.raises(InputError, match=message):
        Arbiter(**args)


def test_reconfigure_applies_live_and_keeps_old_settings_on_error():
    arbiter = make(default_behaviour='zero')
    arbiter.offer(chunk(1.0, value=2.0), 1.0)
    arbiter.reconfigure(ArbiterConfig(max_action_age_s=0.01, default_behaviour='default',
                                      default_command=(0.5, 0.5)))
    assert arbiter.tick(1.05).command.tolist() == [0.5, 0.5]
    with pytest.raises(InputError, match='default_command'):
        arbiter.reconfigure(ArbiterConfig(default_command=(1.0,)))
    assert arbiter.config.max_action_age_s == 0.01


def test_arbiter_keeps_its_own_copy_of_a_checked_chunk():
    arbiter = make()
    buffer = np.ones((1, DIM))
    arbiter.offer(ActionChunk(1.0, 0, 0.03, buffer), 1.0)
    buffer[0, 0] = np.nan  # a host reusing its receive buffer
    assert arbiter.tick(1.0).command.tolist() == [1.0, 1.0]


def test_state_problem_names_the_field():
    def state(**kw):
        values = {'stamp': 1.0, 'seq': 0, 'joint_names': ('a', 'b'), 'position': np.zeros(2),
                  'velocity': np.zeros(2), 'effort': np.zeros(2), 'observation': np.zeros(3)}
        return StampedState(**{**values, **kw})

    assert state_problem(state(), 2, 3) is None
    assert 'velocity has shape (3,)' in state_problem(state(velocity=np.zeros(3)), 2, 3)
    assert 'joint_names' in state_problem(state(joint_names=('a',)), 2, 3)
    assert 'observation is not finite' == state_problem(
        state(observation=np.array([0.0, np.inf, 0.0])), 2, 3)
    assert 'stamp' in state_problem(state(stamp=math.nan), 2, 3)
