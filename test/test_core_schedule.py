"""Schedules without a simulation: worker counts, config validation, the API's edges."""

import math

import pytest

from rt_async_control.core.schedule import (
    apply_config,
    make_schedule,
    required_workers,
    ScheduleConfig,
)
from rt_async_control.errors import InputError

FPS = 59.7275


@pytest.mark.parametrize('frames', [1, 5, 8, 70, 596])
def test_required_workers_paper_table(frames):
    # The paper's table: k frames of inference at 59.7275 fps need k workers, not k + 1.
    assert required_workers(frames / FPS, 1.0 / FPS) == frames
    assert required_workers(frames * (1.0 / FPS), 1.0 / FPS) == frames


@pytest.mark.parametrize('t_max, period, expected', [
    (0.05, 0.01, 5), (0.0501, 0.01, 6), (0.001, 0.01, 1), (0.3, 0.1, 3), (1e-9, 1.0, 1)])
def test_required_workers_rounds_up(t_max, period, expected):
    assert required_workers(t_max, period) == expected


@pytest.mark.parametrize('t_max, period, name', [
    (0.0, 0.01, 'inference_time_max'), (-1.0, 0.01, 'inference_time_max'),
    (math.nan, 0.01, 'inference_time_max'), (math.inf, 0.01, 'inference_time_max'),
    (0.1, 0.0, 'period'), (0.1, -0.01, 'period'), (0.1, math.nan, 'period'),
    (1e300, 1e-300, 'inference_time_max / period')])
def test_required_workers_rejects(t_max, period, name):
    with pytest.raises(InputError, match=name):
        required_workers(t_max, period)


@pytest.mark.parametrize('kwargs, field', [
    ({'mode': 'fastest'}, 'schedule'),
    ({'initial_inference_time_s': 0.0}, 'initial_inference_time_s'),
    ({'initial_inference_time_s': math.nan}, 'initial_inference_time_s'),
    ({'initial_inference_time_s': True}, 'initial_inference_time_s'),
    ({'manual_cycle_s': -0.1}, 'manual_cycle_s'),
    ({'manual_offsets_s': (0.0, 0.1)}, 'manual_offsets_s'),      # 0.1 not below the cycle
    ({'manual_offsets_s': (0.0, -0.01)}, 'manual_offsets_s'),
    ({'manual_offsets_s': (0.02, 0.02)}, 'manual_offsets_s'),    # two workers at once
    ({'manual_offsets_s': 'abc'}, 'manual_offsets_s'),
    ({'exp_alpha': 0.0}, 'exp_alpha'), ({'exp_alpha': 1.5}, 'exp_alpha'),
    ({'exp_margin_std': -1.0}, 'exp_margin_std'),
    ({'exp_respread_tolerance': 0.0}, 'exp_respread_tolerance'),
    ({'exp_respread_tolerance': 1.0}, 'exp_respread_tolerance')])
def test_config_errors_name_the_field_and_value(kwargs, field):
    with pytest.raises(InputError) as err:
        ScheduleConfig(**kwargs)
    message = str(err.value)
    assert message.startswith(field) and '\n' not in message
    value = next(iter(kwargs.values()))
    assert repr(value if not isinstance(value, tuple) else list(value)) in message


def test_config_from_params_round_trip():
    params = {'schedule': 'manual', 'manual_offsets_s': [0, 0.05], 'manual_cycle_s': 0.1,
              'exp_alpha': 1, 'max_action_age_s': 0.25}   # unrelated keys are ignored
    config = ScheduleConfig.from_params(params)
    assert config.mode == 'manual' and config.manual_offsets_s == (0.0, 0.05)
    assert isinstance(config.exp_alpha, float)
    assert ScheduleConfig.from_params(config.to_params()) == config
    with pytest.raises(InputError, match='exp_alpha'):
        ScheduleConfig.from_params({'exp_alpha': 'high'})


