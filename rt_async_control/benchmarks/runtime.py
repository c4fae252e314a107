"""The embedded runtime end to end: inaction, fresh actions, tick timing, framework CPU cost.

Runs the real stack (``rt-async-control run`` through its Python API: simulator, workers and
arbiter processes joined by shared memory) on the pendulum with a fixed emulated inference
time and ``N = N*`` workers (``--workers auto``), and reports after a warm-up:

- inaction: ticks where the default behaviour acted; fresh: ticks that applied an action (or
  chunk row) not applied before; baseline: one unstaggered worker in the same session, which
  leaves the paper's ``1 - T / t_inf`` inaction;
- the arbiter's period error ``|interval - T|`` p99 and missed ticks, at 100 Hz and 500 Hz;
  baseline: a bare absolute-deadline timer loop (the same ``PeriodicTimer``) in its own process
  running at the same time, which shows what the machine allows;
- framework CPU cost: CPU time of the arbiter process (ticking, selection, every channel read
  and write on the control path) over the measured window, as % of one core. Physics (the
  simulator process) and inference (the workers) are not in it. Baseline: the bare timer's own
  CPU cost. Read from ``/proc/<pid>/stat`` (clock ticks of 10 ms: longer runs resolve better).

Run: ``python -m rt_async_control.benchmarks.runtime [--quick]``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import json
import math
import multiprocessing
import os
import subprocess
import sys
import time

import numpy as np

from rt_async_control.benchmarks import Figure

INFERENCE_S = {100: 0.025, 500: 0.008}
WARMUP_S = 1.0
TARGET_INACTION_PCT = 0.1
TARGET_FRESH_PCT = 99.9
TARGET_PERIOD_P99_US = 100.0
TARGET_CPU_PCT = 3.0
_TICK_S = 1.0 / os.sysconf('SC_CLK_TCK')

# The bare timer baseline, run in its own interpreter: no imports beyond the timer itself.
_BARE_TIMER = '''
import json, sys, time
import numpy as np
from rt_async_control.runtime.timing import PeriodicTimer, try_realtime
period, duration, warmup, priority = (float(a) for a in sys.argv[1:5])
realtime = try_realtime(int(priority)) if priority > 0 else 'off'
timer = PeriodicTimer(period)
wakes = []
end = time.monotonic() + duration
cpu0 = None
while time.monotonic() < end:
    timer.wait()
    now = time.monotonic()
    wakes.append(now)
    if cpu0 is None and now > end - duration + warmup:
        cpu0, wall0, k0 = time.process_time(), now, len(wakes)
error = np.abs(np.diff(wakes[k0:]) - period)
print(json.dumps({'p99_us': float(np.percentile(error, 99)) * 1e6, 'missed': timer.missed,
                  'cpu_pct': 100 * (time.process_time() - cpu0) / (wakes[-1] - wall0),
                  'realtime': realtime}))
'''


def cpu_seconds(pid: int) -> float:
    """Return user + system CPU seconds of process ``pid`` (``nan`` when it is gone)."""
    try:
        text = open(f'/proc/{pid}/stat').read()  # noqa: SIM115 - one short read
    except OSError:
        return math.nan
    fields = text.rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_S


@dataclass
class CpuProbe:
    """A ``status`` object for ``launch``: samples the children's CPU time after warm-up.

    :param warmup_s: run seconds before the first sample.
    """

    warmup_s: float
    first: dict[str, tuple[float, float]] = field(default_factory=dict)
    last: dict[str, tuple[float, float]] = field(default_factory=dict)

    def update(self, values: np.ndarray) -> None:
        """Sample every child once the warm-up is over (the status record's elapsed time)."""
        if float(values[0]) < self.warmup_s:
            return
        now = time.monotonic()
        for child in multiprocessing.active_children():
            cpu = cpu_seconds(child.pid)
            if math.isfinite(cpu):
                self.first.setdefault(child.name, (now, cpu))
                self.last[child.name] = (now, cpu)

    def close(self) -> None:
        """Nothing to release."""

    def percent(self, name: str) -> float:
        """Return the CPU % of one core used by child ``name`` between the samples."""
        if name not in self.first or name not in self.last:
            return math.nan
        (t0, c0), (t1, c1) = self.first[name], self.last[name]
        return 100.0 * (c1 - c0) / (t1 - t0) if t1 > t0 else math.nan


@dataclass
class Measured:
    """Figures of one run."""

    label: str
    num_workers: int
    ticks: int
    inaction_pct: float
    fresh_pct: float
    period_p99_us: float
    missed: int
    cpu: dict[str, float]
    notices: list[str]


def run_stack(model: str, rate_hz: int, duration: float, workers: int | str = 'auto',
              schedule: str | None = None) -> Measured:
    """Run the stack once and return its figures after the warm-up."""
    from rt_async_control.resources import share_path
    from rt_async_control.runtime.launcher import launch, prepare, RunOptions
    from rt_async_control.sim.tasks import load_task

    period = 1.0 / rate_hz
    # States at the physics rate (as the shipped configs): a worker starting less than a state
    # period after another would read the same state, and its action would not be fresher.
    state_period = min(period, load_task('pendulum').timestep_s)
    options = RunOptions(config_path=str(share_path('config', 'pendulum.yaml')),
                         workers=workers, schedule=schedule, duration_s=duration, model=model,
                         emulate='fixed', emulate_mean_s=INFERENCE_S[rate_hz],
                         live_status=False,
                         params=(('/**', 'control_period_s', period),
                                 ('/**', 'state_period_s', state_period)))
    probe = CpuProbe(WARMUP_S)
    result = launch(prepare(options), options, probe)
    arrays = result.children['arbiter']['npz']
    summary = result.children['arbiter']['json']
    steady = arrays['tick_deadline'] - result.t0 >= WARMUP_S
    wakes = arrays['tick_wake'][steady]
    error = np.abs(np.diff(wakes) - period)
    names = {'arbiter': 'arbiter', 'sim': 'sim'}
    cpu = {key: probe.percent(name) for key, name in names.items()}
    cpu['workers'] = sum(probe.percent(f'worker_{i}')
                         for i in range(result.plan.layout.num_workers))
    return Measured(
        label=f'{rate_hz} Hz', num_workers=result.plan.layout.num_workers,
        ticks=int(steady.sum()),
        inaction_pct=100.0 * float(np.mean(arrays['tick_fallback'][steady] > 0)),
        fresh_pct=100.0 * float(np.mean(arrays['tick_fresh'][steady])),
        period_p99_us=float(np.percentile(error, 99)) * 1e6 if len(error) else math.nan,
        missed=int(summary.get('missed_ticks', 0)), cpu=cpu, notices=result.notices)


def bare_timer(period: float, duration: float) -> subprocess.Popen:
    """Start the bare timer baseline in its own process (read it with :func:`bare_result`)."""
    from rt_async_control.runtime.launcher import PRIORITIES

    # Just below the arbiter's SCHED_FIFO priority: what a timer loop gets on this machine
    # under the same policy, without the arbiter's work.
    priority = PRIORITIES['arbiter'] - 1
    return subprocess.Popen([sys.executable, '-c', _BARE_TIMER, str(period), str(duration),
                             str(WARMUP_S), str(priority)], stdout=subprocess.PIPE, text=True)


def bare_result(proc: subprocess.Popen) -> dict[str, float]:
    """Wait for the bare timer and return its figures."""
    out, _ = proc.communicate(timeout=600)
    return json.loads(out.strip().splitlines()[-1])


def _model() -> str:
    # Inference is emulated: the network's own time is not what is measured here.
    from rt_async_control.resources import share_path

    return str(share_path('models', 'pendulum_small.onnx'))


def measure(quick: bool = False) -> list[Figure]:
    """Run the stack at 100 Hz (staggered and sequential) and 500 Hz; return the figures.

    :param quick: 5 s runs instead of 60 s.
    :return: the figures.
    """
    duration = 5.0 if quick else 60.0
    model = _model()
    # The baseline timer runs while the staggered stack starts and runs (same conditions).
    baseline = bare_timer(0.01, duration + 4.0)
    staggered = run_stack(model, 100, duration)
    bare = bare_result(baseline)
    sequential = run_stack(model, 100, duration, workers=1, schedule='none')
    fast = run_stack(model, 500, duration)
    cond = f'{duration:g} s after {WARMUP_S:g} s warm-up'
    figures = [
        Figure(f'inaction, N* = {staggered.num_workers} staggered, 100 Hz',
               staggered.inaction_pct, '%', f'<= {TARGET_INACTION_PCT:g} %',
               staggered.inaction_pct <= TARGET_INACTION_PCT,
               f'sequential (1 worker): {sequential.inaction_pct:.1f} %; {cond}'),
        Figure(f'fresh action, N* = {staggered.num_workers} staggered, 100 Hz',
               staggered.fresh_pct, '%', f'>= {TARGET_FRESH_PCT:g} %',
               staggered.fresh_pct >= TARGET_FRESH_PCT,
               f'sequential: {sequential.fresh_pct:.1f} % (paper: T / t_inf = '
               f'{100 * 0.01 / INFERENCE_S[100]:.0f} %)'),
        Figure(f'fresh action, N* = {fast.num_workers} staggered, 500 Hz', fast.fresh_pct, '%',
               f'>= {TARGET_FRESH_PCT:g} %', fast.fresh_pct >= TARGET_FRESH_PCT,
               f'inaction {fast.inaction_pct:.2f} %; emulated {INFERENCE_S[500] * 1e3:g} ms'),
    ]
    for run in (staggered, fast):
        figures += [
            Figure(f'arbiter period error p99, {run.label}', run.period_p99_us, 'us',
                   f'<= {TARGET_PERIOD_P99_US:g} us', run.period_p99_us <= TARGET_PERIOD_P99_US,
                   f'bare timer at 100 Hz, same time: p99 {bare["p99_us"]:.0f} us; realtime: '
                   f'{"not permitted" if run.notices else "SCHED_FIFO"}'),
            Figure(f'missed ticks, {run.label}', run.missed, 'ticks', '0', run.missed == 0,
                   f'{run.ticks} ticks measured'),
        ]
    arbiter = staggered.cpu['arbiter']
    figures += [
        Figure('framework CPU (arbiter + transport), 100 Hz', arbiter, '% core',
               f'<= {TARGET_CPU_PCT:g} %', arbiter <= TARGET_CPU_PCT,
               f'bare timer {bare["cpu_pct"]:.2f} % ({arbiter / max(bare["cpu_pct"], 1e-3):.1f}x);'
               f' not counted: sim {staggered.cpu["sim"]:.1f} %, workers '
               f'{staggered.cpu["workers"]:.1f} %'),
        Figure('framework CPU (arbiter + transport), 500 Hz', fast.cpu['arbiter'], '% core',
               note=f'{fast.num_workers} workers'),
    ]
    return figures


def main(argv: list[str] | None = None) -> int:
    """Print the figures (``--json`` for machine-readable output)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true')
    args = parser.parse_args(argv)
    for fig in measure(args.quick):
        print(f'{fig.name:<55} {fig.value:10.4g} {fig.unit:<7} {fig.target or "":<12} '
              f'{"" if fig.met is None else ("met" if fig.met else "NOT met"):<8} {fig.note}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
