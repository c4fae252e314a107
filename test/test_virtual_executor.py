"""The virtual-time executor against hand-computed tick sequences (constant ONNX policy).

Pendulum as the experiments run it: control period 10 ms, a state every 2 ms physics step,
episode 6 s (600 ticks). With a fixed inference time ``t`` every figure below follows from the
event order of the executor (state, completion, tick, start at one instant) and the freshness
bound ``t + 2 ms + 5 ms`` of the experiments.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import pytest

from rt_async_control.core.config import StackConfig
from rt_async_control.errors import InputError
from rt_async_control.policy.metadata import INPUT_NAME, METADATA_KEY, ModelMetadata, OUTPUT_NAME
from rt_async_control.policy.onnx_policy import OnnxPolicy
from rt_async_control.sim.tasks import load_task
from rt_async_control.virtual.executor import VirtualExecutor
from rt_async_control.virtual.experiment import base_config
from rt_async_control.virtual.inference_times import inference_times, MeasuredTimes
from rt_async_control.virtual.modes import freshness_bound, mode_config

T = 0.01
TICKS = 600


def constant_model(path: Path, task_name: str, command: list[float], history: int = 0,
                   horizon: int = 1, step: float = math.inf) -> Path:
    """Write an ONNX policy whose output is ``command`` whatever the input (zero weights).

    ``command`` holds ``horizon`` rows of the task's action size, flattened, ``step`` apart.
    """
    task = load_task(task_name)
    md = ModelMetadata(task=task.name, obs_dim=task.obs_dim, action_dim=task.action_dim,
                       control_period_s=task.control_period_s, obs_mean=[0.0] * task.obs_dim,
                       obs_std=[1.0] * task.obs_dim, action_offset=[0.0] * task.action_dim,
                       action_scale=[1.0] * task.action_dim,
                       action_low=list(task.command_lower),
                       action_high=list(task.command_upper), history=history,
                       delay_s=history * task.control_period_s, chunk_horizon=horizon,
                       chunk_step_s=step)
    weights = numpy_helper.from_array(np.zeros((md.input_dim, md.output_dim), np.float32), 'w')
    bias = numpy_helper.from_array(np.asarray(command, np.float32), 'b')
    graph = helper.make_graph(
        [helper.make_node('MatMul', [INPUT_NAME, 'w'], ['m']),
         helper.make_node('Add', ['m', 'b'], [OUTPUT_NAME])], 'constant',
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ['batch', md.input_dim])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT,
                                       ['batch', md.output_dim])],
        initializer=[weights, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 18)])
    model.ir_version = 9
    helper.set_model_props(model, {METADATA_KEY: md.to_json()})
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope='module')
def policy(tmp_path_factory: pytest.TempPathFactory) -> OnnxPolicy:
    """Return a pendulum policy that always commands 0.5 N m."""
    return OnnxPolicy(constant_model(tmp_path_factory.mktemp('m') / 'c.onnx', 'pendulum', [0.5]))


def base() -> StackConfig:
    """Return the pendulum stack the experiments use."""
    return base_config('pendulum')


def run(policy: OnnxPolicy, mode: str, workers: int, t: float, seed: int = 0,
        times: object = None):
    """Run one episode with a fixed inference time ``t`` and record the ticks."""
    config = mode_config(base(), mode, workers, t, t)
    executor = VirtualExecutor(config, policy, times or inference_times('fixed', t))
    return executor.run(seed=seed, record=True)


def ages_ms(result) -> list[float | None]:
    """Return each tick's action age in whole ms, None on inaction."""
    return [None if r.fallback else round(r.action_age * 1e3, 6) for r in result.records]


def test_sequential_acts_once_per_inference_and_defaults_in_between(policy):
    # t = 30 ms: start 0 -> done 30 (used at tick 30, age 30); restart at 30 on the state of
    # 30 ms; at ticks 40 and 50 the action is 40 and 50 ms old > 37 ms: zero command.
    result = run(policy, 'sequential', 1, 0.03)
    assert ages_ms(result)[:10] == [None, None, None, 30, None, None, 30, None, None, 30]
    assert result.ticks == TICKS
    assert result.startup_ticks == 3
    assert result.fallback_ticks == 3 + 2 * 199     # ticks 3..599: 199 cycles of 3
    assert result.fresh_ticks == 199
    assert result.inferences == 200                  # starts at 0, 30, ..., 5970 ms
    assert result.action_age_mean_s == pytest.approx(0.03)
    assert result.inaction_fraction == pytest.approx(2 * 199 / 597)
    assert result.fallback_fraction == pytest.approx(2 * 199 / 597)
    zero = [r.command[0] for r in result.records if r.fallback]
    acted = [r.command[0] for r in result.records if not r.fallback]
    assert set(zero) == {0.0} and np.allclose(acted, 0.5)