@pytest.mark.parametrize('mode', ['max_time', 'exp_time', 'manual', 'none'])
def test_make_schedule_checks_workers_and_reports(mode):
    config = ScheduleConfig(mode=mode, manual_offsets_s=(0.0, 0.04, 0.08), manual_cycle_s=0.12)
    with pytest.raises(InputError, match='num_workers'):
        make_schedule(config, 0)
    schedule = make_schedule(config, 3)
    with pytest.raises(RuntimeError, match='start'):
        schedule.report(0, 0.0, 0.1)
    schedule.start(10.0)
    assert schedule.mode == mode and len(schedule.offsets()) == 3
    assert all(schedule.next_start(j) == 10.0 + o for j, o in enumerate(schedule.offsets()))
    with pytest.raises(InputError, match='worker'):
        schedule.report(3, 10.0, 0.1)
    with pytest.raises(InputError, match='inference_time'):
        schedule.report(0, 10.0, math.nan)


def test_manual_needs_one_offset_per_worker():
    config = ScheduleConfig(mode='manual', manual_offsets_s=(0.0, 0.05), manual_cycle_s=0.1)
    with pytest.raises(InputError, match=r'manual_offsets_s.*one offset per worker \(3\)'):
        make_schedule(config, 3)


def test_max_time_new_maximum_shifts_by_j_minus_i():
    # N = 3, T_max = 1: starts 0, 1/3, 2/3. Worker 0 takes 1.2: it restarts at 1.2 and the
    # others follow at 1.2 + k * 0.4 -- the (j - i) mod N shift, not (i - j) mod N.
    schedule = make_schedule(ScheduleConfig(initial_inference_time_s=1.0), 3)
    schedule.start(0.0)
    assert schedule.report(1, 1 / 3, 0.5) == pytest.approx(4 / 3)   # waiting, padded to 1
    assert schedule.report(0, 0.0, 1.2) == pytest.approx(1.2)
    assert schedule.cycle == 1.2
    assert schedule.next_start(1) == pytest.approx(1.6)              # moved while waiting
    assert schedule.report(2, 2 / 3, 0.9) == pytest.approx(2.0)      # mid-inference
    assert schedule.offsets() == pytest.approx((0.0, 0.4, 0.8))


def test_manual_reconfigure_takes_effect_next_cycle():
    old = ScheduleConfig(mode='manual', manual_offsets_s=(0.0, 0.05), manual_cycle_s=0.1)
    schedule = make_schedule(old, 2)
    schedule.start(0.0)
    assert schedule.report(0, 0.0, 0.03) == pytest.approx(0.1)
    new = ScheduleConfig(mode='manual', manual_offsets_s=(0.02, 0.1), manual_cycle_s=0.2)
    assert apply_config(schedule, new, 0.04) is schedule
    # Worker 1's start at 0.05 was in the current cycle and stays; worker 0's (0.1) was at
    # the boundary and moves to the new grid anchored there.
    assert schedule.next_start(1) == pytest.approx(0.05)
    assert schedule.next_start(0) == pytest.approx(0.12)
    assert schedule.report(1, 0.05, 0.01) == pytest.approx(0.2)
    assert schedule.report(0, 0.12, 0.01) == pytest.approx(0.32)
    with pytest.raises(InputError, match='manual_offsets_s'):
        apply_config(schedule, ScheduleConfig(mode='manual', manual_offsets_s=(0.0,)), 0.2)
    assert schedule.cycle == 0.2 and schedule.offsets() == (0.02, 0.1)   # old value kept


def test_apply_config_switches_mode_from_now():
    schedule = make_schedule(ScheduleConfig(mode='none'), 4)
    schedule.start(0.0)
    switched = apply_config(schedule, ScheduleConfig(initial_inference_time_s=0.2), 1.0)
    assert switched.mode == 'max_time'
    assert [switched.next_start(j) for j in range(4)] == pytest.approx([1.0, 1.05, 1.1, 1.15])
    # A worker that was mid-inference reports to the new schedule and lands on its slot.
    assert switched.report(2, 0.95, 0.1) == pytest.approx(1.3)


def test_switch_never_moves_a_sleeping_worker_earlier():
    schedule = make_schedule(ScheduleConfig(initial_inference_time_s=0.2), 2)
    schedule.start(0.0)          # worker 0 runs from 0, worker 1 sleeps until 0.1
    manual = ScheduleConfig(mode='manual', manual_offsets_s=(0.0, 0.03), manual_cycle_s=0.1)
    switched = apply_config(schedule, manual, 0.05)
    assert switched.next_start(1) == pytest.approx(0.18)   # its slot at or after 0.1
    assert switched.report(0, 0.0, 0.12) == pytest.approx(0.15)
