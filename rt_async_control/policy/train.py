"""Distil a task's model-based expert into an MLP: behaviour cloning, then DAgger rounds.

Round 0 rolls the expert out (with exploration noise on the executed command, labels stay
clean) and fits the network. Every later round rolls the *policy* out in the real simulator,
with the expert acting on a decaying fraction of steps, labels every visited state with the
expert's command and refits on everything collected (DAgger, Ross et al. 2011). The policy is
thereby trained on the states it actually reaches, which is what makes it succeed closed-loop.

A delay-aware policy (``delay_s > 0``) sees observations ``d`` control periods old plus the
``d`` commands in flight, and imitates the sim's ``DelayedExpert`` (the expert applied to the
state predicted forward through those commands) under that same observation delay. The labels
use the exact in-flight commands (hindsight); a single-action student's input holds only what
a host can give it, the arbiter's plan (``plan_from_in_flight``, metadata ``in_flight: plan``).
Chunk models (horizon > 1) keep the exact rows (``in_flight: exact``).

Everything is seeded; training episodes use seeds far from the evaluation seeds (0, 1, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from rt_async_control.errors import InputError
from rt_async_control.policy.dataset import episode_arrays, Normaliser, NumpyMlp, Recorder
from rt_async_control.policy.evaluate import delay_steps_for, PolicyController, run_episodes
from rt_async_control.policy.export import export_onnx
from rt_async_control.policy.metadata import IN_FLIGHT_EXACT, IN_FLIGHT_PLAN, ModelMetadata
from rt_async_control.policy.mlp import count_parameters, make_mlp, MlpPolicy
from rt_async_control.policy.onnx_policy import OnnxPolicy
from rt_async_control.policy.sizes import size_spec
from rt_async_control.policy.teachers import make_teacher, relabel_goals
from rt_async_control.sim.rollout import episode
from rt_async_control.sim.simulator import Simulator
from rt_async_control.sim.tasks import TaskSpec

TRAIN_SEED_BASE = 100_000
# Per task defaults (TrainConfig fields). Swing-up tasks need more rounds: the policy's own
# mistakes near the switch to balancing must be labelled. Reaching to 5 cm needs the steep PD
# law fitted precisely all over goal space: a few hundred goals per run are too few, so every
# visited state is also labelled with other goals, then a long final fit.
TASK_DEFAULTS: dict[str, dict[str, int]] = {
    'pendulum': {'rounds': 8, 'episodes': 12, 'epochs': 30},
    'cartpole': {'rounds': 10, 'episodes': 12, 'epochs': 30},
    'arm': {'rounds': 10, 'episodes': 10, 'epochs': 15, 'final_epochs': 100,
            'goal_relabels': 2},
}


@dataclass(frozen=True)
class TrainConfig:
    """How to train one policy (everything that changes the result is here and seeded).

    :param size: network size name.
    :param delay_s: observation delay the policy is made for (0 = plain policy).
    :param history: in-flight commands in the input, ``round(delay_s / control_period)``.
    :param seed: seeds torch, the exploration noise and the episode seeds.
    :param rounds: DAgger rounds after behaviour cloning.
    :param episodes: episodes collected per round.
    :param epochs: passes over the aggregated data per round.
    :param final_epochs: extra passes over all the data after the last round.
    :param goal_relabels: for tasks with a goal, extra copies of every visited state with
        another goal in the observation, labelled by the teacher (single-action models only).
    :param horizon: action chunk rows per call.
    :param batch_size: minibatch size.
    :param learning_rate: Adam learning rate (decayed over the rounds).
    :param explore_std: std of the noise on the executed expert command in round 0, as a
        fraction of the command half-range.
    :param beta_decay: the expert acts on ``beta_decay ** round`` of the steps in a round.
    :param eval_episodes: episodes of the final check (0 = skip).
    """

    size: str = 'small'
    delay_s: float = 0.0
    history: int = 0
    seed: int = 0
    rounds: int = 8
    episodes: int = 12
    epochs: int = 30
    final_epochs: int = 0
    goal_relabels: int = 0
    horizon: int = 1
    batch_size: int = 256
    learning_rate: float = 1e-3
    explore_std: float = 0.2
    beta_decay: float = 0.5
    eval_episodes: int = 20

    @classmethod
    def for_task(cls, task: TaskSpec, size: str = 'small', delay_s: float = 0.0,
                 seed: int = 0, rounds: int | None = None, episodes: int | None = None,
                 epochs: int | None = None, horizon: int = 1,
                 final_epochs: int | None = None,
                 goal_relabels: int | None = None) -> TrainConfig:
        """Return the defaults for ``task``, overridden where a value is given.

        :raises InputError: unknown size, negative counts or a bad delay.
        """
        size_spec(size)
        given = {'rounds': rounds, 'episodes': episodes, 'epochs': epochs,
                 'final_epochs': final_epochs, 'goal_relabels': goal_relabels}
        values = {**TASK_DEFAULTS.get(task.name, {}),
                  **{k: v for k, v in given.items() if v is not None}}
        config = cls(size=size, delay_s=float(delay_s),
                     history=delay_steps_for(delay_s, task.control_period_s), seed=seed,
                     horizon=horizon, **values)
        for name in ('episodes', 'epochs', 'horizon'):
            if getattr(config, name) < 1:
                raise InputError(f'--{name} must be >= 1, got {getattr(config, name)}')
        for name in ('rounds', 'final_epochs', 'goal_relabels'):
            if getattr(config, name) < 0:
                raise InputError(f'--{name.replace("_", "-")} must be >= 0, got '
                                 f'{getattr(config, name)}')
        return config


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_policy` produced.

    :param path: the ONNX file written.
    :param metadata: its metadata.
    :param success_rate: success rate of the exported model in the final check (nan if none).
    :param mean_return: mean return in the final check (nan if none).
    """

    path: Path
    metadata: ModelMetadata
    success_rate: float
    mean_return: float


