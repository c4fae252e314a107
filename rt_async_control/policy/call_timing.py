"""Time a policy's calls: what warm-up, worker sizing and the inference benchmark measure."""

from __future__ import annotations

from collections.abc import Callable
import time


def time_calls(call: Callable[[], object], calls: int) -> list[float]:
    """Call ``call`` back to back and return each call's duration.

    :param call: one inference, e.g. ``lambda: policy(observation)``.
    :param calls: how many calls.
    :return: seconds per call, in call order.
    """
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times
