"""The live one-line status of a run: elapsed, control rate, inaction, action age, workers.

Fed by the arbiter's ``status`` record (:data:`~.records.STATUS_FIELDS` then
:data:`~.records.WORKER_STATUS_FIELDS` per worker). On a terminal the line is redrawn in place
with rich; elsewhere (CI logs, tests) a plain line is printed every few seconds.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from rt_async_control.runtime.records import STATUS_FIELDS, WORKER_STATUS_FIELDS

#: Seconds between two plain lines when the output is not a terminal.
PLAIN_PERIOD_S = 5.0
#: A worker not heard of for this many seconds is shown as silent.
SILENT_AFTER_S = 1.0


def format_status(values: np.ndarray, num_workers: int) -> str:
    """Return the status line for one ``status`` record.

    :param values: the record.
    :param num_workers: workers in the run.
    :return: e.g. ``'12.3 s  100.0 Hz  inaction 0.4%  age 31.2 ms  missed 0  workers: ...'``.
    """
    head = dict(zip(STATUS_FIELDS, values[:len(STATUS_FIELDS)]))
    parts = [f"{head['elapsed']:6.1f} s", f"{head['rate_hz']:6.1f} Hz",
             f"inaction {head['inaction_pct']:4.1f}%", f"age {head['age_ms']:5.1f} ms",
             f"missed {int(head['missed'])}"]
    width = len(WORKER_STATUS_FIELDS)
    workers = []
    for i in range(num_workers):
        start = len(STATUS_FIELDS) + i * width
        w = dict(zip(WORKER_STATUS_FIELDS, values[start:start + width]))
        seen = w['last_seen_s']
        if not math.isfinite(seen) or seen > SILENT_AFTER_S:
            workers.append(f'{i}:silent')
        else:
            flag = f"!{int(w['rejected'])}" if w['rejected'] else ''
            workers.append(f"{i}:{w['inference_p99_ms']:.0f}ms{flag}")
    return '  '.join(parts) + '  workers ' + ' '.join(workers)


class StatusLine:
    """Shows the newest status record (rich in place on a terminal, plain lines otherwise).

    :param num_workers: workers in the run.
    :param enabled: ``False`` shows nothing.
    """

    def __init__(self, num_workers: int, enabled: bool = True) -> None:
        """Open the display."""
        self.num_workers = num_workers
        self.enabled = enabled
        self._live = None
        self._last_plain = -math.inf
        self._text = ''
        if enabled and sys.stdout.isatty():
            from rich.console import Console
            from rich.live import Live

            self._live = Live('', console=Console(), refresh_per_second=4, transient=False)
            self._live.start()

    def update(self, values: np.ndarray) -> None:
        """Show one record."""
        if not self.enabled or not values[STATUS_FIELDS.index('ticks')] > 1:
            return
        self._text = format_status(values, self.num_workers)
        if self._live is not None:
            self._live.update(self._text)
        elif time.monotonic() - self._last_plain >= PLAIN_PERIOD_S:
            self._last_plain = time.monotonic()
            print(self._text, flush=True)

    def close(self) -> None:
        """Leave the last line on screen."""
        if self._live is not None:
            self._live.stop()
            self._live = None
