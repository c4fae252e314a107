"""Task metadata: what a simulated robot exposes and how an episode is scored.

Each task is a MuJoCo scene ``sim/<task>.xml`` plus ``sim/<task>.yaml`` (installed under
``share/rt_async_control/sim``). The YAML is the single source of the joint names, command
interface and limits, observation layout, timing, reward weights and success criterion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rt_async_control.errors import InputError
from rt_async_control.resources import share_path

TASKS: tuple[str, ...] = ('pendulum', 'cartpole', 'arm')


@dataclass(frozen=True)
class TaskSpec:
    """One simulated task, as read from ``sim/<name>.yaml``.

    :param name: task name (``pendulum``, ``cartpole``, ``arm``).
    :param description: one line for people.
    :param scene: absolute path of the MJCF scene.
    :param joint_names: joints reported in the state, in order.
    :param actuated_joints: joints that take one command entry each, in command order.
    :param command_interface: ``effort`` (forces / torques, zero-order hold).
    :param command_lower: lower command limits, shape ``(action_dim,)``.
    :param command_upper: upper command limits, shape ``(action_dim,)``.
    :param observation: names of the observation entries, in order.
    :param control_period_s: nominal control period.
    :param state_period_s: nominal state publishing period.
    :param timestep_s: physics timestep (the control period is a whole number of them).
    :param episode_s: episode length.
    :param initial_state: ``position``, ``position_noise``, ``velocity_noise`` lists.
    :param reward: reward weights (see the YAML comments).
    :param success: success criterion (``kind`` plus its tolerances).
    :param goal: moving-goal settings (arm only), else empty.
    """

    name: str
    description: str
    scene: Path
    joint_names: tuple[str, ...]
    actuated_joints: tuple[str, ...]
    command_interface: str
    command_lower: np.ndarray
    command_upper: np.ndarray
    observation: tuple[str, ...]
    control_period_s: float
    state_period_s: float
    timestep_s: float
    episode_s: float
    initial_state: dict[str, Any]
    reward: dict[str, float]
    success: dict[str, Any]
    goal: dict[str, Any] = field(default_factory=dict)

    @property
    def action_dim(self) -> int:
        """Return the length of one command."""
        return len(self.actuated_joints)

    @property
    def obs_dim(self) -> int:
        """Return the length of the observation vector."""
        return len(self.observation)

    @property
    def substeps(self) -> int:
        """Return the number of physics timesteps in one control period."""
        return steps_in(self.control_period_s, self.timestep_s)

    @property
    def episode_steps(self) -> int:
        """Return the number of control periods in one episode."""
        return steps_in(self.episode_s, self.control_period_s)


def steps_in(duration: float, step: float) -> int:
    """Return how many whole ``step`` fit in ``duration`` (rounded to the nearest integer).

    :param duration: seconds, >= 0.
    :param step: seconds, > 0.
    :return: ``round(duration / step)``; durations are meant to be whole multiples.
    """
    return int(round(duration / step))


def known_tasks() -> tuple[str, ...]:
    """Return the names of the tasks shipped in ``sim/``."""
    return TASKS


def load_task(name: str) -> TaskSpec:
    """Load a task's metadata from ``sim/<name>.yaml``.

    :param name: one of :func:`known_tasks`.
    :return: the validated :class:`TaskSpec`.
    :raises InputError: unknown task name, or a malformed metadata file.
    """
    if name not in TASKS:
        raise InputError(f'unknown task {name!r}: choose from {", ".join(TASKS)}')
    return _load_cached(name)


_CACHE: dict[str, TaskSpec] = {}


def _load_cached(name: str) -> TaskSpec:
    # TaskSpec is frozen; its arrays are made read-only, so sharing one instance is safe.
    if name not in _CACHE:
        _CACHE[name] = load_task_file(share_path('sim', f'{name}.yaml'))
    return _CACHE[name]


def _limits(raw: Any, key: str, path: Path, n: int) -> np.ndarray:
    values = np.asarray(raw.get(key, ()), dtype=np.float64)
    if values.shape != (n,):
        raise InputError(f'{path}: {key} must have {n} entries, got {raw.get(key)!r}')
    values.setflags(write=False)
    return values


def load_task_file(path: Path) -> TaskSpec:
    """Load task metadata from any YAML file (its ``scene`` is relative to the file).

    :param path: the metadata file.
    :return: the validated :class:`TaskSpec`.
    :raises InputError: unreadable file, missing or malformed field (one line).
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f'{path}: cannot read task metadata ({exc})'.replace('\n', ' ')) from exc
    if not isinstance(raw, dict):
        raise InputError(f'{path}: task metadata must be a mapping, got {type(raw).__name__}')
    try:
        actuated = tuple(raw['actuated_joints'])
        spec = TaskSpec(
            name=str(raw['name']),
            description=str(raw.get('description', '')),
            scene=path.parent / str(raw['scene']),
            joint_names=tuple(raw['joint_names']),
            actuated_joints=actuated,
            command_interface=str(raw['command_interface']),
            command_lower=_limits(raw, 'command_lower', path, len(actuated)),
            command_upper=_limits(raw, 'command_upper', path, len(actuated)),
            observation=tuple(raw['observation']),
            control_period_s=float(raw['control_period_s']),
            state_period_s=float(raw['state_period_s']),
            timestep_s=float(raw['timestep_s']),
            episode_s=float(raw['episode_s']),
            initial_state=dict(raw['initial_state']),
            reward={k: float(v) for k, v in raw['reward'].items()},
            success=dict(raw['success']),
            goal=dict(raw.get('goal') or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f'{path}: missing or malformed field {exc}') from exc
    _check_timing(spec, path)
    return spec


def _check_timing(spec: TaskSpec, path: Path) -> None:
    if spec.command_interface != 'effort':
        raise InputError(f'{path}: command_interface must be effort, got '
                         f'{spec.command_interface!r}')
    for key in ('control_period_s', 'state_period_s', 'episode_s'):
        value = getattr(spec, key)
        step = spec.timestep_s if key != 'episode_s' else spec.control_period_s
        n = steps_in(value, step)
        if n < 1 or abs(n * step - value) > 1e-9:
            raise InputError(f'{path}: {key}={value} is not a whole number of {step} s steps')
    if np.any(spec.command_lower >= spec.command_upper):
        raise InputError(f'{path}: command_lower must be below command_upper')
