"""The virtual-time executor: the whole stack on a discrete-event clock, deterministic.

It drives the same roles the real-time hosts drive (:class:`SimRole`, :class:`WorkerRole`,
:class:`ArbiterRole`, hence the same core schedule, arbiter and statistics, the same MuJoCo
simulator and the same ONNX policies); only the clock differs. Time jumps from one event to
the next, so a run takes as long as its policy calls and physics steps, not as long as its
simulated inference times.

Events, on an integer nanosecond clock (so that ``0.03 + 0.1`` and ``13 * 0.01`` are the same
instant), and in this order when they fall on the same instant:

1. *state*: physics advances to the instant (holding the last command) and the simulator
   publishes its state, every ``state_period_s``;
2. *completion*: a worker's chunk arrives at ``started + inference_time``; the arbiter role
   offers it to the arbiter and reports it to the schedule, whose answer is the worker's next
   start (other waiting workers' starts are read again: a report may move them);
3. *tick*: the arbiter decides the command every ``control_period_s`` and the simulator holds
   it from the instant on;
4. *start*: a worker whose scheduled start has come reads the freshest state and runs the
   policy. The policy is called here, and its wall time does not count: the inference time is
   the one drawn by the worker role (emulation) or resampled from a measured table.

So the world keeps moving while a worker thinks; a chunk finishing exactly at a tick is used
at that tick; a worker starting at a tick sees the state measured at that instant and, if it
is delay-aware, the arbiter's plan for the coming ticks (the "commands in flight").
"""

from __future__ import annotations

from dataclasses import dataclass, field
import heapq
import math

import numpy as np

from rt_async_control.core.config import StackConfig
from rt_async_control.core.messages import ActionChunk, StampedState
from rt_async_control.errors import InputError
from rt_async_control.roles.arbiter_role import ArbiterRole
from rt_async_control.roles.sim_role import SimRole
from rt_async_control.roles.worker_role import Emulation, Policy, WorkerRole
from rt_async_control.sim.simulator import Simulator
from rt_async_control.virtual.inference_times import InferenceTimes
from rt_async_control.virtual.modes import episode_inferences, plan_mode

NS = 1_000_000_000
# A drawn time of 0 s (a normal distribution clipped at 0) still finishes after its start,
# or an unstaggered worker would restart forever at one instant.
MIN_INFERENCE_NS = 1_000
# Worker i of the run with seed s draws its times from seed SEED_STRIDE * s + i: runs with
# neighbouring seeds do not share a worker's sequence.
SEED_STRIDE = 100_003
STATE, DONE, TICK, START = 0, 1, 2, 3


def to_ns(t: float) -> int:
    """Return ``t`` seconds as integer nanoseconds (the executor's clock)."""
    return int(round(t * NS))


@dataclass(frozen=True)
class TickRecord:
    """One arbiter tick, kept when a run records its ticks (tests, cross-checks).

    :param time: tick time, seconds.
    :param worker_id: the worker whose chunk acted, -1 on inaction.
    :param action_age: the action's age, seconds (``nan`` on inaction).
    :param fallback: the default behaviour that acted, or ``None``.
    :param fresh: whether the action was not applied at an earlier tick.
    :param command: the command applied.
    """

    time: float
    worker_id: int
    action_age: float
    fallback: str | None
    fresh: bool
    command: np.ndarray


