"""One inference worker process: sleep to its scheduled start, infer on the freshest state.

Loop: sleep to the next start (an absolute deadline), polling the ``schedule`` channel on the
way (another worker's report may move it); at the start read the newest state, run
:class:`~rt_async_control.roles.worker_role.WorkerRole`, wait out the emulated inference time,
publish the stamped chunk on ``action_<i>`` (the record carries started and inference time:
that is the worker's report to the schedule).

The race, and why there is no wait for the arbiter: the arbiter owns the schedule and consumes
a report only at its next tick, up to one control period after the chunk was published. Under
max_time with a constant inference time a worker's next slot is *exactly* when it finishes
(every cycle is padded to ``T_max``), so waiting for the arbiter's answer would make every
cycle up to a period too long. Instead the worker continues with a *provisional* start computed
from the last schedule it saw (:func:`provisional_start`: the next own grid slot at or after
the finish, or the finish itself when it is less than half a spacing late, as the grid
schedules do; the finish itself under ``none``), and keeps polling the ``schedule`` channel
while it waits. As soon as the channel's per-worker report count says the arbiter has
consumed this worker's last chunk, the authoritative start replaces the provisional one (moved
later: the worker sleeps on; moved earlier: it starts at once). In steady state both agree,
so max_time with constant inference yields one fresh action per ``T_max / N``.
"""

from __future__ import annotations

import math
import time
from typing import Any

from rt_async_control.core.schedule_grid import preview_next_start
from rt_async_control.policy.call_timing import time_calls
from rt_async_control.policy.onnx_policy import OnnxPolicy
from rt_async_control.roles.worker_role import WorkerRole
from rt_async_control.runtime.child import (
    ChildSpec,
    Control,
    ready,
    set_realtime,
    write_results,
)
from rt_async_control.runtime.event_log import Log
from rt_async_control.runtime.faults import wrap_policy
from rt_async_control.runtime.records import ScheduleView
from rt_async_control.runtime.timing import sleep_until

#: Longest sleep between two looks at the schedule channel, as a fraction of the period.
POLL_FRACTION = 0.25


def provisional_start(view: ScheduleView, worker: int, finished: float, mode: str) -> float:
    """Return the start to use until the arbiter has consumed this worker's last report.

    :param view: the newest schedule the worker has seen.
    :param worker: the worker index.
    :param finished: ``started + inference_time`` of the inference just published.
    :param mode: the schedule mode.
    :return: the provisional next start (the core's grid rule).
    """
    return preview_next_start(mode, view.anchor, view.offsets, view.cycle, worker, finished)


def run_worker(spec: ChildSpec, queue: Any) -> None:
    """Body of a worker process (see the module docstring)."""
    config = spec.config
    worker = spec.worker_id
    layout = spec.layout
    policy = OnnxPolicy(spec.model_path, providers=config.inference.providers)
    # Fault injection (``--faults``): the policy misbehaves on the calls the plan names.
    policy = wrap_policy(policy, spec.extra.get('faults'), worker,
                         base_inference_s=config.inference.emulate_mean_s)
    role = WorkerRole.from_policy(worker, policy, config.inference)
    state_ch = spec.channel('state')
    action_ch = spec.channel(f'action_{worker}')
    schedule_ch = spec.channel('schedule')
    plan_ch = spec.channel('plan') if layout.history else None
    control = Control(spec)
    notice = set_realtime(spec)
    warm = _warm_up(policy, config.inference.warmup_calls)
    ready(spec, queue, realtime=notice, warmup_s=warm)

    control.wait_start()
    period = config.control_period_s
    mode = config.schedule.mode
    poll_s = POLL_FRACTION * period
    sample = schedule_ch.wait_newer(0, timeout_s=30.0)
    if sample is None:
        raise TimeoutError('no schedule from the arbiter within 30 s')
    view = layout.unpack_schedule(sample.values)
    schedule_seq = sample.seq
    target = view.next_starts[worker]
    published = 0            # seq of this worker's last chunk
    authoritative = True     # target comes from the arbiter (not provisional)
    clock = time.monotonic
    log = Log('started', 'finished', 'published', 'inference_time', 'real', 'emulated',
              'observation_stamp', 'state_latency', 'target', 'authoritative')

    finished = math.nan
    while True:
        # Sleep to the target, looking at the schedule (and the stop flag) on the way.
        stop = False
        while not (stop := control.stopped()):
            now = clock()
            newer = schedule_ch.read_if_newer(schedule_seq)
            if newer is not None:
                schedule_seq = newer.seq
                view = layout.unpack_schedule(newer.values)
                if view.reports[worker] >= published:
                    target, authoritative = view.next_starts[worker], True
                elif not authoritative:  # the grid moved: redo the provisional start on it
                    target = provisional_start(view, worker, finished, mode)
            if now >= target:
                break
            sleep_until(int(min(target, now + poll_s) * 1e9))
        if stop:
            break
        started = clock()
        state_sample = state_ch.read()
        if state_sample is None:  # the simulator has not published yet
            target = started + poll_s
            continue
        state_latency = started - state_sample.stamp
        state = layout.unpack_state(state_sample.values)
        in_flight = None
        if plan_ch is not None:
            plan = plan_ch.read()
            in_flight = layout.unpack_plan(plan.values) if plan is not None else None
        result = role.infer(state, started, clock, in_flight)
        finished = result.publish_at
        sleep_until(int(finished * 1e9))
        record = layout.pack_action(result.chunk, result.real, result.emulated)
        publish_time = clock()
        published = action_ch.write(record, stamp=publish_time)
        log.add(started, finished, publish_time, result.chunk.inference_time, result.real,
                result.emulated, state.stamp, state_latency, target, float(authoritative))
        target = provisional_start(view, worker, finished, mode)
        authoritative = False  # until the arbiter has consumed this chunk

    write_results(spec, {'worker_id': worker, 'calls': role.calls, 'warmup_s': warm,
                         'emulation': role.emulation.describe()}, log.arrays())


def _warm_up(policy: Any, calls: int) -> list[float]:
    # The first calls allocate and fill caches; what is left is what the schedule sees.
    policy.warmup(max(1, calls))
    return time_calls(lambda: policy.warmup(1), max(5, calls))
