"""Streaming statistics: percentiles match numpy, counts are exact, nothing grows per tick."""

import math
import tracemalloc

import numpy as np
import pytest

from rt_async_control.core.arbiter import Decision
from rt_async_control.core.stats import TickStats, Window


def decision(worker=0, age=0.03, fallback=None):
    return Decision(np.zeros(1), -1 if fallback else worker, math.nan if fallback else age,
                    fallback, -1 if fallback else 0)


@pytest.mark.parametrize('n', [1, 7, 1000, 5000])
@pytest.mark.parametrize('seed', [0, 1])
def test_window_percentiles_match_numpy(n, seed):
    data = np.random.default_rng(seed).lognormal(size=n)
    window = Window(capacity=1024)
    for x in data:
        window.add(float(x))
    kept = data[-1024:]
    for q in (0, 50, 99, 100):
        assert window.percentile(q) == pytest.approx(np.percentile(kept, q))
    assert window.max == data.max()  # exact over every sample, not just the ring
    assert window.mean == pytest.approx(data.mean())
    assert window.count == n
    assert np.array_equal(window.values(), kept)
    summary = window.summary(scale=1e3)
    assert summary['p99'] == pytest.approx(1e3 * np.percentile(kept, 99))
    assert summary['count'] == n


def test_empty_window_reports_nan():
    window = Window(8)
    assert math.isnan(window.percentile(50)) and math.isnan(window.mean)
    assert window.summary()['count'] == 0
    with pytest.raises(ValueError, match='capacity'):
        Window(0)


def test_tick_stats_period_error_missed_ticks_and_age():
    stats = TickStats(0.01)
    rng = np.random.default_rng(3)
    times = np.cumsum(0.01 + rng.normal(0.0, 1e-4, size=500))
    times[300:] += 0.02  # one late tick: an interval of about 3 periods
    for t in times:
        stats.record_tick(float(t), decision(age=0.03))
    summary = stats.summary()
    errors = np.abs(np.diff(times) - 0.01) * 1e6
    assert summary['ticks'] == 500
    assert summary['missed_ticks'] == 1
    assert summary['period_error_us']['p99'] == pytest.approx(np.percentile(errors, 99))
    assert summary['period_error_us']['max'] == pytest.approx(errors.max())
    assert summary['interval_ms']['p50'] == pytest.approx(np.median(np.diff(times)) * 1e3)
    assert summary['action_age_ms']['p50'] == pytest.approx(30.0)
    assert summary['duration_s'] == pytest.approx(times[-1] - times[0])


def test_tick_stats_inaction_selections_and_inference():
    stats = TickStats(0.01)
    pattern = [0, 1, None, None, None, 2, 1, None]
    for i, worker in enumerate(pattern):
        stats.record_tick(i * 0.01, decision(worker) if worker is not None
                          else decision(fallback='hold'))
    for worker, seconds in [(0, 0.03), (0, 0.05), (1, 0.04)]:
        stats.record_inference(worker, seconds)
    summary = stats.summary()
    assert summary['inaction_ticks'] == 4
    assert summary['inaction_ratio'] == pytest.approx(0.5)
    assert summary['longest_inaction_ticks'] == 3
    assert summary['fallbacks'] == {'hold': 4}
    assert summary['selections'] == {0: 1, 1: 2, 2: 1}
    assert summary['inference_ms'][0]['max'] == pytest.approx(50.0)
    assert summary['inference_ms'][1]['count'] == 1


def test_step_back_in_time_adds_no_interval():
    stats = TickStats(0.01)
    for t in (1.0, 1.01, 0.5, 0.51):
        stats.record_tick(t, decision())
    assert stats.intervals.count == 2 and stats.ticks == 4


def test_record_tick_does_not_allocate_per_tick():
    stats = TickStats(0.01, capacity=4096)
    d, stale = decision(), decision(fallback='zero')
    for i in range(100):  # every dict key exists after the warm-up
        stats.record_tick(i * 0.01, d if i % 2 else stale)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(100, 20100):
        stats.record_tick(i * 0.01, d if i % 2 else stale)
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, 'filename'))
    tracemalloc.stop()
    assert grown < 4096  # 20000 ticks; one float per tick would be > 400 kB


def test_tick_stats_rejects_bad_period():
    with pytest.raises(ValueError, match='control_period_s'):
        TickStats(0.0)