def test_max_time_with_n_star_workers_acts_every_tick_with_age_t(policy):
    # N* = 5 for 50 ms: offsets 0, 10, .., 40 ms; from tick 50 on worker k % 5 acts, age 50.
    result = run(policy, 'max_time', 5, 0.05)
    assert result.startup_ticks == 5
    assert result.fallback_ticks == 5
    assert result.inaction_fraction == 0.0
    assert result.fresh_ticks == TICKS - 5
    assert [r.worker_id for r in result.records[5:11]] == [0, 1, 2, 3, 4, 0]
    assert set(ages_ms(result)[5:]) == {50}
    assert result.action_age_max_s == pytest.approx(0.05)


def test_max_time_with_too_few_workers_leaves_gaps(policy):
    # N = 4 for 50 ms: starts 12.5 ms apart, on the states of 0, 12, 24, 36 ms, finishing at
    # 50, 62.5, 75, 87.5 ms. Ticks 50..90: worker 0 (age 50); worker 0 at 60 ms old and
    # worker 1 not done: none; worker 1 at 58 ms > 57 ms: none; worker 2 (56); worker 3 (54).
    result = run(policy, 'max_time', 4, 0.05)
    assert ages_ms(result)[5:15] == [50, None, None, 56, 54] * 2
    assert result.startup_ticks == 5
    assert result.fallback_ticks == 5 + 2 * 119          # 119 cycles of 5 ticks from tick 5
    assert result.fresh_ticks == 3 * 119
    assert result.inaction_fraction == pytest.approx(0.4)


def test_async_without_stagger_is_no_better_than_sequential(policy):
    # Two workers start together on the same state and finish together: twice the work, and
    # ticks exactly like one sequential worker's.
    one = run(policy, 'sequential', 1, 0.03)
    two = run(policy, 'async', 2, 0.03)
    assert ages_ms(two) == ages_ms(one)
    assert two.inferences == 2 * one.inferences
    assert two.rejected == one.rejected == 0
    assert two.task_return == one.task_return


def test_exp_time_with_fixed_time_matches_max_time(policy):
    a = run(policy, 'max_time', 10, 0.1)
    b = run(policy, 'exp_time', 10, 0.1)
    assert ages_ms(a) == ages_ms(b)
    assert a.fallback_ticks == b.fallback_ticks == 10


def test_same_seed_same_result_and_seeds_differ(policy):
    times = inference_times('lognormal', 0.05, 0.3)
    first = run(policy, 'exp_time', 8, 0.05, seed=3, times=times)
    again = run(policy, 'exp_time', 8, 0.05, seed=3, times=times)
    other = run(policy, 'exp_time', 8, 0.05, seed=4, times=times)
    assert ages_ms(first) == ages_ms(again)
    assert first.task_return == again.task_return
    assert ages_ms(first) != ages_ms(other)


def test_measured_table_resamples_and_rescales(policy, tmp_path):
    path = tmp_path / 'times.json'
    path.write_text(json.dumps({'inference_times_s': [0.02, 0.04]}))
    table = MeasuredTimes.from_file(path)
    assert table.mean_s == pytest.approx(0.03) and table.cv == pytest.approx(1 / 3)
    fixed = run(policy, 'sequential', 1, 0.03, times=MeasuredTimes((0.03,)))
    assert ages_ms(fixed) == ages_ms(run(policy, 'sequential', 1, 0.03))
    csv = tmp_path / 'times.csv'
    csv.write_text('inference_time_s\n0.01\n0.03\n')
    scaled = MeasuredTimes.from_file(csv).scaled_to(0.1)
    rng = np.random.default_rng(0)
    assert {round(scaled.draw(rng), 9) for _ in range(50)} == {0.05, 0.15}
    with pytest.raises(InputError, match='times.csv'):
        csv.write_text('inference_time_s\n0.01\nfast\n')
        MeasuredTimes.from_file(csv)


def test_delay_aware_worker_gets_the_arbiters_plan(tmp_path):
    path = constant_model(tmp_path / 'd.onnx', 'pendulum', [0.25], history=3)
    calls: list[np.ndarray | None] = []
    inner = OnnxPolicy(path)

    class Spy:
        metadata = inner.metadata

        def __call__(self, observation, in_flight=None):
            calls.append(None if in_flight is None else np.array(in_flight))
            return inner(observation, in_flight)

    config = mode_config(base(), 'max_time', 3, 0.03, 0.03)
    VirtualExecutor(config, Spy(), inference_times('fixed', 0.03)).run(duration_s=0.2)
    assert all(c is not None and c.shape == (3, 1) for c in calls)
    assert np.all(calls[0] == 0.0)                   # nothing fresh yet: the zero command
    assert np.allclose(calls[-1], 0.25)              # the held action, three times


