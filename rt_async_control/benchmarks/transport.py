"""One-way latency between two processes: latest-value channels vs socket baselines.

A writer process publishes one record per millisecond at absolute deadlines on a grid the
reader knows (it sleeps to 100 us before each and spins the rest, to write on time); the
record's first value is its ``CLOCK_MONOTONIC`` time (ns) taken just before the write, and the
latency is the time the reader holds the record minus that stamp. Both processes run as the
runtime's children do: :func:`~rt_async_control.runtime.timing.try_realtime` (SCHED_FIFO,
writer above reader, on different CPUs when permitted; the figures' notes say what was
applied). Transports:

- ``shm`` / ``iceoryx2``: the runtime's channels; the reader wakes :data:`LEAD_S` before each
  grid time and polls ``read_if_newer``: a bounded spin up to :data:`SPIN_WINDOW_S` after it,
  then sleeps of :data:`POLL_S` -- the same for ``udp-poll`` (non-blocking ``recv``). Only the
  records the reader was already polling for count (it woke before the stamp): then the
  latency is the transport's, not the reader's wake-up (which is 40-100 us on these VMs and
  would otherwise dominate). The share of such records is in the figure's note;
- ``unix`` / ``udp``: datagram sockets, the reader blocked in ``recv`` (the usual way).

Without SCHED_FIFO a spinning reader on a busy 2-core machine measures the scheduler, not the
transport: it is preempted for milliseconds. Background load: ``--load N`` busy processes.
Run: ``python -m rt_async_control.benchmarks.transport [--full] [--load N]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import tempfile
import time

import numpy as np

from rt_async_control.benchmarks import Figure
from rt_async_control.benchmarks.timing import BusyLoad
from rt_async_control.runtime.channels import (
    Channel,
    channel_name,
    cleanup,
    DEFAULT_BACKEND,
    new_run_id,
)
from rt_async_control.runtime.timing import PeriodicTimer, sleep_until, try_realtime

TRANSPORTS = ('shm', 'iceoryx2', 'unix', 'udp', 'udp-poll')
SHAPES = {'state 50 f64': (50,), 'chunk 16x8 f64': (16, 8)}
PERIOD_S = 1e-3
#: The reader wakes this long before each grid time and spins at most until this long after
#: it (bounded: tens of microseconds per period, never a long SCHED_FIFO spin).
LEAD_S = 100e-6
SPIN_WINDOW_S = 40e-6
#: The writer sleeps to this long before each grid time and spins the rest, so it writes on
#: the grid and not one wake-up latency (40-100 us on these VMs) after it.
WRITER_SPIN_NS = 100_000
#: After the spin window the reader polls in sleeps of this length.
POLL_S = 20e-6
WRITER_PRIORITY, READER_PRIORITY = 60, 50
TARGET_P99_US = 50.0
TARGET_RATIO = 5.0


def _cpus(index: int) -> set[int] | None:
    cpus = sorted(os.sched_getaffinity(0))
    return {cpus[index % len(cpus)]} if len(cpus) > 1 else None


def _writer(transport: str, address: str, shape: tuple[int, ...], count: int,
            start: mp.sharedctypes.Synchronized, ready: mp.synchronize.Event,
            go: mp.synchronize.Event) -> None:
    """Writer process: publish ``count`` stamped records on the grid ``start + k * period``."""
    try_realtime(WRITER_PRIORITY, _cpus(0))
    values = np.zeros(shape)
    flat = values.reshape(-1)
    if transport in ('shm', 'iceoryx2'):
        channel = Channel.attach(address, backend=transport)
        send = channel.write
    else:
        family = socket.AF_UNIX if transport == 'unix' else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        target = address if transport == 'unix' else ('127.0.0.1', int(address))

        def send(record: np.ndarray, stamp: float) -> None:
            sock.sendto(record.tobytes(), target)
    ready.set()
    go.wait(30.0)
    timer = PeriodicTimer(PERIOD_S, start_ns=start.value,
                          sleeper=lambda deadline: sleep_until(deadline, WRITER_SPIN_NS))
    for _ in range(count):
        timer.wait()
        flat[0] = time.monotonic_ns()
        send(values, flat[0] / 1e9)
    if transport in ('shm', 'iceoryx2'):
        channel.close()


class _Poller:
    """Reader side for polled transports: returns the newest record's first value or None."""

    def __init__(self, channel: Channel | None, sock: socket.socket | None,
                 nbytes: int) -> None:
        self.channel, self.sock, self.nbytes, self.seq = channel, sock, nbytes, 0

    def poll(self) -> float | None:
        if self.channel is not None:
            sample = self.channel.read_if_newer(self.seq)
            if sample is None:
                return None
            self.seq = sample.seq
            return float(sample.values.flat[0])
        newest = None
        while True:  # drain: the newest datagram wins, like a latest-value channel
            try:
                newest = self.sock.recv(self.nbytes)
            except BlockingIOError:
                break
        return None if newest is None else float(np.frombuffer(newest, np.float64, 1)[0])


