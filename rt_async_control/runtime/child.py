"""What every child process of a run shares: its spec, the control channel, start and stop.

A child is started with ``multiprocessing`` 'spawn' (a fresh interpreter: no threads or ONNX
Runtime state inherited), gets a picklable :class:`ChildSpec`, builds its role, warms up, says
``ready`` on the launcher's queue and waits for the common start time ``t0`` in the
``control`` channel. It ignores SIGINT (the launcher handles Ctrl-C and sets ``stop`` in the
control channel, so every child leaves its loop at a clean point and writes its results); it
also stops when the launcher disappears.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import json
import math
import os
from pathlib import Path
import signal
import time
import traceback
from typing import Any

import numpy as np

from rt_async_control.core.config import StackConfig
from rt_async_control.runtime.channels import Channel, channel_name
from rt_async_control.runtime.event_log import capacity_for, set_default_capacity
from rt_async_control.runtime.records import Layout
from rt_async_control.runtime.timing import try_realtime

#: How long a child waits for the start time before giving up.
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ChildSpec:
    """Everything a child needs, pickled to it at spawn.

    :param name: ``'sim'``, ``'arbiter'``, ``'worker_<i>'`` or ``'recorder'``.
    :param run_id: the run's channel namespace.
    :param config: the validated stack config (CLI overrides applied).
    :param layout: record sizes.
    :param results_dir: where the child writes ``<name>.json`` / ``<name>.npz`` at exit.
    :param model_path: the ONNX policy file.
    :param duration_s: planned run length (sizes logs; the launcher decides when to stop).
    :param priority: SCHED_FIFO priority to try (0 = leave the scheduler alone).
    :param cpus: CPUs to pin to, or ``None``.
    :param worker_id: the worker index (workers only).
    :param record_path: MCAP file to write (recorder only).
    :param extra: small settings for one kind of child.
    """

    name: str
    run_id: str
    config: StackConfig
    layout: Layout
    results_dir: str
    model_path: str = ''
    duration_s: float = 10.0
    priority: int = 0
    cpus: frozenset[int] | None = None
    worker_id: int = -1
    record_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def channel(self, topic: str) -> Channel:
        """Attach the run's channel ``topic``."""
        return Channel.attach(channel_name(self.run_id, topic))


class Control:
    """The launcher's control record as one child sees it: start time and stop flag.

    :param spec: the child's spec.
    """

    def __init__(self, spec: ChildSpec) -> None:
        """Attach the control channel and note the parent."""
        self.channel = spec.channel('control')
        self._parent = os.getppid()
        self.t0 = math.nan

    def wait_start(self, timeout_s: float = START_TIMEOUT_S) -> float:
        """Poll until the launcher has written the start time; return it (or raise on stop).

        :param timeout_s: how long to wait.
        :return: ``t0`` on the monotonic clock (shared by all processes on Linux).
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            sample = self.channel.read()
            if sample is not None and sample.values[1] > 0.0:
                raise SystemExit(0)
            if sample is not None and math.isfinite(sample.values[0]):
                self.t0 = float(sample.values[0])
                return self.t0
            if os.getppid() != self._parent:
                raise SystemExit(0)
            time.sleep(2e-3)
        raise TimeoutError(f'no start time within {timeout_s:g} s')

    def stopped(self) -> bool:
        """Return whether the launcher asked to stop (or is gone)."""
        sample = self.channel.read()
        return (sample is not None and sample.values[1] > 0.0) or os.getppid() != self._parent


def child_entry(main: Callable[[ChildSpec, Any], None], spec: ChildSpec, queue: Any) -> None:
    """Run a child's ``main(spec, queue)``; report a crash on the queue and exit non-zero.

    :param main: the child's body.
    :param spec: its spec.
    :param queue: the launcher's message queue (``(kind, name, payload)`` tuples).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminate)
    set_default_capacity(log_capacity(spec))
    try:
        main(spec, queue)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - reported to the launcher, then exit 1
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        queue.put(('error', spec.name, f'{last}\n{traceback.format_exc()}'))
        queue.close()
        queue.join_thread()
        raise SystemExit(1) from None


def log_capacity(spec: ChildSpec) -> int:
    """Return the rows of the child's event logs: its planned run at its fastest rate.

    The simulator logs every state period, the others at most about once per control period
    (a worker infers less often; the arbiter's action log gets about one chunk per tick).

    :param spec: the child's spec.
    :return: rows per :class:`~.event_log.Log` (the ring keeps the newest rows beyond).
    """
    config = spec.config
    period = config.state_period_s if spec.name == 'sim' else config.control_period_s
    return capacity_for(spec.duration_s, 1.0 / period)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def realtime_priority(spec: ChildSpec) -> int:
    """Return the SCHED_FIFO priority the child asks for (0: leave the scheduler alone).

    The parameter file's ``realtime_priority`` of the simulator or the arbiter, when above 0,
    replaces the launcher's default for that process; realtime turned off (priority 0, as
    ``--no-realtime`` gives) stays off.

    :param spec: the child's spec.
    :return: the priority.
    """
    chosen = spec.config.host.realtime_priority(spec.name)
    return chosen if spec.priority > 0 and chosen > 0 else spec.priority


def set_realtime(spec: ChildSpec) -> str:
    """Try SCHED_FIFO (:func:`realtime_priority`) and the CPU affinity of ``spec``.

    :param spec: the child's spec.
    :return: the one-line outcome.
    """
    cpus = set(spec.cpus) if spec.cpus is not None else None
    return try_realtime(realtime_priority(spec), cpus)


def ready(spec: ChildSpec, queue: Any, **info: Any) -> None:
    """Tell the launcher this child is warmed up (with figures it wants, e.g. inference)."""
    queue.put(('ready', spec.name, info))


def write_results(spec: ChildSpec, summary: dict[str, Any],
                  arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write the child's results for the report: ``<name>.json`` and ``<name>.npz``.

    :param spec: the child's spec.
    :param summary: JSON-able figures.
    :param arrays: per-event logs for the plots.
    """
    directory = Path(spec.results_dir)
    if arrays:
        np.savez(directory / f'{spec.name}.npz', **arrays)
    tmp = directory / f'{spec.name}.json.tmp'
    tmp.write_text(json.dumps(summary, default=_jsonable))
    tmp.replace(directory / f'{spec.name}.json')


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