def test_chunk_row_follows_the_action_age(tmp_path):
    # Rows 0.1 .. 0.5 cover ages 0-12, 12-24, 24-36 ms...: used 30 ms old, row 2 acts. (A
    # step that divides the age exactly would put the float quotient on a row boundary.)
    path = constant_model(tmp_path / 'h.onnx', 'pendulum', [0.1, 0.2, 0.3, 0.4, 0.5],
                          horizon=5, step=0.012)
    chunked = OnnxPolicy(path)
    for mode, workers in (('sequential', 1), ('max_time', 3)):
        result = run(chunked, mode, workers, 0.03)
        acted = [r.command[0] for r in result.records if not r.fallback]
        assert np.allclose(acted, 0.3), mode
    assert result.inaction_fraction == 0.0


def test_freshness_bound_and_bad_input(policy):
    assert freshness_bound(0.1, 0.01, 0.002) == pytest.approx(0.107)
    with pytest.raises(InputError, match='mode'):
        mode_config(base(), 'staggered', 2, 0.03, 0.03)
    with pytest.raises(InputError, match='none'):
        VirtualExecutor(base(), policy)              # no emulated time configured


def test_staggered_run_matches_the_evaluate_rollout_at_that_delay():
    # max_time with N* workers at 5 periods acts every tick on the state of 5 ticks before,
    # which is evaluate's rollout with a 5-period observation delay; only the start differs
    # (the rollout acts on the initial state from tick 0, the executor waits for an action).
    from rt_async_control.policy.evaluate import PolicyController, run_episodes
    from rt_async_control.resources import share_path

    path = share_path('models', 'arm_small.onnx')
    if not path.is_file():
        pytest.skip('the shipped arm policy is not there yet')
    arm = OnnxPolicy(path)
    (rollout,), _ = run_episodes(load_task('arm'), PolicyController(arm, 5), [0], 5)
    config = mode_config(base_config('arm'), 'max_time', 5, 0.05, 0.05)
    virtual = VirtualExecutor(config, arm, inference_times('fixed', 0.05)).run(seed=0)
    assert virtual.inaction_fraction == 0.0
    assert virtual.task_return == pytest.approx(rollout, rel=0.1)


def test_each_mode_is_planned_as_the_paper_plans_it():
    from rt_async_control.virtual.modes import max_time_quantile, plan_mode

    period, n = 0.01, 600
    fixed = {m: plan_mode(m, inference_times('fixed', 0.1), period, n, 1.0)
             for m in ('sequential', 'async', 'max_time', 'exp_time')}
    assert [p.num_workers for p in fixed.values()] == [1, 10, 10, 10]
    for cv in (0.1, 0.3):
        times = inference_times('lognormal', 0.1, cv)
        modes = ('async', 'max_time', 'exp_time')
        plans = {m: plan_mode(m, times, period, n, 1.0) for m in modes}
        t99 = times.quantile(0.99)
        # max_time pads to a maximum above the 99th percentile: more workers, older bound;
        # exp_time sizes N for mean + 1 std: fewer workers than both.
        assert plans['max_time'].worker_time_s > t99
        assert plans['max_time'].num_workers > plans['async'].num_workers > (
            plans['exp_time'].num_workers)
        assert plans['exp_time'].num_workers == math.ceil(round((1 + cv) * 10, 9))
        assert plans['max_time'].age_time_s > plans['exp_time'].age_time_s == t99
        assert plans['max_time'].seed_s == plans['max_time'].worker_time_s
        # The episode's largest of n draws stays below the planning maximum about 90% of the
        # time (1 - 0.1 / n per draw).
        rng = np.random.default_rng(0)
        maxima = np.array([max(times.draw(rng) for _ in range(n)) for _ in range(200)])
        assert 0.8 < np.mean(maxima < plans['max_time'].worker_time_s) < 0.98
    assert max_time_quantile(n) == pytest.approx(1 - 0.1 / n)


def test_padded_max_time_acts_every_tick_with_spread(policy):
    # CV 0.3 at 5 periods: planned max_time has no inaction after start-up, its actions are
    # as old as the planning maximum; exp_time (fewer workers) is fresher but misses ticks.
    from rt_async_control.virtual.modes import planned_config

    times = inference_times('lognormal', 0.05, 0.3)
    out = {}
    for mode in ('max_time', 'exp_time'):
        config = planned_config(base(), mode, times)
        out[mode] = (config.num_workers,
                     VirtualExecutor(config, policy, times).run(seed=0, duration_s=2.0))
    (n_max, padded), (n_exp, fresh) = out['max_time'], out['exp_time']
    assert n_max > n_exp
    assert padded.inaction_fraction == 0.0 and padded.rejected == 0
    assert fresh.inaction_fraction > 0.0
    assert fresh.action_age_mean_s < padded.action_age_mean_s
