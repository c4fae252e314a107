"""``rt-async-control run``: real processes, shared memory, real time (generous bounds).

Three seconds of pendulum with inference emulated at a fixed 2.5 control periods: staggered
over three workers (max_time) nearly every tick gets a fresh action; one unstaggered worker
leaves the inaction the paper predicts (1 - T / t_inf = 60 %). Also: a worker killed mid-run
does not stop the arbiter, and nothing is left behind (processes, shared memory).
"""

from __future__ import annotations

import glob
import json
import multiprocessing
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest
from test_roles_worker import tiny_model

from rt_async_control.cli import main
from rt_async_control.resources import share_path
from rt_async_control.runtime.launcher import launch, prepare, RunOptions
from rt_async_control.runtime.mcap_record import read_messages
from rt_async_control.runtime.report import build_summary

CONFIG = str(share_path('config', 'pendulum.yaml'))
# States every 2 ms: each worker reads its own, fresh state. With states as slow as the ticks,
# two staggered workers may read the same state, and a tick then finds no newer observation.
EMULATE = ['--emulate', 'fixed', '--emulate-mean', '0.025', '--param', '/**.state_period_s=0.002']

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_model(tmp_path_factory.mktemp('model') / 'pendulum.onnx', 'pendulum'))


def _leftovers() -> list[str]:
    return glob.glob(f'/dev/shm/rtac_{os.getpid()}-*')


def _run(model: str, out: Path, *extra: str) -> dict:
    rc = main(['run', CONFIG, '--model', model, '--duration', '3', '--report', str(out),
               '--quiet', *EMULATE, *extra])
    assert rc == 0
    assert not _leftovers()
    assert not multiprocessing.active_children()
    return json.loads((out / 'summary.json').read_text())


@pytest.fixture(scope='module')
def staggered_dir(model: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp('staggered')
    _run(model, out, '--workers', '3', '--schedule', 'max_time', '--record',
         str(out / 'run.mcap'))
    return out


@pytest.fixture(scope='module')
def staggered(staggered_dir: Path) -> dict:
    return json.loads((staggered_dir / 'summary.json').read_text())


@pytest.fixture(scope='module')
def sequential(model: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(model, tmp_path_factory.mktemp('sequential'), '--workers', '1',
                '--schedule', 'none')


def test_staggered_workers_all_contribute_without_inaction(staggered: dict):
    assert staggered['num_workers'] == 3 and staggered['schedule'] == 'max_time'
    assert staggered['emulated'] == {'enabled': True, 'distribution': 'fixed',
                                     'mean_s': 0.025, 'cv': pytest.approx(0.1)}
    for worker in staggered['workers'].values():
        assert worker['selected'] > 30
        assert 20.0 < worker['inference_ms']['p50'] < 40.0
    assert staggered['inaction_ratio_steady'] < 0.10
    assert 80.0 < staggered['control_rate_hz'] < 120.0
    assert staggered['ticks'] > 0.8 * 300
    # Each action is about one inference time old: staggering removes inaction, not delay.
    assert 20.0 < staggered['action_age_ms']['p50'] < 60.0


def test_sequential_worker_shows_the_papers_inaction(staggered: dict, sequential: dict):
    assert sequential['num_workers'] == 1 and sequential['schedule'] == 'none'
    assert 80.0 < sequential['control_rate_hz'] < 120.0
    assert sequential['inaction_ratio_steady'] > 0.4
    assert sequential['inaction_ratio_steady'] > staggered['inaction_ratio_steady'] + 0.3


def test_summary_has_every_figure_and_the_plots_exist(staggered: dict, tmp_path: Path):
    for key in ('control_rate_hz', 'ticks', 'inaction_ticks', 'missed_ticks', 'num_workers',
                'schedule', 'emulated', 'task_return', 'task_success', 'workers'):
        assert key in staggered, key
    for key in ('period_error_us', 'action_age_ms'):
        assert set(staggered[key]) >= {'p50', 'p99', 'max'}
    assert set(staggered['transport_latency_us']) >= {'p50', 'p99'}
    assert staggered['transport_latency_us']['p50'] > 0
    # The channel's own cost is microseconds; waiting for the reader's deadline is not in it.
    assert staggered['transport_latency_us']['p99'] < staggered['record_wait_us']['p99']
    assert staggered['plots'] == ['tick_intervals.png', 'action_age.png', 'worker_per_tick.png',
                                  'worker_phases.png']


def test_recording_reads_back_as_ros_messages(staggered_dir: Path, staggered: dict):
    topics: dict[str, list] = {}
    for topic, schema, message in read_messages(staggered_dir / 'run.mcap'):
        topics.setdefault(topic, []).append((schema, message))
    assert topics['/joint_states'][0][0] == 'sensor_msgs/msg/JointState'
    assert topics['/joint_states'][0][1].name == ['hinge']
    assert len(topics['/joint_states']) > 600  # 3 s at 500 Hz, a few may be missed
    assert len(topics['/commands']) > 0.8 * staggered['ticks']
    assert topics['/commands'][0][0] == 'std_msgs/msg/Float64MultiArray'
    for worker in range(3):
        chunks = topics[f'/worker_{worker}/action_chunk']
        assert chunks[0][0] == 'trajectory_msgs/msg/JointTrajectory'
        assert len(chunks) > 80 and len(chunks[0][1].points) == 1
    diagnostics = topics['/diagnostics']
    assert 2 <= len(diagnostics) <= 4  # once per second
    names = [status.name for status in diagnostics[-1][1].status]
    assert names == ['arbiter', 'worker_0', 'worker_1', 'worker_2']


def test_faults_a_dead_worker_and_nan_actions_do_not_stop_the_arbiter(model: str):
    options = RunOptions(config_path=CONFIG, workers=3, duration_s=2.5, model=model,
                         emulate='fixed', emulate_mean_s=0.025, live_status=False,
                         faults='kill:1@0.8,nan:0@%4',
                         params=(('/**', 'state_period_s', 0.002),))
    result = launch(prepare(options), options)
    assert [line for _, line in result.fault_events][0].startswith('kill worker 1')
    assert 'worker_1' in result.crashed
    summary = build_summary(result)
    assert summary['ticks'] > 0.8 * 250  # the arbiter kept ticking to the end
    workers = summary['workers']
    assert workers['1']['actions'] < 0.5 * workers['2']['actions']
    assert workers['0']['rejected'] >= 0.2 * workers['0']['actions']  # every 4th call NaN
    assert workers['0']['selected'] > 0 and workers['2']['selected'] > 0
    assert not _leftovers()
    assert not multiprocessing.active_children()


def test_ctrl_c_stops_everything_cleanly(model: str, tmp_path: Path):
    command = [sys.executable, '-m', 'rt_async_control.cli', 'run', CONFIG, '--model', model,
               '--workers', '2', '--duration', '60', '--quiet', '--report', str(tmp_path),
               *EMULATE]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    # Wait until the run has started (its report dir is only written at the end).
    while time.monotonic() < deadline and not glob.glob(f'/dev/shm/rtac_{proc.pid}-*_status'):
        time.sleep(0.1)
    time.sleep(2.0)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert 'interrupted, stopped cleanly' in out
    assert (tmp_path / 'summary.json').is_file()
    assert not glob.glob(f'/dev/shm/rtac_{proc.pid}-*')
    # multiprocessing's resource tracker leaves when it sees its parent's pipe close.
    for _ in range(50):
        survivors = subprocess.run(['pgrep', '-a', '-s', str(proc.pid)], capture_output=True,
                                   text=True).stdout.strip()
        if not survivors:
            break
        time.sleep(0.1)
    assert not survivors, survivors
