"""``rt-async-control run CONFIG.yaml``: the whole stack in real time on this machine, no ROS.

Separate processes (simulator, N inference workers, arbiter, optionally an MCAP recorder)
joined by shared-memory latest-value channels; see :mod:`rt_async_control.runtime.launcher`.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rt_async_control.errors import InputError

if TYPE_CHECKING:
    pass


def _workers(text: str) -> str | int:
    # Any integer passes here; the range is checked with the config (one InputError line).
    if text == 'auto':
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not an integer or auto') from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``run`` options."""
    parser.add_argument('config', help='ROS 2 parameter file, e.g. config/arm.yaml')
    parser.add_argument('--workers', type=_workers, default=None,
                        help="number of inference workers, or 'auto' (N* from the inference "
                             "time measured at warm-up); default: the file's num_workers")
    parser.add_argument('--schedule', choices=('max_time', 'exp_time', 'manual', 'none'),
                        help="stagger schedule ('none': all workers start together)")
    parser.add_argument('--duration', type=float, default=10.0, metavar='S',
                        help='seconds to run after the common start (default 10)')
    parser.add_argument('--record', metavar='FILE.mcap', help='record states, chunks, '
                        'commands and diagnostics to an MCAP file')
    parser.add_argument('--report', metavar='DIR', help='write summary.json and plots here')
    parser.add_argument('--emulate', choices=('none', 'fixed', 'normal', 'lognormal'),
                        help='pad each inference to a time drawn from this distribution')
    parser.add_argument('--emulate-mean', type=float, metavar='S',
                        help='mean emulated inference time, seconds')
    parser.add_argument('--emulate-cv', type=float, metavar='CV',
                        help='coefficient of variation of the emulated inference time')
    parser.add_argument('--model', metavar='FILE.onnx', help='policy to run instead of the '
                        "file's inference.model_path")
    parser.add_argument('--param', action='append', default=[], metavar='NODE.NAME=VALUE',
                        help='override one parameter of the file, e.g. '
                             "'/**.state_period_s=0.002' or 'arbiter.max_action_age_s=0.2' "
                             '(repeatable; VALUE is YAML)')
    parser.add_argument('--faults', metavar='PLAN', help='inject faults, e.g. '
                        "'nan@3,spike20:0@5,kill:1@2.0' (see rt_async_control.runtime.faults)")
    parser.add_argument('--pin', action='store_true', help='pin the arbiter and simulator to '
                        'the last CPU and the workers to the others')
    parser.add_argument('--no-realtime', action='store_true',
                        help='do not try SCHED_FIFO for the processes')
    parser.add_argument('--quiet', action='store_true', help='no live status line')


def run(args: argparse.Namespace) -> int:
    """Run the stack, print the report table; 0 also after Ctrl-C (the report is written)."""
    from rt_async_control.runtime.launcher import launch, prepare, RunOptions
    from rt_async_control.runtime.report import format_table, write_report
    from rt_async_control.runtime.status import StatusLine

    options = RunOptions(
        config_path=args.config, workers=args.workers, schedule=args.schedule,
        duration_s=args.duration, record=args.record, report_dir=args.report,
        emulate=args.emulate, emulate_mean_s=args.emulate_mean, emulate_cv=args.emulate_cv,
        model=args.model, realtime=not args.no_realtime, live_status=not args.quiet,
        params=tuple(_param(text) for text in args.param), faults=args.faults, pin=args.pin)
    if args.record and not args.record.endswith('.mcap'):
        raise InputError(f'--record: {args.record!r} must end in .mcap')
    plan = prepare(options)
    print(f'rt-async-control run: {plan.config.task}, {plan.layout.num_workers} workers '
          f'({plan.sizing}), schedule {plan.config.schedule.mode}, emulated '
          f'{plan.emulation.describe()}, {options.duration_s:g} s', flush=True)
    status = StatusLine(plan.layout.num_workers, enabled=options.live_status)
    try:
        result = launch(plan, options, status)
    except RuntimeError as exc:  # a child failed to start: everything was stopped and removed
        print(f'rt-async-control run: error: {exc}', file=sys.stderr, flush=True)
        return 1
    if options.realtime:
        for notice in _realtime_notice(result.notices, plan.layout.num_workers + 2):
            print(f'rt-async-control run: {notice}', flush=True)
    summary = write_report(result, options.report_dir)
    print(format_table(summary), flush=True)
    if options.report_dir:
        plots = ', '.join(summary.get('plots', [])) or 'none'
        print(f'report: {options.report_dir}/summary.json; plots in {options.report_dir}/: '
              f'{plots}', flush=True)
    if options.record:
        print(f'recording: {options.record}', flush=True)
    if result.interrupted:
        print('rt-async-control run: interrupted, stopped cleanly', flush=True)
    return 0


def _param(text: str) -> tuple[str, str, object]:
    import yaml

    key, sep, value = text.partition('=')
    node, dot, name = key.rpartition('.')
    if not (sep and dot and node and name):
        raise InputError(f'--param: {text!r} must look like NODE.NAME=VALUE')
    try:
        return node, name, yaml.safe_load(value)
    except yaml.YAMLError:
        raise InputError(f'--param: {text!r}: VALUE is not YAML') from None


def _realtime_notice(notices: list[str], processes: int) -> list[str]:
    # Every child tries the same thing; one line says it for all of them.
    if not notices:
        return [f'realtime: SCHED_FIFO applied to the {processes} control processes']
    reason = notices[0].split(': ', 1)[-1]
    return [f'realtime: not permitted for {len(notices)} processes ({reason})']
