"""The shipped small policies: succeed without latency; delay-aware ones tolerate 50 ms.

Returns are normalised against doing nothing: ``(R - R_zero_command) / (R_expert -
R_zero_command)`` on the same seeds (see ``rt_async_control.policy.evaluate``), so "keeps 90 %
of its zero-delay return" is a ratio of normalised returns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rt_async_control.policy.evaluate import (
    baseline_returns,
    normalised_return,
    PolicyController,
    run_episodes,
)
from rt_async_control.policy.onnx_policy import OnnxPolicy
from rt_async_control.sim.tasks import load_task

MODELS = Path(__file__).resolve().parent.parent / 'models'
DELAY_STEPS = 5     # 50 ms at the tasks' 10 ms control period


def mean_return(task_name: str, model: str, seeds: range,
                delay_steps: int) -> tuple[float, float]:
    task = load_task(task_name)
    policy = OnnxPolicy(MODELS / model, task=task)
    returns, successes = run_episodes(task, PolicyController(policy, delay_steps), seeds,
                                      delay_steps)
    return float(np.mean(returns)), float(np.mean(successes))


@pytest.mark.slow
@pytest.mark.parametrize('task', ['pendulum', 'cartpole', 'arm'])
def test_shipped_small_policy_succeeds_at_zero_delay(task):
    _, success_rate = mean_return(task, f'{task}_small.onnx', range(20), 0)
    assert success_rate >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize('task', ['pendulum', 'arm'])
def test_delay_aware_policy_keeps_its_return_where_the_plain_one_loses(task):
    seeds = range(10)
    default, expert = baseline_returns(load_task(task), seeds)
    plain_0, _ = mean_return(task, f'{task}_small.onnx', seeds, 0)
    plain_d, _ = mean_return(task, f'{task}_small.onnx', seeds, DELAY_STEPS)
    aware_d, _ = mean_return(task, f'{task}_small_delay50ms.onnx', seeds, DELAY_STEPS)
    reference = normalised_return(plain_0, default, expert)
    kept_aware = normalised_return(aware_d, default, expert) / reference
    kept_plain = normalised_return(plain_d, default, expert) / reference
    assert kept_aware >= 0.9, (kept_aware, kept_plain)
    assert kept_plain <= kept_aware - 0.1, (kept_aware, kept_plain)
