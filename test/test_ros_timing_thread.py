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
