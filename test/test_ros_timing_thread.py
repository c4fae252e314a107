"""The nodes' timing thread (ROS-free): absolute deadlines, errors reported, clean stop."""

from __future__ import annotations

import threading
import time

from rt_async_control.nodes.timing_thread import TimingThread
from rt_async_control.runtime.timing import monotonic_ns


def test_ticks_on_a_grid_and_survives_a_failing_tick():
    deadlines: list[int] = []
    woke: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def tick(deadline_ns: int) -> None:
        woke.append(monotonic_ns())
        deadlines.append(deadline_ns)
        if len(deadlines) == 3:
            raise RuntimeError('boom')
        if len(deadlines) >= 20:
            done.set()

    thread = TimingThread(0.005, tick, name='test', on_error=errors.append)
    thread.start()
    assert done.wait(timeout=10.0)  # generous: a shared machine
    thread.stop()
    count = len(deadlines)
    time.sleep(0.05)
    assert len(deadlines) == count  # stopped
    assert [str(e) for e in errors] == ['boom']
    steps = {b - a for a, b in zip(deadlines, deadlines[1:])}
    # Every deadline is on the grid (a whole number of periods after the previous one).
    assert all(step % thread.period_ns == 0 and step > 0 for step in steps)
    assert all(w >= d for w, d in zip(woke, deadlines))  # never before its deadline
    assert thread.scheduling != 'not started'


def test_ticks_on_a_simulated_clock_once_it_runs():
    # A /clock stand-in: 0 (nothing received) at first, then 2 ms of simulated time per step
    # (one clock message per state) from 5 s, then a restart from 1 s.
    sim_ns = [0]
    ticks: list[tuple[int, int]] = []
    done = threading.Event()

    def tick(deadline_ns: int) -> None:
        ticks.append((deadline_ns, sim_ns[0]))
        if len(ticks) >= 30:
            done.set()

    thread = TimingThread(0.01, tick, name='test-sim', clock_ns=lambda: sim_ns[0])
    thread.start()
    time.sleep(0.02)
    assert ticks == []  # no clock yet: no tick
    start, restart = 5_000_000_000, 1_000_000_000
    for k in range(3000):
        if done.is_set():
            break
        sim_ns[0] = start + k * 2_000_000 if k < 100 else restart + (k - 100) * 2_000_000
        time.sleep(0.0004)
    thread.stop()
    assert done.is_set()
    first = [(d, s) for d, s in ticks if s >= start]
    assert len(first) >= 5
    # On one grid, anchored where the thread first saw the clock.
    assert all((d - first[0][0]) % 10_000_000 == 0 for d, _ in first)
    assert all(s >= d for d, s in first)  # never before the simulated deadline
    assert sum(restart <= s < start for _, s in ticks) >= 5  # went on after the restart
