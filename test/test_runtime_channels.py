"""Latest-value channels: layout, newest-only reads, no torn records across real processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import time

import numpy as np
import pytest

from rt_async_control.runtime.channels import (
    BACKENDS,
    Channel,
    channel_name,
    ChannelError,
    cleanup,
    new_run_id,
)

# Large enough that an unguarded copy would often be caught half-written.
TORN_SHAPE = (64, 32)


@pytest.fixture
def run_id():
    rid = new_run_id()
    yield rid
    cleanup(rid)


@pytest.mark.parametrize('backend', BACKENDS)
def test_roundtrip_newest_and_read_if_newer(backend, run_id):
    name = channel_name(run_id, 'state')
    with Channel.create(name, (3,), backend=backend) as writer, \
            Channel.attach(name, backend=backend) as reader:
        assert (reader.shape, reader.dtype) == ((3,), np.dtype(np.float64))
        assert reader.read() is None and reader.seq == 0
        assert writer.write([1.0, 2.0, 3.0], stamp=0.5) == 1
        assert writer.write([4.0, 5.0, 6.0], stamp=0.75) == 2
        seq, stamp, values = reader.read()
        assert (seq, stamp) == (2, 0.75)
        np.testing.assert_array_equal(values, [4.0, 5.0, 6.0])
        values[0] = 99.0  # a private copy: the channel is unchanged
        assert reader.read().values[0] == 4.0
        assert reader.read_if_newer(2) is None
        assert reader.read_if_newer(1).seq == 2
        with pytest.raises(ChannelError, match='shape'):
            writer.write([1.0, 2.0], stamp=1.0)
        writer.unlink()


@pytest.mark.parametrize('backend', BACKENDS)
def test_structured_dtype_travels_with_the_channel(backend, run_id):
    dtype = np.dtype([('stamp', '<f8'), ('worker', '<i4'), ('actions', '<f8', (4, 2))])
    name = channel_name(run_id, 'chunk')
    with Channel.create(name, (), dtype, backend=backend) as writer, \
            Channel.attach(name, backend=backend) as reader:
        record = np.zeros((), dtype)
        record['worker'] = 3
        record['actions'] = np.arange(8.0).reshape(4, 2)
        writer.write(record, stamp=1.0)
        got = reader.read().values
        assert reader.dtype == dtype and got['worker'] == 3
        np.testing.assert_array_equal(got['actions'], record['actions'])


def test_create_twice_attach_missing_and_bad_names(run_id):
    name = channel_name(run_id, 'x')
    with Channel.create(name, 2):
        with pytest.raises(ChannelError, match='exists'):
            Channel.create(name, 2)
    with pytest.raises(ChannelError, match='does not exist'):
        Channel.attach(channel_name(run_id, 'missing'))
    with pytest.raises(ChannelError, match='run_id'):
        channel_name('a_b', 'x')
    with pytest.raises(ChannelError, match='backend'):
        Channel.create(channel_name(run_id, 'y'), 2, backend='zmq')


def _hammer(name: str, backend: str, count: int) -> None:
    """Write records whose every element equals the write number, back to back."""
    channel = Channel.attach(name, backend=backend)
    record = np.empty(TORN_SHAPE)
    for i in range(1, count + 1):
        record.fill(i)
        channel.write(record, stamp=float(i))
    channel.close()


@pytest.mark.parametrize('backend', BACKENDS)
def test_concurrent_writer_never_torn_and_newest_at_end(backend, run_id):
    count = 20_000 if backend == 'shm' else 5_000
    name = channel_name(run_id, 'hammer')
    channel = Channel.create(name, TORN_SHAPE, backend=backend)
    writer = mp.get_context('spawn').Process(target=_hammer, args=(name, backend, count))
    writer.start()
    reads, last_seq, last_value = 0, 0, 0.0
    while writer.is_alive() or reads == 0:
        sample = channel.read()
        if sample is None:
            continue
        first = sample.values.flat[0]
        assert np.all(sample.values == first), f'torn record at seq {sample.seq}'
        assert sample.stamp == first  # the stamp is inside the same consistent record
        assert sample.seq >= last_seq and first >= last_value  # never goes back in time
        last_seq, last_value = sample.seq, first
        reads += 1
    writer.join(30)
    assert writer.exitcode == 0
    final = channel.read()  # the newest, not a backlog
    assert final.stamp == count and np.all(final.values == count)
    assert reads > 10
    channel.close()


def test_writer_dead_mid_write_never_blocks_the_reader(run_id):
    name = channel_name(run_id, 'stalled')
    with Channel.create(name, 4) as writer, Channel.attach(name) as reader:
        writer.write(np.ones(4), 1.0)
        # What a writer killed between its two counter stores leaves: an odd counter.
        counter = np.memmap(f'/dev/shm/{name}', dtype=np.int64, mode='r+', shape=(1,))
        counter[0] += 1
        counter.flush()
        start = time.monotonic()
        assert reader.read() is None
        assert time.monotonic() - start < 0.5  # about 1 ms; generous on a shared machine
        assert writer.write(np.full(4, 2.0), 2.0) == 3  # recovers; the aborted write had seq 2
        assert reader.read().stamp == 2.0
        del counter


def _create_and_die(name: str) -> None:
    Channel.create(name, 4).write(np.ones(4), 1.0)
    os._exit(1)  # crash: no close(), no unlink()


def test_cleanup_removes_segments_of_a_crashed_run(run_id):
    name = channel_name(run_id, 'orphan')
    proc = mp.get_context('spawn').Process(target=_create_and_die, args=(name,))
    proc.start()
    proc.join(30)
    assert Channel.attach(name).read().stamp == 1.0  # the segment outlived its creator
    assert cleanup(run_id) == [name]
    with pytest.raises(ChannelError):
        Channel.attach(name)
