"""Schedules driven by a fake clock: N simulated workers sleep, start, infer and report.

Each simulated worker behaves like a host's worker loop: it sleeps until ``next_start(i)``,
reads it again on waking (a report of another worker may have moved it later; it must never
have moved earlier, which a sleeping worker could not notice), starts, takes its inference
time and reports. Completions are the times fresh actions reach the arbiter.
"""

import heapq
import itertools
import math
import random

from hypothesis import example, given, settings
from hypothesis import strategies as st
import pytest

from rt_async_control.core.schedule import (
    apply_config,
    make_schedule,
    required_workers,
    ScheduleConfig,
)

DONE, ACT, WAKE = 0, 1, 2   # at equal times: reports, then live changes, then wake-ups
SETTINGS = settings(max_examples=100, deadline=None)


def simulate(schedule, duration, until, start=0.0, wake_late=None, at=(), held=None):
    """Run ``schedule`` with simulated workers until ``until``.

    :param schedule: an unstarted schedule.
    :param duration: ``(worker, k, started) -> inference time`` of worker's k-th inference.
    :param until: end of the simulation, seconds.
    :param start: time of ``schedule.start``.
    :param wake_late: ``() -> seconds`` a sleeping worker wakes late (OS jitter), or None.
    :param at: ``(time, callback(now))`` pairs run at those times (live changes).
    :param held: ``(worker, started, inference_time) -> seconds`` a finished inference is
        held back before its report arrives (a frozen process; ``inf``: killed), or None.
    :return: ``(starts, completions, reports)``: lists of ``(time, worker)``, and of
        ``(time, worker, inference_time)``.
    """
    schedule.start(start)
    n = schedule.num_workers
    seq = itertools.count()
    heap = [(schedule.next_start(j), WAKE, next(seq), j, 0.0, 0.0) for j in range(n)]
    heap += [(when, ACT, next(seq), k, 0.0, 0.0) for k, (when, _) in enumerate(at)]
    heapq.heapify(heap)
    read = [schedule.next_start(j) for j in range(n)]
    count = [0] * n
    starts, completions, reports = [], [], []
    while heap:
        t, kind, _, j, began, d = heapq.heappop(heap)
        if t > until:
            break
        if kind == ACT:
            at[j][1](t)
        elif kind == WAKE:
            due = schedule.next_start(j)
            assert due >= read[j] - 1e-9 * (1 + abs(due)), f'worker {j} start moved earlier'
            read[j] = due
            if due > t:
                late = wake_late() if wake_late else 0.0
                heapq.heappush(heap, (due + late, WAKE, next(seq), j, 0.0, 0.0))
                continue
            d = duration(j, count[j], t)
            count[j] += 1
            starts.append((t, j))
            extra = held(j, t, d) if held else 0.0
            if extra < math.inf:
                heapq.heappush(heap, (t + d + extra, DONE, next(seq), j, t, d))
        else:
            nxt = schedule.report(j, began, d)
            assert nxt == schedule.next_start(j)
            if began + d == t:  # a report held back may find its next start passed
                assert nxt >= t - 1e-9 * (1 + abs(t)), 'next start in the past'
            completions.append((t, j))
            reports.append((t, j, d))
            read[j] = nxt
            late = wake_late() if wake_late and nxt > t else 0.0
            heapq.heappush(heap, (max(nxt, t) + late, WAKE, next(seq), j, 0.0, 0.0))
    return starts, completions, reports


def gaps(events, after):
    times = [t for t, *_ in events if t >= after]
    return [b - a for a, b in zip(times, times[1:])]


def inaction_ticks(completions, period, phase, begin, end):
    """Return the ticks ``phase + k * period`` in ``[begin, end)`` with no fresh action.

    A fresh action completed at ``c`` is used at the first tick at or after ``c`` (ticks sample
    "the action that arrived since the previous tick", so each action serves one tick). A
    completion within 1e-6 periods after a tick counts as on it: float rounding must not push
    completions exactly one period apart (max_time with ``N = N*``) onto the next tick.
    """
    served = {math.ceil((c - phase) / period - 1e-6) for c, _ in completions}
    first, last = math.ceil((begin - phase) / period), math.floor((end - phase) / period)
    return [phase + k * period for k in range(first, last) if k not in served]


times_s = st.floats(0.002, 0.2)


@SETTINGS
@given(d=times_s, ratio=st.floats(1.0, 4.0), extra=st.integers(0, 2),
       init=st.floats(0.3, 1.0), phase=st.floats(0.0, 1.0), start=st.floats(0.0, 1e5))
