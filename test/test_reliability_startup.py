"""Bad input at start-up: one clear line on stderr, exit code 2, nothing left running.

Each case runs ``python -m rt_async_control.cli run ...`` in its own session (so every
process it could have started is found by session id in ``/proc``), all cases at once to keep
the wall time short. A case passes when the command exits with 2, stderr is exactly one line
that names the problem, no process of its session survives and no shared-memory segment of
its runs is left in ``/dev/shm``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import glob
import os
from pathlib import Path
import subprocess
import sys
import time

import onnx
from onnx import helper
import pytest
from test_roles_worker import tiny_model

from rt_async_control.policy.metadata import METADATA_KEY, ModelMetadata
from rt_async_control.resources import share_path

pytestmark = pytest.mark.slow  # about 6 s: every case is a fresh interpreter

CONFIG = share_path('config', 'pendulum.yaml')
#: Every case is a short run that should never start: generous, the machine is shared.
CASE_TIMEOUT_S = 120.0


def session_members(sid: int) -> list[str]:
    """Return ``'pid comm'`` of every live process whose session id is ``sid`` (from /proc).

    :param sid: the session id (the pid of a process started with ``start_new_session``).
    :return: one entry per process, zombies excluded.
    """
    members = []
    for stat in glob.glob('/proc/[0-9]*/stat'):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue  # gone while scanning
        # Fields after the command name (which may contain spaces) start after the last ')'.
        fields = text.rsplit(')', 1)[1].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state != 'Z':
            members.append(f"{stat.split('/')[2]} {text.split('(', 1)[1].rsplit(')', 1)[0]}")
    return members


def shm_segments(pid: int) -> list[str]:
    """Return the ``/dev/shm`` entries of runs started by process ``pid``."""
    return glob.glob(f'/dev/shm/rtac_{pid}-*')


def retask(source: Path, dest: Path, **changes: object) -> Path:
    """Copy an ONNX model, changing fields of its embedded metadata (a model that lies).

    :param source: a model written by ``tiny_model``.
    :param dest: where the copy goes.
    :param changes: metadata fields to replace.
    :return: ``dest``.
    """
    model = onnx.load(str(source))
    props = {p.key: p.value for p in model.metadata_props}
    metadata = dataclasses.replace(ModelMetadata.from_json(props[METADATA_KEY]), **changes)
    del model.metadata_props[:]
    helper.set_model_props(model, {METADATA_KEY: metadata.to_json()})
    onnx.save_model(model, str(dest))
    return dest


def edited_config(directory: Path, name: str, old: str, new: str) -> Path:
    """Write a copy of the pendulum parameter file with one text replacement.

    :param directory: where the copy goes.
    :param name: file name of the copy.
    :param old: text to replace (must occur).
    :param new: replacement.
    :return: the copy.
    """
    text = CONFIG.read_text()
    assert old in text, old
    path = directory / name
    path.write_text(text.replace(old, new, 1))
    return path


@dataclass
class Case:
    """One bad start-up: the command line after ``run`` and what the line must name."""

    args: list[str]
    names: tuple[str, ...]


@dataclass
class Outcome:
    """What one case left behind."""

    returncode: int
    stdout: str
    stderr: str
    survivors: list[str]
    segments: list[str]
    names: tuple[str, ...]


def _cases(tmp: Path) -> dict[str, Case]:
    good = tiny_model(tmp / 'pendulum.onnx', 'pendulum')
    corrupt = tmp / 'corrupt.onnx'
    corrupt.write_bytes(b'\x08\x07this is not a protobuf of an ONNX model\xff\xfe')
    arm = tiny_model(tmp / 'arm.onnx', 'arm')
    # A cartpole network (5 observations) whose metadata claims the pendulum task (3).
    wrong_dims = retask(tiny_model(tmp / 'cartpole.onnx', 'cartpole'),
                        tmp / 'wrong_dims.onnx', task='pendulum')
    model = ['--model', str(good)]
    cfg = str(CONFIG)
    return {
        'missing_onnx': Case([cfg, '--model', str(tmp / 'nowhere.onnx')],
                             ('nowhere.onnx', 'does not exist')),
        'corrupt_onnx': Case([cfg, '--model', str(corrupt)], ('corrupt.onnx', 'ONNX')),
        'model_for_other_task': Case([cfg, '--model', str(arm)], ("'arm'", "'pendulum'")),
        'model_dims_mismatch': Case([cfg, '--model', str(wrong_dims)],
                                    ('wrong_dims.onnx', 'observation size 5', '3')),
        'unknown_joint_names': Case([str(edited_config(
            tmp, 'joints.yaml', '    schedule: max_time',
            '    joint_names: [shoulder_pan]\n    schedule: max_time')), *model],
            ('arbiter.joint_names', "unknown joint 'shoulder_pan'", "['hinge']")),
        'malformed_yaml': Case([str(edited_config(
            tmp, 'malformed.yaml', 'num_workers: 0', 'num_workers: [0'))],
            ('malformed.yaml', 'malformed YAML')),
        'missing_config': Case([str(tmp / 'absent.yaml'), *model], ('absent.yaml',)),
        'out_of_range': Case([str(edited_config(
            tmp, 'range.yaml', 'max_action_age_s: 0.1 ', 'max_action_age_s: -0.5 ')), *model],
            ('max_action_age_s', '-0.5')),
        'wrong_type': Case([str(edited_config(
            tmp, 'type.yaml', 'exp_alpha: 0.1', 'exp_alpha: often')), *model],
            ('exp_alpha', 'often')),
        'unknown_choice': Case([str(edited_config(
            tmp, 'choice.yaml', 'default_behaviour: hold', 'default_behaviour: panic')),
            *model], ('default_behaviour', 'panic')),
        'negative_num_workers': Case([str(edited_config(
            tmp, 'workers.yaml', 'num_workers: 0 ', 'num_workers: -2 ')), *model],
            ('num_workers', '-2')),
        'workers_option_zero': Case([cfg, *model, '--workers', '0'], ('--workers', '0')),
        'workers_option_negative': Case([cfg, *model, '--workers', '-3'], ('--workers', '-3')),
        'workers_option_word': Case([cfg, *model, '--workers', 'many'], ('--workers', 'many')),
        'unknown_option': Case([cfg, *model, '--fastest'], ('--fastest',)),
        'period_below_sim_step': Case([str(edited_config(
            tmp, 'period.yaml', 'control_period_s: 0.01 ', 'control_period_s: 0.001 ')),
            *model], ('control_period_s', '0.001', 'step')),
        'param_out_of_range': Case([cfg, *model, '--param', 'arbiter.max_action_age_s=-1'],
                                   ('max_action_age_s', '-1')),
        'param_malformed': Case([cfg, *model, '--param', 'max_action_age_s'],
                                ('--param', 'max_action_age_s')),
        'fault_plan_malformed': Case([cfg, *model, '--faults', 'melt@3'],
                                     ('--faults', 'melt')),
        'fault_plan_worker_missing': Case([cfg, *model, '--workers', '2', '--faults',
                                           'kill:5@1.0'], ('--faults', 'worker 5')),
        'default_command_length': Case([str(edited_config(
            tmp, 'command.yaml', '    # default_command: [0.0]',
            '    default_command: [0.0, 1.0]')), *model], ('default_command',)),
    }


@pytest.fixture(scope='module')
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Run every case at once (each in its own session) and collect what it left."""
    cases = _cases(tmp_path_factory.mktemp('startup'))
    procs = {}
    for name, case in cases.items():
        command = [sys.executable, '-m', 'rt_async_control.cli', 'run', *case.args,
                   '--duration', '2', '--quiet', '--no-realtime']
        procs[name] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, start_new_session=True)
    results = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=CASE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
        # Anything the command started must be gone shortly after it returned.
        deadline = time.monotonic() + 5.0
        while (survivors := session_members(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        results[name] = Outcome(proc.returncode, out, err, survivors, shm_segments(proc.pid),
                                cases[name].names)
    return results


CASE_NAMES = ('missing_onnx', 'corrupt_onnx', 'model_for_other_task', 'model_dims_mismatch',
              'unknown_joint_names', 'malformed_yaml', 'missing_config', 'out_of_range',
              'wrong_type', 'unknown_choice', 'negative_num_workers', 'period_below_sim_step',
              'default_command_length', 'param_out_of_range', 'param_malformed',
              'fault_plan_malformed', 'fault_plan_worker_missing', 'workers_option_word',
              'unknown_option')


@pytest.mark.parametrize('name', CASE_NAMES)
def test_bad_input_gives_one_line_and_exit_code_2(name: str, outcomes: dict[str, Outcome]):
    _check(name, outcomes)


@pytest.mark.parametrize('name', ('workers_option_zero', 'workers_option_negative'))
def test_bad_workers_option_exits_2_and_names_it(name: str, outcomes: dict[str, Outcome]):
    outcome = outcomes[name]
    assert outcome.returncode == 2, outcome
    last = outcome.stderr.strip().splitlines()[-1]
    assert all(word in last for word in outcome.names), outcome.stderr
    assert not outcome.survivors and not outcome.segments


@pytest.mark.parametrize('name', ('workers_option_zero', 'workers_option_negative'))
def test_bad_workers_option_is_one_line(name: str, outcomes: dict[str, Outcome]):
    _check(name, outcomes)


def _check(name: str, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[name]
    lines = outcome.stderr.strip().splitlines()
    assert outcome.returncode == 2, (name, outcome)
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith('rt-async-control run: error: '), lines[0]
    for word in outcome.names:
        assert word in lines[0], (word, lines[0])
    assert 'Traceback' not in outcome.stdout
    assert not outcome.survivors, outcome.survivors
    assert not outcome.segments, outcome.segments