def _fit(model: MlpPolicy, inputs: np.ndarray, targets: np.ndarray, epochs: int,
         batch_size: int, learning_rate: float, generator: torch.Generator,
         final_ratio: float = 0.1) -> float:
    x, y = torch.from_numpy(inputs), torch.from_numpy(targets)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=max(1, epochs * -(-len(x) // batch_size)),
        eta_min=learning_rate * final_ratio)
    model.train()
    loss_sum = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        loss_sum, batches = 0.0, 0
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            loss = torch.nn.functional.mse_loss(model(x[index]), y[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            loss_sum += loss.item()
            batches += 1
        loss_sum /= max(1, batches)
    model.eval()
    return loss_sum


def default_name(task: TaskSpec, config: TrainConfig) -> str:
    """Return the file stem: ``<task>_<size>`` plus ``_delay<ms>ms`` for delay-aware models."""
    stem = f'{task.name}_{config.size}'
    if config.history:
        stem += f'_delay{round(config.history * task.control_period_s * 1e3)}ms'
    if config.horizon > 1:
        stem += f'_h{config.horizon}'
    return stem


def _student(forward: NumpyMlp, norm: Normaliser, action_dim: int) -> Callable:
    """Return the student's first command row for DAgger: ``(observation, flight) -> row``."""

    def student(observation: np.ndarray, flight: np.ndarray) -> np.ndarray:
        row = forward(norm.inputs(observation, flight))[:action_dim]
        return row * norm.scale + norm.offset

    return student


def train_policy(task: TaskSpec, config: TrainConfig, out_dir: str | Path = 'models',
                 name: str | None = None, log: Callable[[str], None] = print,
                 teacher: object | None = None) -> TrainResult:
    """Train a policy for ``task`` by DAgger, export it to ONNX, check and score it.

    :param task: the task.
    :param config: the training settings (see :class:`TrainConfig`).
    :param out_dir: where ``<name>.onnx`` and ``<name>.json`` go.
    :param name: file stem (default :func:`default_name`).
    :param log: receives one line per round and per check.
    :param teacher: controller to imitate (default :func:`make_teacher`); it is called as
        ``act(observation, in_flight)`` on observations ``config.history`` periods old.
    :return: the written model and its final scores.
    """
    torch.set_num_threads(1)  # the machines are shared: one core for training
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    teacher = make_teacher(task, config.history) if teacher is None else teacher
    lower, upper = np.asarray(task.command_lower), np.asarray(task.command_upper)
    offset, scale = (upper + lower) / 2.0, (upper - lower) / 2.0
    action_dim, history = task.action_dim, config.history
    # The plan of a chunk model's arbiter is rows of an earlier chunk, not a held command.
    use_plan = config.horizon == 1
    sim = Simulator(task)
    model: MlpPolicy | None = None
    normaliser: Normaliser | None = None
    episodes: list = []
    inputs = targets = np.zeros((0, 0), np.float32)
    loss = float('nan')
    for round_index in range(config.rounds + 1):
        student = None
        if model is not None and normaliser is not None:
            student = _student(NumpyMlp(model), normaliser, action_dim)

        beta = config.beta_decay ** round_index
        recorder = Recorder(teacher, student, history, action_dim, beta,
                            config.explore_std * scale, lower, upper, rng)
        returns, successes = [], []
        for k in range(config.episodes):
            seed = TRAIN_SEED_BASE + config.seed * 10_000 + round_index * 100 + k
            episode_return, success = episode(sim, recorder, seed=seed, obs_delay_steps=history)
            returns.append(float(episode_return))
            successes.append(bool(success))
        episodes += [e for e in recorder.episodes if e[0]]
        if config.goal_relabels and config.horizon == 1 and sim.codec.goal_obs.size:
            episodes += relabel_goals(recorder.episodes, teacher, sim, config.goal_relabels,
                                      rng)
        if normaliser is None:
            observations = np.concatenate([np.asarray(e[0]) for e in episodes])
            std = observations.std(axis=0)
            normaliser = Normaliser(observations.mean(axis=0), np.where(std > 1e-6, std, 1.0),
                                    offset, scale, history, plan=use_plan)
            model = make_mlp(config.size, task.obs_dim + history * action_dim,
                             config.horizon * action_dim)
        inputs, targets = episode_arrays(episodes, normaliser, config.horizon, action_dim)
        learning_rate = max(config.learning_rate * 0.8 ** round_index, 1e-4)
        loss = _fit(model, inputs, targets, config.epochs, config.batch_size, learning_rate,
                    generator)
        who = 'expert + noise' if round_index == 0 else f'policy, expert on {beta:.0%} of steps'
        log(f'round {round_index}/{config.rounds} ({who}): {len(inputs)} samples, '
            f'loss {loss:.5f}, rollout success {np.mean(successes):.0%}, mean return '
            f'{np.mean(returns):.1f}')
    assert model is not None and normaliser is not None
    if config.final_epochs:
        loss = _fit(model, inputs, targets, config.final_epochs, config.batch_size,
                    learning_rate, generator, final_ratio=0.01)
        log(f'final fit: {config.final_epochs} epochs on {len(inputs)} samples, loss {loss:.5f}')
    metadata = ModelMetadata(
        task=task.name, obs_dim=task.obs_dim, action_dim=action_dim,
        control_period_s=task.control_period_s, obs_mean=normaliser.obs_mean,
        obs_std=normaliser.obs_std, action_offset=offset, action_scale=scale,
        action_low=lower, action_high=upper, chunk_horizon=config.horizon,
        chunk_step_s=task.control_period_s if config.horizon > 1 else float('inf'),
        history=history, delay_s=history * task.control_period_s, size=config.size,
        parameters=count_parameters(model),
        in_flight=IN_FLIGHT_PLAN if use_plan else IN_FLIGHT_EXACT,
        training={'method': 'behaviour cloning + DAgger', 'teacher': type(teacher).__name__,
                  'samples': int(len(inputs)), 'final_loss': loss,
                  'train_seed_base': TRAIN_SEED_BASE, **asdict(replace(config))})
    path = export_onnx(model, metadata, Path(out_dir) / f'{name or default_name(task, config)}'
                       '.onnx')
    policy = OnnxPolicy(path, task=task)
    check_export(model, path, inputs[:: max(1, len(inputs) // 512)])
    success_rate = mean_return = float('nan')
    if config.eval_episodes:
        returns, successes = run_episodes(task, PolicyController(policy, history),
                                          range(config.eval_episodes), history)
        success_rate, mean_return = float(np.mean(successes)), float(np.mean(returns))
        log(f'exported {path}: success {success_rate:.0%} over {config.eval_episodes} '
            f'evaluation episodes (seeds 0..{config.eval_episodes - 1}, delay '
            f'{history} periods), mean return {mean_return:.1f}')
    return TrainResult(path, metadata, success_rate, mean_return)


def check_export(model: torch.nn.Module, path: Path, inputs: np.ndarray,
                 tolerance: float = 1e-5) -> float:
    """Check that the ONNX file computes what the torch network computes.

    :param model: the torch network.
    :param path: its exported ``.onnx``.
    :param inputs: network inputs ``(B, input_dim)`` float32.
    :return: the largest absolute difference.
    :raises RuntimeError: the difference exceeds ``tolerance``.
    """
    import onnxruntime as ort

    from rt_async_control.policy.onnx_policy import session_options

    session = ort.InferenceSession(str(path), sess_options=session_options(),
                                   providers=['CPUExecutionProvider'])
    inputs = np.ascontiguousarray(inputs, np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(inputs)).numpy()
    got = session.run(None, {session.get_inputs()[0].name: inputs})[0]
    error = float(np.max(np.abs(got - expected))) if len(inputs) else 0.0
    if error > tolerance:
        raise RuntimeError(f'{path}: ONNX output differs from torch by {error:.3g} '
                           f'(> {tolerance:g})')
    return error
