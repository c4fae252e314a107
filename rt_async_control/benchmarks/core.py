"""Per-tick cost of the core on the control path: selection, full tick, arrival, statistics.

Each call is timed on its own with ``perf_counter_ns`` over many iterations, with fake time
advancing 1 ms per tick and fresh chunks arriving as they would from staggered workers (8
workers, chunks of H = 16 rows, 3 command entries). The timer's own cost is measured in the
same run and reported as the baseline. The garbage collector stays on, as in the real loop.
Run: ``python -m rt_async_control.benchmarks.core [--quick]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import time

import numpy as np

from rt_async_control.benchmarks import Figure
from rt_async_control.core.arbiter import Arbiter, select
from rt_async_control.core.config import ArbiterConfig
from rt_async_control.core.messages import ActionChunk, chunk_problem
from rt_async_control.core.stats import TickStats

WORKERS = 8
HORIZON = 16
ACTION_DIM = 3
TICK_S = 1e-3
TARGET_P99_US = 20.0


def _percentiles(samples_ns: np.ndarray) -> tuple[float, float]:
    p50, p99 = np.percentile(samples_ns, (50, 99)) / 1e3
    return float(p50), float(p99)


def _time_calls(call: Callable[[int], object], iterations: int,
                between: Callable[[int], object] | None = None) -> np.ndarray:
    # `between` runs untimed before each call (new arrivals), so only `call` is measured.
    clock = time.perf_counter_ns
    samples = np.empty(iterations, dtype=np.int64)
    for i in range(iterations):
        if between is not None:
            between(i)
        start = clock()
        call(i)
        samples[i] = clock() - start
    return samples


def _select_checking_each_tick(candidates: list[ActionChunk], now: float,
                               max_age: float) -> tuple[ActionChunk, int] | None:
    valid = [c for c in candidates if chunk_problem(c, ACTION_DIM) is None]
    return select(valid, now, max_age)


def _chunk(rng: np.random.Generator, worker: int, stamp: float) -> ActionChunk:
    actions = rng.uniform(-1.0, 1.0, size=(HORIZON, ACTION_DIM))
    return ActionChunk(stamp, worker, 0.03, actions, TICK_S * 2)


def _arbiter(rate_limit: float, ramp: float) -> Arbiter:
    config = ArbiterConfig(max_action_age_s=0.1, rate_limit_per_s=rate_limit, ramp_in_s=ramp)
    limit = np.full(ACTION_DIM, 0.8)
    return Arbiter(config, ACTION_DIM, -limit, limit)


def _figures(name: str, samples: np.ndarray, target: bool, note: str) -> list[Figure]:
    p50, p99 = _percentiles(samples)
    met = p99 <= TARGET_P99_US if target else None
    return [
        Figure(f'{name} p50', p50, 'us', note=note),
        Figure(f'{name} p99', p99, 'us', f'<= {TARGET_P99_US:g} us' if target else None, met,
               note),
    ]


def measure(quick: bool = False) -> list[Figure]:
    """Measure the core's per-tick costs.

    :param quick: 20 000 iterations per figure instead of 200 000.
    :return: the figures: timer baseline, ``select``, ``Arbiter.tick`` (plain, and with rate
        limit and ramp-in), ``Arbiter.offer``, ``TickStats.record_tick``.
    """
    iterations = 20_000 if quick else 200_000
    rng = np.random.default_rng(0)
    baseline = _time_calls(lambda i: None, iterations)
    base_p50, _ = _percentiles(baseline)
    note = f'{WORKERS} candidates, H={HORIZON}; timer p50 {base_p50:.2f} us'

    # Oldest first: every candidate beats the one before, the slowest order for select().
    candidates = [_chunk(rng, w, -0.03 + w * 0.004) for w in range(WORKERS)]
    select_ns = _time_calls(lambda i: select(candidates, 0.001 + (i % 20) * 1e-3, 0.1),
                            iterations)
    figures = [Figure('timer + empty call p50', base_p50, 'us', note='baseline')]
    figures += _figures('select()', select_ns, True, note)
    # Baseline design: check every candidate's shape and values on every tick, which the
    # arbiter does once per arrival instead.
    naive_ns = _time_calls(lambda i: _select_checking_each_tick(
        candidates, 0.001 + (i % 20) * 1e-3, 0.1), iterations)
    naive_p50, _ = _percentiles(naive_ns)
    figures.append(Figure('select() speed-up vs checking every tick', naive_p50 /
                          _percentiles(select_ns)[0], 'x',
                          note=f'baseline p50 {naive_p50:.2f} us'))

    # Staggered arrivals: every 4 ticks one worker delivers a chunk 30 ms old.
    fresh = [_chunk(rng, w % WORKERS, 0.0) for w in range(64)]
    for label, rate, ramp in (('Arbiter.tick()', 0.0, 0.0),
                              ('Arbiter.tick() rate limit + ramp-in', 50.0, 0.5)):
        arbiter = _arbiter(rate, ramp)
        for w in range(WORKERS):
            arbiter.offer(_chunk(rng, w, -0.03 + w * 0.004), 0.0)

        def arrive(i: int, arbiter: Arbiter = arbiter) -> None:
            if i % 4 == 0:
                now = i * TICK_S
                template = fresh[(i // 4) % len(fresh)]
                arbiter.offer(ActionChunk(now - 0.03, (i // 4) % WORKERS, 0.03,
                                          template.actions, template.step), now)

        ticks = _time_calls(lambda i, arbiter=arbiter: arbiter.tick(i * TICK_S), iterations,
                            arrive)
        figures += _figures(label, ticks, True, note)

    arbiter = _arbiter(0.0, 0.0)
    offers = [ActionChunk(i * TICK_S, i % WORKERS, 0.03, fresh[i % len(fresh)].actions,
                          TICK_S * 2) for i in range(iterations)]
    offer_ns = _time_calls(lambda i: arbiter.offer(offers[i], i * TICK_S + 0.03), iterations)
    figures += _figures('Arbiter.offer() (check + private copy)', offer_ns, False, note)

    stats = TickStats(TICK_S)
    decisions = [arbiter.tick((iterations + i) * TICK_S) for i in range(WORKERS)]
    stats_ns = _time_calls(lambda i: stats.record_tick(i * TICK_S, decisions[i % WORKERS]),
                           iterations)
    figures += _figures('TickStats.record_tick()', stats_ns, False, 'ring buffers, no allocation')
    return figures


def main(argv: list[str] | None = None) -> None:
    """Print the figures (``python -m rt_async_control.benchmarks.core``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='fewer iterations')
    args = parser.parse_args(argv)
    for figure in measure(args.quick):
        target = f'  target {figure.target}: {"met" if figure.met else "NOT met"}' if (
            figure.target) else ''
        print(f'{figure.name:45s} {figure.value:9.2f} {figure.unit}{target}')


if __name__ == '__main__':
    main()
