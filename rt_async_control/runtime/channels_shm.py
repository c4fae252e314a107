"""Shared-memory latest-value channel guarded by a seqlock (``backend='shm'``).

Segment layout (``/dev/shm/<name>``, little endian)::

    0   int64    counter   seqlock word: odd while a write is in progress; seq = counter // 2
    8   float64  stamp     stamp of the record (inside the seqlock, like the payload)
    16  8 bytes  magic     b'RTACCH01', written last at creation: attach waits for it
    24  uint64   payload offset
    32  uint64   payload size in bytes
    40  uint64   metadata size in bytes
    64  metadata JSON: {"shape": [...], "descr": "<numpy dtype descr>"}
    payload (64-byte aligned)

Writer: counter += 1 (odd), copy payload and stamp, counter += 1 (even). Reader: load the
counter; if odd, retry; copy payload and stamp; load the counter again; if it changed, retry.
A torn record is therefore never returned. This relies on x86-64 ordering (stores are not
reordered with stores, loads not with loads; aligned 8-byte accesses are atomic) and on the
interpreter's opaque calls keeping the compiler from reordering; on weakly ordered CPUs
(ARM) use the iceoryx2 backend, whose Rust core issues the fences.

The segment is an ordinary file on the ``/dev/shm`` tmpfs opened with ``os.open`` + ``mmap``,
not ``multiprocessing.shared_memory``: on Python < 3.13 the latter registers every attach with
the resource tracker, which unlinks the segment when any attaching process exits.
"""

from __future__ import annotations

import ast
import glob
import json
import mmap
import os
import time

import numpy as np
import numpy.typing as npt

from rt_async_control.runtime.channels import Channel, ChannelError, Sample

SHM_DIR = '/dev/shm'
_MAGIC = b'RTACCH01'
_META_OFFSET = 64
_ALIGN = 64
# A writer copies a few hundred bytes in about a microsecond, so a few spins almost always
# succeed; past them the writer was preempted mid-write: sleep briefly so it can finish
# (spinning would steal its core), and give up after the stall limit (the writer died
# mid-write, or is starved): the caller gets None for this read and carries on, because a
# control loop must never block on a channel.
_SPINS = 64
_BACKOFF_S = 20e-6
_STALL_LIMIT_S = 1e-3


def _path(name: str) -> str:
    return os.path.join(SHM_DIR, name)


