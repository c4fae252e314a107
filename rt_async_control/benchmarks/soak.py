"""Soak: the demo configuration for minutes with a fault every 30 s; leaks and fallbacks.

``rt-async-control bench --soak MINUTES`` runs ``config/pendulum.yaml`` as shipped (the demo)
and injects one fault every :data:`FAULT_EVERY_S`, cycling through: worker killed and restarted
3 s later, worker frozen (SIGSTOP) for 2 s, worker's actions NaN for 2 s, one inference 20x
slower. It reports missed ticks; the ticks where the default behaviour acted, and whether all
of them lie within a fault's window (the window plus ``max_action_age_s`` and two cycles to
recover) or as long after an episode reset (the arbiter drops the old episode's chunks, counted
apart); the ticks without a fresh action inside and outside the windows; non-finite or
out-of-limit commands seen on the command channel (must be none); and the resident memory
(``VmRSS``) and open file descriptors of every process after its warm-up (:data:`WARMUP_S`
after the start, or after its restart) and at the end, with the growth per minute and over
the second half of the samples (a leak keeps growing, a cache levels off).

A max_time schedule pads every cycle to the largest inference time it has seen, so after the
20x spike its cycle stays long for the rest of the run (the paper's rule): the report shows
that as inaction outside the windows, which is a property of max_time, not a fault of the
stack; ``--schedule exp_time`` in a run absorbs it.
Exit code 0 when no command was non-finite or out of limits, no process crashed except the
killed ones, and the default behaviour acted only within windows; 1 otherwise.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
from typing import Any

import numpy as np

from rt_async_control.runtime.faults import CommandMonitor, FaultPlan

FAULT_EVERY_S = 30.0
WARMUP_S = 10.0
SERIES_EVERY_S = 10.0
RESTART_AFTER_S = 3.0
STOP_S = 2.0
NAN_S = 2.0
SPIKE = 20


def soak_plan(duration_s: float, num_workers: int, every_s: float = FAULT_EVERY_S) -> str:
    """Return the fault plan of a soak: one fault every ``every_s``, kinds and workers cycling.

    :param duration_s: run length, seconds (no fault in its last 5 s).
    :param num_workers: workers of the run.
    :param every_s: seconds between faults.
    :return: the plan text.
    """
    items = []
    k = 1
    while k * every_s < duration_s - 5.0:
        at = k * every_s
        worker = (k - 1) % num_workers
        kind = (k - 1) % 4
        if kind == 0:
            items.append(f'kill:{worker}@{at:g}-{at + RESTART_AFTER_S:g}')
        elif kind == 1:
            items.append(f'stop:{worker}@{at:g}-{at + STOP_S:g}')
        elif kind == 2:
            # Timed policy faults count from the worker's first call, about the run's start.
            items.append(f'nan:{worker}@{at:g}-{at + NAN_S:g}s')
        else:
            items.append(f'spike{SPIKE}:{worker}@{at:g}s')
        k += 1
    return ','.join(items)


def fault_windows(plan: FaultPlan, end_s: float, margin_s: float,
                  spike_s: float) -> list[tuple[float, float]]:
    """Return ``(start, end)`` run seconds in which fallbacks are expected, margin included."""
    windows = [(start, end + margin_s) for start, end, _ in plan.windows(end_s)]
    for fault in plan.policy:
        start = fault.at_s or 0.0
        end = fault.until_s if fault.until_s is not None else start + spike_s
        windows.append((start, end + margin_s))
    return windows


def reset_windows(task: str, realtime_factor: float, end_s: float,
                  margin_s: float) -> list[tuple[float, float]]:
    """Return ``(start, end)`` run seconds after each episode reset of the simulator.

    :param task: the task (its ``episode_s``).
    :param realtime_factor: simulated seconds per second.
    :param end_s: run length.
    :param margin_s: seconds after a reset in which fallbacks are expected.
    :return: one window per reset.
    """
    from rt_async_control.sim.tasks import load_task

    period = load_task(task).episode_s / realtime_factor
    count = int(end_s // period) if period > 0 else 0
    return [(k * period, k * period + margin_s) for k in range(1, count + 1)]


def process_sample(pid: int) -> dict[str, float]:
    """Return ``rss_kib`` and ``fds`` of process ``pid`` (``nan`` when unreadable)."""
    rss = math.nan
    try:
        for line in open(f'/proc/{pid}/status'):  # noqa: SIM115 - short read
            if line.startswith('VmRSS:'):
                rss = float(line.split()[1])
        fds = float(len(os.listdir(f'/proc/{pid}/fd')))
    except OSError:
        return {'rss_kib': math.nan, 'fds': math.nan}
    return {'rss_kib': rss, 'fds': fds}


class SoakProbe:
    """``status`` object: samples every process once it has warmed up, and on every update.

    The baseline of a process is its first sample at least ``warmup_s`` after it was first
    seen (the run's start, or its restart: a restarted worker gets a new baseline, since its
    fresh interpreter has nothing in common with the killed one's memory).

    :param warmup_s: seconds a process runs before its first sample.
    """

    def __init__(self, warmup_s: float) -> None:
        """Start with no samples."""
        self.warmup_s = warmup_s
        self.first: dict[str, tuple[int, float, dict[str, float]]] = {}
        self.last: dict[str, tuple[int, float, dict[str, float]]] = {}
        self.restarted: set[str] = set()
        # Every SERIES_EVERY_S per process: shows whether growth goes on or levels off.
        self.series: dict[str, list[tuple[float, float]]] = {}
        self._born: dict[tuple[str, int], float] = {}
        self.monitor = CommandMonitor.for_this_process(poll_s=2e-3, keep=False)

    def update(self, values: np.ndarray) -> None:
        """Start the command monitor; sample every process that has warmed up."""
        self.monitor.start()
        elapsed = float(values[0])
        procs = {'launcher': os.getpid()}
        procs.update({c.name: c.pid for c in multiprocessing.active_children()})
        for name, pid in procs.items():
            born = self._born.setdefault((name, pid), elapsed)
            if elapsed - born < self.warmup_s:
                continue
            sample = (pid, elapsed, process_sample(pid))
            first = self.first.get(name)
            if first is None or first[0] != pid:
                if first is not None:
                    self.restarted.add(name)
                self.first[name] = sample
                self.series[name] = []
            self.last[name] = sample
            series = self.series[name]
            if not series or elapsed - series[-1][0] >= SERIES_EVERY_S:
                series.append((elapsed, sample[2]['rss_kib']))

    def close(self) -> None:
        """Nothing to release."""

    def table(self) -> list[dict[str, Any]]:
        """Return per process: RSS and fds first/last, growth per minute between them."""
        rows = []
        for name in sorted(self.first):
            (_, t0, a), (_, t1, b) = self.first[name], self.last[name]
            growth = (b['rss_kib'] - a['rss_kib']) / 1024
            # Growth over the second half of this process's samples (levelling off or not).
            series = self.series.get(name) or [(t0, a['rss_kib'])]
            mid = min(series, key=lambda p: abs(p[0] - 0.5 * (t0 + t1)))
            rows.append({'process': name, 'restarted': name in self.restarted,
                         'rss_growth_second_half_mib': (b['rss_kib'] - mid[1]) / 1024,
                         'span_s': t1 - t0, 'rss_first_mib': a['rss_kib'] / 1024,
                         'rss_last_mib': b['rss_kib'] / 1024, 'rss_growth_mib': growth,
                         'rss_growth_mib_per_min': growth / max(t1 - t0, 1.0) * 60.0,
                         'fds_first': a['fds'], 'fds_last': b['fds']})
        return rows


def run_soak(minutes: float, schedule: str | None = None) -> int:
    """Run the soak for ``minutes`` and print the report; see the module docstring.

    :param minutes: run length in minutes (> 0).
    :param schedule: schedule override (``None``: the demo's).
    :return: exit code, 0 when every check holds.
    """
    from rt_async_control.errors import InputError
    from rt_async_control.resources import share_path
    from rt_async_control.runtime.launcher import launch, prepare, RunOptions
    from rt_async_control.runtime.records import FALLBACKS
    from rt_async_control.runtime.report import build_summary

    if not (math.isfinite(minutes) and minutes > 0):
        raise InputError(f'--soak: {minutes!r} must be > 0 minutes')
    duration = 60.0 * minutes
    options = RunOptions(config_path=str(share_path('config', 'pendulum.yaml')),
                         schedule=schedule, duration_s=duration, live_status=False)
    plan = prepare(options)
    num = plan.layout.num_workers
    plan.faults = FaultPlan.parse(soak_plan(duration, num))
    plan.faults.check_workers(num)
    print(f'soak: {duration:g} s, {num} workers ({plan.sizing}), schedule '
          f'{plan.config.schedule.mode}; faults: {plan.faults}', flush=True)
    probe = SoakProbe(WARMUP_S)
    started = time.monotonic()
    result = launch(plan, options, probe)
    monitor = probe.monitor
    monitor.stop()
    summary = build_summary(result)
    arrays = result.children['arbiter']['npz']
    ticks = arrays['tick_deadline'] - result.t0
    config = plan.config
    spike_s = SPIKE * max(config.inference.emulate_mean_s, 1e-3) * 2.0
    margin = config.arbiter.max_action_age_s + 2.0 * float(summary.get('cycle_s') or 0.0)
    windows = fault_windows(plan.faults, duration, margin, spike_s)
    resets = reset_windows(config.task, config.sim.realtime_factor, duration, margin)
    inside = np.zeros(len(ticks), bool)
    for start, end in windows:
        inside |= (ticks >= start) & (ticks < end)
    # An episode reset drops the chunks of the old episode: held commands until a worker has
    # inferred on a new state are expected there, and judged apart from the faults.
    at_reset = np.zeros(len(ticks), bool)
    for start, end in resets:
        at_reset |= (ticks >= start) & (ticks < end)
    first = np.flatnonzero(arrays['tick_fallback'] == 0)
    steady = ticks >= (ticks[first[0]] if len(first) else math.inf)
    # max_time keeps the spike's cycle for the rest of the run (the paper's rule): the ticks
    # after the first spike are reported apart, and judged only under another schedule.
    spikes = [f.at_s for f in plan.faults.policy if f.kind == 'spike' and f.at_s is not None]
    after_spike = ticks >= (min(spikes) if spikes and config.schedule.mode == 'max_time'
                            else math.inf)
    judged = steady & ~after_spike
    fallback = (arrays['tick_fallback'] > 0) & steady
    stale = arrays['tick_fresh'] == 0
    lower, upper = _limits(config.task)
    out_of_limits = monitor.high is not None and bool(
        (monitor.high > upper + 1e-9).any() or (monitor.low < lower - 1e-9).any())
    killed = {f'worker_{f.worker}' for f in plan.faults.process if f.kind == 'kill'}
    unexpected = sorted(set(result.crashed) - killed)
    print(f'soak done in {time.monotonic() - started:.0f} s; fault events:')
    for at, what in result.fault_events:
        print(f'  {at:8.2f} s  {what}')
    report = {
        'ticks': summary['ticks'], 'missed_ticks': summary['missed_ticks'],
        'period_error_us_p99': summary['period_error_us']['p99'],
        'fallback_ticks': int(fallback.sum()),
        'fallback_ticks_outside_windows': int((fallback & judged & ~inside & ~at_reset).sum()),
        'fallback_ticks_at_episode_resets': int((fallback & judged & ~inside & at_reset).sum()),
        'fallback_outside_windows_at_s': _runs(ticks, fallback & judged & ~inside & ~at_reset),
        'stale_ratio_inside_windows': _mean(stale[judged & inside]),
        'stale_ratio_outside_windows': _mean(stale[judged & ~inside]),
        'fallback_ticks_after_max_time_spike': int((fallback & after_spike).sum()),
        'stale_ratio_after_max_time_spike': _mean(stale[after_spike]),
        'commands_seen': monitor.seen, 'nonfinite_commands': monitor.nonfinite,
        'commands_out_of_limits': out_of_limits,
        'rejected': {k: v for k, v in summary['counters'].items()
                     if k.startswith('rejected_') and v},
        'cycle_s_end': summary['cycle_s'], 'crashed_unexpectedly': unexpected,
    }
    for key, value in report.items():
        print(f'  {key:<32} {value}')
    codes = np.bincount(arrays['tick_fallback'].astype(int), minlength=len(FALLBACKS))
    dropped = summary.get('log_rows_dropped') or {}
    if dropped:  # the judgement above then covers only the newest ticks
        print(f'  event log rows dropped (ring full): {dropped}')
    print(f'  ticks by fallback: {dict(zip(FALLBACKS, codes.tolist()))}')
    print('  process      restarted  RSS after warm-up -> end MiB  growth MiB (per min)  '
          '2nd half  over s   fds')
    for row in probe.table():
        print(f"  {row['process']:<12} {str(row['restarted']):<10} "
              f"{row['rss_first_mib']:8.1f} -> {row['rss_last_mib']:8.1f}  "
              f"{row['rss_growth_mib']:+6.2f} ({row['rss_growth_mib_per_min']:+.2f})  "
              f"{row['rss_growth_second_half_mib']:+6.2f}  "
              f"{row['span_s']:6.0f}   {row['fds_first']:.0f} -> {row['fds_last']:.0f}")
    ok = (monitor.nonfinite == 0 and not out_of_limits and not unexpected
          and report['fallback_ticks_outside_windows'] == 0)
    print(f'soak: {"PASS" if ok else "FAIL"}')
    return 0 if ok else 1


def _runs(ticks: np.ndarray, mask: np.ndarray, most: int = 8) -> list[str]:
    # 'start s (n ticks)' of the first runs of consecutive ticks in mask, to find their cause.
    index = np.flatnonzero(mask)
    if not len(index):
        return []
    breaks = np.flatnonzero(np.diff(index) > 1) + 1
    runs = np.split(index, breaks)
    return [f'{ticks[r[0]]:.2f} s ({len(r)})' for r in runs[:most]]


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _limits(task: str) -> tuple[np.ndarray, np.ndarray]:
    from rt_async_control.sim.tasks import load_task

    spec = load_task(task)
    return np.asarray(spec.command_lower), np.asarray(spec.command_upper)


if __name__ == '__main__':
    sys.exit(run_soak(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0,
                      sys.argv[2] if len(sys.argv) > 2 else None))
