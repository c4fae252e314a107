"""The runtime's channel records and the worker's provisional start (no processes, no time)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rt_async_control.core.config import ScheduleConfig
from rt_async_control.core.messages import ActionChunk, chunk_problem, StampedState
from rt_async_control.core.schedule import make_schedule
from rt_async_control.runtime.records import fallback_name, Layout, ScheduleView
from rt_async_control.runtime.worker_process import provisional_start

LAYOUT = Layout(joint_names=('a', 'b'), obs_dim=5, action_dim=2, horizon=3, history=2,
                num_workers=3)


def test_state_round_trip():
    state = StampedState(12.5, 7, ('a', 'b'), np.array([1.0, 2.0]), np.array([3.0, 4.0]),
                         np.array([5.0, 6.0]), np.arange(5.0))
    record = LAYOUT.pack_state(state)
    assert record.shape == (LAYOUT.sizes()['state'],)
    back = LAYOUT.unpack_state(record)
    assert (back.stamp, back.seq, back.joint_names) == (12.5, 7, ('a', 'b'))
    for name in ('position', 'velocity', 'effort', 'observation'):
        np.testing.assert_array_equal(getattr(back, name), getattr(state, name))


@pytest.mark.parametrize('rows', [1, 3])
def test_action_round_trip(rows: int):
    chunk = ActionChunk(3.0, 2, 0.04, np.arange(2.0 * rows).reshape(rows, 2),
                        step=0.01 if rows > 1 else math.inf, started=3.001)
    record = LAYOUT.pack_action(chunk, real=0.001, emulated=0.039)
    assert record.shape == (LAYOUT.sizes()['action_0'],)
    back, real, emulated = LAYOUT.unpack_action(record)
    assert (back.observation_stamp, back.worker_id, back.inference_time, back.started,
            back.step) == (3.0, 2, 0.04, 3.001, chunk.step)
    np.testing.assert_array_equal(back.actions, chunk.actions)
    assert (real, emulated) == (0.001, 0.039)


def test_a_chunk_of_the_wrong_width_arrives_and_is_rejected_as_shape():
    chunk = ActionChunk(3.0, 0, 0.04, np.ones((1, 3)), started=3.0)
    back, _, _ = LAYOUT.unpack_action(LAYOUT.pack_action(chunk, 0.0, 0.0))
    assert back.actions.shape == (1, 3)
    assert chunk_problem(back, LAYOUT.action_dim) == 'shape'


def test_schedule_plan_and_command_records():
    record = LAYOUT.pack_schedule(1.0, 0.03, [4, 5, 6], [1.03, 1.04, 1.05], (0.0, 0.01, 0.02))
    view = LAYOUT.unpack_schedule(record)
    assert view == ScheduleView(1.0, 0.03, (4, 5, 6), (1.03, 1.04, 1.05), (0.0, 0.01, 0.02))
    plan = LAYOUT.unpack_plan(LAYOUT.pack_plan(2.0, np.arange(6.0).reshape(3, 2)))
    np.testing.assert_array_equal(plan, [[2.0, 3.0], [4.0, 5.0]])  # the newest `history`
    command = LAYOUT.pack_command(2.0, np.array([0.5, -0.5]), -1, math.nan, 'hold')
    np.testing.assert_array_equal(Layout.command_of(command), [0.5, -0.5])
    assert fallback_name(command[3]) == 'hold'


def _view(schedule, n: int) -> ScheduleView:
    return ScheduleView(schedule._anchor, schedule.cycle, (0,) * n,
                        tuple(schedule.next_start(i) for i in range(n)), schedule.offsets())


@pytest.mark.parametrize('inference', [0.025, 0.0249, 0.02])
def test_provisional_start_agrees_with_max_time_in_steady_state(inference: float):
    schedule = make_schedule(ScheduleConfig('max_time', initial_inference_time_s=0.025), 3)
    schedule.start(10.0)
    for _ in range(10):  # every worker through a few cycles, in start order
        worker = min(range(3), key=schedule.next_start)
        started = schedule.next_start(worker)
        view = _view(schedule, 3)
        guess = provisional_start(view, worker, started + inference, 'max_time')
        assert guess == pytest.approx(schedule.report(worker, started, inference), abs=1e-9)


def test_provisional_start_when_just_late_or_unstaggered():
    view = ScheduleView(0.0, 0.03, (0, 0, 0), (0.0, 0.01, 0.02), (0.0, 0.01, 0.02))
    # Finished 1 ms after its slot at 0.03 (less than half a spacing): start again at once.
    assert provisional_start(view, 0, 0.031, 'max_time') == 0.031
    # Finished well before its next slot: wait for it.
    assert provisional_start(view, 1, 0.025, 'max_time') == pytest.approx(0.04)
    assert provisional_start(view, 1, 0.025, 'none') == 0.025


def test_provisional_start_follows_the_active_set():
    # Worker 1 out (set_active): the schedule record carries its offset as nan, the others
    # are spaced cycle / 2, and worker 1 itself starts again at once (its report rejoins it).
    schedule = make_schedule(ScheduleConfig('max_time', initial_inference_time_s=0.03), 3)
    schedule.start(10.0)
    schedule.set_active([0, 2], 10.0)
    record = LAYOUT.pack_schedule(schedule.anchor, schedule.cycle, [0, 0, 0],
                                  [schedule.next_start(i) for i in range(3)],
                                  schedule.offsets())
    view = LAYOUT.unpack_schedule(record)
    assert math.isnan(view.offsets[1])
    assert provisional_start(view, 1, 10.2, 'max_time') == 10.2
    for worker in (0, 2):
        started = schedule.next_start(worker)
        guess = provisional_start(view, worker, started + 0.03, 'max_time')
        assert guess == pytest.approx(schedule.report(worker, started, 0.03), abs=1e-9)
    assert (schedule.next_start(2) - schedule.next_start(0)) % 0.03 == pytest.approx(0.015)


def test_episode_and_exits_records():
    sizes = LAYOUT.sizes()
    assert sizes['episode'] == 2 and sizes['exits'] == LAYOUT.num_workers
    record = Layout.pack_episode(3, 12.5)
    assert record.shape == (sizes['episode'],)
    assert Layout.unpack_episode(record) == (3, 12.5)
