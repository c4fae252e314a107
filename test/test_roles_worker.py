"""WorkerRole: a real ONNX policy, stamping, and the emulated inference time, with fake time."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import pytest

from rt_async_control.core.config import InferenceConfig
from rt_async_control.core.messages import StampedState
from rt_async_control.errors import InputError
from rt_async_control.policy.metadata import INPUT_NAME, METADATA_KEY, ModelMetadata, OUTPUT_NAME
from rt_async_control.policy.onnx_policy import OnnxPolicy
from rt_async_control.roles.worker_role import Emulation, WorkerRole
from rt_async_control.sim.tasks import load_task


def tiny_model(path: Path, task_name: str, history: int = 0, horizon: int = 1) -> Path:
    """Write a one-layer ONNX policy (Gemm + Tanh, fixed weights) for a task; return its path.

    Built with onnx.helper rather than the torch exporter: a second to build, and the runtime
    tests need a real model file whatever the trained models in models/ are.
    """
    task = load_task(task_name)
    metadata = ModelMetadata(
        task=task.name, obs_dim=task.obs_dim, action_dim=task.action_dim,
        control_period_s=task.control_period_s, obs_mean=[0.0] * task.obs_dim,
        obs_std=[1.0] * task.obs_dim, action_offset=[0.0] * task.action_dim,
        action_scale=list(task.command_upper), action_low=list(task.command_lower),
        action_high=list(task.command_upper), chunk_horizon=horizon,
        chunk_step_s=task.control_period_s if horizon > 1 else math.inf, history=history,
        in_flight='plan' if history else 'exact')
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((metadata.input_dim, metadata.output_dim)) * 0.3
    graph = helper.make_graph(
        [helper.make_node('Gemm', [INPUT_NAME, 'w', 'b'], ['h']),
         helper.make_node('Tanh', ['h'], [OUTPUT_NAME])], 'tiny',
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT,
                                       ['batch', metadata.input_dim])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT,
                                       ['batch', metadata.output_dim])],
        [numpy_helper.from_array(weights.astype(np.float32), 'w'),
         numpy_helper.from_array(np.zeros(metadata.output_dim, np.float32), 'b')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 18)])
    model.ir_version = 9
    helper.set_model_props(model, {METADATA_KEY: metadata.to_json()})
    onnx.save_model(model, str(path))
    return path


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _state(task_name: str, stamp: float) -> StampedState:
    task = load_task(task_name)
    n = len(task.joint_names)
    return StampedState(stamp=stamp, seq=7, joint_names=task.joint_names,
                        position=np.zeros(n), velocity=np.zeros(n), effort=np.zeros(n),
                        observation=np.linspace(-1.0, 1.0, task.obs_dim))


@pytest.fixture(scope='module')
def arm_policy(tmp_path_factory: pytest.TempPathFactory) -> OnnxPolicy:
    return OnnxPolicy(tiny_model(tmp_path_factory.mktemp('model') / 'arm.onnx', 'arm'),
                      load_task('arm'))


def test_infer_stamps_chunk_with_observation_and_measured_time(arm_policy: OnnxPolicy):
    role = WorkerRole(2, arm_policy, Emulation('fixed', 0.03), seed=5)
    clock = FakeClock(100.0015)  # the call "took" 1.5 ms
    result = role.infer(_state('arm', 99.995), started=100.0, clock=clock)
    chunk = result.chunk
    assert chunk.observation_stamp == 99.995
    assert chunk.worker_id == 2
    assert chunk.started == 100.0
    assert result.real == pytest.approx(0.0015)
    assert result.emulated == 0.03
    assert chunk.inference_time == pytest.approx(0.0315)
    assert result.publish_at == pytest.approx(100.0315)
    np.testing.assert_allclose(chunk.actions, arm_policy(_state('arm', 0.0).observation))
    assert chunk.actions.shape == (1, 3) and chunk.step == math.inf


def test_without_emulation_inference_time_is_the_real_time(arm_policy: OnnxPolicy):
    role = WorkerRole(0, arm_policy)
    result = role.infer(_state('arm', 1.0), started=1.0, clock=FakeClock(1.0004))
    assert result.emulated == 0.0
    assert result.chunk.inference_time == pytest.approx(0.0004)


def test_emulated_draws_are_seeded_per_worker(arm_policy: OnnxPolicy):
    emulation = Emulation('lognormal', 0.04, 0.3)

    def draws(worker: int, seed: int) -> list[float]:
        role = WorkerRole(worker, arm_policy, emulation, seed=seed)
        return [role.infer(_state('arm', 0.0), 0.0, FakeClock(0.0)).emulated for _ in range(5)]

    assert draws(1, 3) == draws(1, 3)
    assert draws(1, 3) != draws(2, 3)
    assert draws(1, 3) == draws(0, 4)  # worker i draws from seed + i


@pytest.mark.parametrize('distribution', ['normal', 'lognormal'])
def test_emulation_matches_mean_and_cv(distribution: str):
    emulation = Emulation(distribution, 0.04, 0.25)
    rng = np.random.default_rng(1)
    samples = np.array([emulation.draw(rng) for _ in range(20000)])
    assert samples.min() >= 0.0
    assert samples.mean() == pytest.approx(0.04, rel=0.02)
    assert samples.std() / samples.mean() == pytest.approx(0.25, rel=0.05)
    # The quantile used to size the workers agrees with the draws.
    assert np.mean(samples <= emulation.quantile(0.99)) == pytest.approx(0.99, abs=0.004)


def test_emulation_quantile_of_fixed_and_none():
    assert Emulation('fixed', 0.025, 0.5).quantile(0.9999) == 0.025
    assert Emulation().quantile(0.99) == 0.0
    assert not Emulation('none', 0.025).active
    assert Emulation('lognormal', 0.03, 0.1).quantile(0.9999) > 0.03 * 1.3


@pytest.mark.parametrize('kwargs', [
    {'distribution': 'gamma', 'mean_s': 0.01},
    {'distribution': 'fixed', 'mean_s': -0.01},
    {'distribution': 'normal', 'mean_s': 0.01, 'cv': math.nan},
])
def test_emulation_rejects_bad_settings(kwargs: dict):
    with pytest.raises(InputError, match='emulate_'):
        Emulation(**kwargs)


def test_delay_aware_policy_gets_commands_in_flight(tmp_path: Path):
    policy = OnnxPolicy(tiny_model(tmp_path / 'p.onnx', 'pendulum', history=3), None)
    role = WorkerRole.from_policy(0, policy, InferenceConfig())
    assert role.history == 3
    state = _state('pendulum', 0.0)
    plain = role.infer(state, 0.0, FakeClock(0.0)).chunk.actions
    pushed = role.infer(state, 0.0, FakeClock(0.0), np.full((3, 1), 2.0)).chunk.actions
    assert not np.allclose(plain, pushed)


def test_chunked_policy_carries_its_step(tmp_path: Path):
    policy = OnnxPolicy(tiny_model(tmp_path / 'c.onnx', 'arm', horizon=4), None)
    role = WorkerRole.from_policy(1, policy, InferenceConfig())
    chunk = role.infer(_state('arm', 5.0), 5.0, FakeClock(5.0)).chunk
    assert chunk.actions.shape == (4, 3)
    assert chunk.step == pytest.approx(0.01)


def test_a_delay_aware_model_trained_on_exact_commands_in_flight_is_refused(tmp_path):
    # Hosts give the arbiter's plan; a model trained on exact in-flight rows never saw that.
    import dataclasses

    from rt_async_control.resources import share_path

    source = share_path('models', 'pendulum_small_delay50ms.onnx')
    metadata = OnnxPolicy(source).metadata
    assert metadata.in_flight == 'plan' and metadata.history > 0
    model = onnx.load(str(source))
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = dataclasses.replace(metadata, in_flight='exact').to_json()
    old = tmp_path / 'old.onnx'
    onnx.save(model, str(old))
    with pytest.raises(InputError, match='in_flight'):
        WorkerRole.from_policy(0, OnnxPolicy(old), InferenceConfig())
    WorkerRole.from_policy(0, OnnxPolicy(source), InferenceConfig())  # the shipped one is fine
