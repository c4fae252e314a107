"""The report of a run: ``summary.json``, a printed table and PNG plots.

Built from what each child wrote at exit (:func:`~.launcher.launch` collects it): the
arbiter's tick and action logs and :class:`~rt_async_control.core.stats.TickStats` summary,
each worker's inference log, the simulator's score and command log.

Transport latency is what the shared-memory channel itself adds: a record is visible the
moment its write completes, so a reader has it after its own read (the measured read cost of
each chunk the arbiter took). ``rt-async-control bench transport`` measures the one-way
latency to a reader that waits, against a UDP baseline. *Record wait* is receive time minus
publish time of the records a process consumed (states read by workers, chunks read by the
arbiter, commands read by the simulator): the channels hold the latest value and each reader
reads at its own deadline, so it is how stale a record is when used, not a transport cost.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from rt_async_control.runtime.event_log import Column, column, quantiles
from rt_async_control.runtime.launcher import RunResult

# The table rows: (label, key path in the summary, format).
ROWS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ('control rate', ('control_rate_hz',), '{:.1f} Hz'),
    ('ticks', ('ticks',), '{:d}'),
    ('inaction ticks (no fresh action)', ('inaction_ticks',), '{:d}'),
    ('inaction after first action', ('inaction_ratio_steady',), '{:.1%}'),
    ('default behaviour acted', ('fallback_ticks',), '{:d}'),
    ('missed ticks', ('missed_ticks',), '{:d}'),
    ('period error p50 / p99 / max', ('period_error_us',), 'us3'),
    ('action age p50 / p99 / max', ('action_age_ms',), 'ms3'),
    ('transport latency p50 / p99', ('transport_latency_us',), 'us2'),
    ('record wait until read p50 / p99', ('record_wait_us',), 'us2'),
    ('task return (mean)', ('task_return',), '{:.2f}'),
    ('task success', ('task_success',), '{:.0%}'),
)


def _quantiles(columns: Column | list[Column], scale: float,
               keys: tuple[str, ...] = ('p50', 'p99', 'max')) -> dict[str, float]:
    # Exact while the logs hold every row; from their whole-run histograms once they wrapped.
    columns = columns if isinstance(columns, list) else [columns]
    levels = {'p50': 0.5, 'p99': 0.99, 'max': 1.0}
    values = quantiles(columns, [levels[k] for k in keys])
    return {k: v * scale for k, v in zip(keys, values)}


def _steady_inaction(fresh: Column) -> float:
    # Ticks without a fresh action from the first fresh one on (all of them if none was).
    if fresh.first_nonzero < 0:
        return 1.0 if fresh.rows else math.nan
    return fresh.zero_ratio_from_first_nonzero()


def build_summary(result: RunResult) -> dict[str, Any]:
    """Return the run's summary (the ``summary.json`` document)."""
    plan = result.plan
    children = result.children
    arbiter = children.get('arbiter', {}).get('json', {})
    arrays = children.get('arbiter', {}).get('npz', {})
    sim = children.get('sim', {})
    workers = {int(name.split('_')[1]): entry for name, entry in children.items()
               if name.startswith('worker_')}
    state_latency = [column(w['npz'], 'state_latency') for w in workers.values() if 'npz' in w]
    action_latency = column(arrays, 'action_latency')
    command_latency = column(sim.get('npz', {}), 'command_latency')
    per_worker = {}
    for info in arbiter.get('workers', []):
        i = int(info['worker'])
        inference = column(workers.get(i, {}).get('npz', {}), 'inference_time')
        per_worker[str(i)] = {
            'inference_ms': _quantiles(inference, 1e3),
            'inference_mean_ms': inference.mean * 1e3,
            'actions': info['actions'], 'selected': info['selected'],
            'rejected': info['rejected'],
            'crashed': result.crashed.get(f'worker_{i}', '').splitlines()[0:1] or None,
        }
    emulation = plan.emulation
    summary: dict[str, Any] = {
        'task': plan.config.task,
        'control_period_s': plan.config.control_period_s,
        'control_rate_hz': arbiter.get('control_rate_hz', math.nan),
        'ticks': arbiter.get('ticks', 0),
        # The paper's inaction: a tick without a fresh action (the default behaviour acted,
        # or an action already applied was held); fallback_ticks: the default behaviour acted.
        'inaction_ticks': arbiter.get('stale_ticks', 0),
        'inaction_ratio': arbiter.get('stale_ticks', 0) / max(1, arbiter.get('ticks', 0)),
        'inaction_ratio_steady': _steady_inaction(column(arrays, 'tick_fresh')),
        'fallback_ticks': arbiter.get('fallback_ticks', 0),
        'longest_inaction_ticks': arbiter.get('longest_inaction_ticks', 0),
        'missed_ticks': arbiter.get('missed_ticks', 0),
        'period_error_us': _pick(arbiter.get('period_error_us')),
        'action_age_ms': _pick(arbiter.get('action_age_ms')),
        'transport_latency_us': {
            **_quantiles(column(arrays, 'action_read_cost'), 1e6, ('p50', 'p99')),
            'note': 'shared-memory read cost of the chunks the arbiter took (a record is '
                    'visible when its write completes); see record_wait_us for staleness',
        },
        'record_wait_us': {
            **_quantiles([*state_latency, action_latency], 1e6, ('p50', 'p99')),
            'state': _quantiles(state_latency, 1e6, ('p50', 'p99')),
            'action': _quantiles(action_latency, 1e6, ('p50', 'p99')),
            'command': _quantiles(command_latency, 1e6, ('p50', 'p99')),
            'note': "receive minus publish time; includes the wait until the reader's own "
                    'deadline (latest-value channels are read at deadlines)',
        },
        'log_rows_dropped': _dropped(children),
        'workers': per_worker,
        'num_workers': plan.layout.num_workers,
        'workers_sizing': plan.sizing,
        'schedule': plan.config.schedule.mode,
        'cycle_s': arbiter.get('cycle_s', math.nan),
        'offsets_s': arbiter.get('offsets_s', []),
        'emulated': {'enabled': emulation.active, 'distribution': emulation.distribution,
                     'mean_s': emulation.mean_s, 'cv': emulation.cv},
        'real_inference_warmup_ms': _quantiles(
            column({'x': np.asarray(plan.real_inference_s)}, 'x'), 1e3),
        'task_return': sim.get('json', {}).get('task_return', math.nan),
        'task_success': sim.get('json', {}).get('task_success', math.nan),
        'episodes': sim.get('json', {}).get('episodes', 0),
        'counters': arbiter.get('counters', {}),
        'realtime_notices': result.notices,
        'crashed': {k: v.splitlines()[0] for k, v in result.crashed.items()},
        'faults': str(plan.faults),
        'fault_events': [{'t_s': t, 'event': line} for t, line in result.fault_events],
        'interrupted': result.interrupted,
    }
    return summary