def _receive_polled(poller: _Poller, start_ns: int, count: int) -> list[float]:
    latencies = []
    period_ns = round(PERIOD_S * 1e9)
    for k in range(count):
        grid = start_ns + k * period_ns
        sleep_until(grid - round(LEAD_S * 1e9))
        spin_end = grid + round(SPIN_WINDOW_S * 1e9)
        give_up = grid + period_ns - round(LEAD_S * 1e9) * 2
        ready = time.monotonic_ns()
        while True:
            stamp = poller.poll()
            now = time.monotonic_ns()
            if stamp is not None and stamp < grid - period_ns // 2:
                continue  # an earlier record that came late (first writes are slow): skip it
            if stamp is not None:
                if ready <= stamp:  # else the reader woke after the write: not the transport
                    latencies.append((now - stamp) / 1e3)
                break
            if now >= give_up:
                break  # this record never came in its period: counted as not received
            if now >= spin_end:
                sleep_until(now + round(POLL_S * 1e9))
    return latencies


def _receive_blocking(sock: socket.socket, nbytes: int, count: int,
                      timeout_s: float) -> list[float]:
    latencies = []
    sock.settimeout(0.2)
    deadline = time.monotonic() + timeout_s
    while len(latencies) < count and time.monotonic() < deadline:
        try:
            data = sock.recv(nbytes)
        except TimeoutError:
            continue
        now = time.monotonic_ns()
        latencies.append((now - np.frombuffer(data, np.float64, 1)[0]) / 1e3)
    return latencies


def call_cost_us(backend: str, shape: tuple[int, ...], calls: int) -> tuple[float, float]:
    """Median CPU cost of one ``write`` and one ``read`` of a channel (one process, hot loop).

    :param backend: channel backend.
    :param shape: float64 record shape.
    :param calls: calls to time.
    :return: (write p50 us, read p50 us).
    """
    run_id = new_run_id()
    values = np.zeros(shape)
    try:
        with Channel.create(channel_name(run_id, 'cost'), shape, backend=backend) as channel:
            costs = np.empty((2, calls))
            for i in range(calls):
                t0 = time.perf_counter_ns()
                channel.write(values, 0.0)
                t1 = time.perf_counter_ns()
                channel.read()
                costs[:, i] = (t1 - t0, time.perf_counter_ns() - t1)
            channel.unlink()
    finally:
        cleanup(run_id)
    write_us, read_us = np.median(costs, axis=1) / 1e3
    return float(write_us), float(read_us)


def _reader(transport: str, run_id: str, shape: tuple[int, ...], count: int,
            start: mp.sharedctypes.Synchronized, go: mp.synchronize.Event,
            out: mp.connection.Connection) -> None:
    """Reader process: open the endpoint, send its address, then the (notice, latencies)."""
    notice = try_realtime(READER_PRIORITY, _cpus(1))
    nbytes = int(np.prod(shape)) * 8
    channel = sock = None
    tmpdir = tempfile.mkdtemp(prefix='rtac_bench_')
    try:
        if transport in ('shm', 'iceoryx2'):
            address = channel_name(run_id, 'bench')
            channel = Channel.create(address, shape, backend=transport)
        elif transport == 'unix':
            address = os.path.join(tmpdir, 'sock')
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(address)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(('127.0.0.1', 0))
            address = str(sock.getsockname()[1])
        out.send(address)
        go.wait(60.0)
        if transport in ('unix', 'udp'):
            latencies = _receive_blocking(sock, nbytes, count, count * PERIOD_S + 5.0)
        else:
            if sock is not None:
                sock.setblocking(False)
            latencies = _receive_polled(_Poller(channel, sock, nbytes), start.value, count)
        out.send((notice, latencies))
    finally:
        if channel is not None:
            channel.close()
            channel.unlink()
        if sock is not None:
            sock.close()
        if os.path.exists(os.path.join(tmpdir, 'sock')):
            os.unlink(os.path.join(tmpdir, 'sock'))
        os.rmdir(tmpdir)


