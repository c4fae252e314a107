"""Inference times for virtual-time runs: a seeded distribution, or times measured on hardware.

A distribution (``fixed``, ``normal``, ``lognormal`` by mean and coefficient of variation) is
the workers' own :class:`~rt_async_control.roles.worker_role.Emulation`, drawn inside
:class:`~rt_async_control.roles.worker_role.WorkerRole` exactly as the real-time hosts draw
their padding. :class:`MeasuredTimes` has the same interface (``draw``, ``quantile``,
``describe``, ``active``) and resamples a table of times measured on real hardware, so a
worker can be handed either.

A table is a JSON file (a list of seconds, or an object with one list under
``inference_times_s``/``inference_time``/``samples``) or a CSV file (one number per line, or a
header row and a column named ``inference_time_s`` or ``inference_time``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
import json
import math
from pathlib import Path

import numpy as np

from rt_async_control.errors import InputError
from rt_async_control.roles.worker_role import Emulation

COLUMNS: tuple[str, ...] = ('inference_times_s', 'inference_time_s', 'inference_time',
                            'samples')


@dataclass(frozen=True)
class MeasuredTimes:
    """Inference times drawn uniformly, with replacement, from measured samples.

    :param samples: measured inference times, seconds, each finite and > 0.
    :param scale: factor applied to every sample (to study a faster or slower machine).
    :param source: where the samples came from, for reports.
    """

    samples: tuple[float, ...]
    scale: float = 1.0
    source: str = 'table'

    def __post_init__(self) -> None:
        """Check the samples and the scale."""
        if not self.samples:
            raise InputError(f'inference time table {self.source}: no samples')
        values = np.asarray(self.samples, dtype=np.float64)
        if not (np.isfinite(values).all() and (values > 0.0).all()):
            bad = values[~(np.isfinite(values) & (values > 0.0))][0]
            raise InputError(f'inference time table {self.source}: sample {bad!r} is not a '
                             f'finite time > 0')
        if not (math.isfinite(self.scale) and self.scale > 0.0):
            raise InputError(f'inference time scale: {self.scale!r} must be finite and > 0')
        object.__setattr__(self, 'samples', tuple(float(v) for v in values))

    @classmethod
    def from_file(cls, path: str | Path) -> MeasuredTimes:
        """Read a table of measured times (JSON or CSV, see the module docstring).

        :param path: the file.
        :return: the table, unscaled.
        :raises InputError: unreadable file, no samples, or a value that is not a time.
        """
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError(f'inference time table {path}: cannot read ({exc.strerror})'
                             ) from None
        values = _parse_json(text, path) if path.suffix == '.json' else _parse_csv(text, path)
        return cls(tuple(values), source=str(path))

    @property
    def distribution(self) -> str:
        """Return ``'measured'``: the name reports use for a table."""
        return 'measured'

    @property
    def active(self) -> bool:
        """Return True: every call takes a sampled time."""
        return True

    @property
    def mean_s(self) -> float:
        """Return the mean of the scaled samples, seconds."""
        return float(np.mean(self.samples)) * self.scale

    @property
    def cv(self) -> float:
        """Return the coefficient of variation of the samples."""
        values = np.asarray(self.samples)
        return float(np.std(values) / np.mean(values))

    def scaled_to(self, mean_s: float) -> MeasuredTimes:
        """Return the same table rescaled to a mean of ``mean_s`` (same shape, same CV).

        :param mean_s: the wanted mean, seconds, > 0.
        :return: the rescaled table.
        """
        return MeasuredTimes(self.samples, mean_s / float(np.mean(self.samples)), self.source)

    def draw(self, rng: np.random.Generator) -> float:
        """Draw one time (seconds).

        :param rng: the worker's generator.
        :return: one of the samples, scaled.
        """
        return self.samples[int(rng.integers(len(self.samples)))] * self.scale

    def quantile(self, q: float) -> float:
        """Return the ``q`` quantile of the scaled samples, seconds."""
        return float(np.quantile(self.samples, q)) * self.scale

    def describe(self) -> str:
        """Return e.g. ``'measured mean 40 ms cv 0.12 (412 samples)'``."""
        return (f'measured mean {self.mean_s * 1e3:g} ms cv {self.cv:.2g} '
                f'({len(self.samples)} samples)')


InferenceTimes = Emulation | MeasuredTimes


def inference_times(distribution: str, mean_s: float, cv: float = 0.0,
                    table: MeasuredTimes | None = None) -> InferenceTimes:
    """Return the source of inference times for one run.

    :param distribution: ``fixed``, ``normal``, ``lognormal`` or ``measured``.
    :param mean_s: mean inference time, seconds, > 0.
    :param cv: coefficient of variation (ignored by ``fixed`` and ``measured``).
    :param table: the measured times, required for ``measured`` (rescaled to ``mean_s``).
    :return: an :class:`Emulation` or a :class:`MeasuredTimes`.
    :raises InputError: unknown distribution, bad parameters or a missing table.
    """
    if not (math.isfinite(mean_s) and mean_s > 0.0):
        raise InputError(f'inference time mean: {mean_s!r} must be finite and > 0')
    if distribution == 'measured':
        if table is None:
            raise InputError("inference time distribution 'measured' needs a table file")
        return table.scaled_to(mean_s)
    if distribution == 'none':
        raise InputError("inference time distribution 'none': virtual time needs a time")
    return Emulation(distribution, mean_s, cv)


def _parse_json(text: str, path: Path) -> list[float]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f'inference time table {path}: not valid JSON ({exc.msg})') from None
    if isinstance(data, dict):
        key = next((k for k in COLUMNS if k in data), None)
        if key is None:
            raise InputError(f'inference time table {path}: expected a list under one of '
                             f'{", ".join(COLUMNS)}')
        data = data[key]
    if not isinstance(data, list):
        raise InputError(f'inference time table {path}: expected a list of seconds')
    return [_number(v, path) for v in data]


def _parse_csv(text: str, path: Path) -> list[float]:
    rows = [row for row in csv.reader(text.splitlines()) if row and row[0].strip()]
    if not rows:
        return []
    column = 0
    try:
        float(rows[0][0])
    except ValueError:
        header = [h.strip() for h in rows.pop(0)]
        column = next((header.index(k) for k in COLUMNS if k in header), -1)
        if column < 0:
            raise InputError(f'inference time table {path}: no column named one of '
                             f'{", ".join(COLUMNS)} (header {header})') from None
    return [_number(row[column], path) for row in rows]


def _number(value: object, path: Path) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f'inference time table {path}: {value!r} is not a number') from None
