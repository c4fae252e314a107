"""Torch -> ONNX export and the ONNX Runtime wrapper: same numbers, checked shapes, providers."""

from __future__ import annotations

from pathlib import Path
import shutil

import numpy as np
import onnx
import pytest

torch = pytest.importorskip('torch')

from rt_async_control.errors import InputError  # noqa: E402
from rt_async_control.policy.export import export_onnx  # noqa: E402
from rt_async_control.policy.metadata import METADATA_KEY, ModelMetadata  # noqa: E402
from rt_async_control.policy.mlp import count_parameters, make_mlp  # noqa: E402
from rt_async_control.policy.onnx_policy import choose_providers, OnnxPolicy  # noqa: E402
from rt_async_control.policy.sizes import SIZES  # noqa: E402
from rt_async_control.policy.train import check_export  # noqa: E402

OBS, ACT, HISTORY, H = 5, 2, 3, 4


@pytest.fixture(scope='module')
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    model = make_mlp('small', OBS + HISTORY * ACT, H * ACT)
    metadata = ModelMetadata(
        task='pendulum', obs_dim=OBS, action_dim=ACT, control_period_s=0.01,
        obs_mean=rng.normal(size=OBS), obs_std=rng.uniform(0.5, 2.0, OBS),
        action_offset=[0.5, -1.0], action_scale=[1.5, 3.0], action_low=[-1.0, -4.0],
        action_high=[2.0, 2.0], chunk_horizon=H, chunk_step_s=0.01, history=HISTORY,
        delay_s=0.03, size='small', parameters=count_parameters(model))
    path = export_onnx(model, metadata, tmp_path_factory.mktemp('onnx') / 'random.onnx')
    return model, path


def test_onnx_output_equals_torch_within_1e_5(exported):
    model, path = exported
    inputs = np.random.default_rng(2).normal(size=(256, OBS + HISTORY * ACT)) * 3.0
    error = check_export(model, path, inputs.astype(np.float32), tolerance=1e-5)
    assert error <= 1e-5


def test_policy_call_normalises_denormalises_and_clips_like_the_metadata_says(exported):
    model, path = exported
    policy = OnnxPolicy(path)
    md = policy.metadata
    rng = np.random.default_rng(3)
    for _ in range(20):
        observation = rng.normal(size=OBS) * 2.0
        in_flight = rng.normal(size=(HISTORY, ACT))
        net_in = np.concatenate([(observation - md.obs_mean) / md.obs_std,
                                 ((in_flight - md.action_offset) / md.action_scale).ravel()])
        with torch.no_grad():
            raw = model(torch.tensor(net_in[None], dtype=torch.float32)).numpy()
        expected = np.clip(raw.reshape(H, ACT) * md.action_scale + md.action_offset,
                           md.action_low, md.action_high)
        got = policy(observation, in_flight)
        assert got.shape == (H, ACT) and got.dtype == np.float64
        np.testing.assert_allclose(got, expected, atol=1e-5)
    # Fewer in-flight commands than the history: left-padded with the zero command.
    short = rng.normal(size=(1, ACT))
    padded = np.vstack([np.zeros((HISTORY - 1, ACT)), short])
    np.testing.assert_allclose(policy(observation, short), policy(observation, padded))
    # The result is a new array each call (callers keep chunks).
    first = policy(observation, in_flight)
    policy(observation + 1.0, in_flight)
    np.testing.assert_array_equal(first, policy(observation, in_flight))


def test_metadata_lives_inside_the_onnx_file_so_a_lone_model_loads(exported, tmp_path):
    _, path = exported
    lone = tmp_path / 'lone.onnx'
    shutil.copy(path, lone)
    assert not lone.with_suffix('.json').exists()
    props = {p.key: p.value for p in onnx.load(str(lone)).metadata_props}
    assert METADATA_KEY in props
    assert OnnxPolicy(lone).metadata == OnnxPolicy(path).metadata


def test_graph_that_disagrees_with_its_metadata_is_rejected(exported, tmp_path):
    _, path = exported
    proto = onnx.load(str(path))
    metadata = ModelMetadata.from_json(path.with_suffix('.json').read_text())
    wrong = metadata.to_json().replace('"history": 3', '"history": 2')
    onnx.helper.set_model_props(proto, {METADATA_KEY: wrong})
    bad = tmp_path / 'bad.onnx'
    onnx.save(proto, str(bad))
    with pytest.raises(InputError, match='does not match its metadata'):
        OnnxPolicy(bad)


def test_providers_gpu_only_when_requested_and_present_cpu_always_last():
    cpu, cuda, trt = ('CPUExecutionProvider', 'CUDAExecutionProvider',
                      'TensorrtExecutionProvider')
    assert choose_providers(['cuda'], available=[cpu]) == [cpu]
    assert choose_providers('cuda,cpu', available=[cuda, cpu]) == [cuda, cpu]
    assert choose_providers(['cpu'], available=[trt, cuda, cpu]) == [cpu]
    assert choose_providers('auto', available=[trt, cuda, cpu]) == [trt, cuda, cpu]
    with pytest.raises(InputError, match='unknown provider'):
        choose_providers(['tpu'])


def test_size_table_spans_ten_thousand_to_fifty_million_parameters():
    counts = {name: count_parameters(make_mlp(name, 15, 3)) for name in SIZES
              if name not in ('large', 'xl')}
    assert 5e3 < counts['tiny'] < 2e4
    assert 5e4 < counts['small'] < 2e5
    assert 5e5 < counts['medium'] < 2e6
    widths = [(s.width, s.depth) for s in SIZES.values()]
    large = widths[3][0] ** 2 * (widths[3][1] - 1)
    xl = widths[4][0] ** 2 * (widths[4][1] - 1)
    assert 5e6 < large < 2e7 and 3e7 < xl < 1e8