def one_way_latency_us(transport: str, shape: tuple[int, ...],
                       count: int) -> tuple[str, np.ndarray]:
    """Measure the one-way latency of ``transport`` for ``count`` float64 records of ``shape``.

    :param transport: one of :data:`TRANSPORTS`.
    :param shape: record shape.
    :param count: records to send, one per :data:`PERIOD_S`.
    :return: (the reader's scheduling notice, latencies of the records received in us).
    """
    ctx = mp.get_context('spawn')
    go, ready = ctx.Event(), ctx.Event()
    start = ctx.Value('q', 0)
    recv, send = ctx.Pipe(duplex=False)
    run_id = new_run_id()
    reader = ctx.Process(target=_reader, args=(transport, run_id, shape, count, start, go,
                                               send), daemon=True)
    writer = None
    try:
        reader.start()
        address = recv.recv()
        writer = ctx.Process(target=_writer, args=(transport, address, shape, count, start,
                                                   ready, go), daemon=True)
        writer.start()
        ready.wait(60.0)
        start.value = time.monotonic_ns() + 100_000_000  # both sides know the grid
        go.set()
        notice, latencies = recv.recv()
        # Drop the first few: the first ticks of both sides still run cold.
        return notice, np.asarray(latencies[10:])
    finally:
        for proc in (writer, reader):
            if proc is not None:
                proc.join(10.0)
                if proc.is_alive():
                    proc.terminate()
        cleanup(run_id)


def measure(quick: bool = False, load: int = 0,
            transports: tuple[str, ...] = TRANSPORTS) -> list[Figure]:
    """Measure one-way latency p50/p99 per transport and record shape.

    :param quick: 1 s of records per case instead of 5 s.
    :param load: number of busy background processes during the measurement.
    :param transports: which transports to measure.
    :return: p50 and p99 per transport and shape, and for the default channel the target
        figures (p99 <= 50 us; p99 at least 5x lower than UDP's).
    """
    count = 1000 if quick else 5000
    note_load = f'{load} busy processes' if load else 'no extra load'
    figures: list[Figure] = []
    p99: dict[tuple[str, str], float] = {}
    note = note_load
    with BusyLoad(load):
        for label, shape in SHAPES.items():
            for transport in transports:
                notice, lat = one_way_latency_us(transport, shape, count)
                if lat.size == 0:
                    continue
                note = f'{note_load}, {notice}'
                p99[transport, label] = float(np.percentile(lat, 99))
                figures.append(Figure(f'{transport} one-way p50 ({label})',
                                      float(np.percentile(lat, 50)), 'us', note=note))
                figures.append(Figure(f'{transport} one-way p99 ({label})',
                                      p99[transport, label], 'us',
                                      note=f'{lat.size + 10}/{count} measured'))
    for label, shape in SHAPES.items():
        for backend in (b for b in ('shm', 'iceoryx2') if b in transports):
            write_us, read_us = call_cost_us(backend, shape, 2000 if quick else 20000)
            figures.append(Figure(f'{backend} write+read cost p50 ({label})', write_us + read_us,
                                  'us', note=f'write {write_us:.2f} + read {read_us:.2f} us, '
                                  'one process, hot loop'))
    for label in SHAPES:
        chosen = p99.get((DEFAULT_BACKEND, label))
        if chosen is None:
            continue
        figures.append(Figure(f'{DEFAULT_BACKEND} (default) p99 ({label})', chosen, 'us',
                              target=f'<= {TARGET_P99_US:g} us',
                              met=chosen <= TARGET_P99_US, note=note))
        udp = p99.get(('udp', label))
        if udp is not None:
            ratio = udp / chosen
            figures.append(Figure(f'UDP p99 / {DEFAULT_BACKEND} p99 ({label})', ratio, 'x',
                                  target=f'>= {TARGET_RATIO:g}x', met=ratio >= TARGET_RATIO,
                                  note=f'UDP p99 {udp:.1f} us in the same run'))
    return figures


def main() -> None:
    """Print the transport table (``python -m rt_async_control.benchmarks.transport``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--full', action='store_true', help='5 s per case instead of 1 s')
    parser.add_argument('--load', type=int, default=0, help='busy background processes')
    parser.add_argument('--transports', nargs='+', default=list(TRANSPORTS),
                        choices=TRANSPORTS)
    args = parser.parse_args()
    for fig in measure(quick=not args.full, load=args.load, transports=tuple(args.transports)):
        target = f'  target {fig.target}: {"met" if fig.met else "NOT met"}' if fig.target else ''
        print(f'{fig.name:45s} {fig.value:9.2f} {fig.unit:3s}{target}  ({fig.note})')


if __name__ == '__main__':
    main()
