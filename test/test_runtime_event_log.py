"""The children's event logs: bounded memory however long the run, right report figures."""

from __future__ import annotations

import math
from pathlib import Path
import tracemalloc

import numpy as np
import pytest

from rt_async_control.core.config import StackConfig
from rt_async_control.roles.worker_role import Emulation
from rt_async_control.runtime.child import ChildSpec, log_capacity
from rt_async_control.runtime.event_log import (
    BLOCK,
    capacity_for,
    column,
    Log,
    MAX_ROWS,
    quantiles,
)
from rt_async_control.runtime.launcher import RunPlan, RunResult
from rt_async_control.runtime.records import Layout
from rt_async_control.runtime.report import build_summary

ROWS = 40 * BLOCK + 123  # wraps a 4-block ring ten times, ends inside a block
CAPACITY = 4 * BLOCK


def feed(log: Log, columns: list[np.ndarray]) -> None:
    for row in zip(*(c.tolist() for c in columns)):
        log.add(*row)


def events(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    latency = rng.lognormal(math.log(2e-3), 0.6, n)
    latency[rng.integers(0, n, 50)] = np.nan  # missing figures are skipped, not counted
    fresh = (rng.random(n) > 0.2).astype(float)
    fresh[:300] = 0.0  # no action yet at the start
    return {'latency': latency, 'fresh': fresh, 'stamp': 100.0 + 0.01 * np.arange(n)}


def test_memory_stays_bounded_however_many_events():
    log = Log('latency', 'fresh', 'stamp', capacity=CAPACITY)
    data = events(ROWS)
    before = log.nbytes
    half = ROWS // 2
    tracemalloc.start()
    try:
        # Once the ring has wrapped, feeding more allocates nothing that stays.
        feed(log, [c[:half] for c in data.values()])
        settled, _peak = tracemalloc.get_traced_memory()
        feed(log, [c[half:] for c in data.values()])
        grown = tracemalloc.get_traced_memory()[0] - settled
    finally:
        tracemalloc.stop()
    assert log.nbytes == before
    # A list per column would have grown by ~20000 rows * 3 floats (~1.5 MB) here.
    assert grown < 16 * 1024, grown
    assert (log.rows, log.dropped) == (ROWS, ROWS - CAPACITY)
    arrays = log.arrays('x_')
    # The ring holds the newest rows, oldest first.
    np.testing.assert_array_equal(arrays['x_stamp'], data['stamp'][-CAPACITY:])
    assert 'x_latency@hist' in arrays


def test_whole_run_figures_stay_right_after_the_ring_wrapped():
    log = Log('latency', 'fresh', 'stamp', capacity=CAPACITY)
    data = events(ROWS)
    feed(log, list(data.values()))
    arrays = log.arrays()
    latency = column(arrays, 'latency')
    assert not latency.complete and latency.rows == ROWS
    finite = data['latency'][np.isfinite(data['latency'])]
    assert latency.finite == len(finite)
    assert latency.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert (latency.low, latency.high) == (finite.min(), finite.max())
    p50, p99, top = quantiles([latency], [0.5, 0.99, 1.0])
    exact = np.percentile(finite, [50, 99])
    assert p50 == pytest.approx(exact[0], rel=0.01) and p99 == pytest.approx(exact[1], rel=0.01)
    assert top == finite.max()
    fresh = column(arrays, 'fresh')
    first = int(np.flatnonzero(data['fresh'])[0])
    assert fresh.first_nonzero == first
    assert fresh.zero_ratio_from_first_nonzero() == pytest.approx(
        np.mean(data['fresh'][first:] == 0.0), rel=1e-12)


def test_a_log_that_did_not_wrap_is_exact_and_like_plain_arrays():
    log = Log('latency', 'fresh', 'stamp', capacity=CAPACITY)
    data = events(CAPACITY - 5, seed=1)
    feed(log, list(data.values()))
    arrays = log.arrays()
    assert not any(k.endswith('@hist') for k in arrays)
    for name, values in data.items():
        np.testing.assert_array_equal(arrays[name], values)
    finite = data['latency'][np.isfinite(data['latency'])]
    got = quantiles([column(arrays, 'latency')], [0.5, 0.99])
    assert got == pytest.approx(list(np.percentile(finite, [50, 99])), rel=1e-12)
    # Arrays without counters (older results) read the same way.
    plain = column({'latency': data['latency']}, 'latency')
    assert plain.complete and plain.mean == pytest.approx(finite.mean(), rel=1e-12)


def test_children_size_their_logs_from_the_planned_run():
    config = StackConfig.from_params({'/**': {'control_period_s': 0.01,
                                              'state_period_s': 0.002}})
    layout = Layout(('hinge',), 3, 1, 1, 0, 2)

    def spec(name: str, duration: float) -> ChildSpec:
        return ChildSpec(name=name, run_id='x', config=config, layout=layout, results_dir='.',
                         duration_s=duration)

    ten_minutes = log_capacity(spec('arbiter', 600.0))
    assert 600 * 100 <= ten_minutes <= 2 * 630 * 100  # every tick of a 10-minute soak
    assert log_capacity(spec('sim', 60.0)) >= 60 * 500  # the simulator logs every state
    assert log_capacity(spec('sim', 3600.0)) == capacity_for(math.inf, 500.0)
    assert capacity_for(math.inf, 500.0) >= MAX_ROWS
    assert capacity_for(0.0, 1.0) == BLOCK


def test_report_figures_from_wrapped_logs_match_the_whole_run(tmp_path: Path):
    # A run whose logs wrapped: the summary's figures are those of every event.
    rng = np.random.default_rng(3)
    ticks = Log('deadline', 'wake', 'worker', 'age', 'fallback', 'fresh', 'published',
                capacity=CAPACITY)
    actions = Log('received', 'latency', 'worker', 'observation_stamp', 'started',
                  'inference_time', 'rejected', 'read_cost', capacity=CAPACITY)
    worker = Log('started', 'finished', 'published', 'inference_time', 'real', 'emulated',
                 'observation_stamp', 'state_latency', 'target', 'authoritative',
                 capacity=CAPACITY)
    n = ROWS
    fresh = (rng.random(n) > 0.1).astype(float)
    fresh[:77] = 0.0
    action_latency = rng.lognormal(math.log(5e-3), 0.3, n)
    read_cost = rng.lognormal(math.log(2e-5), 0.5, n)
    inference = rng.lognormal(math.log(3e-2), 0.1, n)
    state_latency = rng.lognormal(math.log(1e-3), 0.8, n)
    for k in range(n):
        t = 0.01 * k
        ticks.add(t, t, 0, 0.03, 0, fresh[k], t)
        actions.add(t, action_latency[k], 0, t, t, inference[k], 0, read_cost[k])
        worker.add(t, t, t, inference[k], 1e-4, inference[k], t, state_latency[k], t, 1.0)
    config = StackConfig()
    plan = RunPlan(config, Layout(('hinge',), 3, 1, 1, 0, 1), tmp_path / 'm.onnx',
                   Emulation.from_config(config.inference), [1e-4] * 10, 'given: 1')
    arbiter = {'ticks': n, 'workers': [{'worker': 0, 'actions': n, 'selected': n,
                                        'rejected': 0}]}
    result = RunResult(plan, children={
        'arbiter': {'json': arbiter, 'npz': {**ticks.arrays('tick_'),
                                             **actions.arrays('action_')}},
        'worker_0': {'json': {}, 'npz': worker.arrays()},
        'sim': {'json': {}, 'npz': {}}})
    summary = build_summary(result)
    assert summary['inaction_ratio_steady'] == pytest.approx(np.mean(fresh[77:] == 0))
    inf = summary['workers']['0']
    assert inf['inference_mean_ms'] == pytest.approx(inference.mean() * 1e3, rel=1e-12)
    assert inf['inference_ms']['p50'] == pytest.approx(np.median(inference) * 1e3, rel=0.01)
    assert inf['inference_ms']['max'] == pytest.approx(inference.max() * 1e3, rel=1e-12)
    both = np.concatenate((state_latency, action_latency))
    assert summary['record_wait_us']['p99'] == pytest.approx(
        np.percentile(both, 99) * 1e6, rel=0.01)
    assert summary['transport_latency_us']['p50'] == pytest.approx(
        np.median(read_cost) * 1e6, rel=0.01)
    assert summary['log_rows_dropped'] == {'arbiter': n - CAPACITY, 'worker_0': n - CAPACITY}