class ShmChannel(Channel):
    """Latest-value channel in a POSIX shared-memory segment; see the module docstring."""

    backend = 'shm'

    def __init__(self, name: str, fd: int, mm: mmap.mmap, shape: tuple[int, ...],
                 dtype: np.dtype, payload_offset: int) -> None:
        """Wrap a mapped segment; use :meth:`Channel.create` / :meth:`Channel.attach`.

        :param name: channel name.
        :param fd: open file descriptor of the segment.
        :param mm: the mapping of the whole segment.
        :param shape: record shape.
        :param dtype: record dtype.
        :param payload_offset: byte offset of the payload in the segment.
        """
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self._fd = fd
        self._mm = mm
        # memoryview casts: a scalar access costs half of a numpy one on the hot path.
        self._view = memoryview(mm)
        self._counter = self._view[0:8].cast('q')
        self._stamp = self._view[8:16].cast('d')
        self._payload = np.ndarray(shape, dtype, buffer=mm, offset=payload_offset)

    @classmethod
    def create_channel(cls, name: str, shape: tuple[int, ...], dtype: np.dtype) -> ShmChannel:
        """Create the segment ``/dev/shm/<name>``; fails if it exists.

        :param name: channel name.
        :param shape: record shape.
        :param dtype: record dtype.
        :return: the channel.
        """
        meta = json.dumps({'shape': list(shape),
                           'descr': repr(np.lib.format.dtype_to_descr(dtype))}).encode()
        payload_offset = -(-(_META_OFFSET + len(meta)) // _ALIGN) * _ALIGN
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        size = payload_offset + max(nbytes, 1)
        try:
            fd = os.open(_path(name), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ChannelError(f'channel {name}: exists already (stale run? cleanup(run_id))'
                               ) from None
        except OSError as err:
            raise ChannelError(f'channel {name}: cannot create {_path(name)}: {err}') from None
        os.ftruncate(fd, size)
        mm = mmap.mmap(fd, size)
        header = np.ndarray((3,), np.uint64, buffer=mm, offset=24)
        header[:] = (payload_offset, nbytes, len(meta))
        mm[_META_OFFSET:_META_OFFSET + len(meta)] = meta
        del header
        mm[16:24] = _MAGIC  # last: an attacher that sees the magic sees a complete header
        return cls(name, fd, mm, shape, dtype, payload_offset)

    @classmethod
    def attach_channel(cls, name: str, timeout_s: float = 1.0) -> ShmChannel:
        """Map the existing segment ``/dev/shm/<name>``.

        :param name: channel name.
        :param timeout_s: how long to wait for a creator that is still writing the header.
        :return: the channel.
        """
        try:
            fd = os.open(_path(name), os.O_RDWR)
        except FileNotFoundError:
            raise ChannelError(f'channel {name}: does not exist (not created yet?)') from None
        deadline = time.monotonic() + timeout_s
        while os.fstat(fd).st_size < _META_OFFSET and time.monotonic() < deadline:
            time.sleep(1e-3)
        size = os.fstat(fd).st_size
        if size < _META_OFFSET:
            os.close(fd)
            raise ChannelError(f'channel {name}: segment of {size} bytes is not a channel')
        mm = mmap.mmap(fd, size)
        while mm[16:24] != _MAGIC and time.monotonic() < deadline:
            time.sleep(1e-3)
        magic = mm[16:24]
        if magic != _MAGIC:
            mm.close()
            os.close(fd)
            raise ChannelError(f'channel {name}: bad magic {magic!r}, not a channel')
        payload_offset, _, meta_len = np.frombuffer(mm, np.uint64, 3, 24).tolist()
        meta = json.loads(mm[_META_OFFSET:_META_OFFSET + meta_len].decode())
        dtype = np.lib.format.descr_to_dtype(ast.literal_eval(meta['descr']))
        return cls(name, fd, mm, tuple(meta['shape']), dtype, payload_offset)

    @property
    def seq(self) -> int:
        """Number of writes so far; 0 before the first."""
        return self._counter[0] >> 1

    def write(self, values: npt.ArrayLike, stamp: float) -> int:
        """Publish one record under the seqlock.

        :param values: record of the channel's shape.
        :param stamp: stamp stored with it.
        :return: the record's ``seq``.
        """
        arr = self._check_values(values)
        count = self._counter[0]
        count += count & 1  # a writer that died mid-write left it odd: resume from even
        self._counter[0] = count + 1
        self._payload[...] = arr
        self._stamp[0] = stamp
        self._counter[0] = count + 2
        return (count + 2) >> 1

    def read(self) -> Sample | None:
        """Return a consistent copy of the newest record, or ``None`` if there is none.

        ``None`` before the first write, and also when no consistent record could be read
        within about a millisecond (a writer stalled or died in the middle of a write).

        :return: the newest :class:`Sample` or ``None``.
        """
        counter = self._counter
        deadline = 0.0
        attempt = 0
        while True:
            before = counter[0]
            if before == 0:
                return None
            if not before & 1:
                values = self._payload.copy()
                stamp = self._stamp[0]
                if counter[0] == before:
                    return Sample(before >> 1, stamp, values)
            attempt += 1
            if attempt > _SPINS:
                now = time.monotonic()
                if deadline == 0.0:
                    deadline = now + _STALL_LIMIT_S
                elif now > deadline:
                    return None
                time.sleep(_BACKOFF_S)

    def close(self) -> None:
        """Unmap the segment in this process (idempotent)."""
        if self._mm is None:
            return
        # The numpy views export the mapping's buffer; drop them before closing it.
        self._counter.release()
        self._stamp.release()
        self._view.release()
        self._counter = self._stamp = self._payload = self._view = None  # type: ignore
        self._mm.close()
        os.close(self._fd)
        self._mm = None  # type: ignore[assignment]

    def unlink(self) -> None:
        """Remove ``/dev/shm/<name>`` (idempotent); mappings stay valid until closed."""
        try:
            os.unlink(_path(self.name))
        except FileNotFoundError:
            pass


def cleanup_shm(prefix: str) -> list[str]:
    """Remove every ``/dev/shm`` segment whose name starts with ``prefix``.

    :param prefix: name prefix, e.g. ``'rtac_<run_id>_'``.
    :return: the names removed.
    """
    removed = []
    for path in glob.glob(_path(glob.escape(prefix)) + '*'):
        try:
            os.unlink(path)
            removed.append(os.path.basename(path))
        except FileNotFoundError:
            pass
    return removed
