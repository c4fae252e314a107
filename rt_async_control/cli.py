"""The ``rt-async-control`` command: one sub-command per job, heavy imports deferred."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, NoReturn

from rt_async_control.errors import InputError

# name -> (module under rt_async_control.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    'run': ('run', 'run the whole stack in real time on this machine (no ROS)'),
    'bench': ('bench', 'measure timing, transport and core costs against baselines'),
    'train': ('train', 'train an ONNX policy for a task (needs torch)'),
    'evaluate': ('evaluate', 'evaluate an ONNX policy in simulation, optionally delayed'),
    'experiment': ('experiment', "reproduce the paper's sweeps in virtual time"),
}


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit code 2.

    argparse prints the usage block before the error; bad input is one line everywhere in
    this tool (``--help`` still shows the usage). Sub-command parsers inherit the class.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Make the parser; ``commands`` maps sub-command names to their parsers."""
        super().__init__(*args, **kwargs)
        self.commands: dict[str, OneLineParser] = {}

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:
        """Parse; arguments no parser knows are reported by the sub-command's parser."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            command = self.commands.get(getattr(parsed, 'command', None) or '', self)
            command.error(f'unrecognized arguments: {" ".join(extra)}')
        return parsed

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message> (see <prog> --help)`` and exit with code 2.

        :param message: argparse's reason.
        """
        message = ' '.join(message.split())
        self.exit(2, f'{self.prog}: error: {message} (see {self.prog} --help)\n')


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command that is installed."""
    parser = OneLineParser(
        prog='rt-async-control',
        description='Staggered asynchronous inference for realtime control.',
    )
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(f'rt_async_control.commands.{module_name}')
        except ModuleNotFoundError as exc:
            if exc.name != f'rt_async_control.commands.{module_name}':
                raise
            continue
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
        parser.commands[name] = command
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; bad input prints one line and exits with code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (InputError, FileNotFoundError) as exc:
        print(f'rt-async-control {args.command}: error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'rt-async-control {args.command}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
