"""Start a whole run on this machine: simulator, N workers, arbiter (and recorder) processes.

Sequence: load and check everything in this process (config, task, model: bad input fails
here with one line); size ``N`` (``--workers auto``: from the inference time measured during
warm-up, plus the emulated distribution's tail); create every shared-memory channel; spawn the
children ('spawn': fresh interpreters, nothing inherited from this one); wait until each has
warmed up; write the common start time ``t0 = now + START_DELAY_S`` into the ``control``
channel; watch the children and show the live status until the duration ends or Ctrl-C; set
``stop``; join (terminate what hangs); unlink every channel; hand the children's results to
the report. A child that crashes is reported and the others keep going: the arbiter keeps
ticking without a dead worker (its channel just stays old), told on the ``exits`` record so
its schedule slot goes to the others at once (a restarted worker rejoins with its first chunk).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
import json
import math
import multiprocessing as mp
from multiprocessing.connection import wait as wait_for_exit
import os
from pathlib import Path
import queue as queue_module
import shutil
import signal
import tempfile
import time
from typing import Any

import numpy as np

from rt_async_control.core.config import load_stack_config, StackConfig
from rt_async_control.core.schedule import make_schedule, required_workers
from rt_async_control.errors import InputError
from rt_async_control.policy.call_timing import time_calls
from rt_async_control.roles.worker_role import Emulation
from rt_async_control.runtime.arbiter_process import run_arbiter
from rt_async_control.runtime.channels import Channel, channel_name, cleanup, new_run_id
from rt_async_control.runtime.child import child_entry, ChildSpec
from rt_async_control.runtime.faults import FaultPlan, ProcessFaultInjector
from rt_async_control.runtime.records import Layout
from rt_async_control.runtime.sim_process import run_sim
from rt_async_control.runtime.worker_process import run_worker
from rt_async_control.sim.tasks import load_task

#: Delay from "everyone is ready" to the common start time.
START_DELAY_S = 0.5
#: How long children get to warm up and say ready.
READY_TIMEOUT_S = 90.0
#: How long a child gets to leave its loop and write its results after ``stop``.
JOIN_TIMEOUT_S = 10.0
#: Quantile of the emulated inference time that ``--workers auto`` plans for: the largest
#: draw expected in a run of thousands of inferences (max_time pads every cycle to it).
SIZING_QUANTILE = 0.9999
#: SCHED_FIFO priorities tried (the arbiter's deadline matters most).
PRIORITIES = {'arbiter': 80, 'sim': 70, 'worker': 60, 'recorder': 0}


@dataclass(frozen=True)
class RunOptions:
    """What the ``run`` command asks for (``None`` = as in the parameter file).

    :param config_path: the ROS 2 parameter file.
    :param workers: ``'auto'``, a number, or ``None`` (the file's ``num_workers``).
    :param schedule: schedule mode override.
    :param duration_s: how long to run after the start, seconds.
    :param record: MCAP file to write, or ``None``.
    :param report_dir: where summary.json and the plots go, or ``None``.
    :param emulate: emulated distribution override (``none``/``fixed``/``normal``/
        ``lognormal``).
    :param emulate_mean_s: emulated mean override, seconds.
    :param emulate_cv: emulated CV override.
    :param model: ONNX file override.
    :param realtime: try SCHED_FIFO.
    :param live_status: show the live status line.
    :param params: ``(node, name, value)`` parameter overrides (``node`` may be ``/**``).
    :param faults: a fault plan (:mod:`.faults`), or ``None``.
    :param pin: pin the arbiter and simulator to the last CPU and the workers to the others.
    """

    config_path: str
    workers: str | int | None = None
    schedule: str | None = None
    duration_s: float = 10.0
    record: str | None = None
    report_dir: str | None = None
    emulate: str | None = None
    emulate_mean_s: float | None = None
    emulate_cv: float | None = None
    model: str | None = None
    realtime: bool = True
    live_status: bool = True
    params: tuple[tuple[str, str, Any], ...] = ()
    faults: str | None = None
    pin: bool = False


@dataclass
class RunPlan:
    """Everything decided before any child starts."""

    config: StackConfig
    layout: Layout
    model_path: Path
    emulation: Emulation
    real_inference_s: list[float]
    sizing: str
    faults: FaultPlan = field(default_factory=FaultPlan)


@dataclass
class RunResult:
    """What a run leaves behind for the report.

    :param plan: the plan it ran.
    :param children: child name -> its results (``json`` summary and ``npz`` arrays).
    :param crashed: child name -> what went wrong.
    :param notices: one-line notices (realtime not permitted, ...).
    :param interrupted: Ctrl-C ended the run.
    :param t0: the common start time.
    :param stopped_at: when stop was requested.
    :param fault_events: ``(seconds after t0, what was done)`` of the process faults.
    """

    plan: RunPlan
    children: dict[str, dict[str, Any]] = field(default_factory=dict)
    crashed: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    interrupted: bool = False
    t0: float = math.nan
    stopped_at: float = math.nan
    fault_events: list[tuple[float, str]] = field(default_factory=list)


def prepare(options: RunOptions) -> RunPlan:
    """Load and check the config, task and model; decide ``N``.

    :param options: the command's options.
    :return: the plan.
    :raises InputError: any bad input, as one line.
    """
    if not (math.isfinite(options.duration_s) and options.duration_s > 0):
        raise InputError(f'--duration: {options.duration_s!r} must be > 0')
    faults = FaultPlan.parse(options.faults)
    config = load_stack_config(options.config_path)
    for node, name, value in options.params:
        config = config.with_values(node, {name: value})
    inference: dict[str, Any] = {}
    if options.emulate is not None:
        inference['emulate_distribution'] = options.emulate
    if options.emulate_mean_s is not None:
        inference['emulate_mean_s'] = options.emulate_mean_s
    if options.emulate_cv is not None:
        inference['emulate_cv'] = options.emulate_cv
    if options.model is not None:
        inference['model_path'] = str(Path(options.model).resolve())
    if inference:
        config = config.with_values('inference', inference)
    if options.schedule is not None:
        config = config.with_values('arbiter', {'schedule': options.schedule})
    task = load_task(config.task)
    config.check_task(task.timestep_s, task.action_dim)
    # The parameter file may name joints for ROS; this runtime drives the task's own
    # simulator, so any names given must be the task's.
    config.check_joint_names(task.joint_names, task.actuated_joints)

    from rt_async_control.policy.onnx_policy import OnnxPolicy

    model_path = config.inference.model_file(config.task)
    policy = OnnxPolicy(model_path, task, providers=config.inference.providers)
    real = measure_inference(policy, task.obs_dim, config.inference.warmup_calls)
    emulation = Emulation.from_config(config.inference)
    real_p99 = float(np.percentile(real, 99))
    expected = real_p99 + emulation.quantile(0.5)
    worst = real_p99 + emulation.quantile(SIZING_QUANTILE)
    workers = options.workers if options.workers is not None else (
        config.num_workers or 'auto')
    if workers == 'auto':
        num = required_workers(worst, config.control_period_s)
        sizing = (f'auto: N* = ceil({worst * 1e3:.2f} ms / {config.control_period_s * 1e3:g} '
                  f'ms) = {num} (real p99 {real_p99 * 1e3:.3f} ms + emulated '
                  f'q{SIZING_QUANTILE:g} {emulation.quantile(SIZING_QUANTILE) * 1e3:.2f} ms)')
    else:
        num = int(workers)
        if num < 1:
            raise InputError(f'--workers: {workers!r} must be >= 1 or auto')
        sizing = f'given: {num}'
    config = config.with_values('arbiter', {'num_workers': num})
    if config.schedule.mode in ('max_time', 'exp_time', 'none'):
        # Seed the grid with what was measured: max_time never shrinks its cycle, so a seed
        # above the real inference time would pad every cycle to it for the whole run.
        config = replace(config, schedule=replace(config.schedule,
                                                  initial_inference_time_s=expected))
    faults.check_workers(num)
    make_schedule(config.schedule, num)  # e.g. manual offsets per worker: fail here, not later
    metadata = policy.metadata
    layout = Layout(joint_names=task.joint_names, obs_dim=task.obs_dim,
                    action_dim=task.action_dim, horizon=metadata.chunk_horizon,
                    history=metadata.history, num_workers=num)
    return RunPlan(config, layout, model_path, emulation, real, sizing, faults)


def measure_inference(policy: Any, obs_dim: int, warmup_calls: int,
                      calls: int = 50) -> list[float]:
    """Return the policy's real inference times after warm-up (seconds, back to back)."""
    policy.warmup(max(1, warmup_calls))
    observation = np.zeros(obs_dim)
    return time_calls(lambda: policy(observation), calls)


def child_specs(plan: RunPlan, options: RunOptions, run_id: str,
                results_dir: str) -> list[tuple[Any, ChildSpec]]:
    """Return ``(body, spec)`` of every child: sim, arbiter, workers, maybe the recorder."""
    cpus = sorted(os.sched_getaffinity(0))
    pinned = options.pin and len(cpus) >= 2

    def spec(name: str, kind: str, **kw: Any) -> ChildSpec:
        # The control path (arbiter, simulator) gets a CPU the workers do not compete for.
        placement = None
        if pinned and kind != 'recorder':
            placement = frozenset(cpus[-1:] if kind in ('arbiter', 'sim') else cpus[:-1])
        return ChildSpec(name=name, run_id=run_id, config=plan.config, layout=plan.layout,
                         results_dir=results_dir, model_path=str(plan.model_path),
                         duration_s=options.duration_s, cpus=placement,
                         priority=PRIORITIES[kind] if options.realtime else 0, **kw)

    children: list[tuple[Any, ChildSpec]] = [(run_sim, spec('sim', 'sim')),
                                             (run_arbiter, spec('arbiter', 'arbiter'))]
    for i in range(plan.layout.num_workers):
        children.append((run_worker, spec(f'worker_{i}', 'worker', worker_id=i,
                                          extra={'faults': str(plan.faults)})))
    if options.record:
        from rt_async_control.runtime.recorder_process import run_recorder

        children.append((run_recorder, spec('recorder', 'recorder',
                                            record_path=str(Path(options.record).resolve()))))
    return children


def launch(plan: RunPlan, options: RunOptions, status: Any = None) -> RunResult:
    """Run the processes of ``plan`` until the duration ends or Ctrl-C; always clean up.

    :param plan: from :func:`prepare`.
    :param options: the command's options.
    :param status: an object with ``update(record_values)`` and ``close()`` (or ``None``).
    :return: the children's results.
    """
    result = RunResult(plan)
    run_id = new_run_id().replace('_', '-')
    cleanup(run_id)
    by_topic = {topic: Channel.create(channel_name(run_id, topic), size)
                for topic, size in plan.layout.sizes().items()}
    channels = list(by_topic.values())
    control = by_topic['control']
    num = plan.layout.num_workers
    control.write(np.array([math.nan, 0.0, num]), stamp=time.monotonic())
    results_dir = tempfile.mkdtemp(prefix='rtac-run-')
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    procs: dict[str, Any] = {}
    specs = {spec.name: (body, spec)
             for body, spec in child_specs(plan, options, run_id, results_dir)}
    # How often each worker's process exited, for the arbiter (the ``exits`` record).
    exits = np.zeros(num)
    counted: dict[str, bool] = {}

    def start(name: str) -> None:
        body, spec = specs[name]
        proc = ctx.Process(target=child_entry, args=(body, spec, queue), name=name)
        proc.start()
        procs[name] = proc
        counted[name] = False

    def note_exits() -> None:
        # The arbiter takes an exited worker out of the schedule at once (not after silence).
        changed = False
        for i in range(num):
            name = f'worker_{i}'
            if not counted.get(name, True) and procs[name].exitcode is not None:
                counted[name] = changed = True
                exits[i] += 1
        if changed:
            by_topic['exits'].write(exits, stamp=time.monotonic())

    def restart_worker(worker: int) -> None:
        # A restarted worker warms up, finds t0 passed and joins the running schedule.
        result.crashed.pop(f'worker_{worker}', None)
        start(f'worker_{worker}')

    injector = ProcessFaultInjector(plan.faults, restart=restart_worker) if (
        plan.faults.process) else None
    try:
        for name in specs:
            start(name)
        _wait_ready(procs, queue, result)
        result.t0 = time.monotonic() + START_DELAY_S
        control.write(np.array([result.t0, 0.0, num]), stamp=time.monotonic())
        end = result.t0 + options.duration_s
        poll_s = 0.25 if injector is None else 0.02
        try:
            while (now := time.monotonic()) < end:
                if injector is not None and now >= result.t0:
                    for line in injector.poll(now - result.t0):
                        result.fault_events.append((now - result.t0, line))
                        print(f'rt-async-control run: fault: {line}', flush=True)
                _drain(queue, result, procs)
                note_exits()
                if status is not None and now >= result.t0:
                    sample = by_topic['status'].read()
                    if sample is not None:
                        status.update(sample.values)
                # Wakes early when a child exits, so the arbiter hears of it within ms.
                alive = [p.sentinel for p in procs.values() if p.exitcode is None]
                timeout = min(poll_s, max(0.0, end - now))
                if alive:
                    wait_for_exit(alive, timeout)
                else:
                    time.sleep(timeout)
        except KeyboardInterrupt:
            result.interrupted = True
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        if status is not None:
            status.close()
        result.stopped_at = time.monotonic()
        control.write(np.array([result.t0, 1.0, num]), stamp=time.monotonic())
        _stop_all(procs, queue, result)
        for ch in channels:
            ch.close()
            ch.unlink()
        cleanup(run_id)
        result.children = _collect(results_dir)
        shutil.rmtree(results_dir, ignore_errors=True)
    return result


def _wait_ready(procs: dict[str, Any], queue: Any, result: RunResult) -> None:
    waiting = set(procs)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while waiting:
        if time.monotonic() > deadline:
            raise RuntimeError(f'children not ready after {READY_TIMEOUT_S:g} s: '
                               f'{", ".join(sorted(waiting))}')
        try:
            kind, name, payload = queue.get(timeout=0.2)
        except queue_module.Empty:
            for name in list(waiting):
                if procs[name].exitcode is not None:
                    raise RuntimeError(f'{name} exited during start-up (code '
                                       f'{procs[name].exitcode}): '
                                       f'{result.crashed.get(name, "no message")}'
                                       ) from None
            continue
        if kind == 'error':
            result.crashed[name] = payload
            raise RuntimeError(f'{name} failed during start-up: {payload.splitlines()[0]}')
        if kind == 'ready' and name in waiting:
            waiting.discard(name)
            notice = payload.get('realtime', '')
            if 'not applied' in notice:
                result.notices.append(f'{name}: {notice}')


def _drain(queue: Any, result: RunResult, procs: dict[str, Any]) -> None:
    while True:
        try:
            kind, name, payload = queue.get_nowait()
        except queue_module.Empty:
            break
        if kind == 'error' and name not in result.crashed:
            result.crashed[name] = payload
            print(f'rt-async-control run: {name} crashed: {payload.splitlines()[0]} '
                  '(the others keep going)', flush=True)
    for name, proc in procs.items():
        if proc.exitcode not in (None, 0) and name not in result.crashed:
            result.crashed[name] = f'exited with code {proc.exitcode}'
            print(f'rt-async-control run: {name} exited with code {proc.exitcode} '
                  '(the others keep going)', flush=True)


def _stop_all(procs: dict[str, Any], queue: Any, result: RunResult) -> None:
    for proc in procs.values():
        if proc.is_alive():  # a stopped (SIGSTOP) child must run to see the stop flag
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    for proc in procs.values():
        proc.join(max(0.0, deadline - time.monotonic()))
    for name, proc in procs.items():
        if proc.is_alive():
            result.crashed.setdefault(name, 'did not stop in time: terminated')
            proc.terminate()
            proc.join(2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(2.0)
    _drain(queue, result, {})
    queue.close()
    queue.join_thread()


def _collect(results_dir: str) -> dict[str, dict[str, Any]]:
    children: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(results_dir).glob('*.json')):
        entry: dict[str, Any] = {'json': json.loads(path.read_text())}
        arrays = path.with_suffix('.npz')
        if arrays.is_file():
            with np.load(arrays) as data:
                entry['npz'] = {k: data[k] for k in data.files}
        children[path.stem] = entry
    return children
