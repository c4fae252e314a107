"""Fixed layouts of the embedded runtime's channel records, and their conversions.

Every channel carries one flat float64 vector (see :mod:`.channels`); this module is the one
place that knows where each field lives. A channel's own stamp is the *publish* time of the
record, so a reader measures transport latency as its receive time minus that stamp.

Topics of a run (``Layout`` sizes them from the task, the model and the number of workers):

``control``   launcher -> all: ``[t0, stop, num_workers]``
``state``     sim -> workers, recorder: ``[stamp, seq, position, velocity, effort, observation]``
``action_i``  worker i -> arbiter, recorder: ``[observation_stamp, worker_id, inference_time,
              started, step, rows, cols, real, emulated, actions (H_max * action_dim)]``
``command``   arbiter -> sim, recorder: ``[tick, worker_id, action_age, fallback, command]``
``schedule``  arbiter -> workers: ``[anchor, cycle, reports_0.., next_start_0.., offset_0..]``
``plan``      arbiter -> workers: ``[time, count, commands (history * action_dim)]``
``status``    arbiter -> launcher: the live status line's figures (:data:`STATUS_FIELDS`)
``episode``   sim -> arbiter: ``[episode, start]``, written at each reset (a new episode):
              its index and the host time it began; chunks from older states must not act
``exits``     launcher -> arbiter: ``[exits_0..]``, how often each worker's process exited;
              the arbiter takes a worker out of the schedule at once instead of after silence
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from rt_async_control.core.messages import ActionChunk, StampedState

CONTROL_SIZE = 3
STATE_HEAD = 2
ACTION_HEAD = 9
COMMAND_HEAD = 4
PLAN_HEAD = 2
EPISODE_SIZE = 2
FALLBACKS: tuple[str | None, ...] = (None, 'hold', 'zero', 'default')
STATUS_FIELDS: tuple[str, ...] = ('elapsed', 'ticks', 'rate_hz', 'inaction_pct', 'age_ms',
                                  'missed')
WORKER_STATUS_FIELDS: tuple[str, ...] = ('last_seen_s', 'inference_p50_ms',
                                         'inference_p99_ms', 'rejected', 'actions')


@dataclass(frozen=True)
class Layout:
    """Sizes of every record of one run; pickled to each child process.

    :param joint_names: joints of the state, in order.
    :param obs_dim: observation length.
    :param action_dim: command length.
    :param horizon: rows of an action chunk (H).
    :param history: in-flight commands a delay-aware policy takes (0 = none).
    :param num_workers: inference workers.
    """

    joint_names: tuple[str, ...]
    obs_dim: int
    action_dim: int
    horizon: int
    history: int
    num_workers: int

    @property
    def n_joints(self) -> int:
        """Return the number of joints in a state."""
        return len(self.joint_names)

    def sizes(self) -> dict[str, int]:
        """Return topic -> record length for every channel of the run."""
        n = self.num_workers
        sizes = {
            'control': CONTROL_SIZE,
            'state': STATE_HEAD + 3 * self.n_joints + self.obs_dim,
            'command': COMMAND_HEAD + self.action_dim,
            'schedule': 2 + 3 * n,
            'plan': PLAN_HEAD + max(1, self.history) * self.action_dim,
            'status': len(STATUS_FIELDS) + len(WORKER_STATUS_FIELDS) * n,
            'episode': EPISODE_SIZE,
            'exits': n,
        }
        for i in range(n):
            sizes[f'action_{i}'] = ACTION_HEAD + self.horizon * self.action_dim
        return sizes

    # -- state ---------------------------------------------------------------------------
    def pack_state(self, state: StampedState) -> np.ndarray:
        """Return the record of a state."""
        return np.concatenate(((state.stamp, state.seq), state.position, state.velocity,
                               state.effort, state.observation))

    def unpack_state(self, values: np.ndarray) -> StampedState:
        """Return the state of a record."""
        n = self.n_joints
        body = values[STATE_HEAD:]
        return StampedState(stamp=float(values[0]), seq=int(values[1]),
                            joint_names=self.joint_names, position=body[:n],
                            velocity=body[n:2 * n], effort=body[2 * n:3 * n],
                            observation=body[3 * n:])

    # -- action --------------------------------------------------------------------------
    def pack_action(self, chunk: ActionChunk, real: float, emulated: float) -> np.ndarray:
        """Return the record of a chunk; the real and emulated parts travel along.

        A chunk of the wrong width still travels (with its own column count, rows cut to
        fit), so the arbiter sees it and rejects it as ``shape`` rather than the worker dying.
        """
        capacity = self.horizon * self.action_dim
        record = np.zeros(ACTION_HEAD + capacity)
        actions = np.atleast_2d(np.asarray(chunk.actions, dtype=np.float64))
        cols = max(1, actions.shape[1])
        rows = max(0, min(actions.shape[0], capacity // cols))
        record[:ACTION_HEAD] = (chunk.observation_stamp, chunk.worker_id, chunk.inference_time,
                                chunk.started, chunk.step, rows, cols, real, emulated)
        record[ACTION_HEAD:ACTION_HEAD + rows * cols] = actions[:rows].reshape(-1)
        return record

    def unpack_action(self, values: np.ndarray) -> tuple[ActionChunk, float, float]:
        """Return ``(chunk, real, emulated)`` of a record."""
        capacity = self.horizon * self.action_dim
        cols = max(1, min(int(values[6]), capacity))
        rows = max(0, min(int(values[5]), capacity // cols))
        actions = values[ACTION_HEAD:ACTION_HEAD + rows * cols].reshape(rows, cols)
        chunk = ActionChunk(observation_stamp=float(values[0]), worker_id=int(values[1]),
                            inference_time=float(values[2]), actions=actions,
                            step=float(values[4]), started=float(values[3]))
        return chunk, float(values[7]), float(values[8])

    # -- command -------------------------------------------------------------------------
    def pack_command(self, tick: float, command: np.ndarray, worker_id: int,
                     action_age: float, fallback: str | None) -> np.ndarray:
        """Return the record of one arbiter output."""
        code = FALLBACKS.index(fallback) if fallback in FALLBACKS else len(FALLBACKS)
        return np.concatenate(((tick, worker_id, action_age, code), command))

    @staticmethod
    def command_of(values: np.ndarray) -> np.ndarray:
        """Return the command entries of a command record."""
        return values[COMMAND_HEAD:]

    # -- schedule ------------------------------------------------------------------------
    def pack_schedule(self, anchor: float, cycle: float, reports: list[int],
                      next_starts: list[float], offsets: tuple[float, ...]) -> np.ndarray:
        """Return the schedule record the workers read their next start from."""
        return np.concatenate(((anchor, cycle), reports, next_starts, offsets))

    def unpack_schedule(self, values: np.ndarray) -> ScheduleView:
        """Return the schedule record as a :class:`ScheduleView`."""
        n = self.num_workers
        return ScheduleView(anchor=float(values[0]), cycle=float(values[1]),
                            reports=tuple(int(x) for x in values[2:2 + n]),
                            next_starts=tuple(float(x) for x in values[2 + n:2 + 2 * n]),
                            offsets=tuple(float(x) for x in values[2 + 2 * n:2 + 3 * n]))

    # -- episode (simulator resets) ------------------------------------------------------
    @staticmethod
    def pack_episode(episode: int, start: float) -> np.ndarray:
        """Return the record of a new episode: its index and the host time it began."""
        return np.array([float(episode), float(start)])

    @staticmethod
    def unpack_episode(values: np.ndarray) -> tuple[int, float]:
        """Return ``(episode, start)`` of an episode record."""
        return int(values[0]), float(values[1])

    # -- plan (commands in flight, for delay-aware policies) -----------------------------
    def pack_plan(self, time: float, commands: np.ndarray) -> np.ndarray:
        """Return the record of the arbiter's planned commands (oldest first)."""
        record = np.zeros(PLAN_HEAD + max(1, self.history) * self.action_dim)
        commands = np.asarray(commands, np.float64).reshape(-1, self.action_dim)
        count = min(len(commands), max(1, self.history))
        record[:PLAN_HEAD] = (time, count)
        if count:
            record[PLAN_HEAD:PLAN_HEAD + count * self.action_dim] = commands[-count:].reshape(-1)
        return record

    def unpack_plan(self, values: np.ndarray) -> np.ndarray:
        """Return the planned commands of a plan record, ``(count, action_dim)``."""
        count = int(values[1])
        return values[PLAN_HEAD:PLAN_HEAD + count * self.action_dim].reshape(count,
                                                                             self.action_dim)


@dataclass(frozen=True)
class ScheduleView:
    """What a worker sees of the arbiter's schedule.

    :param anchor: the grid anchor (the common start time).
    :param cycle: the current cycle length, seconds.
    :param reports: per worker, how many of its inferences the schedule has consumed.
    :param next_starts: per worker, its next start (host clock).
    :param offsets: per worker, its phase within the cycle.
    """

    anchor: float
    cycle: float
    reports: tuple[int, ...]
    next_starts: tuple[float, ...]
    offsets: tuple[float, ...]


def fallback_name(code: float) -> str | None:
    """Return the fallback name stored in a command record (``None`` for a policy action)."""
    index = int(code) if math.isfinite(code) else len(FALLBACKS)
    return FALLBACKS[index] if 0 <= index < len(FALLBACKS) else 'unknown'
