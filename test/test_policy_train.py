"""A minimal training run end to end: CLI -> DAgger -> ONNX + sidecar -> evaluate --json."""

from __future__ import annotations

import json

import pytest

from rt_async_control.cli import main
from rt_async_control.policy.metadata import ModelMetadata

pytest.importorskip('torch')


@pytest.mark.slow
def test_train_then_evaluate_delay_aware_tiny_model(tmp_path, capsys):
    code = main(['train', 'pendulum', '--size', 'tiny', '--delay-aware', '0.03', '--out',
                 str(tmp_path), '--rounds', '1', '--episodes', '2', '--epochs', '2'])
    out = capsys.readouterr().out
    assert code == 0
    assert 'round 0/1' in out and 'round 1/1' in out
    model = tmp_path / 'pendulum_tiny_delay30ms.onnx'
    metadata = ModelMetadata.from_json(model.with_suffix('.json').read_text())
    assert (metadata.task, metadata.history, metadata.size) == ('pendulum', 3, 'tiny')
    assert metadata.delay_s == pytest.approx(0.03)
    assert metadata.input_dim == 3 + 3
    assert metadata.training['seed'] == 0 and metadata.training['rounds'] == 1

    code = main(['evaluate', str(model), '--task', 'pendulum', '--episodes', '2', '--delay',
                 '0.03', '--json'])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ('task', 'model', 'episodes', 'delay_s', 'mean_return', 'std_return',
                'success_rate'):
        assert key in report
    assert report['episodes'] == 2 and report['delay_s'] == pytest.approx(0.03)
    assert 0.0 <= report['success_rate'] <= 1.0


def test_bad_training_arguments_exit_2(capsys):
    assert main(['train', 'pendulum', '--episodes', '0']) == 2
    assert main(['train', 'pendulum', '--delay-aware', '-1']) == 2
    assert len(capsys.readouterr().err.splitlines()) == 2
