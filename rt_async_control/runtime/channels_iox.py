"""iceoryx2-backed latest-value channel (``backend='iceoryx2'``).

Uses iceoryx2's *blackboard* pattern, which is a latest-value store by design: one key
(``0``) whose value is the record ``{stamp: f64, seq: u64, data: u8[nbytes]}``. The blackboard
gives one writer and many readers, and a reader's ``get()`` is a consistent copy (iceoryx2
guards the value cell itself). Shape and dtype travel as service attributes, so
:meth:`Channel.attach` needs only the name.

Each process owns one iceoryx2 node, created on first use with signal handling disabled (the
runtime handles SIGINT/SIGTERM itself). A service lives while any process holds it; resources
of crashed processes are reclaimed by :func:`cleanup_dead_nodes`.
"""

from __future__ import annotations

import ast
import ctypes
import os
import struct

import iceoryx2 as iox2
import numpy as np
import numpy.typing as npt

from rt_async_control.runtime.channels import Channel, ChannelError, Sample

_KEY = ctypes.c_uint8(0)
_HEAD = struct.Struct('<dQ')  # stamp, seq: the start of every record
_node: tuple[int, iox2.Node] | None = None


def process_node() -> iox2.Node:
    """Return this process's iceoryx2 node, creating it on first use (also after fork).

    :return: the node.
    """
    global _node
    if _node is None or _node[0] != os.getpid():
        iox2.set_log_level_from_env_or(iox2.LogLevel.Error)  # no "no config file" chatter
        node = (iox2.NodeBuilder.new()
                .signal_handling_mode(iox2.SignalHandlingMode.Disabled)
                .create(iox2.ServiceType.Ipc))
        _node = (os.getpid(), node)
    return _node[1]


def _record_type(nbytes: int) -> type[ctypes.Structure]:
    """Return the ctypes record type for ``nbytes`` of payload (iceoryx2 matches it by name)."""
    return type(f'RtacRecord{nbytes}', (ctypes.Structure,), {
        '_fields_': [('stamp', ctypes.c_double), ('seq', ctypes.c_uint64),
                     ('data', ctypes.c_uint8 * max(nbytes, 1))],
        'type_name': classmethod(lambda cls: f'rtac::Record{nbytes}'),
    })


class IceoryxChannel(Channel):
    """Latest-value channel on an iceoryx2 blackboard; see the module docstring."""

    backend = 'iceoryx2'

    def __init__(self, name: str, service: object, shape: tuple[int, ...],
                 dtype: np.dtype) -> None:
        """Wrap an open blackboard service; use :meth:`Channel.create` / ``attach``.

        :param name: channel name.
        :param service: the iceoryx2 ``PortFactoryBlackboard``.
        :param shape: record shape.
        :param dtype: record dtype.
        """
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self._nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        self._record = _record_type(self._nbytes)
        self._service = service
        self._reader = service.reader_builder().create()
        self._entry = self._reader.entry(_KEY, self._record)
        self._writer = None
        self._entry_mut = None
        self._out = self._record()
        self._seq = 0

    @classmethod
    def create_channel(cls, name: str, shape: tuple[int, ...],
                       dtype: np.dtype) -> IceoryxChannel:
        """Create the blackboard service ``name``; fails if it exists.

        :param name: channel name.
        :param shape: record shape.
        :param dtype: record dtype.
        :return: the channel.
        """
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        attrs = (iox2.AttributeSpecifier.new()
                 .define(iox2.AttributeKey.new('shape'), iox2.AttributeValue.new(repr(shape)))
                 .define(iox2.AttributeKey.new('descr'),
                         iox2.AttributeValue.new(repr(np.lib.format.dtype_to_descr(dtype)))))
        try:
            service = (process_node().service_builder(iox2.ServiceName.new(name))
                       .blackboard_creator(ctypes.c_uint8)
                       .add(_KEY, _record_type(nbytes)())
                       .create_with_attributes(attrs))
        except Exception as err:  # iceoryx2 raises its own exception classes
            raise ChannelError(f'channel {name}: iceoryx2 create failed: {err!r}') from None
        return cls(name, service, shape, dtype)

    @classmethod
    def attach_channel(cls, name: str) -> IceoryxChannel:
        """Open the existing blackboard service ``name``.

        :param name: channel name.
        :return: the channel.
        """
        try:
            service = (process_node().service_builder(iox2.ServiceName.new(name))
                       .blackboard_opener(ctypes.c_uint8).open())
        except Exception as err:  # iceoryx2 raises its own exception classes
            raise ChannelError(f'channel {name}: iceoryx2 open failed: {err!r}') from None
        attrs = {a.key.to_string(): a.value.to_string() for a in service.attributes.values}
        shape = tuple(ast.literal_eval(attrs['shape']))
        dtype = np.lib.format.descr_to_dtype(ast.literal_eval(attrs['descr']))
        return cls(name, service, shape, dtype)

    def _raw(self) -> bytes:
        return self._entry.get().data

    @property
    def seq(self) -> int:
        """Number of writes so far; 0 before the first."""
        return _HEAD.unpack_from(self._raw())[1]

    def write(self, values: npt.ArrayLike, stamp: float) -> int:
        """Publish one record (the first write from a handle makes it the writer).

        :param values: record of the channel's shape.
        :param stamp: stamp stored with it.
        :return: the record's ``seq``.
        """
        arr = np.ascontiguousarray(self._check_values(values))
        if self._entry_mut is None:
            try:
                self._writer = self._service.writer_builder().create()
            except Exception as err:  # iceoryx2 raises its own exception classes
                raise ChannelError(f'channel {self.name}: has another writer: {err!r}') from None
            self._entry_mut = self._writer.entry(_KEY, self._record)
            self._seq = self.seq
        self._seq += 1
        rec = self._out
        rec.stamp = stamp
        rec.seq = self._seq
        ctypes.memmove(rec.data, arr.ctypes.data, self._nbytes)
        self._entry_mut.update_with_copy(rec)
        return self._seq

    def read(self) -> Sample | None:
        """Return a copy of the newest record, or ``None`` before the first write.

        :return: the newest :class:`Sample`.
        """
        return self.read_if_newer(0)

    def read_if_newer(self, last_seq: int) -> Sample | None:
        """Return the newest record if its ``seq`` is above ``last_seq``, else ``None``.

        One blackboard ``get()`` (each costs microseconds through the Python binding).

        :param last_seq: the ``seq`` the caller already has.
        :return: the newest :class:`Sample` or ``None``.
        """
        raw = self._raw()
        stamp, seq = _HEAD.unpack_from(raw)
        if seq <= last_seq:
            return None
        values = np.frombuffer(raw, self.dtype, count=int(np.prod(self.shape, dtype=np.int64)),
                               offset=_HEAD.size).reshape(self.shape).copy()
        return Sample(seq, stamp, values)

    def close(self) -> None:
        """Release the ports and the service handle (idempotent)."""
        # Ports before the service: iceoryx2 wants its objects dropped in that order.
        for attr in ('_entry_mut', '_writer', '_entry', '_reader', '_service'):
            obj = getattr(self, attr, None)
            if obj is not None and hasattr(obj, 'delete'):
                obj.delete()
            setattr(self, attr, None)

    def unlink(self) -> None:
        """Release this handle; the service is removed when its last user closes it."""
        self.close()


def cleanup_dead_nodes() -> None:
    """Reclaim the iceoryx2 resources (nodes, their service ports) of processes that died."""
    process_node().try_cleanup_dead_nodes()