def test_max_time_even_fresh_actions_and_no_inaction(d, ratio, extra, init, phase, start):
    period = d / ratio
    n = required_workers(d, period) + extra
    schedule = make_schedule(ScheduleConfig(initial_inference_time_s=d * init), n)
    until = start + 12 * d
    starts, completions, _ = simulate(schedule, lambda j, k, t: d, until, start)
    assert schedule.cycle == d
    # After the first report (a new maximum when init < 1) plus one cycle: one fresh action
    # every d / N, exactly.
    warm = start + 2 * d
    for gap in gaps(completions, warm) + gaps(starts, warm):
        assert gap == pytest.approx(d / n, rel=1e-6, abs=1e-9 * until)
    assert not inaction_ticks(completions, period, start + phase * period, warm + d, until)


def test_too_few_workers_do_show_inaction():
    # The inaction check can fail: N* - 1 workers leave ticks without a fresh action.
    d, period = 0.1, 0.03
    n = required_workers(d, period) - 1
    _, completions, _ = simulate(make_schedule(ScheduleConfig(initial_inference_time_s=d), n),
                                 lambda j, k, t: d, 3.0)
    assert len(inaction_ticks(completions, period, 0.0, 0.5, 3.0)) > 5


@SETTINGS
@given(d=times_s, n=st.integers(1, 10), spike=st.floats(1.01, 4.0), who=st.integers(0, 9),
       when=st.integers(2, 5), others=st.floats(0.3, 1.0))
def test_max_time_spike_restores_spacing_within_one_cycle(d, n, spike, who, when, others):
    # T_max starts at d; worker `who` once takes `big`; the rest take others * d, so at the
    # spike some workers are waiting (their published start moves) and some mid-inference.
    who %= n
    big = d * spike

    def duration(j, k, t):
        return big if (j, k) == (who, when) else d * (1.0 if j == who else others)

    schedule = make_schedule(ScheduleConfig(initial_inference_time_s=d), n)
    starts, _, reports = simulate(schedule, duration, 20 * big)
    assert schedule.cycle == big
    reported = next(t for t, j, x in reports if x == big)
    # Worker `who` restarts at once, and one cycle later every slot is taken: spacing big / N.
    assert (reported, who) in starts
    for gap in gaps(starts, reported + big - 1e-9):
        assert gap == pytest.approx(big / n, rel=1e-6)
    if big - d < d / n * 0.99:
        # A small overshoot: the others are shifted by ((j - i) mod N) * (big - d) / N, so the
        # spacing holds from the spike's report on.
        for gap in gaps(starts, reported - 1e-9):
            assert gap == pytest.approx(big / n, rel=1e-6)


@SETTINGS
@given(d=times_s, n=st.integers(2, 10), jitter=st.floats(0.0, 0.4), seed=st.integers(0, 99))
def test_max_time_wake_up_jitter_neither_skips_nor_accumulates(d, n, jitter, seed):
    # Workers wake up to `jitter` of a spacing late, and their inference is shorter than
    # T_max by more than that: each still starts once per cycle, within the jitter of its slot.
    rng = random.Random(seed)
    spacing = d / n
    schedule = make_schedule(ScheduleConfig(initial_inference_time_s=d), n)
    starts, _, _ = simulate(schedule, lambda j, k, t: d * 0.5, 50 * d,
                            wake_late=lambda: rng.uniform(0.0, jitter * spacing))
    assert len(starts) >= 50 * n
    for t, j in starts:
        slot = j * spacing + round((t - j * spacing) / d) * d
        assert slot - 1e-9 <= t <= slot + jitter * spacing + 1e-9


@SETTINGS
@example(d=0.1, n=3, init=1.2, alpha=1.0, margin=0.0, tolerance=0.1)
@example(d=0.1, n=8, init=1.2, alpha=1.0, margin=1.0, tolerance=0.1)
@example(d=0.1, n=3, init=0.8, alpha=0.05, margin=0.0, tolerance=0.1)
@given(d=times_s, n=st.integers(1, 10), init=st.floats(0.5, 2.0), alpha=st.floats(0.05, 1.0),
       margin=st.floats(0.0, 2.0), tolerance=st.floats(0.01, 0.5))
def test_exp_time_constant_times_keep_target_spacing(d, n, init, alpha, margin, tolerance):
    config = ScheduleConfig(mode='exp_time', initial_inference_time_s=d * init,
                            exp_alpha=alpha, exp_margin_std=margin,
                            exp_respread_tolerance=tolerance)
    schedule = make_schedule(config, n)
    until = 400 * d
    starts, _, _ = simulate(schedule, lambda j, k, t: d, until)
    # After the estimate has settled: even starts, cycle/N apart, the cycle near d.
    spacing = schedule.cycle / n
    assert schedule.cycle >= d * (1 - 1e-6)
    assert schedule.cycle <= d * (1 + tolerance) ** 2 + 1e-9
    for gap in gaps(starts, until - 40 * d):
        assert gap >= spacing * (1 - 1e-6)


