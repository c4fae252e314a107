"""Reliability at role level, fake time: bad chunks, time jumps, live changes that are refused.

The embedded runtime and the ROS nodes both go through :class:`ArbiterRole`, so what is checked
here holds on every host: a chunk that is not finite or has the wrong shape is refused and
counted and never acts; a time jump backwards drops every chunk of the old timeline; a refused
live parameter change names the reason and leaves every setting (and the schedule) as it was.
Also the fault plan parser and the faulty policy wrapper (rt_async_control.runtime.faults).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from rt_async_control.core.config import ArbiterConfig, SimConfig, StackConfig
from rt_async_control.core.messages import ActionChunk
from rt_async_control.core.schedule_config import ScheduleConfig
from rt_async_control.errors import InputError
from rt_async_control.roles.arbiter_role import ArbiterRole
from rt_async_control.runtime.faults import (
    FaultPlan,
    FaultyPolicy,
    PolicyFault,
    ProcessFault,
    wrap_policy,
)
from rt_async_control.sim.tasks import load_task

T = 0.01


def _role(num_workers: int = 3, **arbiter: object) -> ArbiterRole:
    config = StackConfig(task='arm', sim=SimConfig(task='arm'),
                         schedule=ScheduleConfig(mode='max_time',
                                                 initial_inference_time_s=0.03),
                         arbiter=ArbiterConfig(**arbiter))
    role = ArbiterRole.for_task(config, num_workers, load_task('arm'))
    role.start(100.0)
    return role


def _chunk(worker: int, stamp: float, values: object = 0.5, rows: int = 1,
           cols: int = 3) -> ActionChunk:
    actions = np.broadcast_to(np.asarray(values, np.float64), (rows, cols)).copy()
    return ActionChunk(observation_stamp=stamp, worker_id=worker, inference_time=0.03,
                       actions=actions, started=stamp)


@pytest.mark.parametrize(('values', 'cols', 'reason'), [
    (math.nan, 3, 'non_finite'), (math.inf, 3, 'non_finite'), (-math.inf, 3, 'non_finite'),
    (0.5, 4, 'shape'), (0.5, 2, 'shape')])
def test_bad_chunk_is_refused_counted_and_never_applied(values: float, cols: int, reason: str):
    role = _role(default_behaviour='hold')
    assert role.on_action(_chunk(0, 100.0, 0.25), 100.03) is None
    first = role.tick(100.03)
    assert first.worker_id == 0
    assert role.on_action(_chunk(1, 100.02, values, cols=cols), 100.05) == reason
    decision = role.tick(100.05)
    # The older valid chunk of worker 0 still acts: a bad chunk is just "not valid".
    assert decision.worker_id == 0 and decision.fallback is None
    assert np.isfinite(decision.command).all()
    np.testing.assert_array_equal(decision.command, first.command)
    summary = role.summary()
    assert summary['counters'][f'rejected_{reason}'] == 1
    assert summary['workers'][1]['rejected'] == 1
    assert role.diagnostics(100.05)['workers'][1]['last_reason'] == reason
    # The bad chunk still took the worker's time: the schedule heard about it.
    assert role.reports[1] == 1


def test_time_jump_backwards_drops_the_old_timeline():
    role = _role(default_behaviour='zero')
    role.on_action(_chunk(0, 100.0, 0.7), 100.03)
    assert role.tick(100.04).worker_id == 0
    # Simulator restarted: time (sim time on ROS) is back at 0.5 s.
    decision = role.tick(0.5)
    assert decision.fallback == 'zero' and decision.worker_id == -1
    np.testing.assert_array_equal(decision.command, np.zeros(3))
    counters = role.summary()['counters']
    assert counters['clock_jumps'] == 1 and counters['expired_clock_jump'] == 1
    # A chunk from the new timeline acts again.
    assert role.on_action(_chunk(2, 0.5, -0.3), 0.53) is None
    assert role.tick(0.54).worker_id == 2


def test_discard_before_a_reset_refuses_chunks_from_the_old_episode():
    role = _role(default_behaviour='hold')
    role.on_action(_chunk(0, 100.0, 0.7), 100.03)
    role.tick(100.04)
    reset = 100.05
    role.arbiter.discard_before(reset)
    # In flight during the reset: computed from a state of the old episode.
    assert role.on_action(_chunk(1, 100.04, 0.9), 100.07) == 'discarded'
    decision = role.tick(100.08)
    assert decision.fallback == 'hold'
    assert role.on_action(_chunk(2, 100.06, -0.2), 100.09) is None
    assert role.tick(100.10).worker_id == 2


def _state(role: ArbiterRole) -> tuple:
    schedule = role.schedule
    arbiter = role.arbiter
    return (role.config, arbiter.config, schedule.mode, schedule.cycle,
            schedule.offsets(), [schedule.next_start(i) for i in range(role.num_workers)],
            copy.deepcopy(getattr(schedule, '__dict__', {})), arbiter.counters(),
            arbiter.last_command.tolist(), arbiter.planned(100.05, 2, T).tolist(),
            [(c.worker_id, c.observation_stamp) for c in arbiter.candidates])


@pytest.mark.parametrize(('node', 'values', 'names'), [
    ('arbiter', {'max_action_age_s': -1.0}, ('max_action_age_s', '-1')),
    ('arbiter', {'max_action_age_s': 'soon'}, ('max_action_age_s', 'soon')),
    ('arbiter', {'default_behaviour': 'panic'}, ('default_behaviour', 'panic')),
    ('arbiter', {'schedule': 'fastest'}, ('schedule', 'fastest')),
    ('arbiter', {'rate_limit_per_s': math.nan}, ('rate_limit_per_s',)),
    ('arbiter', {'not_a_parameter': 1.0}, ('not_a_parameter',)),
])
def test_invalid_live_value_is_refused_with_a_reason(node: str, values: dict,
                                                     names: tuple[str, ...]):
    role = _role()
    before = role.config
    with pytest.raises(InputError) as info:
        role.config.with_values(node, values)
    message = str(info.value)
    assert '\n' not in message
    for name in names:
        assert name in message
    assert role.config is before


@pytest.mark.parametrize('values', [{'control_period_s': 0.02}, {'task': 'pendulum'}])
def test_live_change_of_a_fixed_setting_changes_nothing(values: dict):
    role = _role()
    role.on_action(_chunk(0, 100.0), 100.03)
    role.tick(100.04)
    before = _state(role)
    try:
        new = role.config.with_values('/**', values)
    except InputError:
        return  # refused while building the config: nothing could change
    with pytest.raises(InputError, match=next(iter(values))):
        role.reconfigure(new, 100.05)
    assert _state(role) == before


def test_refused_live_change_leaves_the_schedule_as_it_was():
    # A valid schedule change together with a default command of the wrong length: the whole
    # change is refused, including the schedule part (no half-applied configuration).
    role = _role()
    role.on_action(_chunk(0, 100.0), 100.03)
    role.tick(100.04)
    before = _state(role)
    new = role.config.with_values('arbiter', {'initial_inference_time_s': 0.05,
                                              'default_command': [0.1, 0.2]})
    with pytest.raises(InputError, match='default_command'):
        role.reconfigure(new, 100.05)
    assert _state(role) == before


# -- the fault plan ---------------------------------------------------------------------------

def test_fault_plan_parses_the_documented_example():
    plan = FaultPlan.parse('nan@3,spike20@5,kill:1@2.0,stop:0@1.0-1.5,inf:2@%4,shape@%10,'
                           'nan:1@30-32.5s,spike20:2@60s')
    assert plan.policy == (PolicyFault('nan', 3), PolicyFault('spike', 5, factor=20.0),
                           PolicyFault('inf', 4, every=True, worker=2),
                           PolicyFault('shape', 10, every=True),
                           PolicyFault('nan', 0, worker=1, at_s=30.0, until_s=32.5),
                           PolicyFault('spike', 0, worker=2, factor=20.0, at_s=60.0))
    assert plan.process == (ProcessFault('stop', 0, 1.0, 1.5), ProcessFault('kill', 1, 2.0))
    assert FaultPlan.parse(str(plan)) == plan
    assert plan.windows(9.0) == [(1.0, 1.5, 'stop:0@1-1.5'), (2.0, 9.0, 'kill:1@2')]
    assert not FaultPlan.parse('') and not FaultPlan.parse(None)
    with pytest.raises(InputError, match='worker 3'):
        FaultPlan.parse('kill:3@1.0').check_workers(3)


@pytest.mark.parametrize('text', ['nan', 'nan@0', 'nan@1.5', 'nan@x', 'spike@3', 'spike1@3',
                                  'kill@1.0', 'stop:0@2.0-1.0', 'stop:0@-1', 'melt@3',
                                  'nan2@3', 'kill:0@inf', 'nan@3-2s', 'nan@xs'])
def test_fault_plan_refuses_bad_items_in_one_line(text: str):
    with pytest.raises(InputError) as info:
        FaultPlan.parse(f'nan@2,{text}')
    assert text.split('@')[0] in str(info.value) and '\n' not in str(info.value)


class _Policy:
    metadata = 'meta'

    def __init__(self) -> None:
        self.calls = 0
        self.warm = 0

    def __call__(self, observation: np.ndarray, in_flight: object = None) -> np.ndarray:
        self.calls += 1
        return np.full((2, 3), 0.5)

    def warmup(self, calls: int = 10) -> None:
        self.warm += calls


def test_faulty_policy_spoils_exactly_the_planned_calls():
    slept = []
    inner = _Policy()
    policy = wrap_policy(inner, 'nan:1@%3,inf@4,shape:1@5,spike20:1@2', 1, 0.04)
    assert isinstance(policy, FaultyPolicy) and policy.metadata == 'meta'
    policy.sleep = slept.append
    policy.warmup(7)  # warm-up calls do not count
    outputs = [policy(np.zeros(3)) for _ in range(6)]
    assert inner.warm == 7 and inner.calls == 6
    kinds = ['ok', 'ok', 'nan', 'inf', 'shape', 'nan']
    for out, kind in zip(outputs, kinds):
        if kind == 'ok':
            np.testing.assert_array_equal(out, np.full((2, 3), 0.5))
        elif kind == 'nan':
            assert out.shape == (2, 3) and np.isnan(out).all()
        elif kind == 'inf':
            assert out.shape == (2, 3) and np.isposinf(out).all()
        else:
            assert out.shape == (2, 4)
    assert slept == [pytest.approx(19 * 0.04)]
    assert policy.injected == {'nan': 2, 'inf': 1, 'shape': 1, 'spike': 1}
    # Worker 0 is hit only by the faults without a worker.
    assert wrap_policy(inner, 'nan:1@%3', 0) is inner


def test_timed_policy_faults_count_from_the_first_call():
    now = [50.0]
    inner = _Policy()
    policy = wrap_policy(inner, 'nan@1-1.5s,spike3@2s', 0, 0.1)
    policy.clock = lambda: now[0]
    slept = []
    policy.sleep = slept.append
    hits = []
    for _ in range(30):  # one call every 0.1 s from 50.0 (the origin) on
        hits.append(bool(np.isnan(policy(np.zeros(3))).all()))
        now[0] += 0.1
    elapsed = np.arange(30) * 0.1
    np.testing.assert_array_equal(hits, (elapsed >= 1.0 - 1e-9) & (elapsed < 1.5 - 1e-9))
    assert slept == [pytest.approx(0.2)]  # once, at the first call at or after 2 s
