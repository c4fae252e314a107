"""ROS 2 arbiter output timing: the dedicated timing thread against a plain rclpy timer.

The arbiter node runs in this process on its own context with the simulator and four
inference workers as separate processes, everything pinned to two CPUs. Its command period
error (``|interval - control period|``, from the ticks the arbiter role records) is compared
with that of a plain ``create_timer`` callback at the same period on the same executor, in the
same run. Where rclpy is not installed the figure says so and nothing is measured.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import numpy as np

from rt_async_control.benchmarks import Figure

TASK = 'pendulum'
PERIOD_S = 0.01
WORKERS = 4
EMULATED_INFERENCE_S = 0.03
TARGET_P99_US = 200.0
TARGET_RATIO = 5.0
NAME = f'ROS arbiter period error p99 ({1 / PERIOD_S:g} Hz, {WORKERS} workers, 2 CPUs)'


def measure(quick: bool = False) -> list[Figure]:
    """Measure the arbiter node's period error and a plain rclpy timer's, in one run.

    :param quick: 5 s of measurement instead of 60 s.
    :return: the figures; one explanatory figure (``nan``) where rclpy is absent.
    """
    try:
        import rclpy
    except ImportError:
        return [Figure(NAME, math.nan, 'us', f'<= {TARGET_P99_US:g} us', None,
                       note='skipped: rclpy is not installed (source a ROS 2 Humble/Jazzy '
                            'setup.bash and run `rt-async-control bench ros` again)')]
    return _measure(rclpy, 5.0 if quick else 60.0)


def _start(module: str, ros_args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-m', f'rt_async_control.nodes.{module}',
                             '--ros-args', *ros_args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _measure(rclpy, duration_s: float) -> list[Figure]:  # noqa: ANN001 - the rclpy module
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from rt_async_control.core.stats import TickStats
    from rt_async_control.nodes.arbiter_node import ArbiterNode
    from rt_async_control.resources import share_path

    old_cpus = os.sched_getaffinity(0)
    cpus = set(sorted(old_cpus)[:2])
    os.sched_setaffinity(0, cpus)  # the children inherit it
    domain = 10 + os.getpid() % 90  # keep this run's traffic away from other ROS graphs
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    shared = ['-p', f'task:={TASK}', '-p', f'num_workers:={WORKERS}']
    have_model = share_path('models', f'{TASK}_small.onnx').is_file()
    children = [_start('sim_node', shared, env)]
    if have_model:
        children += [_start('inference_node', [
            *shared, '-r', f'__node:=inference_{i}', '-p', f'worker_index:={i}',
            '-p', 'emulate_distribution:=fixed', '-p', f'emulate_mean_s:={EMULATED_INFERENCE_S}',
        ], env) for i in range(WORKERS)]
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    nodes = []
    try:
        arbiter = ArbiterNode(context=context, parameter_overrides=[
            Parameter('task', value=TASK), Parameter('num_workers', value=WORKERS),
            Parameter('control_period_s', value=PERIOD_S),
            Parameter('realtime_priority', value=80)])
        baseline = rclpy.create_node('baseline_timer', context=context)
        nodes = [arbiter, baseline]
        wakes: list[float] = []
        baseline.create_timer(PERIOD_S, lambda: wakes.append(time.monotonic()))
        executor = SingleThreadedExecutor(context=context)
        for node in nodes:
            executor.add_node(node)

        def spin(seconds: float, until=lambda: False) -> None:  # noqa: ANN001
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not until():
                executor.spin_once(timeout_sec=0.05)

        # Model loading and warm-up: wait (bounded) until every worker delivered.
        spin(30.0, until=lambda: all(h.actions for h in arbiter.role.health))
        with arbiter._lock:
            arbiter.role.stats = TickStats(PERIOD_S, capacity=int(duration_s / PERIOD_S) + 100)
        wakes.clear()
        spin(duration_s)
        with arbiter._lock:
            stats = arbiter.role.stats
        delivering = sum(1 for h in arbiter.role.health if h.actions)
        scheduling = arbiter.timing.scheduling
        executor.shutdown()
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                child.kill()
        os.sched_setaffinity(0, old_cpus)

    ours = stats.period_error.percentile(99) * 1e6
    intervals = np.diff(np.asarray(wakes))
    timer = float(np.percentile(np.abs(intervals - PERIOD_S), 99) * 1e6) if len(
        intervals) else math.nan
    ratio = timer / ours if ours > 0 else math.nan
    load = (f'{delivering}/{WORKERS} workers delivering' if have_model
            else f'no load: models/{TASK}_small.onnx missing')
    condition = f'{duration_s:g} s, CPUs {sorted(cpus)}, {load}, {scheduling}'
    return [
        Figure(NAME, ours, 'us', f'<= {TARGET_P99_US:g} us', bool(ours <= TARGET_P99_US),
               note=condition),
        Figure('rclpy create_timer period error p99 (same run)', timer, 'us',
               note='baseline: same period, same executor and load'),
        Figure('arbiter timing thread vs rclpy timer (p99 ratio)', ratio, 'x',
               f'>= {TARGET_RATIO:g}x', bool(ratio >= TARGET_RATIO), note=condition),
        Figure('ROS arbiter period error p50', stats.period_error.percentile(50) * 1e6, 'us',
               note=condition),
        Figure('ROS arbiter missed ticks', float(stats.missed_ticks), 'ticks', note=condition),
    ]
