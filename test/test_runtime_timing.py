"""Absolute-deadline sleep, periodic deadlines with missed-tick accounting, RT fallback."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import time

import pytest

from rt_async_control.runtime.timing import (
    MAX_SPIN_NS,
    PeriodicTimer,
    reset_scheduling,
    sleep_until,
    try_realtime,
)


@pytest.mark.parametrize('spin_ns', [0, 20_000])
def test_sleep_until_never_returns_before_its_deadline(spin_ns):
    rng = random.Random(0)
    for _ in range(100):
        deadline = time.monotonic_ns() + rng.randrange(-50_000, 300_000)
        returned = sleep_until(deadline, spin_ns=spin_ns)
        assert returned >= deadline
        assert time.monotonic_ns() >= deadline


def test_sleep_until_past_deadline_returns_at_once_and_spin_is_bounded():
    start = time.monotonic_ns()
    sleep_until(start - 1_000_000_000)
    sleep_until(start, spin_ns=10**12)  # an absurd spin is clamped to MAX_SPIN_NS
    assert time.monotonic_ns() - start < 100 * MAX_SPIN_NS  # generous: shared machine


class FakeClock:

    def __init__(self, now: int = 0) -> None:
        self.now = now
        self.slept: list[int] = []

    def __call__(self) -> int:
        return self.now

    def sleep(self, deadline: int) -> None:
        self.slept.append(deadline)
        self.now = max(self.now, deadline)


def test_periodic_timer_keeps_the_grid_and_skips_missed_ticks_without_burst():
    clock = FakeClock(0)
    timer = PeriodicTimer(100e-9, start_ns=1000, clock=clock, sleeper=clock.sleep)
    assert [timer.wait() for _ in range(3)] == [1000, 1100, 1200]
    assert timer.missed == 0
    clock.now = 1350 + 40  # the loop overran: ticks 1300 is due, 1300-1390 late but < period
    assert timer.next_deadline() == 1300 and timer.missed == 0
    clock.now = 1700 + 5  # 1400, 1500, 1600 passed unserved: skipped, not run back to back
    deadline = timer.next_deadline()
    assert deadline == 1700 and timer.missed == 3
    assert timer.next_deadline() == 1800  # back on the grid, in the future
    assert timer.ticks == 6


def test_periodic_timer_default_start_and_iteration():
    clock = FakeClock(5_000)
    timer = PeriodicTimer(1e-6, clock=clock, sleeper=clock.sleep)
    ticks = iter(timer)
    assert [next(ticks) for _ in range(3)] == [6_000, 7_000, 8_000]
    assert clock.slept == [6_000, 7_000, 8_000]
    with pytest.raises(ValueError, match='period_s'):
        PeriodicTimer(0.0)


def test_try_realtime_falls_back_with_a_notice():
    before = os.sched_getscheduler(0)
    notice = try_realtime(1000, {10**6}, timer_slack_ns=None)  # invalid priority and CPU
    assert 'SCHED_FIFO 1000 not applied' in notice and 'not applied' in notice.split(', ')[-1]
    assert os.sched_getscheduler(0) == before
    assert try_realtime(0, None, timer_slack_ns=None) == 'scheduling unchanged'


def _child_realtime(out) -> None:  # noqa: ANN001 - a multiprocessing Connection
    notice = try_realtime(10, None)
    out.send((notice, os.sched_getscheduler(0) == os.SCHED_FIFO, reset_scheduling()))


def test_try_realtime_reports_what_it_applied():
    recv, send = mp.get_context('spawn').Pipe(duplex=False)
    proc = mp.get_context('spawn').Process(target=_child_realtime, args=(send,))
    proc.start()
    notice, is_fifo, reset = recv.recv()
    proc.join(30)
    # Either outcome is legitimate (root here, unprivileged elsewhere); the notice must say it.
    assert ('SCHED_FIFO 10 not applied' not in notice) == is_fifo
    assert reset.startswith('SCHED_OTHER')