def _dropped(children: dict[str, dict[str, Any]]) -> dict[str, int]:
    # Rows the children's ring logs no longer held at the end (plots show the newest rows;
    # counts and means stay exact, quantiles come from histograms): none in a planned run.
    out = {}
    for name, entry in children.items():
        logs = [int(v[0]) - len(entry['npz'].get(k[:-4], ())) for k, v in
                entry.get('npz', {}).items() if k.endswith('@log')]
        if logs and max(logs) > 0:
            out[name] = max(logs)
    return out


def _pick(stats: dict[str, Any] | None) -> dict[str, float]:
    stats = stats or {}
    return {k: stats.get(k, math.nan) for k in ('p50', 'p99', 'max')}


def format_table(summary: dict[str, Any]) -> str:
    """Return the summary as a plain text table (what ``run`` prints)."""
    lines = [f"{summary['task']}: {summary['num_workers']} workers, schedule "
             f"{summary['schedule']}, emulated {_emulated(summary['emulated'])}"]
    for label, path, fmt in ROWS:
        value: Any = summary
        for key in path:
            value = value.get(key, math.nan) if isinstance(value, dict) else math.nan
        lines.append(f'  {label:<33} {_fmt(value, fmt)}')
    for worker, info in summary['workers'].items():
        inf = info['inference_ms']
        lines.append(f"  worker {worker:<26} inference p50 {inf['p50']:.2f} / p99 "
                     f"{inf['p99']:.2f} ms, {info['actions']} actions, {info['selected']} "
                     f"ticks supplied, {info['rejected']} rejected"
                     + (' CRASHED' if info['crashed'] else ''))
    return '\n'.join(lines)


def _emulated(emulated: dict[str, Any]) -> str:
    if not emulated['enabled']:
        return 'no'
    cv = '' if emulated['distribution'] == 'fixed' else f" cv {emulated['cv']:g}"
    return f"{emulated['distribution']} mean {emulated['mean_s'] * 1e3:g} ms{cv}"


def _fmt(value: Any, fmt: str) -> str:
    if fmt in ('us3', 'ms3', 'us2'):
        unit = fmt[:2]
        keys = ('p50', 'p99', 'max')[:int(fmt[2])]
        return ' / '.join(f'{value.get(k, math.nan):.1f}' if unit == 'us' else
                          f'{value.get(k, math.nan):.2f}' for k in keys) + f' {unit}'
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def write_report(result: RunResult, directory: str | Path | None) -> dict[str, Any]:
    """Build the summary; write ``summary.json`` and the plots under ``directory``.

    :param result: the run's results.
    :param directory: report directory (created), or ``None`` for no files.
    :return: the summary.
    """
    summary = build_summary(result)
    if directory is None:
        return summary
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    from rt_async_control.runtime.report_plots import write_plots

    summary['plots'] = [p.name for p in write_plots(result, out)]
    (out / 'summary.json').write_text(json.dumps(summary, indent=1, default=str) + '\n')
    return summary
