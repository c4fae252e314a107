"""``rt-async-control experiment``: reproduce the paper's sweeps in virtual time."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the sub-command's arguments."""
    parser.add_argument('--quick', action='store_true',
                        help='a smaller grid (7 inference times, CV 0/0.1/0.3, 2 seeds) that '
                        'finishes in a few minutes on 2 cores')
    parser.add_argument('--tasks', nargs='+', default=['pendulum', 'arm'], metavar='TASK',
                        help='tasks to sweep (default: pendulum arm)')
    parser.add_argument('--out', default='reports/experiment', metavar='DIR',
                        help='output directory (default reports/experiment)')
    parser.add_argument('--seeds', type=int, default=None, metavar='K',
                        help='episode seeds 0..K-1 per grid point (default 2 quick, 5 full)')
    parser.add_argument('--multiples', type=float, nargs='+', default=None, metavar='X',
                        help='inference times as multiples of the control period (default '
                        '0.5 .. 50)')
    parser.add_argument('--distribution', default='lognormal',
                        choices=('lognormal', 'normal', 'measured'),
                        help='inference-time distribution for CV > 0 (default lognormal)')
    parser.add_argument('--times', default=None, metavar='FILE',
                        help='measured inference times (JSON list or CSV column) whose shape '
                        'is rescaled to each multiple; implies --distribution measured')
    parser.add_argument('--models', default=None, metavar='DIR',
                        help='directory of <task>_small*.onnx (default: the shipped models)')
    parser.add_argument('--slack', type=float, default=None, metavar='PERIODS',
                        help='freshness slack: an action is usable until it is older than '
                        "its mode's planned time (99th-percentile inference time; max_time: "
                        'its planning maximum + one period) + one state period + PERIODS '
                        'control periods (default 0.5: it acts at the tick it is due)')
    parser.add_argument('--processes', type=int, default=2, metavar='P',
                        help='worker processes, at most 2 (default 2)')
    parser.add_argument('--crosscheck', action='store_true',
                        help='instead of the sweep: run one configuration (arm, or the first '
                        'task; max_time, auto workers, 30 ms) on the real-time runtime and in '
                        'virtual time, and compare inaction, action age and return')
    parser.add_argument('--duration', type=float, default=6.0, metavar='S',
                        help='cross-check run length, seconds (default 6)')


def run(args: argparse.Namespace) -> int:
    """Run the sweep, write results.csv, summary.json, plots and report.md."""
    if args.crosscheck:
        from rt_async_control.virtual.crosscheck import crosscheck

        # The arm by default: a reaching task scores smoothly, where a swing-up's return
        # jumps with the moment the pendulum gets up.
        task = 'arm' if 'arm' in args.tasks else args.tasks[0]
        result = crosscheck(task, duration_s=args.duration)
        print('\n'.join(result.lines()))
        return 0 if result.ok else 1
    from rt_async_control.resources import share_path
    from rt_async_control.virtual.experiment import run_sweep
    from rt_async_control.virtual.inference_times import MeasuredTimes
    from rt_async_control.virtual.report import build_summary, verdict, write_outputs
    from rt_async_control.virtual.sweep import make_spec, plan

    table = MeasuredTimes.from_file(args.times) if args.times else None
    spec = make_spec(
        tuple(args.tasks), args.quick, args.seeds,
        multiples=tuple(args.multiples) if args.multiples else None,
        distribution='measured' if table is not None else args.distribution, table=table,
        models_dir=Path(args.models) if args.models else share_path('models'),
        slack_periods=args.slack)
    runs = plan(spec)
    out = Path(args.out)
    print(f'experiment: {len(runs)} grid points ({len(spec.tasks)} tasks, '
          f'{len(spec.multiples)} inference times, {len(spec.seeds)} seeds) -> {out}',
          flush=True)
    start = time.perf_counter()
    rows, refs = run_sweep(spec, runs, processes=args.processes, progress=_progress())
    wall = time.perf_counter() - start
    summary = build_summary(rows, refs, spec, wall, args.quick)
    files = write_outputs(rows, summary, out)
    names = ', '.join(f.name for f in files)
    print(f'experiment: {len(rows)} runs in {wall:.0f} s; wrote {names}')
    for task, checks in summary['checks'].items():
        for name, value in checks.items():
            print(f"  {task} {name}: {verdict(value['pass'])}")
    return 0


def _progress() -> Callable[[int, int, dict], None]:
    """Return a progress callback: a rich bar on a terminal, a line per 5% otherwise."""
    if sys.stdout.isatty():
        from rich.progress import Progress

        bar = Progress()
        task = bar.add_task('virtual runs', total=None)
        bar.start()

        def update(done: int, total: int, row: dict) -> None:
            bar.update(task, completed=done, total=total,
                       description=f"{row['task']} {row['mode']} {row['multiple']:g}x")
            if done == total:
                bar.stop()
        return update

    step = [0]
    started = time.perf_counter()

    def line(done: int, total: int, row: dict) -> None:
        if done * 20 // total > step[0] or done == total:
            step[0] = done * 20 // total
            print(f'  {done}/{total} runs, {time.perf_counter() - started:.0f} s '
                  f"(last: {row['task']} {row['mode']} {row['multiple']:g}x cv {row['cv']:g} "
                  f"N {row['num_workers']})", flush=True)
    return line
