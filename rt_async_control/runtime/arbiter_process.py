"""The arbiter process: tick every ``control_period_s`` on absolute deadlines, own the schedule.

Each tick: read every worker's channel (a new record is that worker's chunk and its report to
the schedule), decide the command, publish it to the simulator; then publish what the
workers need: the ``schedule`` record (every worker's next start and how many of its reports
the schedule has consumed) when a report changed it, and for delay-aware policies the
planned commands. A dead or silent worker is just a channel that stays old: the ticks go on,
and the role takes it out of the schedule (after its silence, or at once when the launcher
reports its process exited on ``exits``), so the others are spread over the cycle; its next
chunk brings it back. A simulator reset arrives on ``episode`` and reaches the role's
``on_reset``: chunks computed before it are dropped.
The ``status`` record (a few numbers) feeds the launcher's live status line. At exit the
action log's ``rejected`` column holds 0 for a kept chunk, else ``1 + index`` of the reason
in :data:`~rt_async_control.core.arbiter.REJECT_REASONS` (one past them: another refusal).
"""

from __future__ import annotations

import time
from typing import Any

from rt_async_control.core.arbiter import REJECT_REASONS
from rt_async_control.roles.arbiter_role import ArbiterRole
from rt_async_control.runtime.child import (
    ChildSpec,
    Control,
    ready,
    set_realtime,
    write_results,
)
from rt_async_control.runtime.event_log import Log
from rt_async_control.runtime.records import FALLBACKS, Layout
from rt_async_control.runtime.timing import PeriodicTimer
from rt_async_control.sim.tasks import load_task

#: Seconds between two status records.
STATUS_PERIOD_S = 0.25


def run_arbiter(spec: ChildSpec, queue: Any) -> None:
    """Body of the arbiter process (see the module docstring)."""
    config = spec.config
    layout: Layout = spec.layout
    n = layout.num_workers
    role = ArbiterRole.for_task(config, n, load_task(config.task))
    action_chs = [spec.channel(f'action_{i}') for i in range(n)]
    command_ch = spec.channel('command')
    schedule_ch = spec.channel('schedule')
    status_ch = spec.channel('status')
    episode_ch = spec.channel('episode')
    exits_ch = spec.channel('exits')
    plan_ch = spec.channel('plan') if layout.history else None
    control = Control(spec)
    notice = set_realtime(spec)
    ready(spec, queue, realtime=notice)

    t0 = control.wait_start()
    clock = time.monotonic
    role.start(t0)
    seqs = [0] * n
    episode_seq = exits_seq = 0
    exits = [0] * n

    def publish_schedule() -> None:
        record = layout.pack_schedule(role.schedule_anchor(), role.schedule.cycle, seqs,
                                      [role.worker_next_start(i) for i in range(n)],
                                      role.schedule.offsets())
        schedule_ch.write(record, stamp=clock())

    publish_schedule()
    period = config.control_period_s
    timer = PeriodicTimer(period, start_ns=int(t0 * 1e9))
    ticks = Log('deadline', 'wake', 'worker', 'age', 'fallback', 'fresh', 'published')
    actions = Log('received', 'latency', 'worker', 'observation_stamp', 'started',
                  'inference_time', 'rejected', 'read_cost')
    next_status = t0
    while not control.stopped():
        deadline = timer.wait() / 1e9
        now = clock()
        reported = False
        changes = role.active_changes
        # A simulator reset first: a chunk read below may come from the old episode.
        sample = episode_ch.read_if_newer(episode_seq)
        if sample is not None:
            episode_seq = sample.seq
            role.on_reset(layout.unpack_episode(sample.values)[1])
        sample = exits_ch.read_if_newer(exits_seq)
        if sample is not None:  # a worker process exited: out of the schedule at once
            exits_seq = sample.seq
            for i, count in enumerate(sample.values):
                if count > exits[i]:
                    exits[i] = int(count)
                    role.worker_exited(i, now)
        for i, channel in enumerate(action_chs):
            before = clock()
            sample = channel.read_if_newer(seqs[i])
            if sample is None:
                continue
            read_cost = clock() - before  # what the shared memory itself costs a reader
            seqs[i] = sample.seq
            chunk, _real, _emulated = layout.unpack_action(sample.values)
            reason = role.on_action(chunk, now)
            reported = True
            actions.add(now, now - sample.stamp, chunk.worker_id, chunk.observation_stamp,
                        chunk.started, chunk.inference_time, _reason_code(reason), read_cost)
        decision = role.tick(now)
        record = layout.pack_command(deadline, decision.command, decision.worker_id,
                                     decision.action_age, decision.fallback)
        published = clock()
        command_ch.write(record, stamp=published)
        # Off the critical path: everything below happens after the command is out.
        if reported or role.active_changes != changes:
            publish_schedule()
        if plan_ch is not None:
            plan_ch.write(layout.pack_plan(now, role.planned(now, layout.history)),
                          stamp=clock())
        ticks.add(deadline, now, decision.worker_id, decision.action_age,
                  FALLBACKS.index(decision.fallback), float(role.fresh), published)
        if now >= next_status:
            next_status = now + STATUS_PERIOD_S
            status_ch.write(status_record(role, now, timer.missed), stamp=clock())

    summary = role.summary()
    summary['timer_missed'] = timer.missed
    summary['diagnostics'] = role.diagnostics(clock())
    write_results(spec, summary, {**ticks.arrays('tick_'), **actions.arrays('action_')})


def _reason_code(reason: str | None) -> float:
    # 0: accepted; k: the (k-1)-th of REJECT_REASONS, one past them: another refusal.
    if reason is None:
        return 0.0
    if reason in REJECT_REASONS:
        return float(REJECT_REASONS.index(reason) + 1)
    return float(len(REJECT_REASONS) + 1)


def status_record(role: ArbiterRole, now: float, missed: int) -> list[float]:
    """Return the ``status`` record: run figures, then per-worker health (records.py)."""
    d = role.diagnostics(now)
    values = [d['elapsed_s'], d['ticks'], d['control_rate_hz'], 100.0 * d['stale_ratio'],
              d['action_age_ms'], max(missed, d['missed_ticks'])]
    for w in d['workers']:
        values += [w['last_seen_s'], w['inference_p50_ms'], w['inference_p99_ms'],
                   w['rejected'], w['actions']]
    return values
