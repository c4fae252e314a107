"""A dedicated thread that calls a function at absolute deadlines ``start + k * period``.

An rclpy timer is dispatched by the executor: its callback runs after whatever else the
executor is doing, with millisecond jitter under load. The arbiter's output and the
simulator's real-time stepping run here instead, sleeping with ``clock_nanosleep`` to absolute
``CLOCK_MONOTONIC`` deadlines (:mod:`rt_async_control.runtime.timing`), optionally under
SCHED_FIFO for this thread only. The executor keeps serving subscriptions and parameter
services in the main thread; publishing from this thread is safe in rclpy.

On simulated time (``use_sim_time`` and a ``/clock`` from someone else) the deadlines are on
the node's ROS clock instead: its rate against the monotonic clock is unknown (a realtime
factor) and it only moves when a ``/clock`` message arrives, so the thread polls it every
:data:`SIM_POLL_S` of wall time, and waits for the first ``/clock`` before the first deadline.
"""

from __future__ import annotations

from collections.abc import Callable
import threading

from rt_async_control.runtime.timing import PeriodicTimer, sleep_until, try_realtime

#: Wall-clock seconds between two looks at a simulated clock.
SIM_POLL_S = 0.0005


class TimingThread:
    """Call ``tick(deadline_ns)`` once per period, each time at (just after) the deadline.

    A tick that raises is reported through ``on_error`` and the loop goes on: nothing stops
    the control output but :meth:`stop`. When a tick overruns by more than a period, the
    passed deadlines are skipped (counted in :attr:`missed`), never run in a burst.

    :param period_s: period in seconds (> 0).
    :param tick: called with the deadline in ``CLOCK_MONOTONIC`` ns.
    :param name: thread name (shows in ``top -H``).
    :param priority: SCHED_FIFO priority for this thread, 0 to leave the scheduler alone.
    :param cpus: CPUs to pin this thread to, or ``None``.
    :param spin_ns: busy-wait before each deadline (0 = none), see ``sleep_until``.
    :param on_error: called with the exception of a failed tick.
    :param clock_ns: a simulated clock (ns, 0 until it is set) to tick on instead of
        ``CLOCK_MONOTONIC``; ``tick`` then receives deadlines on that clock.
    """

    def __init__(self, period_s: float, tick: Callable[[int], None], *, name: str = 'timing',
                 priority: int = 0, cpus: set[int] | None = None, spin_ns: int = 0,
                 on_error: Callable[[BaseException], None] | None = None,
                 clock_ns: Callable[[], int] | None = None) -> None:
        """Prepare the thread; :meth:`start` runs it."""
        self._period_s = period_s
        self._clock_ns = clock_ns
        self._timer = PeriodicTimer(period_s)  # replaced on a simulated clock once it runs
        self._tick = tick
        self._priority = priority
        self._cpus = cpus
        self._spin_ns = spin_ns
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        #: What :func:`try_realtime` applied to this thread (set once the thread runs).
        self.scheduling = 'not started'
        #: Lateness of the latest wake-up after its deadline, ns.
        self.last_late_ns = 0
        self._started = threading.Event()

    @property
    def missed(self) -> int:
        """Return the number of deadlines skipped because a tick overran."""
        return self._timer.missed

    @property
    def period_ns(self) -> int:
        """Return the period in ns."""
        return self._timer.period_ns

    def start(self) -> None:
        """Start the thread and wait until it has applied its scheduling."""
        self._thread.start()
        self._started.wait(timeout=5.0)

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the loop to end after the current tick and wait for it.

        :param timeout: seconds to wait for the thread.
        """
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        # On Linux sched_setscheduler(0) and sched_setaffinity(0) act on the calling thread,
        # so only this thread becomes real-time; the executor thread stays SCHED_OTHER.
        self.scheduling = try_realtime(self._priority, self._cpus)
        self._started.set()
        sleep = self._sleep_monotonic
        if self._clock_ns is not None:
            sleep = self._sleep_simulated
            while self._clock_ns() <= 0 and not self._stop.wait(SIM_POLL_S):
                pass  # no /clock yet: simulated time is 0 until the first message
            self._timer = PeriodicTimer(self._period_s, clock=self._clock_ns, sleeper=sleep)
        while not self._stop.is_set():
            deadline = self._timer.next_deadline()
            woke = sleep(deadline)
            self.last_late_ns = woke - deadline
            if self._stop.is_set():
                break
            try:
                self._tick(deadline)
            except Exception as exc:  # noqa: BLE001 - reported; the loop must keep going
                if self._on_error is not None:
                    self._on_error(exc)

    def _sleep_monotonic(self, deadline: int) -> int:
        return sleep_until(deadline, self._spin_ns)

    def _sleep_simulated(self, deadline: int) -> int:
        clock = self._clock_ns
        assert clock is not None
        while (now := clock()) < deadline and not self._stop.wait(SIM_POLL_S):
            if now < deadline - 2 * self._timer.period_ns:
                # The clock went back (the simulation restarted): a new grid from now on.
                self._timer = PeriodicTimer(self._period_s, clock=clock,
                                            sleeper=self._sleep_simulated)
                return deadline
        return now
