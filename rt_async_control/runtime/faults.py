"""Fault injection for the embedded runtime: a written plan, a faulty policy, process signals.

A :class:`FaultPlan` is parsed from one string (``--faults`` / ``RunOptions.faults``)::

    PLAN  := ITEM (',' ITEM)*
    ITEM  := KIND [':' WORKER] '@' WHEN

    policy faults (WHEN counts the worker's scheduled calls, 1-based; warm-up calls do not
    count): ``K`` = the K-th call only, ``%K`` = every K-th call (K, 2K, 3K, ...); or in
    seconds after the worker's first scheduled call (the run's start within one cycle; a
    restarted worker counts from its restart): ``Ss`` = the first call at or after S,
    ``S-Es`` = every call in [S, E)
      nan        every command entry NaN
      inf        every command entry +inf
      shape      one command entry too many (a wrong-shaped chunk)
      spikeF     the call takes F times the base inference time (F > 1, e.g. spike20)
    without ``:WORKER`` a policy fault applies to every worker.

    process faults (WHEN in seconds after the common start; ``:WORKER`` required):
      kill:W@S       SIGKILL worker W at S
      kill:W@S-E     ... and restart it at E (needs the launcher's restart hook)
      stop:W@S-E     SIGSTOP worker W at S, SIGCONT at E (``stop:W@S`` = until the end)

Example: ``nan@3,spike20:0@5,kill:1@2.0,stop:0@1.0-1.5``; timed: ``nan:1@30-32s,spike20:2@60s``.

The runtime applies a plan in two places: the worker process wraps its policy with
:func:`wrap_policy` (policy faults), and the launcher (or a test, through the ``status``
object :func:`~.launcher.launch` updates) calls :meth:`ProcessFaultInjector.poll` with the
elapsed run time (process faults). Nothing here is needed for a normal run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
import math
import multiprocessing
import os
import re
import signal
import time
from typing import Any

import numpy as np

from rt_async_control.errors import InputError

POLICY_KINDS = ('nan', 'inf', 'shape', 'spike')
PROCESS_KINDS = ('kill', 'stop')
_ITEM_RE = re.compile(r'^(?P<kind>[a-z]+)(?P<factor>[0-9.]*)(?::(?P<worker>\d+))?'
                      r'@(?P<when>.+)$')


@dataclass(frozen=True)
class PolicyFault:
    """A fault in what a worker's policy returns (or how long it takes).

    :param kind: one of :data:`POLICY_KINDS`.
    :param call: the call number (1-based), or the period when ``every``; 0 when timed.
    :param every: every ``call``-th call instead of that call only.
    :param worker: the worker it applies to; ``None`` = every worker.
    :param factor: inference time multiple of a ``spike`` (1 otherwise).
    :param at_s: timed: seconds after the worker's first call (``None``: counted by calls).
    :param until_s: timed: end of the window of faulty calls (``None``: one call).
    """

    kind: str
    call: int
    every: bool = False
    worker: int | None = None
    factor: float = 1.0
    at_s: float | None = None
    until_s: float | None = None

    def hits(self, worker: int, call: int, elapsed_s: float = math.nan) -> bool:
        """Return whether call ``call`` (1-based) of ``worker`` at ``elapsed_s`` is faulty.

        A timed fault without an end hits every call from ``at_s`` on; the caller
        (:class:`FaultyPolicy`) fires it once.
        """
        if self.worker is not None and worker != self.worker:
            return False
        if self.at_s is not None:
            return elapsed_s >= self.at_s and (self.until_s is None or elapsed_s < self.until_s)
        return call % self.call == 0 if self.every else call == self.call

    def __str__(self) -> str:
        """Return the item as written in a plan."""
        kind = f'spike{self.factor:g}' if self.kind == 'spike' else self.kind
        worker = '' if self.worker is None else f':{self.worker}'
        if self.at_s is not None:
            until = '' if self.until_s is None else f'-{self.until_s:g}'
            return f'{kind}{worker}@{self.at_s:g}{until}s'
        return f"{kind}{worker}@{'%' if self.every else ''}{self.call}"


@dataclass(frozen=True)
class ProcessFault:
    """A signal sent to a worker process at a run time.

    :param kind: ``'kill'`` (SIGKILL, optional restart at ``until_s``) or ``'stop'``
        (SIGSTOP, SIGCONT at ``until_s``).
    :param worker: the worker index.
    :param at_s: seconds after the common start.
    :param until_s: end of the fault (restart / continue), or ``None``.
    """

    kind: str
    worker: int
    at_s: float
    until_s: float | None = None

    def __str__(self) -> str:
        """Return the item as written in a plan."""
        until = '' if self.until_s is None else f'-{self.until_s:g}'
        return f'{self.kind}:{self.worker}@{self.at_s:g}{until}'


@dataclass(frozen=True)
class FaultPlan:
    """Every fault of one run.

    :param policy: policy faults.
    :param process: process faults, by start time.
    """

    policy: tuple[PolicyFault, ...] = ()
    process: tuple[ProcessFault, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> FaultPlan:
        """Parse a plan (see the module docstring); empty or ``None`` = no faults.

        :param text: the plan.
        :return: the plan.
        :raises InputError: an item that does not parse, named with the reason.
        """
        policy: list[PolicyFault] = []
        process: list[ProcessFault] = []
        for item in (s.strip() for s in (text or '').split(',')):
            if item:
                fault = _parse_item(item)
                (policy if isinstance(fault, PolicyFault) else process).append(fault)
        return cls(tuple(policy), tuple(sorted(process, key=lambda f: f.at_s)))

    def __str__(self) -> str:
        """Return the plan in its written form (parses back to an equal plan)."""
        return ','.join(str(f) for f in (*self.policy, *self.process))

    def __bool__(self) -> bool:
        """Return whether the plan has any fault."""
        return bool(self.policy or self.process)

    def for_worker(self, worker: int) -> tuple[PolicyFault, ...]:
        """Return the policy faults that can hit ``worker``."""
        return tuple(f for f in self.policy if f.worker is None or f.worker == worker)

    def check_workers(self, num_workers: int) -> None:
        """Raise :class:`InputError` when a fault names a worker the run does not have."""
        for fault in (*self.policy, *self.process):
            if fault.worker is not None and fault.worker >= num_workers:
                raise InputError(f'--faults: {fault} names worker {fault.worker}, the run has '
                                 f'{num_workers} (0..{num_workers - 1})')

    def windows(self, end_s: float = math.inf) -> list[tuple[float, float, str]]:
        """Return ``(start, end, item)`` of every process fault, in run seconds.

        A kill without restart and a stop without continue last until ``end_s``.
        """
        return [(f.at_s, end_s if f.until_s is None else f.until_s, str(f))
                for f in self.process]


def _parse_item(item: str) -> PolicyFault | ProcessFault:
    match = _ITEM_RE.match(item)
    if match is None:
        raise InputError(f'--faults: {item!r} is not KIND[:WORKER]@WHEN (e.g. nan@3, '
                         'spike20:0@5, kill:1@2.0, stop:0@1.0-1.5)')
    kind, factor_text, when = match['kind'], match['factor'], match['when']
    worker = None if match['worker'] is None else int(match['worker'])
    if kind in POLICY_KINDS:
        factor = 1.0
        if kind == 'spike':
            factor = _number(factor_text or 'x', item, 'spike factor')
            if not factor > 1.0:
                raise InputError(f'--faults: {item!r}: spike factor must be > 1')
        elif factor_text:
            raise InputError(f'--faults: {item!r}: only spike takes a factor')
        if when.endswith('s'):
            start_text, _, end_text = when[:-1].partition('-')
            at = _number(start_text, item, 'time')
            until = _number(end_text, item, 'end time') if end_text else None
            if at < 0.0 or (until is not None and until <= at):
                raise InputError(f'--faults: {item!r}: need 0 <= start < end (seconds)')
            return PolicyFault(kind, 0, False, worker, factor, at, until)
        every = when.startswith('%')
        call = _number(when[1:] if every else when, item, 'call number')
        if call != int(call) or call < 1:
            raise InputError(f'--faults: {item!r}: call number must be an integer >= 1')
        return PolicyFault(kind, int(call), every, worker, factor)
    if kind in PROCESS_KINDS:
        if factor_text:
            raise InputError(f'--faults: {item!r}: {kind} takes no factor')
        if worker is None:
            raise InputError(f'--faults: {item!r}: {kind} needs a worker (e.g. {kind}:0@1.0)')
        start_text, _, end_text = when.partition('-')
        at = _number(start_text, item, 'time')
        until = _number(end_text, item, 'end time') if end_text else None
        if at < 0.0 or (until is not None and until <= at):
            raise InputError(f'--faults: {item!r}: need 0 <= start < end (seconds)')
        return ProcessFault(kind, worker, at, until)
    raise InputError(f'--faults: {item!r}: unknown fault {kind!r}; choose from '
                     f'{", ".join(POLICY_KINDS + PROCESS_KINDS)}')


def _number(text: str, item: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f'--faults: {item!r}: {what} {text!r} is not a number') from None
    if not math.isfinite(value):
        raise InputError(f'--faults: {item!r}: {what} must be finite')
    return value


class FaultyPolicy:
    """A policy that misbehaves on the calls its faults name; otherwise the wrapped one.

    Only scheduled calls count: :meth:`warmup` goes straight to the wrapped policy.

    :param policy: the real policy (e.g. ``OnnxPolicy``).
    :param faults: the faults of this worker (:meth:`FaultPlan.for_worker`).
    :param worker_id: this worker's index.
    :param base_inference_s: what one call normally takes (the emulated mean, say); a spike
        of factor F sleeps ``(F - 1)`` times it; 0 = the wrapped call's own measured time.
    :param sleep: how to wait out a spike (a fake clock's advance in tests).
    :param clock: seconds, for timed faults and a spike's base (injectable for tests).
    """

    def __init__(self, policy: Any, faults: tuple[PolicyFault, ...], worker_id: int,
                 base_inference_s: float = 0.0,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Wrap ``policy``."""
        self.policy = policy
        self.clock = clock
        self.faults = faults
        self.worker_id = int(worker_id)
        self.base_inference_s = float(base_inference_s)
        self.sleep = sleep
        self.calls = 0
        self.injected: Counter[str] = Counter()
        self.first_call = math.nan
        self._fired: set[int] = set()

    @property
    def metadata(self) -> Any:
        """Return the metadata of the wrapped policy: chunk step, history."""
        return self.policy.metadata

    def warmup(self, calls: int = 10) -> None:
        """Warm the wrapped policy up; these calls are not counted."""
        self.policy.warmup(calls)

    def __call__(self, observation: np.ndarray,
                 in_flight: np.ndarray | None = None) -> np.ndarray:
        """Return the wrapped policy's chunk, spoiled if this call is a faulty one."""
        self.calls += 1
        started = self.clock()
        if self.calls == 1:
            self.first_call = started
        actions = np.array(self.policy(observation, in_flight), dtype=np.float64, ndmin=2)
        own = self.clock() - started
        elapsed = started - self.first_call
        for index, fault in enumerate(self.faults):
            if not fault.hits(self.worker_id, self.calls, elapsed) or index in self._fired:
                continue
            if fault.at_s is not None and fault.until_s is None:
                self._fired.add(index)  # a timed single fault: the first call at or after
            self.injected[fault.kind] += 1
            if fault.kind == 'nan':
                actions = np.full_like(actions, math.nan)
            elif fault.kind == 'inf':
                actions = np.full_like(actions, math.inf)
            elif fault.kind == 'shape':
                actions = np.concatenate((actions, actions[:, :1]), axis=1)
            elif fault.kind == 'spike':
                base = self.base_inference_s if self.base_inference_s > 0.0 else own
                self.sleep((fault.factor - 1.0) * base)
        return actions


def wrap_policy(policy: Any, plan: FaultPlan | str | None, worker_id: int,
                base_inference_s: float = 0.0) -> Any:
    """Return ``policy`` wrapped in a :class:`FaultyPolicy` if the plan has faults for it.

    :param policy: the worker's policy.
    :param plan: the run's plan (or its text).
    :param worker_id: the worker index.
    :param base_inference_s: see :class:`FaultyPolicy`.
    :return: the policy itself when no fault can hit this worker.
    """
    if not isinstance(plan, FaultPlan):
        plan = FaultPlan.parse(plan)
    faults = plan.for_worker(worker_id)
    return FaultyPolicy(policy, faults, worker_id, base_inference_s) if faults else policy


def worker_pids() -> dict[int, int]:
    """Return worker index -> pid of this process's live ``worker_<i>`` children.

    The launcher names its children ``sim``, ``arbiter``, ``worker_<i>``.
    """
    pids = {}
    for child in multiprocessing.active_children():
        name = child.name or ''
        if name.startswith('worker_') and name[7:].isdigit() and child.pid is not None:
            pids[int(name[7:])] = child.pid
    return pids


def kill_worker(pids: Mapping[int, int], worker: int) -> None:
    """SIGKILL worker ``worker``."""
    os.kill(pids[worker], signal.SIGKILL)


def stop_worker(pids: Mapping[int, int], worker: int) -> None:
    """SIGSTOP worker ``worker`` (it freezes, as a hung process would)."""
    os.kill(pids[worker], signal.SIGSTOP)


def continue_worker(pids: Mapping[int, int], worker: int) -> None:
    """SIGCONT worker ``worker``."""
    os.kill(pids[worker], signal.SIGCONT)


class ProcessFaultInjector:
    """Fire the process faults of a plan as the run's elapsed time passes them.

    :param plan: the plan.
    :param pids: returns worker index -> pid now (default :func:`worker_pids`).
    :param restart: restarts worker ``i`` (the launcher's hook); ``None``: a kill with an end
        time is recorded as ``restart unavailable``.
    """

    def __init__(self, plan: FaultPlan, pids: Callable[[], Mapping[int, int]] = worker_pids,
                 restart: Callable[[int], None] | None = None) -> None:
        """Arm every process fault of ``plan``."""
        self.plan = plan
        self.pids = pids
        self.restart = restart
        # (time, action, worker, item): actions 'kill', 'stop', 'continue', 'restart'.
        self._pending: list[tuple[float, str, int, str]] = []
        for fault in plan.process:
            self._pending.append((fault.at_s, fault.kind, fault.worker, str(fault)))
            if fault.until_s is not None:
                end = 'continue' if fault.kind == 'stop' else 'restart'
                self._pending.append((fault.until_s, end, fault.worker, str(fault)))
        self._pending.sort(key=lambda p: p[0])
        self._stopped: dict[int, int] = {}
        self.events: list[tuple[float, str]] = []

    def poll(self, elapsed_s: float) -> list[str]:
        """Fire everything due by ``elapsed_s`` (run seconds); return what was done.

        :param elapsed_s: seconds since the common start.
        :return: one line per action, e.g. ``'stop worker 0 (pid 4242)'``.
        """
        done = []
        while self._pending and self._pending[0][0] <= elapsed_s:
            _, action, worker, _item = self._pending.pop(0)
            done.append(self._fire(action, worker))
            self.events.append((elapsed_s, done[-1]))
        return done

    def _fire(self, action: str, worker: int) -> str:
        if action == 'restart':
            if self.restart is None:
                return f'restart worker {worker}: unavailable'
            self.restart(worker)
            return f'restart worker {worker}'
        pid = self._stopped.pop(worker, None) if action == 'continue' else None
        if pid is None:
            pid = self.pids().get(worker)
        if pid is None:
            return f'{action} worker {worker}: not running'
        try:
            os.kill(pid, {'kill': signal.SIGKILL, 'stop': signal.SIGSTOP,
                          'continue': signal.SIGCONT}[action])
        except ProcessLookupError:
            return f'{action} worker {worker}: gone'
        if action == 'stop':
            self._stopped[worker] = pid
        return f'{action} worker {worker} (pid {pid})'

    def release(self) -> None:
        """SIGCONT every worker still stopped (so it can leave its loop at the end)."""
        for worker, pid in list(self._stopped.items()):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            del self._stopped[worker]


class FaultingStatus:
    """A ``status`` object for :func:`~.launcher.launch` that fires process faults.

    The launcher updates its status about every 0.25 s, so faults fire within about that of
    their time; the elapsed time is taken from the run's start time ``t0`` (read from the
    run's ``control`` channel), not from the status record, which can be 0.25 s old.

    :param injector: fires the faults.
    :param inner: the status line to forward to, or ``None``.
    :param on_update: also called with every record (e.g. a test's probe).
    :param run_prefix: ``/dev/shm`` prefix of the run's segments (default: runs launched by
        this process).
    """

    def __init__(self, injector: ProcessFaultInjector, inner: Any = None,
                 on_update: Callable[[np.ndarray], None] | None = None,
                 run_prefix: str | None = None) -> None:
        """Keep the injector and the status line."""
        self.injector = injector
        self.inner = inner
        self.on_update = on_update
        self.run_prefix = run_prefix or f'rtac_{os.getpid()}-'
        self.t0 = math.nan

    def elapsed(self, values: np.ndarray) -> float:
        """Return seconds since the run's start (the status record's own figure as fallback)."""
        if math.isnan(self.t0):
            self.t0 = read_start_time(self.run_prefix)
        return time.monotonic() - self.t0 if math.isfinite(self.t0) else float(values[0])

    def update(self, values: np.ndarray) -> None:
        """Fire what is due, then forward the record."""
        self.injector.poll(self.elapsed(values))
        if self.on_update is not None:
            self.on_update(values)
        if self.inner is not None:
            self.inner.update(values)

    def close(self) -> None:
        """Let stopped workers go (the launcher stops the run next), close the status line."""
        self.injector.release()
        if self.inner is not None:
            self.inner.close()


def read_start_time(run_prefix: str) -> float:
    """Return the common start time ``t0`` of the newest run with this prefix (``nan``: none).

    :param run_prefix: ``/dev/shm`` prefix, e.g. ``'rtac_4242-'``.
    :return: ``t0`` on the monotonic clock.
    """
    import glob

    from rt_async_control.runtime.channels import Channel

    found = sorted(glob.glob(f'/dev/shm/{run_prefix}*_control'))
    if not found:
        return math.nan
    channel = Channel.attach(os.path.basename(found[-1]))
    try:
        sample = channel.read()
    finally:
        channel.close()
    return float(sample.values[0]) if sample is not None else math.nan


class CommandMonitor:
    """Watch a run's ``command`` channel from outside and keep every command record seen.

    An independent check of what reached the simulator (no NaN, fallbacks, ramp): a thread
    polls the latest-value channel faster than the arbiter writes it. Start it once the run's
    channels exist (from a status update, say); :meth:`stop` joins the thread.

    :param run_prefix: ``/dev/shm`` prefix of the run's segments, e.g. ``'rtac_4242-'`` (the
        launcher's run ids start with its pid).
    :param poll_s: seconds between two looks.
    :param keep: keep every record (else only the counters: for long soaks).
    """

    def __init__(self, run_prefix: str, poll_s: float = 1e-3, keep: bool = True) -> None:
        """Nothing is attached until :meth:`start`."""
        import threading

        self.run_prefix = run_prefix
        self.poll_s = poll_s
        self.keep = keep
        self.records: list[np.ndarray] = []
        self.missed = 0
        self.seen = 0
        #: Records whose command has a NaN or infinite entry.
        self.nonfinite = 0
        #: Largest and smallest command entry seen (per entry).
        self.high: np.ndarray | None = None
        self.low: np.ndarray | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name='command-monitor', daemon=True)

    @classmethod
    def for_this_process(cls, poll_s: float = 1e-3, keep: bool = True) -> CommandMonitor:
        """Return a monitor of the run launched by this process."""
        return cls(f'rtac_{os.getpid()}-', poll_s, keep)

    def start(self) -> bool:
        """Start watching if the run's command channel exists; return whether it does."""
        if self._thread.is_alive() or self._thread.ident is not None:
            return True
        import glob

        from rt_async_control.runtime.channels import Channel

        found = sorted(glob.glob(f'/dev/shm/{self.run_prefix}*_command'))
        if not found:
            return False
        self._channel = Channel.attach(os.path.basename(found[-1]))
        self._thread.start()
        return True

    def _loop(self) -> None:
        seq = 0
        while not self._stop.is_set():
            sample = self._channel.read_if_newer(seq)
            if sample is not None:
                self.missed += max(0, sample.seq - seq - 1)
                seq = sample.seq
                self._count(sample.values[4:])
                if self.keep:
                    self.records.append(sample.values)
            time.sleep(self.poll_s)

    def _count(self, command: np.ndarray) -> None:
        self.seen += 1
        if not np.isfinite(command).all():
            self.nonfinite += 1
            return
        self.high = command.copy() if self.high is None else np.maximum(self.high, command)
        self.low = command.copy() if self.low is None else np.minimum(self.low, command)

    def stop(self) -> np.ndarray:
        """Stop watching; return the records seen, ``(count, 4 + action_dim)``.

        Columns as in :mod:`.records`: tick, worker_id, action_age, fallback code, command.
        """
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(2.0)
            self._channel.close()
        return np.array(self.records) if self.records else np.zeros((0, 0))
