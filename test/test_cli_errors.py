"""The command line's own errors: one line on stderr and exit code 2; ``--help`` still works."""

from __future__ import annotations

import pytest

from rt_async_control.cli import main


@pytest.mark.parametrize('argv, words', [
    (['run', 'config.yaml', '--workers', 'many'], ("argument --workers: 'many'",)),
    (['run', 'config.yaml', '--duration', 'long'], ('--duration', "'long'")),
    (['run'], ('required', 'config')),
    (['run', 'config.yaml', '--fastest'], ('unrecognized', '--fastest')),
    (['fly'], ("invalid choice: 'fly'",)),
])
def test_usage_errors_are_one_line_with_exit_code_2(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and not out, err
    prog = 'rt-async-control' if argv[0] == 'fly' else f'rt-async-control {argv[0]}'
    assert lines[0].startswith(f'{prog}: error: ') and lines[0].endswith(f'see {prog} --help)')
    assert all(word in lines[0] for word in words), lines[0]


@pytest.mark.parametrize('value', ['0', '-3', '2', 'auto'])
def test_workers_option_takes_any_integer_and_leaves_the_range_to_the_config(value):
    # The range check lives with the config (InputError, one line): see the start-up tests.
    from rt_async_control.cli import build_parser

    args = build_parser().parse_args(['run', 'config.yaml', '--workers', value])
    assert args.workers == (value if value == 'auto' else int(value))


def test_help_still_prints_usage_and_exits_0(capsys):
    with pytest.raises(SystemExit) as info:
        main(['run', '--help'])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith('usage: rt-async-control run') and '--workers' in out
