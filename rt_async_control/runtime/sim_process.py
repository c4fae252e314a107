"""The simulator process: physics in real time, a state every ``state_period_s``.

Its grid is ``t0 + (k + 1/2) * state_period_s``: half a period after the arbiter's ticks
(``t0 + k * control_period_s``), so the command of a tick is applied on the next wake-up rather
than racing the tick. On each wake-up: apply the newest command (zero-order hold from now),
advance physics to now, publish the state. The initial state, stamped ``t0``, is published
before ``t0`` so the first worker (which starts at ``t0``) finds it. When an episode ends and
a new one starts, the ``episode`` record (index, host time it began) goes out first: the
arbiter drops every chunk computed from a state before it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rt_async_control.errors import InputError
from rt_async_control.roles.sim_role import SimRole
from rt_async_control.runtime.child import (
    ChildSpec,
    Control,
    ready,
    set_realtime,
    write_results,
)
from rt_async_control.runtime.event_log import Log
from rt_async_control.runtime.records import Layout
from rt_async_control.runtime.timing import PeriodicTimer


def run_sim(spec: ChildSpec, queue: Any) -> None:
    """Body of the simulator process (see the module docstring)."""
    config = spec.config
    layout: Layout = spec.layout
    role = SimRole.from_config(config)
    state_ch = spec.channel('state')
    command_ch = spec.channel('command')
    control = Control(spec)
    notice = set_realtime(spec)
    ready(spec, queue, realtime=notice)

    t0 = control.wait_start()
    clock = time.monotonic
    episode_ch = spec.channel('episode')
    state = role.start(t0)
    state_ch.write(layout.pack_state(state), stamp=clock())
    episode = role.episode
    period = config.state_period_s
    timer = PeriodicTimer(period, start_ns=int((t0 + 0.5 * period) * 1e9))
    command_seq = 0
    log = Log('wake', 'command_latency', 'command_tick')
    states = 1
    bad_commands = 0
    while not control.stopped():
        timer.wait()
        now = clock()
        sample = command_ch.read_if_newer(command_seq)
        latency = tick = np.nan
        if sample is not None:
            command_seq = sample.seq
            latency = now - sample.stamp
            tick = float(sample.values[0])
            try:
                role.apply(layout.command_of(sample.values), now)
            except InputError:  # a non-finite command: keep holding the last good one
                bad_commands += 1
        state = role.advance(now)
        if role.episode != episode:  # a reset: before the new episode's first state
            episode = role.episode
            episode_ch.write(layout.pack_episode(episode, role.episode_start), stamp=clock())
        if state is not None:
            state_ch.write(layout.pack_state(state), stamp=clock())
            states += 1
        log.add(now, latency, tick)

    summary = role.summary()
    summary.update({'states': states, 'missed_periods': timer.missed,
                    'bad_commands': bad_commands})
    write_results(spec, summary, log.arrays())
