"""Benchmarks behind ``rt-async-control bench``: each module measures, the command prints.

Every module exposes ``measure(quick: bool = False) -> list[Figure]``. Targets are reported,
never asserted: these machines are shared and noisy, so each figure that has a target is
compared against a baseline measured in the same run where one exists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure, printed as a row of the benchmark table.

    :param name: what was measured, e.g. ``'arbiter select p99 (8 cand, H=16)'``.
    :param value: the measured value.
    :param unit: unit of ``value`` (``'us'``, ``'ms'``, ``'%'``, ``'x'``...).
    :param target: the target as text (``'<= 20 us'``) or ``None``.
    :param met: whether the target holds in this run, ``None`` without a target.
    :param note: the baseline or condition the figure depends on.
    """

    name: str
    value: float
    unit: str
    target: str | None = None
    met: bool | None = None
    note: str = ''
