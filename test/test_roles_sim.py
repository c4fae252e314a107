"""SimRole: physics follows the host's time, states when due, zero-order hold; fake time."""

from __future__ import annotations

import numpy as np
import pytest

from rt_async_control.core.config import SimConfig, StackConfig
from rt_async_control.roles.sim_role import SimRole
from rt_async_control.sim.simulator import Simulator

T0 = 1000.0


def _role(task: str = 'pendulum', factor: float = 1.0, period: float = 0.01) -> SimRole:
    role = SimRole(Simulator(task, seed=3), state_period_s=period, realtime_factor=factor)
    return role


def test_states_are_due_every_period_and_stamped_on_the_host_clock():
    role = _role()
    first = role.start(T0)
    assert first.stamp == T0
    assert role.advance(T0 + 0.005) is None
    state = role.advance(T0 + 0.01)
    assert state is not None and state.stamp == pytest.approx(T0 + 0.01)
    assert state.seq == first.seq + 1
    assert role.sim.time == pytest.approx(0.01)
    assert role.advance(T0 + 0.0101) is None


def test_a_late_call_gives_one_current_state_not_a_burst():
    role = _role()
    role.start(T0)
    state = role.advance(T0 + 0.055)
    # Physics moves in whole 2 ms steps: the state is the one at 54 ms.
    assert state.stamp == pytest.approx(T0 + 0.054)
    assert role.advance(T0 + 0.0599) is None
    assert role.next_state_due() == pytest.approx(T0 + 0.06)
    assert role.advance(T0 + 0.06) is not None


def test_apply_holds_the_command_from_now_and_clips_it():
    role = _role()
    role.start(T0)
    applied = role.apply(np.array([10.0]), T0 + 0.02)
    # Physics caught up with the old (zero) command before the new one took over.
    assert role.sim.time == pytest.approx(0.02)
    np.testing.assert_array_equal(applied, [2.0])
    np.testing.assert_array_equal(role.sim.command, [2.0])
    before = role.advance(T0 + 0.03).velocity.copy()
    after = role.advance(T0 + 0.04).velocity
    assert not np.allclose(before, after)  # the torque acts between the states
    assert role.commands == 1


def test_realtime_factor_scales_sim_time_and_stamps_stay_on_the_host_clock():
    role = _role(factor=2.0)
    role.start(T0)
    state = role.advance(T0 + 0.01)
    assert role.sim.time == pytest.approx(0.02)
    assert state.stamp == pytest.approx(T0 + 0.01)


def test_episodes_restart_and_are_scored():
    role = _role()
    role.start(T0)
    assert role.episode == 0 and role.episode_start == T0
    episode = role.spec.episode_s
    t = T0
    stamps = []
    while t < T0 + episode + 0.5:
        t += 0.01
        stamps.append((role.advance(t).stamp, role.episode))
    assert len(role.episodes) == 1
    # The reset reaches hosts as (episode, start): every state of the new episode is stamped
    # at or after the start, every state of the old one before it.
    assert role.episode == 1
    assert role.episode_start == pytest.approx(T0 + role.episodes[0].duration_s)
    assert all((stamp >= role.episode_start - 1e-9) == (index == 1) for stamp, index in stamps)
    assert role.episodes[0].duration_s == pytest.approx(episode, abs=0.011)
    assert role.sim.seed == 4
    assert role.sim.time == pytest.approx(t - T0 - role.episodes[0].duration_s, abs=1e-6)
    summary = role.summary()
    assert summary['episodes'] == 1
    assert summary['task_return'] == role.episodes[0].episode_return


def test_from_config_uses_task_seed_and_state_period():
    config = StackConfig(task='arm', state_period_s=0.02,
                         sim=SimConfig(task='arm', state_period_s=0.02, seed=9))
    role = SimRole.from_config(config)
    assert role.spec.name == 'arm' and role.sim.seed == 9
    role.start(0.0)
    assert role.advance(0.01) is None and role.advance(0.02) is not None


def test_advance_before_start_is_an_error():
    with pytest.raises(RuntimeError, match='start'):
        _role().advance(1.0)


def test_a_state_due_at_a_float_sum_of_periods_is_not_missed():
    role = _role()
    role.start(0.0)
    for k in range(1, 30):
        # A host's own float arithmetic may land a hair below the due time k * 0.01.
        assert role.advance(k * 0.01 - 1e-12) is not None
