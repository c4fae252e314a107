"""PNG plots of a run (matplotlib, Agg backend: no display needed).

- ``tick_intervals.png``: histogram of the arbiter's tick intervals around the period.
- ``action_age.png``: age of the action applied at each tick over time (inaction marked).
- ``worker_per_tick.png``: which worker supplied each tick (inaction at -1).
- ``worker_phases.png``: a time-line of each worker's inferences (real and emulated part) and
  the publish instants, over a window of a few cycles: the stagger made visible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rt_async_control.runtime.launcher import RunResult

#: Cycles shown in the worker time-line.
TIMELINE_CYCLES = 4


def write_plots(result: RunResult, out: Path) -> list[Path]:
    """Write every plot that has data; return the files written."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    arbiter = result.children.get('arbiter', {}).get('npz', {})
    t0 = result.t0
    period = result.plan.config.control_period_s
    written = []
    title = (f'{result.plan.config.task}: {result.plan.layout.num_workers} workers, '
             f'{result.plan.config.schedule.mode}')
    if 'tick_wake' in arbiter and len(arbiter['tick_wake']) > 1:
        wake = arbiter['tick_wake']
        t = wake - t0
        acted = arbiter['tick_fallback'] == 0
        stale = arbiter['tick_fresh'] == 0

        fig, ax = plt.subplots(figsize=(7, 4))
        ax.hist(np.diff(wake) * 1e3, bins=80, color='tab:blue')
        ax.axvline(period * 1e3, color='k', lw=1, ls='--', label='control period')
        ax.set(xlabel='tick interval [ms]', ylabel='ticks', yscale='log',
               title=f'{title}: tick intervals')
        ax.legend()
        written.append(_save(fig, out / 'tick_intervals.png'))

        fig, ax = plt.subplots(figsize=(9, 4))
        ax.plot(t[acted], arbiter['tick_age'][acted] * 1e3, '.', ms=2, label='action age')
        if stale.any():
            ax.plot(t[stale], np.zeros(stale.sum()), '|', color='tab:red', ms=10,
                    label='inaction tick (no fresh action)')
        ax.set(xlabel='time since start [s]', ylabel='action age [ms]',
               title=f'{title}: age of the applied action')
        ax.legend(loc='center right')
        written.append(_save(fig, out / 'action_age.png'))

        fig, ax = plt.subplots(figsize=(9, 4))
        worker = arbiter['tick_worker']
        ax.plot(t[~stale], worker[~stale], '.', ms=2, label='fresh action')
        if stale.any():
            ax.plot(t[stale], worker[stale] - 0.15, '.', color='tab:red', ms=2,
                    label='no fresh action (held or default)')
        ax.legend(loc='upper right')
        ax.set(xlabel='time since start [s]', ylabel='worker (-1 = default behaviour)',
               title=f'{title}: worker supplying each tick')
        ax.set_yticks(range(-1, result.plan.layout.num_workers))
        written.append(_save(fig, out / 'worker_per_tick.png'))

    phases = _phases(result)
    if phases:
        written.append(_timeline(plt, result, phases, title, out / 'worker_phases.png'))
    return written


def _phases(result: RunResult) -> dict[int, dict[str, np.ndarray]]:
    out = {}
    for name, entry in result.children.items():
        started = entry.get('npz', {}).get('started', ()) if 'npz' in entry else ()
        if name.startswith('worker_') and len(started):
            out[int(name.split('_')[1])] = entry['npz']
    return out


def _timeline(plt: Any, result: RunResult, phases: dict[int, dict[str, np.ndarray]],
              title: str, path: Path) -> Path:
    t0 = result.t0
    mean_inference = np.nanmean(np.concatenate([p['inference_time'] for p in phases.values()]))
    # Start the window after the first cycle, when every worker has run once.
    begin = max(p['started'][0] for p in phases.values()) + mean_inference
    end = begin + TIMELINE_CYCLES * mean_inference
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.5 * len(phases)))
    for worker, log in sorted(phases.items()):
        keep = (log['finished'] >= begin) & (log['started'] <= end)
        starts = (log['started'][keep] - t0) * 1e3
        real = log['real'][keep] * 1e3
        total = log['inference_time'][keep] * 1e3
        ax.broken_barh(list(zip(starts, real)), (worker - 0.35, 0.7), color='tab:blue')
        ax.broken_barh(list(zip(starts + real, total - real)), (worker - 0.35, 0.7),
                       color='tab:cyan')
        ax.plot((log['published'][keep] - t0) * 1e3, np.full(keep.sum(), worker + 0.4), 'v',
                color='tab:red', ms=5)
    ax.set_xlim((begin - t0) * 1e3, (end - t0) * 1e3)
    ax.set_yticks(sorted(phases))
    ax.set(xlabel='time since start [ms]', ylabel='worker',
           title=f'{title}: inference phases (dark: real, light: emulated, v: published)')
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
