"""What a policy model needs around it: task, shapes, normalisation, limits, delay.

The same record is written twice: as a JSON sidecar ``<model>.json`` next to ``<model>.onnx``
(readable by people and other tools) and inside the ONNX file as ``metadata_props`` under the
key :data:`METADATA_KEY`, so a lone ``.onnx`` copied to a robot still carries it.

Network input layout (float32, one row per batch entry)::

    [(observation - obs_mean) / obs_std,  (in_flight[0] - action_offset) / action_scale, ...]

``history`` in-flight commands follow the observation, oldest first. ``in_flight`` says which:
``plan`` (what the arbiter's plan gives at inference start, for single-action models the
command applied at the observation time held, see ``sim.rollout.plan_from_in_flight``) or
``exact`` (the commands really applied since, older models; no host can give those).

The network output is ``chunk_horizon * action_dim`` numbers; row ``k`` denormalised is
``output[k] * action_scale + action_offset``, then clipped to ``[action_low, action_high]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
import json
import math
from pathlib import Path
from typing import Any

from rt_async_control.errors import InputError

METADATA_KEY = 'rt_async_control'
FORMAT_VERSION = 1
INPUT_NAME = 'policy_input'
OUTPUT_NAME = 'policy_output'
# What the in-flight rows of the input are (see the module docstring).
IN_FLIGHT_PLAN = 'plan'
IN_FLIGHT_EXACT = 'exact'


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class ModelMetadata:
    """Everything needed to call a policy network and to check it fits a task.

    :param task: task name the model was trained for (``pendulum``, ``cartpole``, ``arm``).
    :param obs_dim: length of the task's observation vector.
    :param action_dim: length of one command.
    :param chunk_horizon: rows H of the action chunk produced per call (H >= 1).
    :param chunk_step_s: seconds between chunk rows; ``math.inf`` when H == 1.
    :param control_period_s: the control period the model was trained at.
    :param obs_mean: per-observation mean subtracted before the network.
    :param obs_std: per-observation scale divided before the network (all > 0).
    :param action_offset: centre of the command range (network 0 maps here).
    :param action_scale: half-range of the commands (network +-1 maps to the limits).
    :param action_low: lower command limit (clip).
    :param action_high: upper command limit (clip).
    :param history: number d of in-flight commands appended to the input (0 = plain policy).
    :param delay_s: observation delay the model was trained for (``history`` periods).
    :param size: size name of the network (``tiny`` ... ``xl``) or ``custom``.
    :param parameters: number of trainable parameters.
    :param in_flight: ``plan`` or ``exact``: what the ``history`` rows were trained on
        (metadata without it: ``exact``).
    :param training: free-form record of how the model was made (seeds, rounds, ...).
    """

    task: str
    obs_dim: int
    action_dim: int
    control_period_s: float
    obs_mean: tuple[float, ...]
    obs_std: tuple[float, ...]
    action_offset: tuple[float, ...]
    action_scale: tuple[float, ...]
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    chunk_horizon: int = 1
    chunk_step_s: float = math.inf
    history: int = 0
    delay_s: float = 0.0
    size: str = 'custom'
    parameters: int = 0
    in_flight: str = IN_FLIGHT_EXACT
    training: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        """Normalise sequences to float tuples and validate shapes and values."""
        for name in ('obs_mean', 'obs_std', 'action_offset', 'action_scale', 'action_low',
                     'action_high'):
            object.__setattr__(self, name, _floats(getattr(self, name)))
        if not self.task:
            raise InputError('model metadata: task is empty')
        for name in ('obs_dim', 'action_dim', 'chunk_horizon'):
            if int(getattr(self, name)) < 1:
                raise InputError(f'model metadata: {name} must be >= 1, got {getattr(self, name)}')
        if self.in_flight not in (IN_FLIGHT_PLAN, IN_FLIGHT_EXACT):
            raise InputError(f'model metadata: in_flight must be {IN_FLIGHT_PLAN!r} or '
                             f'{IN_FLIGHT_EXACT!r}, got {self.in_flight!r}')
        if self.history < 0:
            raise InputError(f'model metadata: history must be >= 0, got {self.history}')
        if not self.control_period_s > 0:
            raise InputError(
                f'model metadata: control_period_s must be > 0, got {self.control_period_s}')
        if self.chunk_horizon > 1 and not (0 < self.chunk_step_s < math.inf):
            raise InputError(f'model metadata: chunk_step_s must be finite and > 0 for '
                             f'chunk_horizon {self.chunk_horizon}, got {self.chunk_step_s}')
        for name, length in (('obs_mean', self.obs_dim), ('obs_std', self.obs_dim),
                             ('action_offset', self.action_dim),
                             ('action_scale', self.action_dim),
                             ('action_low', self.action_dim), ('action_high', self.action_dim)):
            values = getattr(self, name)
            if len(values) != length:
                raise InputError(f'model metadata: {name} has {len(values)} values, '
                                 f'expected {length}')
            if not all(math.isfinite(v) for v in values):
                raise InputError(f'model metadata: {name} is not finite: {values}')
        if min(self.obs_std) <= 0 or min(self.action_scale) <= 0:
            raise InputError('model metadata: obs_std and action_scale must be > 0')
        if any(lo > hi for lo, hi in zip(self.action_low, self.action_high)):
            raise InputError(f'model metadata: action_low {self.action_low} exceeds '
                             f'action_high {self.action_high}')

    @property
    def input_dim(self) -> int:
        """Return the network input width: observation plus ``history`` commands."""
        return self.obs_dim + self.history * self.action_dim

    @property
    def output_dim(self) -> int:
        """Return the network output width: ``chunk_horizon * action_dim``."""
        return self.chunk_horizon * self.action_dim

    def to_json(self) -> str:
        """Serialise to JSON text (``chunk_step_s`` inf is written as ``null``)."""
        data = asdict(self)
        if math.isinf(self.chunk_step_s):
            data['chunk_step_s'] = None
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = 'model metadata') -> ModelMetadata:
        """Parse JSON text written by :meth:`to_json`.

        :param text: the JSON document.
        :param source: what the text came from, named in error messages.
        :return: the validated metadata.
        :raises InputError: on malformed JSON, unknown version, missing or bad fields.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f'{source}: metadata is not valid JSON ({exc.msg})') from None
        if not isinstance(data, dict):
            raise InputError(f'{source}: metadata is not a JSON object')
        version = data.get('format_version', FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise InputError(f'{source}: metadata format_version {version} is not supported '
                             f'(expected {FORMAT_VERSION})')
        known = {f.name for f in fields(cls)}
        required = {'task', 'obs_dim', 'action_dim', 'control_period_s', 'obs_mean', 'obs_std',
                    'action_offset', 'action_scale', 'action_low', 'action_high'}
        missing = sorted(required - set(data))
        if missing:
            raise InputError(f'{source}: metadata lacks {", ".join(missing)}')
        kwargs = {k: v for k, v in data.items() if k in known}
        if kwargs.get('chunk_step_s') is None:
            kwargs['chunk_step_s'] = math.inf
        try:
            return cls(**kwargs)
        except InputError as exc:
            raise InputError(f'{source}: {exc}') from None
        except (TypeError, ValueError) as exc:
            raise InputError(f'{source}: bad metadata value ({exc})') from None


def sidecar_path(model_path: str | Path) -> Path:
    """Return the JSON sidecar path for a model: ``<model>.json`` next to ``<model>.onnx``."""
    return Path(model_path).with_suffix('.json')


def write_sidecar(model_path: str | Path, metadata: ModelMetadata) -> Path:
    """Write the JSON sidecar for ``model_path`` and return its path."""
    path = sidecar_path(model_path)
    path.write_text(metadata.to_json() + '\n')
    return path
