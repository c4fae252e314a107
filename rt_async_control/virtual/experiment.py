"""Run the sweep (:mod:`.sweep`) on at most two processes and collect one row per run.

Every run is a fresh :class:`~.executor.VirtualExecutor` episode, seeded, so the rows do not
depend on which process ran them or in what order. Baselines (the zero command, the task's
expert and each policy at zero latency, on the same seeds) come from the policy helper's
evaluation rollouts, so "kept return" here means what it means in ``rt-async-control
evaluate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import multiprocessing
import os
import time
from typing import Any

import numpy as np

from rt_async_control.core.config import SimConfig, StackConfig
from rt_async_control.policy.evaluate import (
    PolicyController,
    run_episodes,
    ZeroController,
)
from rt_async_control.policy.onnx_policy import OnnxPolicy
from rt_async_control.sim.experts import make_expert
from rt_async_control.sim.simulator import Simulator
from rt_async_control.sim.tasks import load_task
from rt_async_control.virtual.executor import RunResult, VirtualExecutor
from rt_async_control.virtual.modes import planned_config
from rt_async_control.virtual.sweep import EVERY_TICK, RunSpec, SweepSpec, times_for

MAX_PROCESSES = 2

# Per-process caches: loading a model or a scene costs more than a short episode.
_POLICIES: dict[str, OnnxPolicy] = {}
_SIMULATORS: dict[str, Simulator] = {}
_SPEC: SweepSpec | None = None


def _policy(path: str) -> OnnxPolicy:
    if path not in _POLICIES:
        _POLICIES[path] = OnnxPolicy(path)
    return _POLICIES[path]


def _simulator(task: str) -> Simulator:
    if task not in _SIMULATORS:
        _SIMULATORS[task] = Simulator(task)
    return _SIMULATORS[task]


def base_config(task: str) -> StackConfig:
    """Return the stack config of a task for the sweep.

    The control period is the task's; the simulator publishes a state every physics step (as
    a joint-state stream faster than the controller does), so a worker starting between two
    ticks sees a state at most one physics step old. The default behaviour is the zero
    command, the paper's "no-op", which is also what the returns are normalised against.
    """
    spec = load_task(task)
    config = StackConfig(task=task, control_period_s=spec.control_period_s,
                         state_period_s=spec.timestep_s,
                         sim=SimConfig(task=task, state_period_s=spec.timestep_s))
    return config.with_values('arbiter', {'default_behaviour': 'zero'})


def execute(run: RunSpec, num_workers: int | None = None) -> RunResult:
    """Run one episode of one grid point.

    :param run: the grid point.
    :param num_workers: override of ``run.num_workers`` (the worker search).
    :return: the executor's result.
    """
    spec = _SPEC
    if spec is None:
        raise RuntimeError('init_process(spec) must be called first')
    period = load_task(run.task).control_period_s
    times = times_for(spec, run.multiple, run.cv, period)
    # The mode's own planning (``modes.plan_mode``) sets the freshness bound; N is the run's.
    config = planned_config(base_config(run.task), run.mode, times,
                            num_workers or run.num_workers, spec.slack_periods)
    executor = VirtualExecutor(config, _policy(run.model), times, _simulator(run.task))
    return executor.run(seed=run.seed)


def row(run: RunSpec, result: RunResult, wall_s: float, num_workers: int) -> dict[str, Any]:
    """Return the results.csv row of one run."""
    return {
        'part': run.part, 'task': run.task, 'policy': run.policy,
        'model': os.path.basename(run.model), 'mode': run.mode, 'multiple': run.multiple,
        'cv': run.cv, 'distribution': run.distribution, 'num_workers': num_workers,
        'required_workers': run.required, 'seed': run.seed,
        'task_return': result.task_return, 'success': result.success, 'ticks': result.ticks,
        'fresh_ticks': result.fresh_ticks, 'fallback_ticks': result.fallback_ticks,
        'startup_ticks': result.startup_ticks, 'inaction_fraction': result.inaction_fraction,
        'fallback_fraction': result.fallback_fraction,
        'action_age_mean_ms': result.action_age_mean_s * 1e3,
        'action_age_p50_ms': result.action_age_p50_s * 1e3,
        'action_age_max_ms': result.action_age_max_s * 1e3,
        'inferences': result.inferences, 'rejected': result.rejected, 'wall_s': wall_s,
    }


def search_workers(run: RunSpec) -> tuple[RunResult, int]:
    """Find the fewest workers that give a new action at :data:`EVERY_TICK` of the ticks.

    That is the paper's "an action every period" (a held action that is still fresh is not
    a new one). More workers never give fewer new actions, so a bisection between 1 and the
    first count that works (``N*``, doubled until it works, at most ``run.num_workers``) finds it.

    :param run: a ``search`` grid point (``num_workers`` is the largest count tried).
    :return: the result at the count found and the count (``num_workers + 1`` if none).
    """
    tried: dict[int, RunResult] = {}

    def ok(n: int) -> bool:
        tried[n] = tried.get(n) or execute(run, n)
        return 1.0 - tried[n].inaction_fraction >= EVERY_TICK

    hi = max(1, run.required)
    while not ok(hi):
        if hi >= run.num_workers:
            return tried[hi], run.num_workers + 1
        hi = min(2 * hi, run.num_workers)
    lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return tried[hi], hi


def run_one(run: RunSpec) -> dict[str, Any]:
    """Run one grid point (a search runs several episodes) and return its row."""
    start = time.perf_counter()
    if run.part == 'search':
        result, n = search_workers(run)
    else:
        result, n = execute(run), run.num_workers
    return row(run, result, time.perf_counter() - start, n)


def baselines(task: str, seeds: tuple[int, ...], models: Iterable[str]) -> dict[str, Any]:
    """Return the reference returns of a task on ``seeds``.

    :return: ``default`` (zero command), ``expert`` (zero delay), ``zero_latency`` per plain
        model file name (acting on the current observation every period) and
        ``at_trained_delay`` per delay-aware one (observations as old as it was trained for,
        the arbiter's plan as its commands in flight, an action every period:
        ``evaluate --delay``).
    """
    spec = load_task(task)
    default, _ = run_episodes(spec, ZeroController(spec.action_dim), seeds)
    expert, _ = run_episodes(spec, make_expert(spec), seeds)
    out: dict[str, Any] = {'task': task, 'default': float(np.mean(default)),
                           'expert': float(np.mean(expert)), 'zero_latency': {},
                           'at_trained_delay': {}}
    for path in models:
        policy = _policy(path)
        delay = policy.metadata.history
        returns, _ = run_episodes(spec, PolicyController(policy, delay), seeds, delay)
        key = 'at_trained_delay' if delay else 'zero_latency'
        out[key][os.path.basename(path)] = float(np.mean(returns))
    return out


def init_process(spec: SweepSpec) -> None:
    """Set the sweep a pool process runs (its policies use one ONNX Runtime thread each)."""
    global _SPEC
    _SPEC = spec


def _baseline_job(job: tuple[str, tuple[int, ...], tuple[str, ...]]) -> dict[str, Any]:
    return baselines(*job)


def run_sweep(spec: SweepSpec, runs: list[RunSpec], processes: int = MAX_PROCESSES,
              progress: Callable[[int, int, dict[str, Any]], None] | None = None,
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run every grid point and the baselines on up to :data:`MAX_PROCESSES` processes.

    :param spec: the sweep.
    :param runs: the grid points (:func:`.sweep.plan`).
    :param processes: processes to use (1 runs in this process).
    :param progress: called as ``progress(done, total, row)`` after each run.
    :return: ``(rows, baselines)``, rows in the order of ``runs``.
    """
    processes = max(1, min(processes, MAX_PROCESSES, os.cpu_count() or 1))
    jobs = []
    for task in spec.tasks:
        models = sorted({r.model for r in runs if r.task == task})
        jobs.append((task, tuple(spec.seeds), tuple(models)))
    total = len(runs)
    rows: list[dict[str, Any] | None] = [None] * total
    if processes == 1:
        init_process(spec)
        refs = [_baseline_job(j) for j in jobs]
        for i, run in enumerate(runs):
            rows[i] = run_one(run)
            if progress:
                progress(i + 1, total, rows[i])
        return [r for r in rows if r is not None], refs
    ctx = multiprocessing.get_context('fork' if os.name == 'posix' else 'spawn')
    with ctx.Pool(processes, initializer=init_process, initargs=(spec,)) as pool:
        pending = pool.map_async(_baseline_job, jobs)
        indexed = pool.imap_unordered(_indexed, list(enumerate(runs)), chunksize=1)
        for done, (i, result) in enumerate(indexed, start=1):
            rows[i] = result
            if progress:
                progress(done, total, result)
        refs = pending.get()
    return [r for r in rows if r is not None], refs


def _indexed(item: tuple[int, RunSpec]) -> tuple[int, dict[str, Any]]:
    return item[0], run_one(item[1])