def test_exp_time_uses_fewer_workers_than_max_time_for_varying_times():
    # Inference varies; the expected cycle is well below the maximum, and actions are fresher
    # (no padding) but come less evenly.
    rng = itertools.cycle([0.08, 0.1, 0.12, 0.09, 0.11, 0.1, 0.16, 0.1])
    times = [next(rng) for _ in range(4000)]
    results = {}
    for mode in ('max_time', 'exp_time'):
        it = iter(times)
        schedule = make_schedule(ScheduleConfig(mode=mode, initial_inference_time_s=0.1), 4)
        starts, completions, _ = simulate(schedule, lambda j, k, t, it=it: next(it), 40.0)
        results[mode] = (schedule.cycle, len(completions), max(gaps(completions, 5.0)))
    assert results['max_time'][0] == 0.16
    assert results['exp_time'][0] < 0.16
    assert required_workers(results['exp_time'][0], 0.03) < required_workers(0.16, 0.03)
    assert results['exp_time'][1] > results['max_time'][1]
    assert results['exp_time'][2] > 0.16 / 4


offsets_pc = st.lists(st.integers(0, 99), min_size=4, max_size=4, unique=True)


@SETTINGS
@given(old=offsets_pc, new=offsets_pc, cycle=st.floats(0.5, 2.0), change=st.floats(0.0, 3.0),
       seed=st.integers(0, 99))
def test_manual_live_change_from_next_cycle(old, new, cycle, change, seed):
    old_offsets = tuple(0.001 * k for k in old)
    new_offsets = tuple(0.001 * cycle * k for k in new)
    config = ScheduleConfig(mode='manual', manual_offsets_s=old_offsets, manual_cycle_s=0.1)
    schedule = make_schedule(config, 4)
    rng = random.Random(seed)
    draws = [rng.uniform(0.02, 0.15) for _ in range(400)]
    now = 1.0 + change * 0.1
    boundary = math.ceil(now / 0.1 - 1e-9) * 0.1

    def reconfigure(t):
        new_config = ScheduleConfig(mode='manual', manual_offsets_s=new_offsets,
                                    manual_cycle_s=0.1 * cycle)
        assert apply_config(schedule, new_config, t) is schedule

    starts, _, _ = simulate(schedule, lambda j, k, t: draws[4 * k % 400 + j], 3.0 + 2 * cycle,
                            at=[(now, reconfigure)])
    times = sorted(t for t, _ in starts)
    assert all(b - a > 1e-9 for a, b in zip(times, times[1:])), 'two workers at once'
    for t, j in starts:
        if t < boundary - 1e-9:
            grid = (t - old_offsets[j]) / 0.1
        else:
            grid = (t - boundary - new_offsets[j]) / (0.1 * cycle)
        assert grid == pytest.approx(round(grid), abs=1e-6)


@pytest.mark.parametrize('offsets', [(0.0, 0.03, 0.07), (0.05, 0.0, 0.09)])
def test_manual_offsets_are_respected(offsets):
    config = ScheduleConfig(mode='manual', manual_offsets_s=offsets, manual_cycle_s=0.1)
    starts, _, _ = simulate(make_schedule(config, 3), lambda j, k, t: 0.06 + 0.01 * j, 5.0)
    assert len(starts) > 3 * 45
    for t, j in starts:
        assert (t - offsets[j]) / 0.1 == pytest.approx(round((t - offsets[j]) / 0.1), abs=1e-6)


def test_unstaggered_workers_start_together():
    starts, completions, _ = simulate(make_schedule(ScheduleConfig(mode='none'), 4),
                                      lambda j, k, t: 0.05, 1.0)
    assert [t for t, _ in starts[:4]] == [0.0] * 4
    # All four finish together every 0.05 s: bursts of actions, none in between.
    assert [t for t, _ in completions] == pytest.approx(
        [0.05 * (k // 4 + 1) for k in range(len(completions))])
    assert len(completions) >= 4 * 19


@pytest.mark.parametrize('n', [1, 3, 8])
def test_exp_time_with_a_right_estimate_is_even_from_the_start(n):
    config = ScheduleConfig(mode='exp_time', initial_inference_time_s=0.05)
    starts, completions, _ = simulate(make_schedule(config, n), lambda j, k, t: 0.05, 2.0)
    assert gaps(starts, 0.0) == pytest.approx([0.05 / n] * (len(starts) - 1))
    assert len(completions) >= 39 * n