@dataclass(frozen=True)
class RunResult:
    """What one virtual run measured.

    Inaction is the paper's: a tick without a *fresh* action (one not applied at an earlier
    tick), as :class:`ArbiterRole` counts it; a held action and the default behaviour both
    count. ``fallback`` ticks are the subset where the default behaviour acted.

    :param task_return: mean return of the finished episodes (the running one if none).
    :param success: fraction of episodes that met the task's success criterion.
    :param ticks: arbiter ticks.
    :param fresh_ticks: ticks that applied a fresh action.
    :param fallback_ticks: ticks where the default behaviour acted.
    :param startup_ticks: ticks before the first fresh action.
    :param action_age_mean_s: mean age of the actions used, seconds.
    :param action_age_p50_s: median age, seconds.
    :param action_age_max_s: largest age, seconds.
    :param inferences: policy calls.
    :param rejected: chunks the arbiter refused (too old, ...).
    :param summary: :meth:`ArbiterRole.summary` (tick statistics, counters, schedule).
    :param records: every tick when recording was asked for, else empty.
    """

    task_return: float
    success: float
    ticks: int
    fresh_ticks: int
    fallback_ticks: int
    startup_ticks: int
    action_age_mean_s: float
    action_age_p50_s: float
    action_age_max_s: float
    inferences: int
    rejected: int
    summary: dict[str, object] = field(repr=False)
    records: tuple[TickRecord, ...] = field(default=(), repr=False)

    @property
    def inaction_fraction(self) -> float:
        """Return the fraction of ticks after start-up without a fresh action."""
        after = self.ticks - self.startup_ticks
        return 1.0 - self.fresh_ticks / after if after > 0 else math.nan

    @property
    def fallback_fraction(self) -> float:
        """Return the fraction of ticks after start-up where the default behaviour acted."""
        after = self.ticks - self.startup_ticks
        return (self.fallback_ticks - self.startup_ticks) / after if after > 0 else math.nan


class VirtualExecutor:
    """Run the stack of one config in virtual time.

    :param config: the stack config (task, periods, workers, arbiter, schedule).
    :param policy: the policy every worker runs (called sequentially, so one is shared).
    :param inference_times: where each inference time comes from (drawn per worker, seeded
        from the run's seed and the worker); ``None`` takes ``config.inference``'s emulation.
    :param simulator: a simulator of ``config.task`` to reuse (it is reset per run).
    :param history: in-flight commands the policy takes; ``None`` reads the policy metadata.
    :param chunk_step_s: seconds between chunk rows; ``None`` reads the policy metadata.
    """

    def __init__(self, config: StackConfig, policy: Policy,
                 inference_times: InferenceTimes | None = None,
                 simulator: Simulator | None = None, history: int | None = None,
                 chunk_step_s: float | None = None) -> None:
        """Keep the parts; every run builds fresh roles from them."""
        self.config = config
        self.policy = policy
        times = Emulation.from_config(config.inference) if inference_times is None else (
            inference_times)
        if not times.active:
            raise InputError('inference times: virtual time needs a distribution or a table '
                             '(emulate_distribution is none)')
        self.inference_times = times
        self.simulator = simulator or Simulator(config.task, seed=config.sim.seed)
        metadata = getattr(policy, 'metadata', None)
        self.history = int(getattr(metadata, 'history', 0) if history is None else history)
        self.chunk_step_s = float(getattr(metadata, 'chunk_step_s', math.inf)
                                  if chunk_step_s is None else chunk_step_s)
        # num_workers 0 means auto, as on the real hosts: the N its schedule is planned with
        # (a schedule of its own, none, plans as async).
        mode = config.schedule.mode if config.schedule.mode in ('max_time', 'exp_time') else (
            'async')
        self.num_workers = int(config.num_workers) or plan_mode(
            mode, times, config.control_period_s, episode_inferences(config.task),
            config.schedule.exp_margin_std).num_workers

    def run(self, duration_s: float | None = None, seed: int | None = None,
            record: bool = False) -> RunResult:
        """Run from a fresh episode for ``duration_s`` of virtual time.

        :param duration_s: virtual seconds; ``None`` runs one episode of the task.
        :param seed: episode seed and base seed of the inference times; ``None`` uses
            ``config.sim.seed``.
        :param record: keep every tick in :attr:`RunResult.records`.
        :return: the run's figures.
        """
        config = self.config
        seed = int(config.sim.seed if seed is None else seed)
        sim = self.simulator
        sim.reset(seed)
        spec = sim.spec
        duration = spec.episode_s if duration_s is None else float(duration_s)
        sim_role = SimRole(sim, config.state_period_s, reset_episodes=True)
        arbiter = ArbiterRole.for_task(config, self.num_workers, spec)
        workers = [WorkerRole(i, self.policy, self.inference_times, seed=SEED_STRIDE * seed,
                              chunk_step_s=self.chunk_step_s, history=self.history)
                   for i in range(self.num_workers)]
        run = _Run(config, sim_role, arbiter, workers, duration, record)
        return run.execute()


