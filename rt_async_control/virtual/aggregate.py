"""Turn the sweep's rows into the paper's findings: means over seeds, kept return, thresholds.

Kept return normalises like ``rt-async-control evaluate`` does, against the default behaviour
(the zero command, the arbiter's default in these runs)::

    kept = (R - R_zero_command) / (R_zero_latency - R_zero_command)

where ``R_zero_latency`` is the *plain* policy acting every period on the current observation
(no inference latency at all), on the same seeds. 1 keeps everything the policy achieves
without latency, 0 is no better than doing nothing. The expert-normalised value
(``evaluate``'s ``normalised_return``) is reported beside it.
"""

from __future__ import annotations

from collections import defaultdict
import math
from typing import Any

import numpy as np

from rt_async_control.policy.evaluate import normalised_return

KEEP = 0.9
FAMILIES = ('plain', 'delay_aware', 'chunked')
METRICS = ('task_return', 'success', 'inaction_fraction', 'action_age_mean_ms',
           'action_age_max_ms', 'fallback_fraction', 'num_workers', 'rejected')


def _mean(values: list[float]) -> float:
    finite = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def group_means(rows: list[dict[str, Any]], part: str = 'main'
                ) -> dict[tuple[str, str, str, float, float], dict[str, float]]:
    """Return the mean over seeds of each metric per ``(task, policy, mode, multiple, cv)``."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r['part'] == part:
            groups[(r['task'], r['policy'], r['mode'], float(r['multiple']),
                    float(r['cv']))].append(r)
    out = {}
    for key, members in groups.items():
        out[key] = {m: _mean([float(r[m]) for r in members]) for m in METRICS}
        out[key]['seeds'] = len(members)
        out[key]['model'] = members[0]['model']
    return out


def plain_model(refs: dict[str, Any]) -> str:
    """Return the file name of the task's plain policy among the baselines."""
    return next(iter(refs['zero_latency']))


def kept(value: float, refs: dict[str, Any]) -> float:
    """Return the kept fraction of the plain policy's zero-latency return (module docstring)."""
    return normalised_return(value, refs['default'], refs['zero_latency'][plain_model(refs)])


def expert_normalised(value: float, refs: dict[str, Any]) -> float:
    """Return ``(R - R_zero_command) / (R_expert - R_zero_command)``, as evaluate reports."""
    return normalised_return(value, refs['default'], refs['expert'])


def family_curve(means: dict, task: str, mode: str, cv: float, family: str,
                 multiples: tuple[float, ...]) -> dict[float, dict[str, float]]:
    """Return one mode's means per multiple for a policy family.

    ``plain`` is the plain policy. ``delay_aware`` (``chunked``) is the delay-aware (chunk)
    policy where one fits that inference time and the plain one elsewhere; each entry's
    ``policy`` says which ran.
    """
    out = {}
    for m in multiples:
        entry = means.get((task, family, mode, m, cv)) if family != 'plain' else None
        if entry is not None:
            entry = dict(entry, policy=family)
        elif (task, 'plain', mode, m, cv) in means:
            entry = dict(means[(task, 'plain', mode, m, cv)], policy='plain')
        if entry is not None:
            out[m] = entry
    return out


def largest_kept(curve: dict[float, dict[str, float]], refs: dict[str, Any]
                 ) -> dict[str, Any]:
    """Return where a curve keeps at least :data:`KEEP` of the zero-latency return.

    :return: ``largest`` (the largest multiple that keeps it, ``0`` if none),
        ``largest_contiguous`` (the largest multiple up to which every multiple keeps it) and
        ``kept_at`` (the multiples that keep it).
    """
    ok = [m for m in sorted(curve) if kept(curve[m]['task_return'], refs) >= KEEP]
    contiguous = 0.0
    for m in sorted(curve):
        if m not in ok:
            break
        contiguous = m
    return {'largest': max(ok) if ok else 0.0, 'largest_contiguous': contiguous,
            'kept_at': ok}


def fit_line(x: list[float], y: list[float]) -> tuple[float, float, float]:
    """Return slope, intercept and R^2 of a least-squares line through the points."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    if len(xs) < 2:
        return math.nan, math.nan, math.nan
    slope, intercept = np.polyfit(xs, ys, 1)
    residual = ys - (slope * xs + intercept)
    total = float(np.sum((ys - ys.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual ** 2)) / total if total > 0 else 1.0
    return float(slope), float(intercept), r2
