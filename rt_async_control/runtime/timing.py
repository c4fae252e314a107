"""Real-time timing for the embedded runtime: absolute-deadline sleep, periodic ticks, SCHED_FIFO.

All times are integer nanoseconds on ``CLOCK_MONOTONIC`` (the clock of ``time.monotonic_ns``).
Loops sleep to ABSOLUTE deadlines, never "the rest of the period": a late wake-up then delays
one tick instead of shifting every later tick (drift).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import ctypes
import ctypes.util
import errno
import os
import time

#: Clock every function here reads; ``time.monotonic_ns`` is ``CLOCK_MONOTONIC`` on Linux.
monotonic_ns: Callable[[], int] = time.monotonic_ns

_CLOCK_MONOTONIC = 1
_TIMER_ABSTIME = 1
_MCL_CURRENT = 1
_MCL_FUTURE = 2
_PR_SET_TIMERSLACK = 29
#: Upper bound of the optional final spin: spinning longer (maybe under SCHED_FIFO) could
#: starve the other processes on a small machine.
MAX_SPIN_NS = 100_000


class _Timespec(ctypes.Structure):
    _fields_ = [('tv_sec', ctypes.c_long), ('tv_nsec', ctypes.c_long)]


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        libc.clock_nanosleep.argtypes = [ctypes.c_int, ctypes.c_int,
                                         ctypes.POINTER(_Timespec), ctypes.POINTER(_Timespec)]
        libc.clock_nanosleep.restype = ctypes.c_int
        return libc
    except (OSError, AttributeError):  # not glibc/musl Linux: fall back to time.sleep
        return None


_LIBC = _load_libc()
#: Whether :func:`sleep_until` uses ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``.
HAVE_ABSTIME = _LIBC is not None


def sleep_until(deadline_ns: int, spin_ns: int = 0) -> int:
    """Sleep until ``CLOCK_MONOTONIC`` reaches ``deadline_ns``; never return before it.

    Uses ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`` (ctypes releases the GIL), so a
    wake-up is late only by the kernel's latency and a signal does not shorten or lengthen the
    sleep. With ``spin_ns`` > 0 it sleeps to ``deadline_ns - spin_ns`` and busy-waits the rest:
    more precise, at the price of a core for that long (bounded by :data:`MAX_SPIN_NS`).

    :param deadline_ns: absolute deadline in ns on ``CLOCK_MONOTONIC``.
    :param spin_ns: final busy-wait in ns (0 = none, at most :data:`MAX_SPIN_NS`).
    :return: the time it returned, in ns (``>= deadline_ns``).
    """
    spin_ns = min(max(int(spin_ns), 0), MAX_SPIN_NS)
    wake_ns = int(deadline_ns) - spin_ns
    now = monotonic_ns()
    if wake_ns > now and _LIBC is not None:
        ts = _Timespec(wake_ns // 1_000_000_000, wake_ns % 1_000_000_000)
        rc = errno.EINTR
        while rc == errno.EINTR:  # a signal woke us: sleep again, the deadline is absolute
            rc = _LIBC.clock_nanosleep(_CLOCK_MONOTONIC, _TIMER_ABSTIME, ctypes.byref(ts), None)
    # Fallback (no libc, or clock_nanosleep failed): relative sleeps, so the spin below
    # never has to cover more than the last few microseconds.
    while (now := monotonic_ns()) < wake_ns:
        time.sleep((wake_ns - now) / 1e9)
    # The final spin, and a guard that the call never returns early whatever the sleep did.
    while (now := monotonic_ns()) < deadline_ns:
        pass
    return now


class PeriodicTimer:
    """Absolute deadlines ``start_ns + k * period`` with missed-tick accounting.

    When the caller is late by more than a period, the ticks that passed are counted in
    :attr:`missed` and skipped: the next deadline is the latest one not in the future, so a
    late loop runs once, late, and then is back on the grid (never a burst of catch-up ticks).

    Usage::

        timer = PeriodicTimer(0.002)
        for deadline_ns in timer:          # sleeps to each deadline
            do_work(deadline_ns / 1e9)

    :param period_s: tick period in seconds (> 0).
    :param start_ns: first deadline (default: now + one period).
    :param clock: ns clock, injectable for tests (default ``CLOCK_MONOTONIC``).
    :param sleeper: ``sleeper(deadline_ns)`` sleeps to a deadline (default :func:`sleep_until`).
    """

    def __init__(self, period_s: float, start_ns: int | None = None, *,
                 clock: Callable[[], int] = monotonic_ns,
                 sleeper: Callable[[int], object] = sleep_until) -> None:
        """Set the grid; see the class docstring."""
        if not period_s > 0:
            raise ValueError(f'period_s: {period_s!r} must be > 0')
        self.period_ns = round(period_s * 1e9)
        self._clock = clock
        self._sleeper = sleeper
        self._next_ns = clock() + self.period_ns if start_ns is None else int(start_ns)
        #: Ticks skipped because the caller was more than a period late.
        self.missed = 0
        #: Deadlines handed out so far.
        self.ticks = 0

    def next_deadline(self) -> int:
        """Return the next deadline to sleep to (no sleeping), skipping passed ticks.

        :return: absolute deadline in ns; at most one period in the past.
        """
        deadline = self._next_ns
        late = self._clock() - deadline
        if late >= self.period_ns:
            skipped = late // self.period_ns
            self.missed += skipped
            deadline += skipped * self.period_ns
        self._next_ns = deadline + self.period_ns
        self.ticks += 1
        return deadline

    def wait(self) -> int:
        """Sleep to the next deadline and return it.

        :return: the deadline slept to, in ns.
        """
        deadline = self.next_deadline()
        self._sleeper(deadline)
        return deadline

    def __iter__(self) -> Iterator[int]:
        """Sleep to each deadline in turn and yield it, forever."""
        while True:
            yield self.wait()


def try_realtime(priority: int, cpus: set[int] | None = None,
                 timer_slack_ns: int | None = 1) -> str:
    """Put the calling process under SCHED_FIFO at ``priority`` and pin it to ``cpus``.

    Each part is best effort: what is not permitted (no CAP_SYS_NICE, RT throttled, CPUs not
    in this container) is skipped and named in the returned line; nothing raises.

    :param priority: SCHED_FIFO priority (1..99); 0 or less leaves the scheduler alone.
    :param cpus: CPUs to run on, or ``None`` to leave the affinity alone.
    :param timer_slack_ns: timer slack to set (Linux adds 50 us by default to every
        SCHED_OTHER sleep), or ``None`` to leave it alone.
    :return: one line naming what was applied and what was not, for the log.
    """
    parts = []
    if timer_slack_ns is not None:
        parts.append(set_timer_slack(timer_slack_ns))
    if priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
            parts.append(f'SCHED_FIFO {priority}')
        except (OSError, AttributeError) as err:
            parts.append(f'SCHED_FIFO {priority} not applied ({_reason(err)}), SCHED_OTHER')
    if cpus is not None:
        try:
            os.sched_setaffinity(0, cpus)
            parts.append(f'cpus {sorted(cpus)}')
        except (OSError, AttributeError, ValueError) as err:
            parts.append(f'cpus {sorted(cpus)} not applied ({_reason(err)})')
    return ', '.join(parts) if parts else 'scheduling unchanged'


def set_timer_slack(slack_ns: int) -> str:
    """Set the calling thread's timer slack (``prctl(PR_SET_TIMERSLACK)``), best effort.

    Linux lets a SCHED_OTHER sleep end up to the slack (50 us by default) late so it can
    batch wake-ups; a control loop wants its deadline instead. SCHED_FIFO has no slack.

    :param slack_ns: slack in ns (>= 1; 0 would restore the default).
    :return: one line naming the result.
    """
    if _LIBC is None or _LIBC.prctl(_PR_SET_TIMERSLACK, ctypes.c_ulong(int(slack_ns)), 0, 0,
                                    0) != 0:
        return f'timer slack {slack_ns} ns not applied'
    return f'timer slack {slack_ns} ns'


def reset_scheduling() -> str:
    """Return the calling process to SCHED_OTHER (e.g. before it forks helpers).

    :return: one line naming the result.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        return 'SCHED_OTHER'
    except (OSError, AttributeError) as err:
        return f'SCHED_OTHER not applied ({_reason(err)})'


def lock_memory() -> str:
    """Lock the process's current and future pages in RAM (``mlockall``), best effort.

    A page fault in the control loop costs tens of microseconds or more; locking avoids it.
    Fails without CAP_IPC_LOCK or above ``ulimit -l``.

    :return: one line naming the result.
    """
    if _LIBC is None:
        return 'mlockall not available'
    if _LIBC.mlockall(_MCL_CURRENT | _MCL_FUTURE) != 0:
        return f'mlockall not applied ({os.strerror(ctypes.get_errno())})'
    return 'mlockall applied'


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.errno is not None:
        return os.strerror(err.errno)
    return type(err).__name__
