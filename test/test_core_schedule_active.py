"""Workers that die, freeze and come back: ``set_active`` re-spreads the cycle over the rest.

Simulated with the fake-clock workers of :mod:`test_core_schedule_sim`: a frozen worker is one
whose inference does not end (or ends when it resumes), which is all a schedule can see of a
killed or stopped process.
"""

import math

from hypothesis import given
from hypothesis import strategies as st
import pytest
from test_core_schedule_sim import gaps, SETTINGS, simulate

from rt_async_control.core.schedule import make_schedule, ScheduleConfig, switch_schedule
from rt_async_control.core.schedule_grid import best_anchor, preview_next_start
from rt_async_control.errors import InputError


def _frozen(who, frozen_at, resumed=math.inf):
    # Worker `who` freezes in its first inference started after `frozen_at`: its report
    # arrives when it resumes (a killed worker's never does), with the inference time it
    # measured before.
    def held(j, started, d):
        if j == who and frozen_at <= started < resumed:
            return max(resumed - started - d, 0.0)
        return 0.0
    return held


class _Host:
    """The schedule as ArbiterRole drives it: a worker's report arriving takes it back first.

    :param schedule: the schedule.
    :param held: the simulation's ``held`` (when each report arrives).
    """

    def __init__(self, schedule, held):
        self.schedule, self.held = schedule, held

    def __getattr__(self, name):
        return getattr(self.schedule, name)

    def report(self, worker, started, inference_time):
        schedule = self.schedule
        if worker not in schedule.active:
            arrival = started + inference_time + self.held(worker, started, inference_time)
            schedule.set_active(schedule.active + (worker,), arrival)
        return schedule.report(worker, started, inference_time)


def _completions_of(completions, workers, begin, end):
    return [(t, j) for t, j in completions if j in workers and begin <= t < end]


@SETTINGS
@given(mode=st.sampled_from(['max_time', 'exp_time']), d=st.floats(0.005, 0.2),
       n=st.integers(2, 8), who=st.integers(0, 7), frozen=st.floats(0.0, 1.0),
       notice=st.floats(0.0, 3.0), start=st.floats(0.0, 1e4))
def test_respread_evens_completions_within_one_cycle_and_rejoin_restores(
        mode, d, n, who, frozen, notice, start):
    who %= n
    frozen_at = start + (3 + frozen) * d
    told = frozen_at + (1 + notice) * d    # the host decides the worker is gone (frozen)
    resumed = told + 5 * d
    config = ScheduleConfig(mode=mode, initial_inference_time_s=d)
    schedule = make_schedule(config, n)
    rest = set(range(n)) - {who}
    held = _frozen(who, frozen_at, resumed)
    host = _Host(schedule, held)
    at = [(told, lambda now: schedule.set_active(rest, now))]
    _, completions, _ = simulate(host, lambda j, k, t: d, resumed + 5 * d, start, at=at,
                                 held=held)
    cycle = schedule.cycle
    assert cycle == pytest.approx(d)
    # Within one cycle (plus the inference in flight) the others are evenly spaced.
    tol = 1e-6 * d + 1e-9 * resumed
    window = _completions_of(completions, rest, told + cycle + d + tol, resumed)
    assert len(window) >= n - 1
    for gap in gaps(window, -math.inf):
        assert gap == pytest.approx(cycle / (n - 1), abs=tol)
    # The frozen worker's report at `resumed` brings it back: cycle / N again within a cycle.
    assert schedule.active == tuple(range(n))
    back = [(t, j) for t, j in completions if t >= resumed + cycle + d + tol]
    assert len(back) >= n
    for gap in gaps(back, -math.inf):
        assert gap == pytest.approx(cycle / n, abs=tol)


@pytest.mark.parametrize('mode', ['max_time', 'exp_time', 'manual', 'none'])
def test_offsets_follow_the_active_set_and_waiting_starts_never_move_earlier(mode):
    config = ScheduleConfig(mode=mode, initial_inference_time_s=0.04,
                            manual_offsets_s=(0.0, 0.005, 0.03, 0.035), manual_cycle_s=0.04)
    schedule = make_schedule(config, 4)
    schedule.start(10.0)
    before = [schedule.next_start(j) for j in range(4)]
    schedule.set_active([3, 0, 2], 10.001)
    assert schedule.active == (0, 2, 3)
    offsets = schedule.offsets()
    assert math.isnan(offsets[1])
    if mode == 'none':
        assert offsets[0] == offsets[2] == offsets[3] == 0.0
    else:
        assert [offsets[j] for j in (0, 2, 3)] == pytest.approx([0.0, 0.04 / 3, 0.08 / 3])
    for j in (0, 2, 3):
        assert schedule.next_start(j) >= before[j]
    # The worker's own preview of its start uses the same spacing; an inactive one starts now.
    assert preview_next_start(mode, schedule.anchor, offsets, schedule.cycle, 1, 10.5) == 10.5
    if mode != 'none':
        slot = preview_next_start(mode, schedule.anchor, offsets, schedule.cycle, 2, 10.2)
        assert (slot - schedule.anchor - offsets[2]) / 0.04 == pytest.approx(
            round((slot - schedule.anchor - offsets[2]) / 0.04))
    # Its report brings worker 1 back; the configured offsets apply again (manual).
    schedule.report(1, 10.06, 0.04)
    assert schedule.active == (0, 1, 2, 3)
    if mode == 'manual':
        assert schedule.offsets() == config.manual_offsets_s
    elif mode != 'none':
        assert schedule.offsets() == pytest.approx([0.0, 0.01, 0.02, 0.03])


def test_switching_mode_keeps_the_active_set():
    schedule = make_schedule(ScheduleConfig(initial_inference_time_s=0.04), 4)
    schedule.start(0.0)
    schedule.set_active([0, 1, 3], 0.01)
    switched = switch_schedule(schedule, ScheduleConfig(mode='exp_time'), 0.02)
    assert switched.active == (0, 1, 3) and math.isnan(switched.offsets()[2])


@pytest.mark.parametrize('workers', [[], [0, 4], [-1]])
def test_set_active_refuses_an_empty_or_bad_set(workers):
    schedule = make_schedule(ScheduleConfig(), 4)
    schedule.start(0.0)
    with pytest.raises(InputError, match='active workers'):
        schedule.set_active(workers, 0.01)
    assert schedule.active == (0, 1, 2, 3)


@given(refs=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=12),
       cycle=st.floats(0.01, 1.0))
def test_best_anchor_waits_least_in_all(refs, cycle):
    offsets = [k * cycle / len(refs) for k in range(len(refs))]

    def total(anchor):  # a wait of a cycle less rounding is none (slot tolerance)
        return sum(w if (w := (anchor + o - r) % cycle) < cycle - 1e-9 else 0.0
                   for r, o in zip(refs, offsets))

    brute = min(total(r - o) for r, o in zip(refs, offsets))
    assert total(best_anchor(refs, offsets, cycle)) == pytest.approx(brute, abs=1e-9 * len(refs))
