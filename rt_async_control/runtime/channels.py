"""Latest-value channels between processes: the embedded runtime's transport.

A channel holds ONE fixed-layout record (a numpy array of fixed shape and dtype, structured
dtypes included) plus a stamp and a sequence number. A writer overwrites it; a reader always
gets the newest record, never a backlog and never a torn mix of two writes. This is what a
control loop wants: the arbiter needs the newest action of each worker, a worker the newest
state, the simulator the newest command; anything older is worthless.

Usage::

    name = channel_name(run_id, 'state')
    writer = Channel.create(name, shape=(50,))          # in the owning process
    writer.write(values, stamp=now)                      # -> seq (1, 2, 3...)

    reader = Channel.attach(name)                        # in any other process
    sample = reader.read()                               # Sample(seq, stamp, values) | None
    sample = reader.read_if_newer(last_seq)              # None unless seq > last_seq

Rules:

- One writer per channel at a time (any handle may write; the runtime gives each channel one
  owner). Any number of readers.
- ``seq`` counts writes (1 for the first); ``read()`` returns ``None`` before the first write
  (and if a writer died in the middle of a write, until the next write).
- Wait strategy: readers poll at their own deadline (a worker wakes at its scheduled start and
  reads the newest state; the arbiter reads every worker channel on each tick). Nothing blocks
  on a channel. :meth:`Channel.wait_newer` polls in short sleeps for the rare reader that must
  wait for a first sample (start-up).
- Segments are named ``rtac_<run_id>_<topic>``. ``unlink()`` removes one; ``cleanup(run_id)``
  removes every segment of a run, also after a crash (the runtime calls it at start and exit).

Backends (``backend=``): ``'shm'`` — a POSIX shared-memory segment guarded by a seqlock
(:mod:`rt_async_control.runtime.channels_shm`); ``'iceoryx2'`` — an iceoryx2 blackboard
(:mod:`rt_async_control.runtime.channels_iox`). :data:`DEFAULT_BACKEND` was chosen by the
two-process latency benchmark written down in ``runtime/TRANSPORT.md``.
"""

from __future__ import annotations

import abc
import os
import re
import time
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

#: The backend used when none is named; chosen by measurement, see ``runtime/TRANSPORT.md``.
DEFAULT_BACKEND = 'shm'
BACKENDS = ('shm', 'iceoryx2')
#: Prefix of every segment / service name, so a run's leftovers can be found and removed.
NAME_PREFIX = 'rtac_'

_NAME_RE = re.compile(r'^[A-Za-z0-9_.-]{1,200}$')


class ChannelError(RuntimeError):
    """A channel cannot be created, attached, written or read (missing, wrong layout...)."""


class Sample(NamedTuple):
    """One record read from a channel.

    :param seq: number of writes when this record was written (1 for the first).
    :param stamp: the stamp given to :meth:`Channel.write` (seconds, the writer's choice).
    :param values: a private copy of the record, of the channel's shape and dtype.
    """

    seq: int
    stamp: float
    values: np.ndarray


def channel_name(run_id: str, topic: str) -> str:
    """Return the segment name of ``topic`` in run ``run_id``.

    :param run_id: identifier of the run (letters, digits, ``-`` and ``.``; no ``_``).
    :param topic: channel topic within the run, e.g. ``'state'`` or ``'action_0'``.
    :return: ``'rtac_<run_id>_<topic>'``.
    """
    if not run_id or '_' in run_id or not _NAME_RE.match(run_id):
        raise ChannelError(f'run_id: {run_id!r} must be [A-Za-z0-9.-]+ (no underscore)')
    name = f'{NAME_PREFIX}{run_id}_{topic}'
    check_name(name)
    return name


def check_name(name: str) -> str:
    """Raise :class:`ChannelError` unless ``name`` is a valid channel name.

    :param name: the name to check.
    :return: ``name``.
    """
    if not _NAME_RE.match(name):
        raise ChannelError(f'channel name: {name!r} must match [A-Za-z0-9_.-]{{1,200}}')
    return name


def new_run_id() -> str:
    """Return a fresh run id (pid and time), unique on this machine.

    :return: e.g. ``'4242-1732170000123'``.
    """
    return f'{os.getpid()}-{time.time_ns() // 1_000_000}'


