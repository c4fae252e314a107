"""The recorder process: copies the run's traffic into an MCAP file, off the control path.

It polls the latest-value channels (state, every worker's chunks, commands, the arbiter's
status) at half the shortest period and writes each new record with
:class:`~rt_async_control.runtime.mcap_record.Recorder`: ``/joint_states``
(``sensor_msgs/JointState``), ``/worker_<i>/action_chunk`` (``trajectory_msgs/
JointTrajectory``, header stamp = observation stamp), ``/commands``
(``std_msgs/Float64MultiArray``) and ``/diagnostics`` once per second. Being a separate,
ordinary-priority process, a slow disk never delays a tick; the price is that a record
overwritten before the recorder saw it is missing from the file (counted as ``missed``).
"""

from __future__ import annotations

import time
from typing import Any

from rt_async_control.runtime.child import ChildSpec, Control, ready, write_results
from rt_async_control.runtime.mcap_record import Recorder, Status
from rt_async_control.runtime.records import Layout, STATUS_FIELDS, WORKER_STATUS_FIELDS
from rt_async_control.runtime.timing import sleep_until

#: Seconds between two DiagnosticArray messages.
DIAGNOSTICS_PERIOD_S = 1.0


def run_recorder(spec: ChildSpec, queue: Any) -> None:
    """Body of the recorder process (see the module docstring)."""
    config = spec.config
    layout: Layout = spec.layout
    n = layout.num_workers
    topics = ['state', 'command', 'status'] + [f'action_{i}' for i in range(n)]
    channels = {topic: spec.channel(topic) for topic in topics}
    seqs = dict.fromkeys(topics, 0)
    written = dict.fromkeys(topics, 0)
    missed = dict.fromkeys(topics, 0)
    actuated = _actuated(config.task)
    control = Control(spec)
    recorder = Recorder(spec.record_path)
    ready(spec, queue)
    try:
        control.wait_start()
        poll_s = 0.5 * min(config.state_period_s, config.control_period_s)
        next_diag = control.t0 + DIAGNOSTICS_PERIOD_S
        clock = time.monotonic
        while not control.stopped():
            for topic, channel in channels.items():
                sample = channel.read_if_newer(seqs[topic])
                if sample is None:
                    continue
                missed[topic] += sample.seq - seqs[topic] - 1
                seqs[topic] = sample.seq
                if topic == 'status':
                    if clock() >= next_diag:
                        next_diag += DIAGNOSTICS_PERIOD_S
                        recorder.diagnostics('/diagnostics', sample.stamp,
                                             _statuses(sample.values, n))
                        written[topic] += 1
                    continue
                _write(recorder, topic, sample.values, sample.stamp, layout, actuated)
                written[topic] += 1
            sleep_until(int((clock() + poll_s) * 1e9))
    finally:
        recorder.close()
    write_results(spec, {'path': str(spec.record_path), 'written': written,
                         'missed': missed})


def _actuated(task_name: str) -> tuple[str, ...]:
    from rt_async_control.sim.tasks import load_task

    return load_task(task_name).actuated_joints


def _write(recorder: Recorder, topic: str, values: Any, publish: float, layout: Layout,
           actuated: tuple[str, ...]) -> None:
    if topic == 'state':
        state = layout.unpack_state(values)
        recorder.joint_state('/joint_states', state.stamp, state.joint_names, state.position,
                             state.velocity, state.effort)
    elif topic == 'command':
        recorder.float64_array('/commands', publish, layout.command_of(values))
    else:
        chunk, _real, _emulated = layout.unpack_action(values)
        recorder.joint_trajectory(f'/worker_{chunk.worker_id}/action_chunk',
                                  chunk.observation_stamp, actuated, chunk.actions, chunk.step)


def _statuses(values: Any, num_workers: int) -> list[Status]:
    head = dict(zip(STATUS_FIELDS, values[:len(STATUS_FIELDS)]))
    statuses = [Status('arbiter', 'OK', f"{head['rate_hz']:.1f} Hz, inaction "
                       f"{head['inaction_pct']:.1f}%", {k: f'{v:g}' for k, v in head.items()})]
    width = len(WORKER_STATUS_FIELDS)
    for i in range(num_workers):
        start = len(STATUS_FIELDS) + i * width
        w = dict(zip(WORKER_STATUS_FIELDS, values[start:start + width]))
        silent = not w['last_seen_s'] <= 1.0
        level = 'STALE' if silent else ('WARN' if w['rejected'] else 'OK')
        message = 'silent' if silent else f"inference p99 {w['inference_p99_ms']:.1f} ms"
        statuses.append(Status(f'worker_{i}', level, message,
                               {k: f'{v:g}' for k, v in w.items()}))
    return statuses
