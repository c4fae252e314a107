"""Inference time per model size, called periodically inside a loop and back to back.

This is the table users size the number of workers with: a policy called once per control
period runs with cold caches and is several times slower than the same policy in a tight
loop, so the periodic p99 (not the tight-loop p50) is what ``N* = ceil(t_inf_max / T)`` needs.
Networks are the package's MLP sizes with random weights, exported by the package's exporter
and run through :class:`~rt_async_control.policy.onnx_policy.OnnxPolicy` exactly as a worker
runs them (one thread, no spinning).
"""

from __future__ import annotations

import math
from pathlib import Path
import tempfile
import time

import numpy as np

from rt_async_control.benchmarks import Figure
from rt_async_control.policy.call_timing import time_calls

PERIOD_S = 0.01
# The arm's sizes: the largest observation of the shipped tasks.
OBS_DIM, ACTION_DIM = 15, 3


def _percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


def _build(size: str, directory: Path):  # noqa: ANN202 - returns OnnxPolicy (lazy import)
    import torch

    from rt_async_control.policy.export import export_onnx
    from rt_async_control.policy.metadata import ModelMetadata
    from rt_async_control.policy.mlp import count_parameters, make_mlp
    from rt_async_control.policy.onnx_policy import OnnxPolicy

    torch.manual_seed(0)
    model = make_mlp(size, OBS_DIM, ACTION_DIM)
    metadata = ModelMetadata(
        task='benchmark', obs_dim=OBS_DIM, action_dim=ACTION_DIM, control_period_s=PERIOD_S,
        obs_mean=[0.0] * OBS_DIM, obs_std=[1.0] * OBS_DIM, action_offset=[0.0] * ACTION_DIM,
        action_scale=[1.0] * ACTION_DIM, action_low=[-1.0] * ACTION_DIM,
        action_high=[1.0] * ACTION_DIM, size=size, parameters=count_parameters(model))
    path = export_onnx(model, metadata, directory / f'{size}.onnx')
    return OnnxPolicy(path)


def _tight(policy, observation: np.ndarray, calls: int,  # noqa: ANN001
           budget_s: float) -> list[float]:
    # Large models get fewer calls: at most about budget_s of back-to-back inference.
    start = time.perf_counter()
    policy(observation)
    calls = int(min(calls, max(20, budget_s / max(time.perf_counter() - start, 1e-9))))
    return time_calls(lambda: policy(observation), calls)


def _periodic(policy, observation: np.ndarray, calls: int,  # noqa: ANN001
              period: float) -> list[float]:
    # Sleep to absolute deadlines (never "the rest of the period"), as a worker does; an
    # overrun skips to the next deadline in the future instead of calling back to back.
    times = []
    deadline = time.monotonic() + period
    for _ in range(calls):
        time.sleep(max(0.0, deadline - time.monotonic()))
        start = time.perf_counter()
        policy(observation)
        times.append(time.perf_counter() - start)
        now = time.monotonic()
        deadline += period * max(1, math.ceil((now - deadline) / period))
    return times


def measure(quick: bool = False) -> list[Figure]:
    """Measure single-call inference time per MLP size, periodic and tight.

    :param quick: fewer sizes (tiny, small, medium) and fewer calls, for CI.
    :return: per size: periodic p50/p99, tight p50/p99, the periodic/tight ratio and the
        workers needed at a 10 ms control period from the periodic p99.
    """
    from rt_async_control.policy.sizes import SIZES

    sizes = ('tiny', 'small', 'medium') if quick else tuple(SIZES)
    tight_calls, periodic_calls, budget_s = (300, 60, 0.5) if quick else (3000, 300, 3.0)
    figures: list[Figure] = []
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix='rt_async_inference_') as tmp:
        for size in sizes:
            policy = _build(size, Path(tmp))
            params = policy.metadata.parameters
            observation = rng.standard_normal(OBS_DIM)
            policy.warmup(10)
            tight = _tight(policy, observation, tight_calls, budget_s)
            periodic = _periodic(policy, observation, periodic_calls, PERIOD_S)
            label = f'inference {size} ({params / 1e3:,.0f}k params)'
            note = f'1 thread, CPU, {periodic_calls} calls every {PERIOD_S * 1e3:g} ms'
            p99 = _percentile(periodic, 99)
            figures += [
                Figure(f'{label} periodic p50', _percentile(periodic, 50) * 1e3, 'ms',
                       note=note),
                Figure(f'{label} periodic p99', p99 * 1e3, 'ms', note=note),
                Figure(f'{label} tight p50', _percentile(tight, 50) * 1e3, 'ms',
                       note=f'{len(tight)} calls back to back'),
                Figure(f'{label} tight p99', _percentile(tight, 99) * 1e3, 'ms',
                       note=f'{len(tight)} calls back to back'),
                Figure(f'{label} periodic/tight p50', _percentile(periodic, 50)
                       / max(_percentile(tight, 50), 1e-12), 'x',
                       note='cold-cache slowdown of a periodic caller'),
                Figure(f'{label} workers for T={PERIOD_S * 1e3:g} ms', _workers(p99), 'N*',
                       note='ceil(periodic p99 / T)'),
            ]
            del policy
    return figures


def _workers(inference_time_max: float) -> float:
    try:
        from rt_async_control.core.schedule import required_workers
    except ImportError:  # the core schedule is not installed in this checkout yet
        return float(max(1, math.ceil(inference_time_max / PERIOD_S)))
    return float(required_workers(inference_time_max, PERIOD_S))
