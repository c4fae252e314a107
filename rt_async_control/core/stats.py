"""Streaming statistics cheap enough to update on every control tick.

Samples go into a preallocated ring (the last ``capacity`` of them) while count, mean and
maximum are exact over every sample; percentiles are computed from the ring only when a
summary is asked for. Nothing here allocates per sample.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

DEFAULT_CAPACITY = 65536


class Window:
    """The last ``capacity`` samples of one quantity, plus exact count, mean and max.

    :param capacity: ring size; percentiles cover the last ``capacity`` samples.
    """

    __slots__ = ('_buf', '_capacity', '_index', 'count', 'max', '_sum')

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f'capacity = {capacity}: must be >= 1')
        # np.full touches every page now: np.zeros would claim memory as samples arrive,
        # which a long run would read as growth.
        self._buf = np.full(capacity, 0.0)
        self._capacity = capacity
        self._index = 0
        self.count = 0
        self.max = -math.inf
        self._sum = 0.0

    def add(self, x: float) -> None:
        """Record one sample (O(1), no allocation).

        :param x: the sample.
        """
        self._buf[self._index] = x
        self._index += 1
        if self._index == self._capacity:
            self._index = 0
        self.count += 1
        self._sum += x
        if x > self.max:
            self.max = x

    @property
    def mean(self) -> float:
        """Return the mean of every sample (``nan`` when empty)."""
        return self._sum / self.count if self.count else math.nan

    def values(self) -> np.ndarray:
        """Return a copy of the samples in the ring, oldest first."""
        if self.count < self._capacity:
            return self._buf[:self.count].copy()
        return np.roll(self._buf, -self._index)

    def percentile(self, q: float) -> float:
        """Return the ``q``-th percentile of the samples in the ring, ``q`` from 0 to 100.

        :param q: percentile, 0 to 100 (linear interpolation, as ``numpy.percentile``).
        :return: the value, ``nan`` when empty.
        """
        if not self.count:
            return math.nan
        return float(np.percentile(self._buf[:min(self.count, self._capacity)], q))

    def summary(self, scale: float = 1.0) -> dict[str, float]:
        """Return ``p50``, ``p99``, ``max``, ``mean`` (times ``scale``) and ``count``.

        :param scale: unit factor, e.g. ``1e3`` for seconds to milliseconds.
        :return: the figures; ``nan`` where there are no samples.
        """
        if not self.count:
            return {'p50': math.nan, 'p99': math.nan, 'max': math.nan, 'mean': math.nan,
                    'count': 0}
        p50, p99 = np.percentile(self._buf[:min(self.count, self._capacity)], (50, 99))
        return {'p50': float(p50) * scale, 'p99': float(p99) * scale, 'max': self.max * scale,
                'mean': self.mean * scale, 'count': self.count}


class DecisionLike(Protocol):
    """What :meth:`TickStats.record_tick` reads from an arbiter decision."""

    worker_id: int
    action_age: float
    fallback: str | None


class TickStats:
    """Statistics of the arbiter's ticks: period error, action age, inaction, selections.

    :param control_period_s: the nominal tick period, seconds.
    :param capacity: ring size of each quantity.
    :param missed_factor: an interval above ``missed_factor`` periods counts as a missed tick.
    """

    def __init__(self, control_period_s: float, capacity: int = DEFAULT_CAPACITY,
                 missed_factor: float = 1.5) -> None:
        if not control_period_s > 0.0:
            raise ValueError(f'control_period_s = {control_period_s!r}: must be > 0')
        self.period = control_period_s
        self.capacity = capacity
        self._missed_after = missed_factor * control_period_s
        self.intervals = Window(capacity)
        self.period_error = Window(capacity)  # |interval - period|
        self.action_age = Window(capacity)
        self.inference: dict[int, Window] = {}
        self.selections: dict[int, int] = {}
        self.fallbacks: dict[str, int] = {}
        self.ticks = 0
        self.inaction_ticks = 0
        self.missed_ticks = 0
        self.longest_inaction = 0
        self._inaction_run = 0
        self._last: float | None = None
        self.first: float | None = None

    def record_tick(self, now: float, decision: DecisionLike) -> None:
        """Record one tick and the decision taken at it.

        :param now: the tick time, seconds (a step back in time restarts the intervals).
        :param decision: the arbiter's decision.
        """
        last = self._last
        if last is not None and now > last:
            interval = now - last
            self.intervals.add(interval)
            self.period_error.add(abs(interval - self.period))
            if interval > self._missed_after:
                self.missed_ticks += 1
        if self.first is None:
            self.first = now
        self._last = now
        self.ticks += 1
        fallback = decision.fallback
        if fallback is None:
            self.action_age.add(decision.action_age)
            worker = decision.worker_id
            self.selections[worker] = self.selections.get(worker, 0) + 1
            self._inaction_run = 0
        else:
            self.inaction_ticks += 1
            self.fallbacks[fallback] = self.fallbacks.get(fallback, 0) + 1
            self._inaction_run += 1
            if self._inaction_run > self.longest_inaction:
                self.longest_inaction = self._inaction_run

    def record_inference(self, worker_id: int, inference_time: float) -> None:
        """Record one measured inference time of a worker.

        :param worker_id: the worker.
        :param inference_time: seconds.
        """
        window = self.inference.get(worker_id)
        if window is None:
            # Once per worker; smaller rings, there are far fewer inferences than ticks.
            window = self.inference[worker_id] = Window(max(1, self.capacity // 16))
        window.add(inference_time)

    def summary(self) -> dict[str, object]:
        """Return every figure, in the units named by the keys (JSON-friendly).

        :return: ``ticks``, ``interval_ms``, ``period_error_us``, ``missed_ticks``,
            ``action_age_ms``, ``inaction_ticks``, ``inaction_ratio``,
            ``longest_inaction_ticks``, ``fallbacks``, ``selections`` (per worker),
            ``inference_ms`` (per worker); distributions as ``{p50, p99, max, mean, count}``.
        """
        return {
            'ticks': self.ticks,
            'duration_s': 0.0 if self.first is None else self._last - self.first,
            'interval_ms': self.intervals.summary(1e3),
            'period_error_us': self.period_error.summary(1e6),
            'missed_ticks': self.missed_ticks,
            'action_age_ms': self.action_age.summary(1e3),
            'inaction_ticks': self.inaction_ticks,
            'inaction_ratio': self.inaction_ticks / self.ticks if self.ticks else math.nan,
            'longest_inaction_ticks': self.longest_inaction,
            'fallbacks': dict(self.fallbacks),
            'selections': dict(sorted(self.selections.items())),
            'inference_ms': {w: self.inference[w].summary(1e3) for w in sorted(self.inference)},
        }
