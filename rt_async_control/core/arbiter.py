"""Pick the command for each control tick from the workers' action chunks.

The freshest valid action is the one computed from the newest *observation* (never the one
that arrived last). A chunk is checked for shape and finite values once, when it arrives
(:meth:`Arbiter.offer`); every tick then compares only times (:func:`select`), copies one row,
and applies the ramp-in, the rate limit and the actuator limits. With nothing valid the
default behaviour acts (``hold``, ``zero`` or ``default``) and the decision says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
import math

import numpy as np

from rt_async_control.core.config import ArbiterConfig
from rt_async_control.core.messages import ActionChunk, chunk_problem, row_index
from rt_async_control.core.parameters import default_of
from rt_async_control.errors import InputError

# Why offer() refused a chunk.
REJECT_REASONS = ('shape', 'non_finite', 'too_old', 'exhausted', 'future', 'discarded',
                  'out_of_order')
# Why a stored chunk was dropped later.
EXPIRE_REASONS = ('too_old', 'exhausted', 'future', 'discarded', 'clock_jump')
DEFAULT_FUTURE_TOLERANCE_S: float = default_of('arbiter', 'future_stamp_tolerance_s')


@dataclass(frozen=True, slots=True)
class Decision:
    """What the arbiter applies at one tick.

    :param command: the command, shape ``(action_dim,)``, ramped, rate limited and clipped;
        read-only (copy it to change it).
    :param worker_id: the worker whose chunk was used; -1 when the default behaviour acted.
    :param action_age: now minus the used chunk's observation stamp, seconds (``nan`` if none).
    :param fallback: ``None``, or the default behaviour that acted (``hold``/``zero``/
        ``default``): an inaction tick.
    :param row: the chunk row used (-1 if none).
    """

    command: np.ndarray
    worker_id: int
    action_age: float
    fallback: str | None
    row: int


def select(candidates: Iterable[ActionChunk], now: float, max_age: float,
           future_tolerance: float = DEFAULT_FUTURE_TOLERANCE_S,
           ) -> tuple[ActionChunk, int] | None:
    """Return the valid chunk with the newest observation stamp and its row for ``now``.

    Only times are compared: shape and finite values are checked on arrival
    (:func:`~.messages.chunk_problem`). A chunk is valid when its age ``now - stamp`` is at
    most ``max_age``, it is not exhausted (``now < stamp + H * step``) and its stamp is not
    more than ``future_tolerance`` ahead of ``now``. Equal stamps: the first one wins.

    :param candidates: chunks, each already checked with ``chunk_problem``.
    :param now: the tick time, seconds.
    :param max_age: the largest usable age, seconds.
    :param future_tolerance: how far ahead of ``now`` a stamp may be, seconds.
    :return: ``(chunk, row)`` or ``None`` when no candidate is valid.
    """
    best = None
    best_stamp = -math.inf
    oldest = now - max_age
    newest = now + future_tolerance
    for chunk in candidates:
        stamp = chunk.observation_stamp
        if stamp <= best_stamp or stamp < oldest or stamp > newest:
            continue
        if now >= stamp + len(chunk.actions) * chunk.step:
            continue
        best = chunk
        best_stamp = stamp
    if best is None:
        return None
    return best, row_index(best_stamp, best.step, len(best.actions), now)


def _limits(lower: np.ndarray, upper: np.ndarray, action_dim: int) -> tuple[np.ndarray, ...]:
    lo = np.array(lower, dtype=np.float64).reshape(-1)
    hi = np.array(upper, dtype=np.float64).reshape(-1)
    if lo.shape != (action_dim,) or hi.shape != (action_dim,):
        raise InputError(f'command limits have {lo.size}/{hi.size} entries, expected '
                         f'{action_dim}')
    if np.isnan(lo).any() or np.isnan(hi).any() or (lo > hi).any():
        raise InputError(f'command limits lower={lo.tolist()} upper={hi.tolist()}: need '
                         f'lower <= upper')
    return lo, hi


class Arbiter:
    """Holds the newest chunk of each worker and decides the command every tick.

    :param config: selection and output settings.
    :param action_dim: number of command entries.
    :param lower: lower actuator limits, shape ``(action_dim,)``.
    :param upper: upper actuator limits, shape ``(action_dim,)``.
    :param initial: the start-up command (held until the first action, start of the ramp);
        defaults to ``config.default_command``, else zeros; clipped to the limits.
    """

    def __init__(self, config: ArbiterConfig, action_dim: int, lower: np.ndarray,
                 upper: np.ndarray, initial: np.ndarray | None = None) -> None:
        if action_dim < 1:
            raise InputError(f'action_dim = {action_dim}: must be >= 1')
        self.action_dim = action_dim
        self._lower, self._upper = _limits(lower, upper, action_dim)
        self._zero = self._clip(np.zeros(action_dim))
        self.reconfigure(config)
        self._latest: dict[int, ActionChunk] = {}
        self.rejections = dict.fromkeys(REJECT_REASONS, 0)
        self.expirations = dict.fromkeys(EXPIRE_REASONS, 0)
        self.ticks = 0
        self.inaction_ticks = 0
        self.clock_jumps = 0
        self.reset(initial)

    def reconfigure(self, config: ArbiterConfig) -> None:
        """Apply new settings (a live parameter change); held chunks and command stay.

        :param config: the new settings.
        :raises InputError: ``default_command`` does not have ``action_dim`` entries; the
            old settings stay.
        """
        command = config.default_command
        if command and len(command) != self.action_dim:
            raise InputError(f'arbiter.default_command = {list(command)}: has {len(command)} '
                             f'entries, expected {self.action_dim}')
        self._default = (self._clip(np.array(command, dtype=np.float64)) if command
                         else self._zero)
        self.config = config

    def reset(self, initial: np.ndarray | None = None) -> None:
        """Forget every chunk and start again as at construction (counters are kept).

        :param initial: the new start-up command; see the class parameters.
        """
        if initial is None:
            start = self._default.copy()
        else:
            start = np.array(initial, dtype=np.float64).reshape(-1)
            if start.shape != (self.action_dim,) or not np.isfinite(start).all():
                raise InputError(f'initial command {start.tolist()}: expected '
                                 f'{self.action_dim} finite entries')
        self._last = self._clip(start)
        self._latest.clear()
        self._cutoff = -math.inf
        self._last_tick: float | None = None
        self._clock = -math.inf
        self._ramp_start: float | None = None
        self._ramp_from = self._last

    @property
    def last_command(self) -> np.ndarray:
        """Return a copy of the command of the last tick (the start-up command before)."""
        return self._last.copy()

    @property
    def candidates(self) -> tuple[ActionChunk, ...]:
        """Return the chunks held, one per worker."""
        return tuple(self._latest.values())

    def offer(self, chunk: ActionChunk, now: float) -> str | None:
        """Keep a worker's chunk if it is usable and newer than that worker's last one.

        :param chunk: the chunk that arrived.
        :param now: arrival time, seconds.
        :return: ``None`` if kept, else the reason (one of :data:`REJECT_REASONS`), counted
            in :attr:`rejections`.
        """
        self._see_clock(now)
        self._prune(now)
        reason = chunk_problem(chunk, self.action_dim)
        if reason is None:
            reason = self._time_problem(chunk.observation_stamp, chunk.end, now)
        if reason is None:
            current = self._latest.get(chunk.worker_id)
            if current is not None and chunk.observation_stamp <= current.observation_stamp:
                reason = 'out_of_order'
        if reason is not None:
            self.rejections[reason] += 1
            return reason
        actions = chunk.actions
        if actions.flags.writeable:
            # Checked once, used for many ticks: keep a private read-only copy, so a host that
            # reuses its receive buffer cannot slip unchecked values in later.
            actions = actions.copy()
            actions.flags.writeable = False
            chunk = ActionChunk(chunk.observation_stamp, chunk.worker_id, chunk.inference_time,
                                actions, chunk.step, chunk.started)
        self._latest[chunk.worker_id] = chunk
        return None

    def tick(self, now: float) -> Decision:
        """Decide the command for the tick at ``now``.

        :param now: the tick time, seconds.
        :return: the decision; ``fallback`` is set on an inaction tick.
        """
        self._see_clock(now)
        config = self.config
        picked = select(self._latest.values(), now, config.max_action_age_s,
                        config.future_stamp_tolerance_s)
        self.ticks += 1
        if picked is None:
            if self._latest:
                self._prune(now)
            self.inaction_ticks += 1
            fallback = config.default_behaviour
            target = self._fallback_target()
            worker, age, row = -1, math.nan, -1
        else:
            chunk, row = picked
            fallback = None
            target = chunk.actions[row]
            worker, age = chunk.worker_id, now - chunk.observation_stamp
            if config.ramp_in_s > 0.0:
                target = self._ramp(target, now)
        command = self._output(target, now)
        self._last = command
        self._last_tick = now
        return Decision(command, worker, age, fallback, row)

    def discard_before(self, stamp: float) -> None:
        """Drop every chunk computed from a state measured before ``stamp``, now and later.

        For a simulator reset or a jump of time: actions of the old episode must not act.

        :param stamp: the first observation stamp that counts, seconds.
        """
        self._cutoff = stamp
        for worker, chunk in list(self._latest.items()):
            if chunk.observation_stamp < stamp:
                del self._latest[worker]
                self.expirations['discarded'] += 1

    def planned(self, now: float, steps: int, step_s: float) -> np.ndarray:
        """Return the commands expected at ``now + i * step_s`` for ``i < steps``.

        These are the "commands in flight" for a delay-aware policy: rows of the freshest
        valid chunk at ``now`` (its last row held beyond its end, so ``H == 1`` holds its only
        row), or the default behaviour's command when there is none; clipped, without ramp or
        rate limit.

        :param now: the start time, seconds.
        :param steps: number of commands.
        :param step_s: seconds between them.
        :return: array of shape ``(steps, action_dim)``.
        """
        picked = select(self._latest.values(), now, self.config.max_action_age_s,
                        self.config.future_stamp_tolerance_s)
        if picked is None:
            return np.tile(self._fallback_target(), (steps, 1))
        chunk = picked[0]
        horizon = len(chunk.actions)
        if horizon == 1:
            rows = np.zeros(steps, dtype=np.intp)
        else:
            elapsed = now + step_s * np.arange(steps) - chunk.observation_stamp
            rows = np.clip(np.floor(elapsed / chunk.step), 0, horizon - 1).astype(np.intp)
        return np.minimum(np.maximum(chunk.actions[rows], self._lower), self._upper)

    def counters(self) -> dict[str, int]:
        """Return every counter by name, for diagnostics.

        :return: ``ticks``, ``inaction_ticks``, ``clock_jumps``, ``rejected_<reason>``,
            ``expired_<reason>``.
        """
        out = {'ticks': self.ticks, 'inaction_ticks': self.inaction_ticks,
               'clock_jumps': self.clock_jumps}
        out.update({f'rejected_{k}': v for k, v in self.rejections.items()})
        out.update({f'expired_{k}': v for k, v in self.expirations.items()})
        return out

    # -- internals ------------------------------------------------------------------------

    def _time_problem(self, stamp: float, end: float, now: float) -> str | None:
        config = self.config
        if stamp < self._cutoff:
            return 'discarded'
        if stamp > now + config.future_stamp_tolerance_s:
            return 'future'
        if now - stamp > config.max_action_age_s:
            return 'too_old'
        if now >= end:
            return 'exhausted'
        return None

    def _prune(self, now: float) -> None:
        # Invalid chunks stay invalid as time moves on (a clock jump clears everything), so
        # they are dropped and counted once.
        dead = [(worker, reason) for worker, chunk in self._latest.items()
                if (reason := self._time_problem(chunk.observation_stamp, chunk.end, now))]
        for worker, reason in dead:
            del self._latest[worker]
            self.expirations[reason] += 1

    def _see_clock(self, now: float) -> None:
        # Time running backwards beyond the tolerance is a clock jump (e.g. sim time reset):
        # every held chunk belongs to the old timeline.
        if now < self._clock - self.config.future_stamp_tolerance_s:
            self.clock_jumps += 1
            self.expirations['clock_jump'] += len(self._latest)
            self._latest.clear()
            self._cutoff = -math.inf
            self._last_tick = None
        self._clock = now

    def _fallback_target(self) -> np.ndarray:
        behaviour = self.config.default_behaviour
        if behaviour == 'hold':
            return self._last
        return self._zero if behaviour == 'zero' else self._default

    def _ramp(self, target: np.ndarray, now: float) -> np.ndarray:
        if self._ramp_start is None:
            self._ramp_start = now
            self._ramp_from = self._last
        alpha = (now - self._ramp_start) / self.config.ramp_in_s
        if alpha >= 1.0:
            return target
        return self._ramp_from + max(alpha, 0.0) * (target - self._ramp_from)

    def _output(self, target: np.ndarray, now: float) -> np.ndarray:
        rate = self.config.rate_limit_per_s
        if rate > 0.0:
            # The first tick (and the first after a clock jump) may not move the command.
            dt = 0.0 if self._last_tick is None else max(now - self._last_tick, 0.0)
            limit = rate * dt
            last = self._last
            out = np.subtract(target, last)
            np.minimum(out, limit, out=out)
            np.maximum(out, -limit, out=out)
            out += last
        else:
            out = np.array(target, dtype=np.float64)
        np.maximum(out, self._lower, out=out)
        np.minimum(out, self._upper, out=out)
        # Read-only: the same array is the held command, so a caller cannot change it.
        out.flags.writeable = False
        return out

    def _clip(self, command: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(command, self._lower), self._upper)
