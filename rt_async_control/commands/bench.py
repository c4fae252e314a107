"""``rt-async-control bench``: print every performance figure against its target.

Each area has a module under :mod:`rt_async_control.benchmarks` with
``measure(quick) -> list[Figure]``; this command runs the selected ones and prints one table.
Nothing here asserts: the machines are shared, so figures are reported with the baseline they
were measured against in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
import sys
import time

from rt_async_control.errors import InputError

# Printed in this order; name -> module under rt_async_control.benchmarks.
SUITES: dict[str, str] = {
    'core': 'core',
    'schedule': 'schedule',
    'transport': 'transport',
    'timing': 'timing',
    'inference': 'inference',
    'runtime': 'runtime',
    'ros': 'ros_timer',
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``bench``."""
    # No argparse `choices` here: with nargs='*' it rejects the empty default on Python 3.11.
    parser.add_argument('suites', nargs='*', metavar='SUITE',
                        help=f'which benchmarks to run (default: all of {", ".join(SUITES)})')
    parser.add_argument('--quick', action='store_true',
                        help='shorter runs (seconds instead of the 60 s the targets name)')
    parser.add_argument('--json', type=Path, metavar='FILE',
                        help='also write every figure to FILE as JSON')
    parser.add_argument('--soak', type=float, metavar='MINUTES',
                        help='run the fault-injection soak for MINUTES instead')


def run(args: argparse.Namespace) -> int:
    """Run the selected benchmark suites and print their figures."""
    from rich.console import Console
    from rich.table import Table

    if args.soak is not None:
        from rt_async_control.benchmarks import soak

        return soak.run_soak(args.soak)
    console = Console()
    table = Table(title='rt-async-control bench' + (' (quick)' if args.quick else ''))
    for column in ('suite', 'figure', 'value', 'target', 'met', 'baseline / condition'):
        table.add_column(column)
    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        known = ', '.join(SUITES)
        raise InputError(f'unknown benchmark suite {unknown[0]!r}: choose from {known}')
    rows = []
    for suite in args.suites or list(SUITES):
        module_name = f'rt_async_control.benchmarks.{SUITES[suite]}'
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            console.print(f'[yellow]{suite}: not available ({exc.name} missing)[/]')
            continue
        console.print(f'[bold]{suite}[/]: measuring...')
        started = time.monotonic()
        figures = module.measure(quick=args.quick)
        console.print(f'[bold]{suite}[/]: done in {time.monotonic() - started:.1f} s')
        for fig in figures:
            met = '' if fig.met is None else ('yes' if fig.met else '[red]NO[/]')
            table.add_row(suite, fig.name, f'{fig.value:.4g} {fig.unit}', fig.target or '', met,
                          fig.note)
            rows.append({'suite': suite, **fig.__dict__})
    console.print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
        console.print(f'figures written to {args.json}')
    return 0


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
