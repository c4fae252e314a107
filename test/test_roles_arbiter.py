"""ArbiterRole: chunks in, ticks out, schedule, live reconfiguration, health; fake time."""

from __future__ import annotations

from dataclasses import replace
import math

import numpy as np
import pytest

from rt_async_control.core.config import ArbiterConfig, SimConfig, StackConfig
from rt_async_control.core.messages import ActionChunk
from rt_async_control.core.schedule_config import ScheduleConfig
from rt_async_control.errors import InputError
from rt_async_control.roles.arbiter_role import ArbiterRole
from rt_async_control.sim.tasks import load_task

T = 0.01


def _config(mode: str = 'max_time', inference: float = 0.025, **arbiter: object) -> StackConfig:
    return StackConfig(task='arm', sim=SimConfig(task='arm'),
                       schedule=ScheduleConfig(mode=mode, initial_inference_time_s=inference),
                       arbiter=ArbiterConfig(**arbiter))


def _role(num_workers: int, **kw: object) -> ArbiterRole:
    return ArbiterRole.for_task(_config(**kw), num_workers, load_task('arm'))


def _chunk(worker: int, started: float, inference: float, value: float = 1.0) -> ActionChunk:
    return ActionChunk(observation_stamp=started, worker_id=worker, inference_time=inference,
                       actions=np.full((1, 3), value), started=started)


def drive(role: ArbiterRole, inference: float, duration: float) -> list[bool]:
    """Run workers that follow the schedule exactly; return whether each tick was fresh.

    Each worker starts at its next start (state stamped then), its chunk reaches the arbiter
    when it finishes, and the arbiter ticks every T: the host loop of any real-time host.
    """
    role.start(0.0)
    n = role.num_workers
    finish = [math.inf] * n
    started = [math.nan] * n
    fresh = []
    k = 0
    while k * T <= duration:
        tick = k * T
        # Events up to this tick, in time order: finishes (reports) and starts.
        while True:
            events = [(finish[i], 'finish', i) for i in range(n) if finish[i] <= tick]
            events += [(role.worker_next_start(i), 'start', i) for i in range(n)
                       if finish[i] == math.inf and role.worker_next_start(i) <= tick]
            if not events:
                break
            t, kind, i = min(events)
            if kind == 'start':
                started[i], finish[i] = t, t + inference
            else:
                role.on_action(_chunk(i, started[i], inference, value=i + 1.0), t)
                finish[i] = math.inf
        role.tick(tick)
        fresh.append(role.fresh)
        k += 1
    return fresh


def test_staggered_max_time_gives_a_fresh_action_every_tick():
    role = _role(3)
    fresh = drive(role, 0.025, 2.0)
    assert not any(not f for f in fresh[5:])  # after the first cycle, every tick is fresh
    summary = role.summary()
    assert all(w['selected'] > 40 for w in summary['workers'])
    assert summary['offsets_s'] == pytest.approx([0.0, 0.025 / 3, 0.05 / 3])
    assert summary['control_rate_hz'] == pytest.approx(100.0)
    assert summary['fallback_ticks'] <= 3


def test_one_unstaggered_worker_leaves_the_papers_inaction():
    role = _role(1, mode='none')
    fresh = drive(role, 0.025, 2.0)
    stale = 1.0 - np.mean(fresh[5:])
    assert stale == pytest.approx(1.0 - T / 0.025, abs=0.03)  # fresh only every 2.5 ticks
    assert role.summary()['stale_ticks'] > 100


def test_three_unstaggered_workers_arrive_in_bursts():
    fresh = drive(_role(3, mode='none'), 0.025, 2.0)
    assert 1.0 - np.mean(fresh[5:]) > 0.4  # no better than one worker: all finish together


def test_reconfigure_switches_schedule_without_a_jump_in_the_command():
    role = _role(2)
    drive(role, 0.025, 0.5)
    last = role.arbiter.last_command
    new = role.config.with_values('arbiter', {'schedule': 'exp_time'})
    role.reconfigure(new, 0.505)
    assert role.schedule.mode == 'exp_time'
    assert role.worker_next_start(0) >= 0.505 and role.worker_next_start(1) >= 0.505
    decision = role.tick(0.51)
    np.testing.assert_array_equal(decision.command, last)


def test_reconfigure_new_default_command_keeps_the_held_chunks():
    role = _role(2)
    drive(role, 0.025, 0.3)
    before = role.arbiter.candidates
    new = role.config.with_values('arbiter', {'default_command': [0.5, 0.5, 0.5]})
    role.reconfigure(new, 0.3)
    assert role.arbiter.candidates == before
    assert role.tick(0.305).fallback is None


def test_reconfigure_refuses_what_cannot_change_live():
    role = _role(1)
    role.start(0.0)
    with pytest.raises(InputError, match='control_period_s'):
        role.reconfigure(replace(role.config, control_period_s=0.02), 0.1)
    assert role.config.control_period_s == T


def test_diagnostics_report_worker_health():
    role = _role(2)
    role.start(10.0)
    assert role.on_action(_chunk(0, 10.0, 0.02), 10.02) is None
    bad = ActionChunk(10.0, 1, 0.02, np.full((1, 3), np.nan), started=10.0)
    assert role.on_action(bad, 10.021) == 'non_finite'
    role.tick(10.03)
    diag = role.diagnostics(10.05)
    w0, w1 = diag['workers']
    assert w0['last_seen_s'] == pytest.approx(0.03) and w0['rejected'] == 0
    assert w0['inference_p50_ms'] == pytest.approx(20.0)
    assert w1['rejected'] == 1 and w1['last_reason'] == 'non_finite'
    assert diag['ticks'] == 1 and diag['schedule'] == 'max_time'
    # A refused chunk still reported its inference to the schedule.
    assert role.reports == [1, 1]