class _Run:
    """The event loop of one run (see the module docstring for the order of events)."""

    def __init__(self, config: StackConfig, sim_role: SimRole, arbiter: ArbiterRole,
                 workers: list[WorkerRole], duration: float, record: bool) -> None:
        self.sim_role = sim_role
        self.arbiter = arbiter
        self.workers = workers
        self.end = to_ns(duration)
        self.state_step = to_ns(config.state_period_s)
        self.tick_step = to_ns(config.control_period_s)
        self.record = record
        self.records: list[TickRecord] = []
        self.events: list[tuple[int, int, int, int]] = []   # (ns, kind, worker, serial)
        self.pending = [-1] * len(workers)                  # scheduled start ns, -1 if busy
        self.in_flight: dict[int, ActionChunk] = {}
        self.state: StampedState | None = None
        self.serial = 0
        self.startup_ticks = 0

    def push(self, ns: int, kind: int, worker: int = -1) -> None:
        self.serial += 1
        heapq.heappush(self.events, (ns, kind, worker, self.serial))

    def execute(self) -> RunResult:
        self.state = self.sim_role.start(0.0)
        self.arbiter.start(0.0)
        self.push(self.state_step, STATE)
        self.push(0, TICK)
        for i in range(len(self.workers)):
            self.reschedule(i)
        while self.events and self.events[0][0] < self.end:
            ns, kind, worker, _ = heapq.heappop(self.events)
            now = ns / NS
            if kind == STATE:
                self.on_state(ns, now)
            elif kind == DONE:
                self.on_done(worker, now)
            elif kind == TICK:
                self.on_tick(ns, now)
            elif self.pending[worker] == ns:
                self.on_start(worker, ns, now)
        self.sim_role.advance(self.end / NS)
        return self.result()

    def reschedule(self, worker: int) -> None:
        # Idle worker: (re)read its start; an earlier event for it becomes stale.
        ns = to_ns(self.arbiter.worker_next_start(worker))
        if ns != self.pending[worker]:
            self.pending[worker] = ns
            self.push(ns, START, worker)

    def on_state(self, ns: int, now: float) -> None:
        # The simulator's own deadline is a float sum; within a microsecond it is this event.
        due = self.sim_role.next_state_due()
        state = self.sim_role.advance(max(now, due) if due - now < 1e-6 else now)
        if state is not None:
            self.state = state
        self.push(ns + self.state_step, STATE)

    def on_done(self, worker: int, now: float) -> None:
        chunk = self.in_flight.pop(worker)
        self.arbiter.on_action(chunk, now)
        # A report may move any waiting worker's start; the finished one is idle again too.
        self.pending[worker] = -2
        for i in range(len(self.workers)):
            if i not in self.in_flight:
                self.reschedule(i)

    def on_tick(self, ns: int, now: float) -> None:
        decision = self.arbiter.tick(now)
        self.sim_role.apply(decision.command, now)
        if self.arbiter.fresh_ticks == 0:
            self.startup_ticks += 1
        if self.record:
            self.records.append(TickRecord(now, decision.worker_id, decision.action_age,
                                           decision.fallback, self.arbiter.fresh,
                                           decision.command.copy()))
        self.push(ns + self.tick_step, TICK)

    def on_start(self, worker: int, ns: int, now: float) -> None:
        role = self.workers[worker]
        in_flight = self.arbiter.planned(now, role.history) if role.history else None
        result = role.infer(self.state, now, lambda: now, in_flight)
        self.in_flight[worker] = result.chunk
        self.pending[worker] = -1
        self.push(ns + max(MIN_INFERENCE_NS, to_ns(result.chunk.inference_time)), DONE, worker)

    def result(self) -> RunResult:
        summary = self.arbiter.summary()
        stats = self.arbiter.stats
        sim = self.sim_role.summary()
        age = stats.action_age
        counters = self.arbiter.arbiter.counters()
        rejected = sum(v for k, v in counters.items() if k.startswith('rejected_'))
        return RunResult(
            task_return=float(sim['task_return']), success=float(sim['task_success']),
            ticks=stats.ticks, fresh_ticks=self.arbiter.fresh_ticks,
            fallback_ticks=stats.inaction_ticks, startup_ticks=self.startup_ticks,
            action_age_mean_s=age.mean, action_age_p50_s=age.percentile(50),
            action_age_max_s=age.max if age.count else math.nan,
            inferences=sum(w.calls for w in self.workers), rejected=rejected,
            summary=summary, records=tuple(self.records))
