"""Model metadata: JSON round trip, validation, and the embedded copy inside the ONNX file."""

from __future__ import annotations

import math

import pytest

from rt_async_control.errors import InputError
from rt_async_control.policy.metadata import ModelMetadata, sidecar_path


def make(**overrides: object) -> ModelMetadata:
    fields = {'task': 'pendulum', 'obs_dim': 3, 'action_dim': 1, 'control_period_s': 0.01,
              'obs_mean': [0.0, 0.1, 0.2], 'obs_std': [1.0, 2.0, 3.0], 'action_offset': [0.0],
              'action_scale': [2.0], 'action_low': [-2.0], 'action_high': [2.0]}
    fields.update(overrides)
    return ModelMetadata(**fields)


def test_json_round_trip_keeps_every_field_including_infinite_step():
    metadata = make(history=5, delay_s=0.05, size='small', parameters=1234,
                    training={'seed': 3})
    assert math.isinf(metadata.chunk_step_s)
    again = ModelMetadata.from_json(metadata.to_json())
    assert again == metadata
    chunked = make(chunk_horizon=4, chunk_step_s=0.01)
    assert ModelMetadata.from_json(chunked.to_json()).chunk_step_s == 0.01


def test_input_and_output_widths_count_history_and_chunk_rows():
    metadata = make(history=5, chunk_horizon=4, chunk_step_s=0.01)
    assert metadata.input_dim == 3 + 5 * 1
    assert metadata.output_dim == 4


@pytest.mark.parametrize('overrides, field', [
    ({'obs_std': [1.0, 0.0, 1.0]}, 'obs_std'),
    ({'obs_mean': [0.0, 1.0]}, 'obs_mean'),
    ({'action_low': [3.0]}, 'action_low'),
    ({'history': -1}, 'history'),
    ({'chunk_horizon': 3}, 'chunk_step_s'),
    ({'obs_dim': 0}, 'obs_dim'),
])
def test_bad_values_raise_one_line_naming_the_field(overrides, field):
    with pytest.raises(InputError) as info:
        make(**overrides)
    assert field in str(info.value)
    assert '\n' not in str(info.value)


@pytest.mark.parametrize('text, words', [
    ('not json', 'not valid JSON'),
    ('[1, 2]', 'not a JSON object'),
    ('{"task": "pendulum"}', 'lacks'),
    ('{"format_version": 99}', 'format_version'),
])
def test_malformed_json_names_the_source(text, words):
    with pytest.raises(InputError) as info:
        ModelMetadata.from_json(text, source='model x.onnx')
    assert words in str(info.value) and 'x.onnx' in str(info.value)


def test_sidecar_sits_next_to_the_model():
    assert sidecar_path('models/arm_small.onnx').as_posix() == 'models/arm_small.json'
