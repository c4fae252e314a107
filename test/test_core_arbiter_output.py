"""Arbiter output shaping and time handling: rate limit, ramp-in, resets, planned commands."""

import math

import numpy as np
import pytest

from rt_async_control.core.arbiter import Arbiter
from rt_async_control.core.config import ArbiterConfig
from rt_async_control.core.messages import ActionChunk, row_index

LIMIT = np.array([100.0, 100.0])


def chunk(stamp, worker=0, rows=((1.0, 1.0),), step=0.01):
    return ActionChunk(stamp, worker, 0.03, np.array(rows, dtype=float), step)


def make(initial=None, **overrides):
    config = ArbiterConfig(**{'max_action_age_s': 0.2, **overrides})
    return Arbiter(config, 2, -LIMIT, LIMIT, initial=initial)


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('rate', [5.0, 50.0])
def test_rate_limit_bounds_every_change_when_workers_disagree(seed, rate):
    rng = np.random.default_rng(seed)
    arbiter = make(rate_limit_per_s=rate, default_behaviour='zero')
    now, previous = 0.0, arbiter.last_command
    for tick in range(200):
        dt = rng.uniform(0.005, 0.015)
        now += dt
        if tick % 3 == 0:  # workers whose chunks jump between far-apart commands
            value = rng.uniform(-50.0, 50.0, size=2)
            arbiter.offer(chunk(now - 0.03, worker=tick % 4, rows=[value]), now)
        command = arbiter.tick(now).command
        assert np.all(np.abs(command - previous) <= rate * dt + 1e-9)
        previous = command


def test_rate_limit_reaches_the_target_and_first_tick_does_not_move():
    arbiter = make(rate_limit_per_s=10.0)
    arbiter.offer(chunk(0.0, rows=[(1.0, -0.05)]), 0.0)
    assert arbiter.tick(0.0).command.tolist() == [0.0, 0.0]
    assert arbiter.tick(0.01).command.tolist() == pytest.approx([0.1, -0.05])
    assert arbiter.tick(0.2).command.tolist() == pytest.approx([1.0, -0.05])


@pytest.mark.parametrize('elapsed, expected', [(0.0, 2.0), (0.025, 3.0), (0.05, 4.0),
                                               (0.1, 6.0), (0.15, 6.0)])
def test_ramp_in_blends_from_the_start_up_command(elapsed, expected):
    arbiter = make(initial=np.array([2.0, 2.0]), ramp_in_s=0.1)
    assert arbiter.tick(0.5).command.tolist() == [2.0, 2.0]  # no action yet: ramp not started
    arbiter.offer(chunk(0.99, rows=[(6.0, 6.0)]), 1.0)
    arbiter.tick(1.0)  # first policy tick starts the ramp
    if elapsed:
        arbiter.offer(chunk(0.99 + elapsed, rows=[(6.0, 6.0)]), 1.0 + elapsed)
    assert arbiter.tick(1.0 + elapsed).command.tolist() == pytest.approx([expected] * 2)


def test_discard_before_drops_old_chunks_now_and_later():
    arbiter = make()
    arbiter.offer(chunk(1.00, 0), 1.0)
    arbiter.offer(chunk(1.02, 1), 1.02)
    arbiter.discard_before(1.01)
    assert [c.worker_id for c in arbiter.candidates] == [1]
    assert arbiter.expirations['discarded'] == 1
    assert arbiter.offer(chunk(1.005, 2), 1.03) == 'discarded'
    assert arbiter.offer(chunk(1.015, 2), 1.03) is None
    arbiter.discard_before(1.03)
    assert arbiter.tick(1.03).fallback == 'hold'


def test_clock_jump_back_clears_old_timeline():
    arbiter = make()
    arbiter.offer(chunk(9.99, 0, rows=[(7.0, 7.0)]), 10.0)
    assert arbiter.tick(10.0).worker_id == 0
    decision = arbiter.tick(0.5)  # sim time reset
    assert decision.fallback == 'hold' and decision.command.tolist() == [7.0, 7.0]
    assert arbiter.clock_jumps == 1 and arbiter.expirations['clock_jump'] == 1
    assert arbiter.offer(chunk(0.49, 0, rows=[(1.0, 1.0)]), 0.5) is None  # not out of order
    assert arbiter.tick(0.51).worker_id == 0


def test_small_step_back_within_tolerance_is_not_a_jump():
    arbiter = make(future_stamp_tolerance_s=0.01)
    arbiter.offer(chunk(1.0), 1.0)
    arbiter.tick(1.0)
    assert arbiter.tick(0.995).worker_id == 0
    assert arbiter.clock_jumps == 0


def test_stored_chunk_from_the_future_is_dropped_on_next_arrival():
    arbiter = make(future_stamp_tolerance_s=0.01)
    arbiter.offer(chunk(5.0, 0), 5.0)
    arbiter.discard_before(-math.inf)
    # A host that resets its clock without telling: the next arrival reveals the jump.
    assert arbiter.offer(chunk(1.0, 1), 1.0) is None
    assert arbiter.expirations['clock_jump'] == 1
    assert [c.worker_id for c in arbiter.candidates] == [1]


def test_planned_follows_the_freshest_chunk_and_holds_its_last_row():
    arbiter = make()
    rows = [(float(k), -float(k)) for k in range(4)]
    arbiter.offer(chunk(1.0, 0, rows=rows), 1.0)
    arbiter.offer(chunk(0.99, 1, rows=[(9.0, 9.0)] * 4), 1.0)
    planned = arbiter.planned(1.015, 5, 0.01)
    assert planned.shape == (5, 2)
    assert planned[:, 0].tolist() == [1.0, 2.0, 3.0, 3.0, 3.0]


def test_planned_single_action_and_fallback():
    arbiter = make(default_behaviour='default', default_command=(0.5, 0.25))
    assert arbiter.planned(0.0, 3, 0.01).tolist() == [[0.5, 0.25]] * 3
    arbiter.offer(chunk(0.0, rows=[(200.0, 2.0)]), 0.0)
    assert arbiter.planned(0.0, 2, 0.05).tolist() == [[100.0, 2.0]] * 2  # clipped


def test_counters_name_every_reason():
    arbiter = make()
    arbiter.offer(chunk(0.0, rows=[(np.nan, 0.0)]), 0.0)
    arbiter.tick(0.0)
    counters = arbiter.counters()
    assert counters['rejected_non_finite'] == 1
    assert counters['ticks'] == counters['inaction_ticks'] == 1
    assert {'expired_too_old', 'rejected_out_of_order', 'clock_jumps'} <= set(counters)


@pytest.mark.parametrize('k', [1, 2, 3, 7, 15])
def test_row_index_at_an_exact_multiple_of_step_is_the_row_that_starts_there(k):
    # 0.03 / 0.01 evaluates to 2.9999...: the row that starts at k * step must cover it.
    assert row_index(0.0, 0.01, 16, k * 0.01) == k
    assert row_index(100.0, 0.01, 16, 100.0 + k * 0.01 - 1e-6) == k - 1
