"""Per-event logs of a child process in bounded memory, with exact whole-run counters.

A child logs one row per event (a tick, an inference, a state) for the report. Appending
Python floats to lists grew every process by megabytes per minute; a :class:`Log` instead
preallocates (and touches, so the resident size does not creep up as pages fill) one ring
buffer of ``capacity`` rows that keeps the newest rows. Every :data:`BLOCK` rows the block just
filled is folded into running counters per column (rows, finite values, sum, min, max, zeros,
the first non-zero row and the zeros after it) and a log-spaced histogram, so the counts and
means stay exact for the whole run and quantiles stay within half a histogram bin (0.5 %)
even after the ring has wrapped. Runs the ring covers (the children size it from the planned
duration) keep every row, and their quantiles are exact.

:meth:`Log.arrays` gives the retained rows per column plus ``<column>@log`` (the counters)
and, once rows were dropped, ``<column>@hist``; :func:`column` reads them back as a
:class:`Column` and :func:`quantiles` merges columns (e.g. the same figure of every worker).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import math

import numpy as np

#: Rows folded into the counters at once; capacities are multiples of it.
BLOCK = 1024
#: Largest ring a log gets by default: the last 10 minutes at 500 Hz.
MAX_ROWS = 300_000
#: Histogram: |x| from HIST_LOW up, bins HIST_RATIO wide (relative), per sign; |x| below
#: HIST_LOW (zero included) shares the middle bin, |x| above the top the outermost ones.
HIST_LOW = 1e-9
HIST_RATIO = 1.01
HIST_SIDE = math.ceil(math.log(1e15) / math.log(HIST_RATIO))
HIST_BINS = 2 * HIST_SIDE + 1
#: The counters of ``<column>@log``, in order.
COUNTERS = ('rows', 'finite', 'sum', 'min', 'max', 'zeros', 'first_nonzero',
            'zeros_after_first_nonzero')

_default_rows = 64 * BLOCK


def set_default_capacity(rows: int) -> int:
    """Set the ring size of logs made without one (a child sets it from its planned run).

    :param rows: rows to keep; rounded up to a multiple of :data:`BLOCK`.
    :return: the size in use.
    """
    global _default_rows
    _default_rows = _round(rows)
    return _default_rows


def capacity_for(duration_s: float, rate_hz: float, slack_s: float = 30.0) -> int:
    """Return the rows a log needs for ``duration_s`` at ``rate_hz`` (25 % margin), capped.

    :param duration_s: planned run length, seconds (``inf``: the cap).
    :param rate_hz: the most rows per second the log gets.
    :param slack_s: start-up and shut-down seconds on top.
    :return: rows, at most :data:`MAX_ROWS`.
    """
    rows = 1.25 * (duration_s + slack_s) * rate_hz
    return _round(min(rows, MAX_ROWS) if math.isfinite(rows) else MAX_ROWS)


def _round(rows: float) -> int:
    return max(BLOCK, math.ceil(rows / BLOCK) * BLOCK)


def _bins(x: np.ndarray) -> np.ndarray:
    # Histogram index of finite values: middle bin for |x| < HIST_LOW, log-spaced by sign.
    a = np.abs(x)
    with np.errstate(divide='ignore'):
        k = np.floor(np.log(np.maximum(a, HIST_LOW) / HIST_LOW) / math.log(HIST_RATIO))
    k = np.where(a < HIST_LOW, -1, np.minimum(k, HIST_SIDE - 1)).astype(np.int64)
    return np.where(x < 0, HIST_SIDE - 1 - k, HIST_SIDE + 1 + k)


@dataclass
class _Counters:
    finite: np.ndarray
    total: np.ndarray
    low: np.ndarray
    high: np.ndarray
    zeros: np.ndarray
    first: np.ndarray
    after: np.ndarray
    hist: np.ndarray

    @classmethod
    def empty(cls, k: int) -> _Counters:
        return cls(np.zeros(k, np.int64), np.zeros(k), np.full(k, np.inf), np.full(k, -np.inf),
                   np.zeros(k, np.int64), np.full(k, -1, np.int64), np.zeros(k, np.int64),
                   # np.full writes the pages (np.zeros would map them as bins fill).
                   np.full((k, HIST_BINS), 0, np.int64))

    def copy(self) -> _Counters:
        """Return an independent copy."""
        arrays = (self.finite, self.total, self.low, self.high, self.zeros, self.first,
                  self.after, self.hist)
        return _Counters(*(a.copy() for a in arrays))

    def fold(self, block: np.ndarray, offset: int) -> None:
        """Add rows ``block`` (global index of its first row ``offset``), in place.

        In place, so a fold allocates only block-sized temporaries: a new histogram per fold
        would raise the allocator's thresholds and keep megabytes resident.
        """
        finite = np.isfinite(block)
        self.finite += finite.sum(axis=0)
        self.total += np.where(finite, block, 0.0).sum(axis=0)
        np.minimum(self.low, np.where(finite, block, np.inf).min(axis=0, initial=np.inf),
                   out=self.low)
        np.maximum(self.high, np.where(finite, block, -np.inf).max(axis=0, initial=-np.inf),
                   out=self.high)
        zero = block == 0.0
        nonzero = finite & ~zero
        for j in range(block.shape[1]):
            if self.first[j] >= 0:
                self.after[j] += zero[:, j].sum()
            else:
                hit = np.flatnonzero(nonzero[:, j])
                if len(hit):
                    self.first[j] = offset + hit[0]
                    self.after[j] = zero[hit[0]:, j].sum()
            values = block[finite[:, j], j]
            if len(values):
                self.hist[j] += np.bincount(_bins(values), minlength=HIST_BINS)
        self.zeros += zero.sum(axis=0)


class Log:
    """Columns of floats, one row per event, in a preallocated ring (see the module doc).

    :param columns: column names.
    :param capacity: rows kept; ``None``: the default set by :func:`set_default_capacity`.
    """

    def __init__(self, *columns: str, capacity: int | None = None) -> None:
        """Allocate and touch the ring and the counters."""
        self.names = tuple(columns)
        self.capacity = _round(_default_rows if capacity is None else capacity)
        # np.full writes every page now: the resident size is paid up front, not per event.
        self._ring = np.full((self.capacity, len(columns)), np.nan)
        self.rows = 0
        self._folded = _Counters.empty(len(columns))

    def add(self, *values: float) -> None:
        """Append one row (one value per column, in order)."""
        self._ring[self.rows % self.capacity] = values
        self.rows += 1
        if self.rows % BLOCK == 0:
            start = (self.rows - BLOCK) % self.capacity
            self._folded.fold(self._ring[start:start + BLOCK], self.rows - BLOCK)

    @property
    def dropped(self) -> int:
        """Return how many of the oldest rows the ring no longer holds."""
        return max(0, self.rows - self.capacity)

    @property
    def nbytes(self) -> int:
        """Return the bytes of every array the log holds (constant after construction)."""
        c = self._folded
        arrays = (c.finite, c.total, c.low, c.high, c.zeros, c.first, c.after, c.hist)
        return self._ring.nbytes + sum(a.nbytes for a in arrays)

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """Return name -> the retained values, oldest first (copies)."""
        return dict(zip(self.names, self._retained().T))

    def _retained(self) -> np.ndarray:
        if self.rows <= self.capacity:
            return self._ring[:self.rows].copy()
        start = self.rows % self.capacity
        return np.concatenate((self._ring[start:], self._ring[:start]))

    def _counters(self) -> _Counters:
        tail = self.rows % BLOCK
        if not tail:
            return self._folded
        start = (self.rows - tail) % self.capacity
        counters = self._folded.copy()
        counters.fold(self._ring[start:start + tail], self.rows - tail)
        return counters

    def arrays(self, prefix: str = '') -> dict[str, np.ndarray]:
        """Return the retained columns (float64, oldest first) and their counters.

        :param prefix: put before every name.
        :return: ``name`` -> values, ``name@log`` -> :data:`COUNTERS`, and ``name@hist`` ->
            the histogram when rows were dropped.
        """
        counters = self._counters()
        out: dict[str, np.ndarray] = {}
        for j, (name, values) in enumerate(zip(self.names, self._retained().T)):
            out[prefix + name] = np.ascontiguousarray(values)
            out[f'{prefix}{name}@log'] = np.array(
                [self.rows, counters.finite[j], counters.total[j], counters.low[j],
                 counters.high[j], counters.zeros[j], counters.first[j], counters.after[j]],
                dtype=np.float64)
            if self.dropped:
                out[f'{prefix}{name}@hist'] = counters.hist[j].copy()
        return out


@dataclass(frozen=True)
class Column:
    """One logged column as a reader sees it: retained values and whole-run counters.

    :param values: the retained rows (every row when :attr:`complete`).
    :param rows: rows logged over the whole run.
    :param finite: finite values among them.
    :param total: their sum.
    :param low: their minimum (``inf`` when none).
    :param high: their maximum (``-inf`` when none).
    :param zeros: values equal to zero.
    :param first_nonzero: index of the first finite non-zero row, -1 when none.
    :param zeros_after_first_nonzero: zeros from that row on.
    :param hist: the histogram (only when rows were dropped).
    """

    values: np.ndarray
    rows: int
    finite: int
    total: float
    low: float
    high: float
    zeros: int
    first_nonzero: int
    zeros_after_first_nonzero: int
    hist: np.ndarray | None = None

    @property
    def complete(self) -> bool:
        """Return whether every row of the run is in :attr:`values`."""
        return self.hist is None and len(self.values) == self.rows

    @property
    def mean(self) -> float:
        """Return the mean of the finite values of the whole run (``nan`` when none)."""
        return self.total / self.finite if self.finite else math.nan

    def histogram(self) -> np.ndarray:
        """Return the histogram of the whole run; computed from the values when complete."""
        if self.hist is not None:
            return self.hist
        values = self.values[np.isfinite(self.values)]
        return np.bincount(_bins(values), minlength=HIST_BINS)

    def zero_ratio_from_first_nonzero(self) -> float:
        """Return the share of zeros from the first non-zero row on (``nan`` when none)."""
        if self.first_nonzero < 0:
            return math.nan
        return self.zeros_after_first_nonzero / max(1, self.rows - self.first_nonzero)


def column(arrays: Mapping[str, np.ndarray], key: str) -> Column:
    """Return column ``key`` of a child's arrays (counters computed when absent).

    :param arrays: what :meth:`Log.arrays` wrote (or plain arrays without counters).
    :param key: the column's name, prefix included.
    :return: the column; empty when the key is absent.
    """
    values = np.asarray(arrays.get(key, np.zeros(0)), dtype=np.float64)
    stats = arrays.get(f'{key}@log')
    if stats is None:
        c = _Counters.empty(1)
        c.fold(values.reshape(-1, 1), 0)
        stats = [len(values), c.finite[0], c.total[0], c.low[0], c.high[0], c.zeros[0],
                 c.first[0], c.after[0]]
    hist = arrays.get(f'{key}@hist')
    rows, finite, total, low, high, zeros, first, after = (float(x) for x in stats)
    return Column(values, int(rows), int(finite), total, low, high, int(zeros), int(first),
                  int(after), None if hist is None else np.asarray(hist, np.int64))


def quantiles(columns: Sequence[Column], qs: Sequence[float]) -> list[float]:
    """Return the quantiles, each in 0..1, of the finite values of several columns together.

    Exact (linear interpolation, as ``np.percentile``) when every column is complete; from
    the merged histograms otherwise (the bin's geometric middle, within ``[min, max]``).

    :param columns: the columns.
    :param qs: the quantiles.
    :return: one value per quantile, ``nan`` when there is no finite value.
    """
    if all(c.complete for c in columns):
        values = np.concatenate([c.values for c in columns] or [np.zeros(0)])
        values = values[np.isfinite(values)]
        if not len(values):
            return [math.nan] * len(qs)
        return [float(v) for v in np.percentile(values, [100.0 * q for q in qs])]
    hist = np.sum([c.histogram() for c in columns], axis=0)
    low = min(c.low for c in columns)
    high = max(c.high for c in columns)
    cum = np.cumsum(hist)
    if not cum[-1]:
        return [math.nan] * len(qs)
    out = []
    for q in qs:
        if q <= 0.0 or q >= 1.0:  # the extremes are counted exactly
            out.append(low if q <= 0.0 else high)
            continue
        b = int(np.searchsorted(cum, q * (cum[-1] - 1), side='right'))
        out.append(float(np.clip(_bin_middle(b), low, high)))
    return out


def _bin_middle(b: int) -> float:
    if b == HIST_SIDE:
        return 0.0
    k = b - HIST_SIDE - 1 if b > HIST_SIDE else HIST_SIDE - 1 - b
    magnitude = HIST_LOW * HIST_RATIO ** (k + 0.5)
    return magnitude if b > HIST_SIDE else -magnitude
