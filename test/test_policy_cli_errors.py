"""Bad models fail `evaluate` with exit code 2 and exactly one clear line on stderr."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import onnx
import pytest

from rt_async_control.cli import main
from rt_async_control.policy.metadata import METADATA_KEY, ModelMetadata

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / 'models'


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err.splitlines()


def test_corrupt_onnx_file(tmp_path, capsys):
    model = tmp_path / 'corrupt.onnx'
    model.write_bytes(b'\x08\x07this is not a protobuf graph' * 10)
    code, lines = run_cli(['evaluate', str(model), '--task', 'pendulum'], capsys)
    assert code == 2
    assert len(lines) == 1 and 'corrupt.onnx' in lines[0] and 'ONNX' in lines[0]


def test_missing_file(tmp_path, capsys):
    code, lines = run_cli(['evaluate', str(tmp_path / 'absent.onnx'), '--task', 'arm'], capsys)
    assert code == 2
    assert len(lines) == 1 and 'does not exist' in lines[0]


def test_model_for_another_task(capsys):
    code, lines = run_cli(['evaluate', str(MODELS / 'cartpole_small.onnx'), '--task',
                           'pendulum'], capsys)
    assert code == 2
    assert len(lines) == 1 and "'cartpole'" in lines[0] and "'pendulum'" in lines[0]


def test_dimensions_that_do_not_match_the_task(tmp_path, capsys):
    # The arm model relabelled as a pendulum model: graph and metadata agree with each other
    # (15 observations, 3 commands) but not with the pendulum (3 and 1).
    proto = onnx.load(str(MODELS / 'arm_small.onnx'))
    props = {p.key: p.value for p in proto.metadata_props}
    metadata = ModelMetadata.from_json(props[METADATA_KEY])
    onnx.helper.set_model_props(proto, {METADATA_KEY: replace(metadata, task='pendulum')
                                        .to_json()})
    model = tmp_path / 'wrong_dims.onnx'
    onnx.save(proto, str(model))
    code, lines = run_cli(['evaluate', str(model), '--task', 'pendulum'], capsys)
    assert code == 2
    assert len(lines) == 1 and 'observation size 15' in lines[0] and '(3)' in lines[0]


def test_unknown_task(capsys):
    code, lines = run_cli(['evaluate', str(MODELS / 'pendulum_small.onnx'), '--task',
                           'walker'], capsys)
    assert code == 2 and len(lines) == 1 and 'walker' in lines[0]
