"""PNG plots of the sweep (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rt_async_control.virtual.aggregate import KEEP

COLORS = {'sequential': 'tab:red', 'async': 'tab:orange', 'max_time': 'tab:blue',
          'exp_time': 'tab:green'}
# Modes often coincide (sequential = async, max_time = exp_time at a fixed time): different
# marker sizes keep both visible.
MARKERS = {'sequential': ('o', 7), 'async': ('s', 3), 'max_time': ('^', 7), 'exp_time': ('v', 3)}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def write_plots(summary: dict[str, Any], rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """Write one figure per task and return the files.

    Each figure: kept return, inaction fraction and action age vs inference time per mode
    (CV 0; delay-aware family dashed), and the workers needed vs inference time.
    """
    plt = _pyplot()
    paths = []
    for task, s in summary['tasks'].items():
        fig, axes = plt.subplots(2, 2, figsize=(11, 8))
        _returns(axes[0][0], s)
        _per_mode(axes[0][1], s, 'inaction_fraction', 'inaction fraction (after start-up)')
        _per_mode(axes[1][0], s, 'action_age_ms', 'mean action age (ms)', log=True)
        _workers(axes[1][1], s)
        fig.suptitle(f'{task}: staggered asynchronous inference in virtual time')
        fig.tight_layout()
        path = out / f'{task}_sweep.png'
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
        if any(r['part'] == 'workers' and r['task'] == task for r in rows):
            paths.append(_worker_sweep(plt, task, rows, out))
    return paths


def _xy(curve: dict[str, dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs = sorted(curve, key=float)
    return [float(x) for x in xs], [curve[x][key] for x in xs]


def _returns(ax: Any, s: dict[str, Any]) -> None:
    curves = s['curves'].get('cv=0', {})
    for family, style in (('plain', '-'), ('delay_aware', '--'), ('chunked', ':')):
        for mode, curve in curves.get(family, {}).items():
            if family != 'plain' and not any(e['policy'] == family for e in curve.values()):
                continue
            x, y = _xy(curve, 'kept')
            marker, size = MARKERS.get(mode, ('o', 3))
            ax.plot(x, y, style, marker=marker, ms=size, color=COLORS.get(mode),
                    label=f'{mode} ({family})')
    ax.axhline(KEEP, color='gray', lw=0.8, ls=':')
    ax.set_xscale('log')
    ax.set_xlabel('inference time / control period')
    ax.set_ylabel('kept return (1 = zero latency)')
    ax.set_title('return vs inference time (CV 0)')
    ax.legend(fontsize=7)


def _per_mode(ax: Any, s: dict[str, Any], key: str, label: str, log: bool = False) -> None:
    wide = max(s['curves'], key=lambda k: float(k[3:]))
    for cv, style in (('cv=0', '-'), (wide, '--'))[:2 if wide != 'cv=0' else 1]:
        for mode, curve in s['curves'].get(cv, {}).get('plain', {}).items():
            x, y = _xy(curve, key)
            marker, size = MARKERS.get(mode, ('o', 3))
            ax.plot(x, y, style, marker=marker, ms=size, color=COLORS.get(mode),
                    label=f'{mode} {cv}')
    ax.set_xscale('log')
    if log:
        ax.set_yscale('log')
    ax.set_xlabel('inference time / control period')
    ax.set_ylabel(label)
    ax.legend(fontsize=7)


def _workers(ax: Any, s: dict[str, Any]) -> None:
    for cv, w in s['workers'].items():
        table = w['by_multiple']
        x = [float(m) for m in table]
        ax.plot(x, [v['measured'] for v in table.values()], marker='o', label=f'measured {cv}')
        ax.plot(x, [v['formula'] for v in table.values()], ls=':',
                label=f'N* = ceil(T_max/T) {cv}')
    ax.set_xlabel('inference time / control period')
    ax.set_ylabel('workers for no inaction (max_time)')
    ax.set_title('workers needed vs inference time')
    ax.legend(fontsize=7)


def _worker_sweep(plt: Any, task: str, rows: list[dict[str, Any]], out: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in ((axes[0], 'inaction_fraction', 'inaction fraction'),
                           (axes[1], 'action_age_mean_ms', 'mean action age (ms)')):
        spreads = sorted({float(r['cv']) for r in rows if r['part'] == 'workers'})
        for cv, style in zip(spreads[:1] + spreads[-1:], ('-', '--')):
            for mode in ('async', 'max_time', 'exp_time'):
                pts = sorted((int(r['num_workers']), float(r[key])) for r in rows
                             if r['part'] == 'workers' and r['task'] == task and
                             r['mode'] == mode and float(r['cv']) == cv)
                if pts:
                    marker, size = MARKERS[mode]
                    ax.plot(*zip(*pts), style, marker=marker, ms=size, color=COLORS[mode],
                            label=f'{mode} cv={cv:g}')
        ax.set_xlabel('workers N')
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    fig.suptitle(f'{task}: N from 1 to beyond N* at inference time 10x the control period')
    fig.tight_layout()
    path = out / f'{task}_workers.png'
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