def test_chunk_from_an_unknown_worker_is_refused():
    role = _role(1)
    role.start(0.0)
    assert role.on_action(_chunk(5, 0.0, 0.01), 0.01) == 'unknown_worker'


def test_planned_commands_follow_the_freshest_chunk():
    role = _role(1, mode='exp_time')
    role.start(0.0)
    role.on_action(_chunk(0, 0.0, 0.02, value=3.0), 0.02)
    plan = role.planned(0.03, 4)
    assert plan.shape == (4, 3)
    np.testing.assert_array_equal(plan, 3.0)


@pytest.mark.parametrize('mode, acts_from', [('max_time', 0.025), ('exp_time', 0.02)])
def test_max_time_releases_a_chunk_one_padded_cycle_after_its_start(mode, acts_from):
    # T_max = 25 ms; the inference took 20 ms. max_time pads to the maximum: the action acts
    # from started + T_max; exp_time uses it on arrival (fresher, unevenly spaced).
    role = _role(1, mode=mode, inference=0.025)
    role.start(0.0)
    assert role.on_action(_chunk(0, 0.0, 0.02, value=3.0), 0.02) is None
    for now in (0.02, 0.0249, acts_from, 0.03):
        decision = role.tick(now)
        expected = 3.0 if now >= acts_from else 0.0
        np.testing.assert_array_equal(decision.command, expected, err_msg=f'{mode} at {now}')
    assert role.schedule.cycle == pytest.approx(0.025)


def test_max_time_releases_a_new_maximum_at_once():
    # The chunk that sets a new maximum is its own padded cycle: no extra wait.
    role = _role(1, mode='max_time', inference=0.025)
    role.start(0.0)
    role.on_action(_chunk(0, 0.0, 0.04, value=2.0), 0.04)
    np.testing.assert_array_equal(role.tick(0.04).command, 2.0)


def test_a_malformed_chunk_is_refused_on_arrival_even_when_its_release_is_later():
    role = _role(1, mode='max_time', inference=0.025)
    role.start(0.0)
    bad = ActionChunk(observation_stamp=0.0, worker_id=0, inference_time=0.01,
                      actions=np.full((1, 3), math.nan), started=0.0)
    assert role.on_action(bad, 0.01) == 'non_finite'
    assert role.health[0].rejected == 1


def test_silent_worker_leaves_the_schedule_and_its_next_chunk_brings_it_back():
    role = _role(4, inference=0.04, max_action_age_s=0.1)
    role.start(0.0)
    for i in range(4):  # one round: everyone reported
        role.on_action(_chunk(i, 0.01 * i, 0.04), 0.01 * i + 0.04)
    role.tick(0.08)
    assert role.active_workers == (0, 1, 2, 3)
    # Workers 0, 2, 3 keep reporting, worker 1 falls silent.
    now = 0.08
    while now < 0.6:
        now = round(now + T, 9)
        for i in (0, 2, 3):
            if role.worker_next_start(i) + 0.04 <= now and role.health[i].last_seen < now - 0.035:
                role.on_action(_chunk(i, role.worker_next_start(i), 0.04), now)
        role.tick(now)
    assert role.active_workers == (0, 2, 3)
    health = role.diagnostics(now)['workers'][1]
    assert not health['active'] and health['dropouts'] == 1
    assert math.isnan(role.schedule.offsets()[1])
    # Silent for no longer than the limit after its expected completion (plus the check step).
    dropped = role.health[1].inactive_since
    assert dropped < 0.05 + 0.04 + 0.04 + 0.14 + 0.25 * 0.04 + T
    assert role.summary()['offsets_s'][2] == pytest.approx(0.04 / 3)
    # Its next chunk (a resumed or restarted worker) brings it back.
    assert role.on_action(_chunk(1, now - 0.04, 0.04), now) is None
    assert role.active_workers == (0, 1, 2, 3) and role.health[1].active
    assert role.schedule.offsets() == pytest.approx([0.0, 0.01, 0.02, 0.03])


def test_worker_exit_takes_it_out_at_once_and_no_worker_left_keeps_the_schedule():
    role = _role(3, inference=0.03)
    role.start(0.0)
    role.worker_exited(2, 0.005)
    assert role.active_workers == (0, 1)
    assert role.schedule.offsets()[:2] == pytest.approx((0.0, 0.015))
    role.worker_exited(0, 0.006)
    role.worker_exited(1, 0.007)
    assert role.active_workers == ()
    assert role.schedule.active == (1,)  # nothing to spread over: the last set stays
    assert role.diagnostics(0.01)['active_workers'] == 0
    # A chunk its process sent before it exited does not bring it back; a restarted one does.
    role.on_action(_chunk(2, 0.001, 0.003), 0.008)
    assert role.active_workers == () and role.reports[2] == 0
    role.on_action(_chunk(2, 0.01, 0.03), 0.04)
    assert role.schedule.active == (2,) and role.active_workers == (2,)


def test_reset_discards_chunks_from_before_it():
    role = _role(2, default_behaviour='hold')
    role.start(0.0)
    role.on_action(_chunk(0, 0.0, 0.025, value=0.3), 0.025)
    assert role.tick(0.03).worker_id == 0
    role.on_reset(0.035)
    assert role.tick(0.04).fallback == 'hold'
    # Computed from a state of the old episode: refused; from the new one: acts.
    assert role.on_action(_chunk(1, 0.03, 0.025), 0.055) == 'discarded'
    assert role.on_action(_chunk(0, 0.04, 0.025), 0.065) is None
    assert role.tick(0.07).worker_id == 0
    summary = role.summary()
    assert summary['resets'] == 1
    assert summary['counters']['expired_discarded'] == 1
    assert summary['counters']['rejected_discarded'] == 1
