"""Periodic-loop timing under CPU load: sleep-the-rest vs absolute deadlines vs SCHED_FIFO.

Each case runs a loop in its own process at 100 Hz and 500 Hz while ``k`` busy processes load
the CPUs; every tick does a little work (about 20 us, like reading a channel and computing a
command) and records when it woke. Cases:

- ``sleep-rest``: ``time.sleep(period - elapsed)``, the usual naive loop (it drifts);
- ``absolute``: :class:`~rt_async_control.runtime.timing.PeriodicTimer` +
  :func:`~rt_async_control.runtime.timing.sleep_until` (``clock_nanosleep`` TIMER_ABSTIME);
- ``fifo+absolute``: the same after :func:`~rt_async_control.runtime.timing.try_realtime`
  (SCHED_FIFO when permitted; the figure's note says what was applied).

Figures: wake lateness against the ideal grid ``start + k * period`` (p50/p99/max), ticks
missed (late by a period or more) and, for sleep-rest, its drift. Issue target: 0 missed ticks
in 60 s (``--full``). Run: ``python -m rt_async_control.benchmarks.timing [--full] [--load K]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

import numpy as np

from rt_async_control.benchmarks import Figure
from rt_async_control.runtime.timing import PeriodicTimer, set_timer_slack, try_realtime

MODES = ('sleep-rest', 'absolute', 'fifo+absolute')
RATES_HZ = (100, 500)
FIFO_PRIORITY = 50
WORK_S = 20e-6


def _work() -> None:
    end = time.perf_counter() + WORK_S
    while time.perf_counter() < end:
        pass


def _loop(mode: str, period_s: float, duration_s: float, out: mp.connection.Connection) -> None:
    """Child process: run the loop, send (applied notice, lateness per tick in us, missed)."""
    notice = try_realtime(FIFO_PRIORITY) if mode == 'fifo+absolute' else 'SCHED_OTHER'
    if mode == 'absolute':
        notice += ', ' + set_timer_slack(1)
    ticks = int(duration_s / period_s)
    wakes = np.zeros(ticks, dtype=np.int64)
    deadlines = np.zeros(ticks, dtype=np.int64)
    if mode == 'sleep-rest':
        for k in range(ticks):
            start = time.monotonic()
            wakes[k] = time.monotonic_ns()
            deadlines[k] = wakes[0] + k * round(period_s * 1e9)  # the grid it should keep
            _work()
            time.sleep(max(0.0, period_s - (time.monotonic() - start)))
        missed = -1  # a relative loop has no grid to miss: it drifts instead
    else:
        timer = PeriodicTimer(period_s)
        for k in range(ticks):
            deadlines[k] = timer.wait()
            wakes[k] = time.monotonic_ns()
            _work()
        missed = timer.missed
    out.send((notice, (wakes - deadlines) / 1e3, missed))
    out.close()


def _busy(stop: mp.synchronize.Event, parent: int) -> None:
    """Spin (SCHED_OTHER) until stopped or orphaned (so a killed benchmark leaves no spinner)."""
    while not stop.is_set() and os.getppid() == parent:
        for _ in range(10_000):
            pass


class BusyLoad:
    """Context manager: ``count`` busy SCHED_OTHER processes competing for the CPUs.

    :param count: number of busy processes (0 = none).
    """

    def __init__(self, count: int) -> None:
        """Prepare (nothing starts before ``with``)."""
        self.count = count
        ctx = mp.get_context('spawn')
        self._stop = ctx.Event()
        self._procs = [ctx.Process(target=_busy, args=(self._stop, os.getpid()), daemon=True)
                       for _ in range(count)]

    def __enter__(self) -> BusyLoad:
        for proc in self._procs:
            proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for proc in self._procs:
            proc.join(2.0)
            if proc.is_alive():
                proc.terminate()


def run_case(mode: str, rate_hz: int, duration_s: float) -> tuple[str, np.ndarray, int]:
    """Run one loop in a fresh process.

    :param mode: one of :data:`MODES`.
    :param rate_hz: loop rate.
    :param duration_s: how long to run.
    :return: (what scheduling was applied, lateness per tick in us against the deadline
        it slept to (sleep-rest: against the grid anchored at its first wake), missed ticks
        or -1 for sleep-rest).
    """
    ctx = mp.get_context('spawn')
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_loop, args=(mode, 1.0 / rate_hz, duration_s, send), daemon=True)
    proc.start()
    send.close()
    result = recv.recv()
    proc.join(5.0)
    return result


def measure(quick: bool = False, load: int | None = None) -> list[Figure]:
    """Measure the three loop kinds at 100 and 500 Hz under ``load`` busy processes.

    :param quick: 3 s per case instead of 60 s.
    :param load: busy background processes (default: one per CPU).
    :return: lateness p50/p99/max and missed ticks per case; drift for sleep-rest.
    """
    duration = 3.0 if quick else 60.0
    if load is None:
        load = os.cpu_count() or 1
    figures = []
    with BusyLoad(load):
        for rate in RATES_HZ:
            for mode in MODES:
                notice, late, missed = run_case(mode, rate, duration)
                note = f'{load} busy procs, {duration:g} s, {notice}'
                name = f'{mode} {rate} Hz'
                if mode == 'sleep-rest':
                    intervals = np.diff(late)
                    figures.append(Figure(f'{name} period error p99', float(
                        np.percentile(np.abs(intervals), 99)), 'us', note=note))
                    figures.append(Figure(f'{name} drift', float(late[-1]) / 1e3, 'ms',
                                          note=f'{note}; behind the grid after the run'))
                    continue
                for q in (50, 99):
                    figures.append(Figure(f'{name} lateness p{q}',
                                          float(np.percentile(late, q)), 'us', note=note))
                figures.append(Figure(f'{name} lateness max', float(late.max()), 'us',
                                      note=note))
                figures.append(Figure(f'{name} missed ticks', float(missed), 'ticks',
                                      target='0', met=missed == 0, note=note))
    return figures


def main() -> None:
    """Print the timing table (``python -m rt_async_control.benchmarks.timing``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--full', action='store_true', help='60 s per case instead of 3 s')
    parser.add_argument('--load', type=int, default=None, help='busy processes (default: CPUs)')
    args = parser.parse_args()
    for fig in measure(quick=not args.full, load=args.load):
        target = f'  target {fig.target}: {"met" if fig.met else "NOT met"}' if fig.target else ''
        print(f'{fig.name:40s} {fig.value:10.2f} {fig.unit:5s}{target}  ({fig.note})')


if __name__ == '__main__':
    main()
