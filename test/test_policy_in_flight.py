"""Delay-aware input: training, evaluation and hosts all feed the arbiter's plan, not hindsight.

A host gives a worker ``ArbiterRole.planned(now, d)``; for single-action chunks that is the
command being applied at the observation time, held. ``plan_from_in_flight`` must give the
same from the exact in-flight rows of the observation-delay rollout, and a model whose
metadata says ``in_flight: plan`` must be fed it by ``PolicyController`` (and by training).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from rt_async_control.core.arbiter import Arbiter  # noqa: E402
from rt_async_control.core.config import ArbiterConfig  # noqa: E402
from rt_async_control.core.messages import ActionChunk  # noqa: E402
from rt_async_control.errors import InputError  # noqa: E402
from rt_async_control.policy.dataset import Normaliser  # noqa: E402
from rt_async_control.policy.evaluate import PolicyController  # noqa: E402
from rt_async_control.policy.export import export_onnx  # noqa: E402
from rt_async_control.policy.metadata import ModelMetadata  # noqa: E402
from rt_async_control.policy.mlp import make_mlp  # noqa: E402
from rt_async_control.policy.onnx_policy import OnnxPolicy  # noqa: E402
from rt_async_control.sim.rollout import plan_from_in_flight  # noqa: E402

OBS, ACT, HISTORY, PERIOD = 4, 2, 3, 0.01
LIMIT = np.array([5.0, 5.0])


def test_plan_from_in_flight_is_what_the_arbiter_plans_for_single_action_chunks():
    rng = np.random.default_rng(0)
    in_flight = rng.uniform(-2.0, 2.0, (HISTORY, ACT))
    arbiter = Arbiter(ArbiterConfig(max_action_age_s=0.1), ACT, -LIMIT, LIMIT)
    # The freshest chunk at the observation time t is the one applied then: in_flight[0].
    t = 1.0
    chunk = ActionChunk(t - 0.03, 0, 0.025, in_flight[:1].copy(), float('inf'))
    assert arbiter.offer(chunk, t - 0.005) is None
    planned = arbiter.planned(t, HISTORY, PERIOD)
    np.testing.assert_array_equal(plan_from_in_flight(in_flight), planned)
    assert plan_from_in_flight(np.zeros((0, ACT))).shape == (0, ACT)


def _model(tmp_path, in_flight: str) -> OnnxPolicy:
    torch.manual_seed(2)
    model = make_mlp('tiny', OBS + HISTORY * ACT, ACT)
    metadata = ModelMetadata(
        task='pendulum', obs_dim=OBS, action_dim=ACT, control_period_s=PERIOD,
        obs_mean=np.zeros(OBS), obs_std=np.ones(OBS), action_offset=[0.0, 0.0],
        action_scale=[5.0, 5.0], action_low=-LIMIT, action_high=LIMIT, history=HISTORY,
        delay_s=HISTORY * PERIOD, in_flight=in_flight)
    return OnnxPolicy(export_onnx(model, metadata, tmp_path / f'{in_flight}.onnx'))


@pytest.mark.parametrize('kind', ['plan', 'exact'])
def test_policy_controller_feeds_what_the_model_was_trained_on(tmp_path, kind):
    policy = _model(tmp_path, kind)
    assert policy.metadata.in_flight == kind
    rng = np.random.default_rng(1)
    observation = rng.normal(size=OBS)
    in_flight = rng.uniform(-4.0, 4.0, (HISTORY, ACT))
    got = PolicyController(policy, HISTORY).act(observation, in_flight)
    plan = policy(observation, plan_from_in_flight(in_flight))[0]
    exact = policy(observation, in_flight)[0]
    assert not np.allclose(plan, exact)  # the rows matter, so the check below can fail
    np.testing.assert_array_equal(got, plan if kind == 'plan' else exact)


def test_training_inputs_hold_the_plan_and_old_metadata_reads_as_exact():
    in_flight = np.array([[1.0, -1.0], [2.0, 0.5], [3.0, 1.5]])
    norm = Normaliser(np.zeros(OBS), np.ones(OBS), np.zeros(ACT), np.full(ACT, 2.0), HISTORY)
    rows = norm.inputs(np.zeros(OBS), in_flight)[OBS:].reshape(HISTORY, ACT)
    np.testing.assert_array_equal(rows, np.tile([0.5, -0.5], (HISTORY, 1)))
    exact = Normaliser(np.zeros(OBS), np.ones(OBS), np.zeros(ACT), np.full(ACT, 2.0),
                       HISTORY, plan=False)
    np.testing.assert_array_equal(exact.inputs(np.zeros(OBS), in_flight)[OBS:],
                                  (in_flight / 2.0).ravel())
    fields = {'task': 'arm', 'obs_dim': OBS, 'action_dim': ACT, 'control_period_s': PERIOD,
              'obs_mean': [0.0] * OBS, 'obs_std': [1.0] * OBS, 'action_offset': [0.0] * ACT,
              'action_scale': [1.0] * ACT, 'action_low': [-1.0] * ACT,
              'action_high': [1.0] * ACT, 'history': HISTORY}
    old = ModelMetadata(**fields).to_json().replace('"in_flight": "exact",', '')
    assert 'in_flight' not in old
    assert ModelMetadata.from_json(old).in_flight == 'exact'
    with pytest.raises(InputError, match='in_flight'):
        ModelMetadata(**fields, in_flight='hindsight')
