"""Build summary.json from the sweep's rows: the four findings per task, and the checks.

(a) workers needed vs inference time, (b) kept return vs inference time per mode, (c)
inaction and action age per mode, (d) what delay-aware policies recover. Every number is
computed from the rows of this run; nothing is filled in by hand.
"""

from __future__ import annotations

from typing import Any

from rt_async_control.sim.tasks import load_task
from rt_async_control.virtual.aggregate import (
    expert_normalised,
    FAMILIES,
    family_curve,
    fit_line,
    group_means,
    KEEP,
    kept,
    largest_kept,
)
from rt_async_control.virtual.sweep import EVERY_TICK, FOCUS_MULTIPLE, SweepSpec

STAGGERED = ('max_time', 'exp_time')


def _key(x: float) -> str:
    return f'{x:g}'


def _figures(entry: dict[str, Any], refs: dict[str, Any]) -> dict[str, Any]:
    return {'mean_return': entry['task_return'], 'kept': kept(entry['task_return'], refs),
            'expert_normalised': expert_normalised(entry['task_return'], refs),
            'success': entry['success'], 'inaction_fraction': entry['inaction_fraction'],
            'action_age_ms': entry['action_age_mean_ms'],
            'action_age_max_ms': entry['action_age_max_ms'],
            'fallback_fraction': entry['fallback_fraction'],
            'num_workers': int(entry['num_workers']), 'policy': entry.get('policy', 'plain'),
            'seeds': entry['seeds']}


def workers_finding(rows: list[dict[str, Any]], task: str, period: float) -> dict[str, Any]:
    """Return (a): ``N*`` (formula) and the fewest workers without inaction, per time and CV."""
    out: dict[str, Any] = {}
    for cv in sorted({float(r['cv']) for r in rows if r['task'] == task and
                      r['part'] == 'search'}):
        found = {float(r['multiple']): r for r in rows if r['part'] == 'search' and
                 r['task'] == task and float(r['cv']) == cv}
        table = {}
        for m in sorted(found):
            r = found[m]
            table[_key(m)] = {'inference_time_s': m * period,
                              'formula': int(r['required_workers']),
                              'measured': int(r['num_workers'])}
        xs = sorted(found)
        slope, intercept, r2 = fit_line(xs, [found[m]['num_workers'] for m in xs])
        out[f'cv={cv:g}'] = {'by_multiple': table, 'fit_measured_vs_multiple': {
            'slope': slope, 'intercept': intercept, 'r2': r2}}
    return out


def task_summary(rows: list[dict[str, Any]], refs: dict[str, Any], spec: SweepSpec,
                 task: str) -> dict[str, Any]:
    """Return every finding of one task."""
    period = load_task(task).control_period_s
    means = group_means([r for r in rows if r['task'] == task])
    multiples = tuple(sorted({k[3] for k in means}))
    cvs = tuple(sorted({k[4] for k in means}))
    modes = [m for m in spec.modes if any(k[2] == m for k in means)]
    focus: dict[str, Any] = {'multiple': FOCUS_MULTIPLE,
                             'inference_time_s': FOCUS_MULTIPLE * period}
    curves: dict[str, Any] = {}
    thresholds: dict[str, Any] = {}
    for cv in cvs:
        c = f'cv={cv:g}'
        focus[c] = {mode: _figures(means[(task, 'plain', mode, FOCUS_MULTIPLE, cv)], refs)
                    for mode in modes if (task, 'plain', mode, FOCUS_MULTIPLE, cv) in means}
        curves[c], thresholds[c] = {}, {}
        for family in FAMILIES:
            curves[c][family], thresholds[c][family] = {}, {}
            for mode in modes:
                curve = family_curve(means, task, mode, cv, family, multiples)
                curves[c][family][mode] = {_key(m): _figures(e, refs) for m, e in curve.items()}
                thresholds[c][family][mode] = largest_kept(curve, refs)
    required = {}
    for m in multiples:
        entry = means.get((task, 'plain', 'max_time', m, 0.0))
        if entry is not None:
            required[_key(m * period)] = int(entry['num_workers'])
    return {
        'control_period_s': period,
        'baselines': refs,
        'required_workers': required,
        'workers': workers_finding(rows, task, period),
        'at_10x': focus,
        'curves': curves,
        f'largest_multiple_keeping_{round(KEEP * 100)}pct': thresholds,
        'delay_aware': delay_aware_finding(means, refs, task, cvs),
    }


