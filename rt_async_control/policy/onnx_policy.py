"""ONNX Runtime policy: load a model and its metadata, check it fits the task, run it.

Everything that can be wrong with a model file is found at load time and reported as one
:class:`~rt_async_control.errors.InputError` line; a call at run time only does arithmetic
in preallocated buffers and one ``run_with_iobinding``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rt_async_control.errors import InputError

try:
    import onnxruntime as ort
except ModuleNotFoundError as exc:  # neither extra installed: say which to install, in a line
    raise InputError("ONNX Runtime is not installed: pip install 'rt_async_control[cpu]' "
                     "(or '[gpu]' for onnxruntime-gpu, never both)") from exc
from rt_async_control.policy.metadata import METADATA_KEY, ModelMetadata, sidecar_path

# Short names users write in parameters -> ONNX Runtime provider names, in preference order.
PROVIDER_NAMES = {
    'tensorrt': 'TensorrtExecutionProvider',
    'cuda': 'CUDAExecutionProvider',
    'cpu': 'CPUExecutionProvider',
}


class TaskShape(Protocol):
    """What a model is checked against: the task name and its vector sizes."""

    name: str
    obs_dim: int
    action_dim: int


def choose_providers(requested: Sequence[str] | str = ('cpu',),
                     available: Sequence[str] | None = None) -> list[str]:
    """Return the ONNX Runtime providers to use: requested ones that exist, then CPU.

    A GPU provider is used only when it is both requested and present, so the same parameter
    file runs on a machine without a GPU (on CPU).

    :param requested: short names (``tensorrt``, ``cuda``, ``cpu``) or full provider names,
        as a sequence or one comma-separated string; ``auto`` means every GPU provider.
    :param available: the providers of this ONNX Runtime build (queried when ``None``).
    :return: provider names, CPU last.
    :raises InputError: for a provider name that is not known.
    """
    if isinstance(requested, str):
        requested = [r for r in (s.strip() for s in requested.split(',')) if r]
    available = list(ort.get_available_providers() if available is None else available)
    chosen: list[str] = []
    for name in requested:
        if name.lower() == 'auto':
            names = list(PROVIDER_NAMES.values())
        elif name.lower() in PROVIDER_NAMES:
            names = [PROVIDER_NAMES[name.lower()]]
        elif name in PROVIDER_NAMES.values():
            names = [name]
        else:
            raise InputError(f'providers: unknown provider {name!r} (expected '
                             f'{", ".join(PROVIDER_NAMES)} or auto)')
        chosen += [n for n in names if n in available and n not in chosen]
    if PROVIDER_NAMES['cpu'] in chosen:
        chosen.remove(PROVIDER_NAMES['cpu'])
    return [*chosen, PROVIDER_NAMES['cpu']]


def session_options(intra_op_threads: int = 1) -> ort.SessionOptions:
    """Return session options for a shared CPU: one thread each, no spinning, quiet log.

    Spinning threads burn the cores the simulator and the other workers need; several
    intra-op threads only add hand-off latency for networks this small.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    options.add_session_config_entry('session.inter_op.allow_spinning', '0')
    # Errors are raised as exceptions; warnings on stderr would break one-line reporting.
    options.log_severity_level = 3
    return options


def read_metadata(path: Path, session: ort.InferenceSession) -> ModelMetadata:
    """Return the metadata embedded in the model, else the one in the JSON sidecar."""
    embedded = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if embedded is not None:
        return ModelMetadata.from_json(embedded, source=f'model {path}')
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        return ModelMetadata.from_json(sidecar.read_text(), source=f'model sidecar {sidecar}')
    raise InputError(f'model {path}: no {METADATA_KEY} metadata inside and no sidecar '
                     f'{sidecar.name}')


def _last_dim(shape: Sequence[object]) -> object:
    return shape[-1] if shape else None