class Channel(abc.ABC):
    """A latest-value channel; create with :meth:`create`, open with :meth:`attach`.

    :ivar name: the channel name.
    :ivar shape: shape of a record.
    :ivar dtype: dtype of a record.
    :ivar backend: ``'shm'`` or ``'iceoryx2'``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    backend: str

    @staticmethod
    def create(name: str, shape: tuple[int, ...] | int, dtype: npt.DTypeLike = np.float64,
               backend: str | None = None) -> Channel:
        """Create a new channel (fails if it exists) and return a handle that may write.

        :param name: channel name, see :func:`channel_name`.
        :param shape: shape of one record, e.g. ``(50,)`` or ``(16, 8)``.
        :param dtype: numpy dtype of one record (plain or structured, fixed size).
        :param backend: ``'shm'``, ``'iceoryx2'`` or ``None`` for :data:`DEFAULT_BACKEND`.
        :return: the channel handle.
        """
        shape_t = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(
            int(s) for s in shape)
        if any(s < 0 for s in shape_t):
            raise ChannelError(f'channel {name}: shape {shape_t} has a negative size')
        dtype_t = np.dtype(dtype)
        if dtype_t.hasobject:
            raise ChannelError(f'channel {name}: dtype {dtype_t} holds Python objects')
        cls = _backend_class(backend)
        return cls.create_channel(check_name(name), shape_t, dtype_t)

    @staticmethod
    def attach(name: str, backend: str | None = None) -> Channel:
        """Open an existing channel; shape and dtype are read from the channel itself.

        :param name: channel name given to :meth:`create`.
        :param backend: the backend it was created with (``None``: :data:`DEFAULT_BACKEND`).
        :return: the channel handle (it may read, and write if it is the only writer).
        """
        cls = _backend_class(backend)
        return cls.attach_channel(check_name(name))

    @classmethod
    @abc.abstractmethod
    def create_channel(cls, name: str, shape: tuple[int, ...], dtype: np.dtype) -> Channel:
        """Backend hook behind :meth:`create` (arguments already validated)."""

    @classmethod
    @abc.abstractmethod
    def attach_channel(cls, name: str) -> Channel:
        """Backend hook behind :meth:`attach`."""

    @abc.abstractmethod
    def write(self, values: npt.ArrayLike, stamp: float) -> int:
        """Publish one record, replacing the previous one.

        :param values: array of the channel's shape (cast to its dtype).
        :param stamp: stamp stored with the record (seconds, the writer's choice).
        :return: the record's ``seq``.
        """

    @abc.abstractmethod
    def read(self) -> Sample | None:
        """Return the newest record (a copy), or ``None`` if there is none.

        ``None`` before the first write, and (shm) when no consistent record could be read
        within about a millisecond because the writer stalled or died mid-write: a reader
        never blocks on a channel.

        :return: the newest :class:`Sample` or ``None``.
        """

    @property
    @abc.abstractmethod
    def seq(self) -> int:
        """Number of writes so far (cheap: no copy); 0 before the first write."""

    def read_if_newer(self, last_seq: int) -> Sample | None:
        """Return the newest record if its ``seq`` is above ``last_seq``, else ``None``.

        :param last_seq: the ``seq`` the caller already has (0 for none).
        :return: the newest :class:`Sample`, or ``None`` when nothing newer was written.
        """
        if self.seq <= last_seq:
            return None
        sample = self.read()
        return sample if sample is not None and sample.seq > last_seq else None

    def wait_newer(self, last_seq: int, timeout_s: float, poll_s: float = 1e-4) -> Sample | None:
        """Poll until a record newer than ``last_seq`` exists or ``timeout_s`` passed.

        Meant for start-up (waiting for a first sample), not for the control path, which
        reads at its own deadlines.

        :param last_seq: the ``seq`` the caller already has.
        :param timeout_s: how long to wait at most.
        :param poll_s: sleep between polls.
        :return: the newer :class:`Sample`, or ``None`` on timeout.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            sample = self.read_if_newer(last_seq)
            if sample is not None or time.monotonic() >= deadline:
                return sample
            time.sleep(poll_s)

    @abc.abstractmethod
    def close(self) -> None:
        """Release this process's handle (the channel stays for others)."""

    @abc.abstractmethod
    def unlink(self) -> None:
        """Remove the channel from the system (readers already attached keep their view)."""

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_values(self, values: npt.ArrayLike) -> np.ndarray:
        arr = np.asarray(values, dtype=self.dtype)
        if arr.shape != self.shape:
            raise ChannelError(f'channel {self.name}: record shape {arr.shape} != {self.shape}')
        return arr


def _backend_class(backend: str | None) -> type[Channel]:
    backend = DEFAULT_BACKEND if backend is None else backend
    if backend == 'shm':
        from rt_async_control.runtime.channels_shm import ShmChannel
        return ShmChannel
    if backend == 'iceoryx2':
        from rt_async_control.runtime.channels_iox import IceoryxChannel
        return IceoryxChannel
    raise ChannelError(f'channel backend: {backend!r} is not one of {BACKENDS}')


def cleanup(run_id: str) -> list[str]:
    """Remove every channel of run ``run_id`` left on this machine (also after a crash).

    Removes the ``/dev/shm/rtac_<run_id>_*`` segments and the iceoryx2 resources of dead
    processes. Channels still attached elsewhere stay usable by those processes.

    :param run_id: the run whose channels to remove.
    :return: names of the shm segments removed.
    """
    from rt_async_control.runtime.channels_shm import cleanup_shm
    removed = cleanup_shm(f'{NAME_PREFIX}{run_id}_')
    try:
        from rt_async_control.runtime.channels_iox import cleanup_dead_nodes
    except ImportError:  # iceoryx2 not installed: nothing of it to clean
        return removed
    cleanup_dead_nodes()
    return removed