def delay_aware_finding(means: dict, refs: dict[str, Any], task: str,
                        cvs: tuple[float, ...]) -> dict[str, Any]:
    """Return (d): where a delay-aware or chunk model fits, plain vs that model per mode."""
    out: dict[str, Any] = {}
    for (t, policy, mode, m, cv), entry in sorted(means.items()):
        if t != task or policy == 'plain':
            continue
        plain = means.get((task, 'plain', mode, m, cv))
        if plain is None:
            continue
        out.setdefault(f'cv={cv:g}', {}).setdefault(_key(m), {})[f'{mode} {policy}'] = {
            'model': entry['model'], 'policy': policy, 'mode': mode,
            'kept_plain': kept(plain['task_return'], refs),
            'kept_delay_aware': kept(entry['task_return'], refs),
            'recovered': kept(entry['task_return'], refs) - kept(plain['task_return'], refs)}
    for name, value in refs.get('at_trained_delay', {}).items():
        out.setdefault('rollout_at_trained_delay', {})[name] = {
            'kept': kept(value, refs), 'note': 'evaluate rollout at the trained delay'}
    return out


def widest_spread(by_cv: dict[str, Any]) -> str:
    """Return the ``cv=...`` key with the largest CV (``cv=0.3`` in the standard sweep)."""
    keys = [k for k in by_cv if k.startswith('cv=')]
    return max(keys, key=lambda k: float(k[3:])) if keys else 'cv=0'


def checks(tasks: dict[str, Any]) -> dict[str, Any]:
    """Return the done-when checks, each with the numbers it was decided on."""
    out: dict[str, Any] = {}
    key = f'largest_multiple_keeping_{round(KEEP * 100)}pct'
    for task, s in tasks.items():
        c: dict[str, Any] = {}
        thresholds = s[key].get('cv=0')
        if thresholds:
            seq = thresholds['plain']['sequential']['largest']
            reach = {f: max(thresholds[f][m]['largest'] for m in STAGGERED if m in thresholds[f])
                     for f in ('delay_aware', 'chunked')}
            best = max(reach, key=reach.get)
            # Undecided (None) when sequential keeps it at no multiple run: no ratio exists.
            c['staggered_delay_aware_vs_sequential'] = {
                'sequential': seq, 'staggered_delay_aware': reach['delay_aware'],
                'staggered_chunked': reach['chunked'], 'best': best,
                'ratio': reach[best] / seq if seq else float('nan'),
                'pass': reach[best] >= 5 * seq if seq else None}
        zero = s['curves'].get('cv=0', {}).get('plain', {}).get('max_time', {})
        if zero:
            worst = max(e['inaction_fraction'] for e in zero.values())
            c['max_time_cv0_no_inaction'] = {'max_inaction_fraction': worst,
                                             'pass': worst == 0.0}
        cv = widest_spread(s['at_10x'])
        focus = s['at_10x'].get(cv, {})
        if 'exp_time' in focus and 'max_time' in focus:
            e, m = focus['exp_time']['action_age_ms'], focus['max_time']['action_age_ms']
            c['exp_time_fresher_with_spread'] = {'cv': cv[3:], 'exp_time_age_ms': e,
                                                 'max_time_age_ms': m, 'pass': e < m}
        padding = padding_vs_freshness(s['at_10x'])
        if padding:
            c['max_time_pads_exp_time_fresher'] = padding
        out[task] = c
    return out


def padding_vs_freshness(focus: dict[str, Any]) -> dict[str, Any]:
    """Return the paper's finding (c) at every spread run, as one check.

    max_time: no inaction (a new action at >= :data:`EVERY_TICK` of the ticks, less than
    exp_time's inaction) at the cost of padding to the max (older actions than exp_time's).

    :param focus: ``at_10x`` of a task summary.
    :return: per CV the two modes' inaction and age, and ``pass`` (empty: no spread run).
    """
    out: dict[str, Any] = {}
    passed = []
    for cv in sorted((k for k in focus if k.startswith('cv=') and k != 'cv=0'),
                     key=lambda k: float(k[3:])):
        modes = focus[cv]
        if 'max_time' not in modes or 'exp_time' not in modes:
            continue
        m, e = modes['max_time'], modes['exp_time']
        tag = cv[3:]
        out[f'cv{tag}_max_time_inaction'] = m['inaction_fraction']
        out[f'cv{tag}_exp_time_inaction'] = e['inaction_fraction']
        out[f'cv{tag}_max_time_age_ms'] = m['action_age_ms']
        out[f'cv{tag}_exp_time_age_ms'] = e['action_age_ms']
        passed.append(m['inaction_fraction'] <= 1.0 - EVERY_TICK
                      and m['inaction_fraction'] < e['inaction_fraction']
                      and e['action_age_ms'] < m['action_age_ms'])
    if passed:
        out['pass'] = all(passed)
    return out