class OnnxPolicy:
    """A policy network behind ONNX Runtime, with normalisation and clipping around it.

    :ivar metadata: the model's :class:`ModelMetadata`.
    :ivar providers: the providers the session actually uses.
    :ivar path: the model file.
    """

    def __init__(self, path: str | Path, task: TaskShape | None = None,
                 providers: Sequence[str] | str = ('cpu',), intra_op_threads: int = 1) -> None:
        """Load and check a model.

        :param path: the ``.onnx`` file.
        :param task: when given, the model must be for this task with matching sizes.
        :param providers: see :func:`choose_providers`.
        :param intra_op_threads: ONNX Runtime intra-op threads (1 on a shared CPU).
        :raises InputError: missing or corrupt file, missing metadata, a graph that does not
            match its metadata, or a model for another task or other sizes.
        """
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f'model {self.path}: file does not exist')
        self.providers = choose_providers(providers)
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=session_options(
                intra_op_threads), providers=self.providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises several unrelated types
            reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''
            raise InputError(f'model {self.path}: not a loadable ONNX model '
                             f'({type(exc).__name__}: {reason})') from None
        self.providers = list(self.session.get_providers())
        self.metadata = read_metadata(self.path, self.session)
        self._check_graph()
        if task is not None:
            check_task(self.metadata, task, self.path)
        md = self.metadata
        self._obs_mean = np.asarray(md.obs_mean, np.float64)
        self._obs_inv_std = 1.0 / np.asarray(md.obs_std, np.float64)
        self._act_offset = np.asarray(md.action_offset, np.float64)
        self._act_inv_scale = 1.0 / np.asarray(md.action_scale, np.float64)
        self._act_scale = np.asarray(md.action_scale, np.float64)
        self._zero_command = -self._act_offset * self._act_inv_scale
        self._low = np.asarray(md.action_low, np.float64)
        self._high = np.asarray(md.action_high, np.float64)
        # Buffers bound once: a call writes the input in place and reads the output in place.
        self._input = np.zeros((1, md.input_dim), np.float32)
        self._output = np.zeros((1, md.output_dim), np.float32)
        self._obs_view = self._input[0, :md.obs_dim]
        self._hist_view = self._input[0, md.obs_dim:].reshape(md.history, md.action_dim)
        self._binding = self.session.io_binding()
        self._binding.bind_ortvalue_input(self._input_name,
                                          ort.OrtValue.ortvalue_from_numpy(self._input))
        self._binding.bind_ortvalue_output(self._output_name,
                                           ort.OrtValue.ortvalue_from_numpy(self._output))

    def _check_graph(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        md = self.metadata
        if len(inputs) != 1 or len(outputs) != 1:
            raise InputError(f'model {self.path}: expected 1 input and 1 output, got '
                             f'{len(inputs)} and {len(outputs)}')
        self._input_name, self._output_name = inputs[0].name, outputs[0].name
        for what, arg, want in (('input', inputs[0], md.input_dim),
                                ('output', outputs[0], md.output_dim)):
            width = _last_dim(arg.shape)
            if len(arg.shape) != 2 or width != want:
                raise InputError(f'model {self.path}: network {what} shape {arg.shape} does not '
                                 f'match its metadata (expected [batch, {want}])')
            if arg.type != 'tensor(float)':
                raise InputError(f'model {self.path}: network {what} type is {arg.type}, '
                                 f'expected tensor(float)')

    def warmup(self, calls: int = 10) -> None:
        """Run ``calls`` inferences on the mean observation to fill caches and allocators."""
        observation = self._obs_mean.copy()
        in_flight = np.tile(self._act_offset, (self.metadata.history, 1))
        for _ in range(max(0, calls)):
            self(observation, in_flight)

    def __call__(self, observation: np.ndarray,
                 in_flight: np.ndarray | Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Return the action chunk for one observation.

        :param observation: ``(obs_dim,)`` raw observation.
        :param in_flight: commands issued after the observation was measured that will act
            before this action does, oldest first, ``(k, action_dim)``. Only the newest
            ``history`` are used; fewer are left-padded with the zero command. Ignored by a
            plain (``history == 0``) model.
        :return: ``(chunk_horizon, action_dim)`` float64 commands, denormalised and clipped.
        """
        md = self.metadata
        np.subtract(observation, self._obs_mean, out=self._obs_view)
        np.multiply(self._obs_view, self._obs_inv_std, out=self._obs_view)
        if md.history:
            self._fill_history(in_flight)
        self.session.run_with_iobinding(self._binding)
        actions = np.multiply(self._output.reshape(md.chunk_horizon, md.action_dim),
                              self._act_scale)
        actions += self._act_offset
        return np.clip(actions, self._low, self._high, out=actions)

    def _fill_history(self, in_flight: np.ndarray | Sequence[np.ndarray] | None) -> None:
        history = self._hist_view
        count = 0 if in_flight is None else len(in_flight)
        pad = max(0, history.shape[0] - count)
        # Before the first command the actuators hold zero (as the simulator does).
        history[:pad] = self._zero_command
        if count:
            recent = np.asarray(in_flight, np.float64).reshape(count, -1)[count - (
                history.shape[0] - pad):]
            np.subtract(recent, self._act_offset, out=history[pad:])
            np.multiply(history[pad:], self._act_inv_scale, out=history[pad:])


def check_task(metadata: ModelMetadata, task: TaskShape, path: Path | str) -> None:
    """Raise one clear :class:`InputError` when a model does not fit a task.

    :param metadata: the model's metadata.
    :param task: the task it is meant to control.
    :param path: the model file, named in the message.
    """
    if metadata.task != task.name:
        raise InputError(f'model {path}: trained for task {metadata.task!r}, not '
                         f'{task.name!r}')
    if metadata.obs_dim != task.obs_dim:
        raise InputError(f'model {path}: observation size {metadata.obs_dim} does not match '
                         f'task {task.name!r} ({task.obs_dim})')
    if metadata.action_dim != task.action_dim:
        raise InputError(f'model {path}: action size {metadata.action_dim} does not match '
                         f'task {task.name!r} ({task.action_dim})')
