"""Write the sweep's outputs: results.csv, summary.json, PNG plots and report.md.

report.md states each finding with the numbers of this run (read from the summary), so it
is regenerated, never edited by hand.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from rt_async_control.virtual.aggregate import KEEP, plain_model
from rt_async_control.virtual.summary import checks, STAGGERED, task_summary
from rt_async_control.virtual.sweep import SweepSpec

PCT = round(KEEP * 100)


def build_summary(rows: list[dict[str, Any]], refs: list[dict[str, Any]], spec: SweepSpec,
                  wall_s: float, quick: bool) -> dict[str, Any]:
    """Return the summary.json document."""
    by_task = {r['task']: r for r in refs}
    tasks = {t: task_summary(rows, by_task[t], spec, t) for t in spec.tasks}
    return {
        'quick': quick, 'wall_s': wall_s, 'runs': len(rows),
        'spec': {'tasks': list(spec.tasks), 'multiples': list(spec.multiples),
                 'cvs': list(spec.cvs), 'modes': list(spec.modes), 'seeds': list(spec.seeds),
                 'distribution': spec.distribution, 'slack_periods': spec.slack_periods,
                 'models_dir': str(spec.models_dir)},
        'normalisation': '(R - R_zero_command) / (R_plain_policy_zero_latency - '
                         'R_zero_command), same seeds',
        'tasks': tasks, 'checks': checks(tasks),
    }


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """Write one row per run."""
    with path.open('w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _clean(value: Any) -> Any:
    # JSON has no NaN or infinity: write null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_outputs(rows: list[dict[str, Any]], summary: dict[str, Any], out: Path) -> list[Path]:
    """Write every output file into ``out`` and return their paths."""
    from rt_async_control.virtual.plots import write_plots

    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / 'results.csv')
    (out / 'summary.json').write_text(json.dumps(_clean(summary), indent=1) + '\n')
    plots = write_plots(summary, rows, out)
    (out / 'report.md').write_text(report_markdown(summary, [p.name for p in plots]))
    return [out / 'results.csv', out / 'summary.json', *plots, out / 'report.md']


def verdict(passed: bool | None) -> str:
    """Return ``PASS``, ``FAIL`` or ``n/a`` (the sweep cannot decide the check)."""
    return 'n/a' if passed is None else 'PASS' if passed else 'FAIL'


def _x(multiple: float) -> str:
    return f'{multiple:g}x' if multiple else 'none of those run'


def _f(x: float | None, digits: int = 2) -> str:
    return 'n/a' if x is None or (isinstance(x, float) and math.isnan(x)) else f'{x:.{digits}f}'


def report_markdown(summary: dict[str, Any], plots: list[str]) -> str:
    """Return report.md: the four findings per task with their numbers, then the checks."""
    spec = summary['spec']
    lines = ['# Staggered asynchronous inference in virtual time', '',
             f"{summary['runs']} virtual-time episodes ({'quick' if summary['quick'] else 'full'}"
             f" sweep) in {summary['wall_s']:.0f} s wall time. Tasks: {', '.join(spec['tasks'])};"
             f" inference time {min(spec['multiples']):g}x to {max(spec['multiples']):g}x the "
             f"control period; CV {', '.join(f'{c:g}' for c in spec['cvs'])} ("
             f"{spec['distribution']} times for CV > 0); seeds {spec['seeds']}.", '',
             f"Kept return = {summary['normalisation']}. Inaction (the paper's) = ticks after "
             'start-up without a fresh action (one not applied before); "zero command" = the '
             'subset where no action was valid and the default behaviour acted. Planning, as '
             'the paper plans each mode: max_time = "offsets from the maximum observed '
             'inference time": `N* = ceil(T_max / T)` with `T_max` the quantile '
             '`1 - 0.1 / n` of the inference time (`n` = inferences per episode, one per '
             "period), so the episode's largest draw stays below it with probability ~90%; "
             'its schedule starts from `T_max`, each action is released `T_max` after its '
             "worker started (no inaction, actions `T_max` old) and the arbiter's "
             '`max_action_age_s` is `T_max` + one control period (the release acts at the '
             'next tick). exp_time = "offsets from the expected inference time; fewer '
             'workers": `N = ceil((mean + exp_margin_std * std) / T)`, the cycle its schedule '
             'targets; actions act on arrival, `max_action_age_s` from the 99th percentile '
             '`t99`. async: `N* = ceil(t99 / T)`, sequential: 1 worker, both with the `t99` '
             'bound. Every bound adds one state period (states every physics step) plus '
             f"{spec['slack_periods']:g} control period(s) (0.5: an action acts at the tick it "
             'is due, as in the paper).', '']
    for task, s in summary['tasks'].items():
        lines += _task_lines(task, s)
    lines += ['## Checks', '']
    for task, c in summary['checks'].items():
        for name, value in c.items():
            shown = ', '.join(f'{k} {_f(v) if isinstance(v, float) else v}'
                              for k, v in value.items() if k != 'pass')
            lines.append(f'- {task} {name}: {verdict(value["pass"])} ({shown})')
    lines += ['', '## Plots', ''] + [f'![{p}]({p})' for p in plots] + ['']
    return '\n'.join(lines)


def _headlines(s: dict[str, Any]) -> list[str]:
    """Return the four findings of one task in one line each (details follow)."""
    out = ['In short:']
    workers = s['workers'].get('cv=0')
    if workers:
        fit = workers['fit_measured_vs_multiple']
        out.append('- (a) workers needed grow linearly with the inference time: N = '
                   f"{_f(fit['slope'])} x (t/T) + {_f(fit['intercept'])} (R^2 "
                   f"{_f(fit['r2'], 3)}) at CV 0.")
    limits = s[f'largest_multiple_keeping_{PCT}pct'].get('cv=0')
    if limits:
        seq = limits['plain']['sequential']['largest']
        stag = {f: max(limits[f][m]['largest'] for m in STAGGERED if m in limits[f])
                for f in limits}
        names = {'plain': 'the plain policy', 'delay_aware': 'delay-aware ones',
                 'chunked': 'chunk (plan-ahead) ones'}
        parts = ', '.join(f'{_x(stag[f])} with {names[f]}' for f in stag
                          if f == 'plain' or _ran(s, f))
        out.append(f'- (b) largest inference time keeping {PCT}% of the zero-latency return: '
                   f'sequential {_x(seq)}; staggered (max_time/exp_time) {parts}.')
    at = s['at_10x']
    zero = at.get('cv=0', {})
    if 'sequential' in zero and 'max_time' in zero:
        seq, mt = zero['sequential'], zero['max_time']
        out.append(f"- (c) at 10x, CV 0: inaction sequential {_f(seq['inaction_fraction'])}, "
                   f"max_time {_f(mt['inaction_fraction'])}.")
    for cv in sorted((k for k in at if k.startswith('cv=') and k != 'cv=0'),
                     key=lambda k: float(k[3:])):
        if 'exp_time' in at[cv] and 'max_time' in at[cv]:
            e, m = at[cv]['exp_time'], at[cv]['max_time']
            out.append(f'- (c) at 10x, CV {cv[3:]}: max_time no inaction at the cost of '
                       f"padding to the max (inaction {_f(m['inaction_fraction'])}, age "
                       f"{_f(m['action_age_ms'], 1)} ms, N {m['num_workers']}); exp_time "
                       f"fresher, some inaction (inaction {_f(e['inaction_fraction'])}, age "
                       f"{_f(e['action_age_ms'], 1)} ms, N {e['num_workers']}).")
    for m, modes in s['delay_aware'].get('cv=0', {}).items():
        for v in modes.values():
            if v['mode'] == 'max_time':
                out.append(f"- (d) at {m}x, max_time keeps {_f(v['kept_plain'])} with the plain "
                           f"policy, {_f(v['kept_delay_aware'])} with {v['model']}.")
    return out


def _ran(s: dict[str, Any], family: str) -> bool:
    """Return whether any run of the task used a model of ``family``."""
    return any(e['policy'] == family for fams in s['curves'].values()
               for curve in fams.get(family, {}).values() for e in curve.values())


def _task_lines(task: str, s: dict[str, Any]) -> list[str]:
    period_ms = s['control_period_s'] * 1e3
    refs = s['baselines']
    lines = [f'## {task} (control period {period_ms:g} ms)', '',
             f"Reference returns: zero command {_f(refs['default'])}, expert "
             f"{_f(refs['expert'])}, plain policy at zero latency "
             f"{_f(refs['zero_latency'][plain_model(refs)])}.", '', *_headlines(s), '',
             '### (a) Workers needed vs inference time', '']
    for cv, w in s['workers'].items():
        table = w['by_multiple']
        pairs = ', '.join(f"{m}x: {v['measured']} (N* {v['formula']})" for m, v in table.items())
        fit = w['fit_measured_vs_multiple']
        lines.append(f'- {cv}: fewest max_time workers giving a new action at >= 99% of ticks: '
                     f"{pairs}. Linear fit N = {_f(fit['slope'])} x multiple + "
                     f"{_f(fit['intercept'])}, R^2 {_f(fit['r2'], 3)}.")
    lines += ['', f'### (b) Return vs inference time (kept >= {PCT}% of zero-latency)', '']
    thresholds = s[f'largest_multiple_keeping_{PCT}pct']
    for cv, fams in thresholds.items():
        for family, modes in fams.items():
            if family != 'plain' and not _ran(s, family):
                continue
            parts = ', '.join(f"{mode} {_x(v['largest'])} (from the smallest on: "
                              f"{_x(v['largest_contiguous'])})" for mode, v in modes.items())
            lines.append(f'- {cv}, {family} policy: largest multiple keeping {PCT}%: {parts}.')
    curves = s['curves'].get('cv=0', {}).get('plain', {})
    if curves:
        multiples = list(next(iter(curves.values())))
        lines += ['', '| mode | ' + ' | '.join(f'{m}x' for m in multiples) + ' |',
                  '|---|' + '---|' * len(multiples)]
        for mode, curve in curves.items():
            lines.append(f'| {mode} (kept, CV 0) | ' + ' | '.join(
                _f(curve[m]['kept']) if m in curve else '' for m in multiples) + ' |')
    lines += ['', f"### (c) Inaction and action age at {s['at_10x']['multiple']:g}x "
              f"({s['at_10x']['inference_time_s'] * 1e3:g} ms)", '',
              '| CV | mode | N | mean return | kept | inaction | zero command | age ms |',
              '|---|---|---|---|---|---|---|---|']
    for cv, modes in s['at_10x'].items():
        if not cv.startswith('cv='):
            continue
        for mode, e in modes.items():
            lines.append(f"| {cv[3:]} | {mode} | {e['num_workers']} | {_f(e['mean_return'])} | "
                         f"{_f(e['kept'])} | {_f(e['inaction_fraction'], 3)} | "
                         f"{_f(e['fallback_fraction'], 3)} | {_f(e['action_age_ms'], 1)} |")
    lines += ['', '### (d) Delay-aware policies', '']
    da = s['delay_aware']
    models = sorted(refs.get('at_trained_delay', {}))
    lines.append(f"- Delay-aware models used: {', '.join(models) if models else 'none'}. The "
                 'delay-aware family uses one only at the inference time it was trained for '
                 '(within half a period) and the plain policy elsewhere; covering every '
                 'inference time needs one model per delay (`rt-async-control train TASK '
                 "--delay-aware S`). Its commands in flight are the arbiter's plan at the "
                 "worker's start (`ArbiterRole.planned`: the freshest action held), which is "
                 'also what they were trained and evaluated on (metadata `in_flight: plan`); '
                 'the commands truly in flight are still being computed by the other workers. '
                 'The chunked family (models '
                 '`<task>_small_h<H>`, trained with `--horizon H`) needs no commands in flight: '
                 "the arbiter applies the row planned for the action's age, up to H periods.")
    if not any(k.startswith('cv=') for k in da):
        lines.append('- No delay-aware or chunk model matches any inference time of this sweep.')
    for cv, by_m in da.items():
        if not cv.startswith('cv='):
            continue
        for m, modes in by_m.items():
            parts = ', '.join(f"{key} {_f(v['kept_plain'])} -> {_f(v['kept_delay_aware'])}"
                              for key, v in modes.items())
            lines.append(f'- {cv}, {m}x: kept return plain -> delay-aware/chunked: {parts}.')
    for name, v in da.get('rollout_at_trained_delay', {}).items():
        lines.append(f'- {name} in the evaluate rollout at its trained delay (exact commands in '
                     f"flight, an action every period): kept {_f(v['kept'])}.")
    lines += ['', f'Staggered modes: {", ".join(STAGGERED)}.', '']
    return lines
