"""Config dataclasses: defaults and checks from the parameter table, one-line errors.

Also the cross-field rules, and live updates that keep the old config on failure.
"""

import array
from dataclasses import fields
import math

import pytest

from rt_async_control.core.config import (
    ArbiterConfig,
    check_joint_names,
    HostConfig,
    InferenceConfig,
    SimConfig,
    StackConfig,
    to_params,
)
from rt_async_control.core.parameters import (
    HOST,
    node_parameters,
    NODES,
    PARAMETERS,
    section_parameters,
    SHARED,
)
from rt_async_control.core.schedule_config import ScheduleConfig
from rt_async_control.errors import InputError
from rt_async_control.resources import share_path

SECTIONS = {'stack': StackConfig, 'sim': SimConfig, 'inference': InferenceConfig,
            'arbiter': ArbiterConfig, 'schedule': ScheduleConfig, HOST: HostConfig}


def test_every_parameter_maps_to_a_field_with_its_default():
    for definition in PARAMETERS:
        cls = SECTIONS[definition.section]
        by_name = {f.name: f for f in fields(cls)}
        assert definition.field in by_name, definition
        default = by_name[definition.field].default
        assert default == definition.default, definition
        assert definition.check(definition.default) == definition.default
    names = [(d.node, d.name) for d in PARAMETERS]
    assert len(names) == len(set(names))


def test_table_gives_what_a_ros_node_declares():
    arbiter = node_parameters('arbiter')
    assert {'control_period_s', 'task', 'schedule', 'max_action_age_s'} <= set(arbiter)
    assert 'realtime_factor' not in arbiter
    age = arbiter['max_action_age_s']
    assert age.ros_type == 'PARAMETER_DOUBLE' and age.live and '[s]' in age.ros_description
    assert age.ros_range == (0.0, 1e6)
    assert arbiter['control_period_s'].read_only
    assert arbiter['default_command'].ros_type == 'PARAMETER_DOUBLE_ARRAY'
    assert arbiter['default_command'].ros_range is None
    assert arbiter['default_command'].constraints == 'each >= -1e+06 and <= 1e+06'
    assert arbiter['schedule'].constraints == 'one of: max_time, exp_time, manual, none'
    assert arbiter['control_period_s'].constraints == '> 0 and <= 10'
    assert node_parameters('inference')['warmup_calls'].ros_range[0] == 0
    assert 'one of: hold, zero, default' in arbiter['default_behaviour'].ros_description
    assert set(node_parameters(SHARED)) >= set(arbiter) | set(node_parameters('sim'))
    with pytest.raises(InputError, match='known nodes are sim, inference, arbiter'):
        node_parameters('controller')


def test_defaults_are_valid_and_round_trip_through_params():
    config = StackConfig()
    assert StackConfig.from_params(to_params(config)) == config
    assert StackConfig.from_params({}) == config


@pytest.mark.parametrize('cls, kwargs, words', [
    (ArbiterConfig, {'max_action_age_s': -0.1}, ['arbiter.max_action_age_s', '-0.1', '> 0']),
    (ArbiterConfig, {'max_action_age_s': math.nan}, ['max_action_age_s', 'nan']),
    (ArbiterConfig, {'default_behaviour': 'brake'}, ['default_behaviour', "'brake'", 'hold']),
    (ArbiterConfig, {'default_behaviour': 'default'}, ['default_command', 'must be set']),
    (ArbiterConfig, {'rate_limit_per_s': '5'}, ['rate_limit_per_s', "'5'", 'number']),
    (ArbiterConfig, {'default_command': (1.0, 'a')}, ['default_command', 'list of numbers']),
    (ArbiterConfig, {'command_interface': 'effort'}, ['command_interface', 'forward']),
    (SimConfig, {'realtime_factor': 0.0}, ['sim.realtime_factor', '0.0', '> 0']),
    (SimConfig, {'seed': True}, ['sim.seed', 'True', 'integer']),
    (SimConfig, {'publish_clock': 1}, ['publish_clock', 'true or false']),
    (InferenceConfig, {'emulate_distribution': 'normal'}, ['emulate_mean_s', '0.0', 'normal']),
    (InferenceConfig, {'emulate_cv': -1}, ['inference.emulate_cv', '-1']),
    (InferenceConfig, {'warmup_calls': 2.5}, ['warmup_calls', '2.5', 'integer']),
    (InferenceConfig, {'providers': 'cpu'}, ['providers', 'list of strings']),
    (StackConfig, {'control_period_s': 0.0}, ['control_period_s = 0.0', '> 0']),
    (StackConfig, {'num_workers': -1}, ['num_workers = -1', '>= 0']),
    (StackConfig, {'task': 'arm'}, ['sim.task', "'pendulum'", "'arm'"]),
    (StackConfig, {'control_period_s': 0.5}, ['max_action_age_s = 0.25', 'control_period_s']),
])
def test_bad_values_name_the_field_and_value(cls, kwargs, words):
    with pytest.raises(InputError) as error:
        cls(**kwargs)
    message = str(error.value)
    assert '\n' not in message
    for word in words:
        assert word in message


def test_ints_become_floats_and_lists_become_tuples():
    config = ArbiterConfig(max_action_age_s=1, default_command=[1, 2])
    assert isinstance(config.max_action_age_s, float)
    assert config.default_command == (1.0, 2.0)
    # rclpy hands double arrays over as array.array
    assert ArbiterConfig(default_command=array.array('d', [0.5])).default_command == (0.5,)


def test_check_task_rejects_period_shorter_than_sim_step_and_wrong_command_length():
    config = StackConfig(control_period_s=0.001, arbiter=ArbiterConfig(default_command=(0.0,)))
    with pytest.raises(InputError, match=r'control_period_s = 0.001: shorter than .* 0.002'):
        config.check_task(0.002, 1)
    ok = StackConfig(arbiter=ArbiterConfig(default_command=(0.0,)))
    ok.check_task(0.002, 1)
    with pytest.raises(InputError, match=r'default_command = \[0.0\]: has 1 entries.* 3'):
        ok.check_task(0.002, 3)


def test_from_params_for_one_node_and_shared_disagreement():
    config = StackConfig.from_params({'arbiter': {'schedule': 'exp_time', 'exp_alpha': 0.5,
                                                  'control_period_s': 0.02}})
    assert config.schedule.mode == 'exp_time' and config.schedule.exp_alpha == 0.5
    assert config.control_period_s == 0.02 and config.sim == SimConfig()
    with pytest.raises(InputError, match=r'control_period_s differs between nodes \(sim=0.01, '
                                         r'arbiter=0.02\)'):
        StackConfig.from_params({'sim': {'control_period_s': 0.01},
                                 'arbiter': {'control_period_s': 0.02}})
    with pytest.raises(InputError, match='exp_alpha'):
        StackConfig.from_params({'arbiter': {'exp_alpha': 0.0}})


def test_live_update_builds_a_new_config_or_raises():
    config = StackConfig()
    updated = config.with_values('arbiter', {'max_action_age_s': 0.5, 'schedule': 'exp_time'})
    assert updated.arbiter.max_action_age_s == 0.5 and updated.schedule.mode == 'exp_time'
    assert config.arbiter.max_action_age_s == 0.25
    with pytest.raises(InputError, match='max_action_age_s = -1.0'):
        config.with_values('arbiter', {'max_action_age_s': -1.0})
    with pytest.raises(InputError, match='unknown parameter arbiter.seed'):
        config.with_values('arbiter', {'seed': 1})
    shared = config.with_values('sim', {'state_period_s': 0.02})
    assert shared.state_period_s == shared.sim.state_period_s == 0.02


def test_model_file_resolves_under_share_dir():
    assert InferenceConfig().model_file('arm') == share_path('models', 'arm_small.onnx')
    assert InferenceConfig(model_path='/tmp/x.onnx').model_file('arm').as_posix() == '/tmp/x.onnx'


def test_every_node_section_is_covered():
    sections = {d.section for d in PARAMETERS}
    assert sections == set(SECTIONS)
    assert all(section_parameters(s) for s in sections)
    assert set(NODES) == {d.node for d in PARAMETERS} - {SHARED}


def test_cross_node_rule_applies_only_when_both_nodes_are_known():
    slow = {'emulate_distribution': 'fixed', 'emulate_mean_s': 0.3}
    # A ROS inference node sees only its own parameters: the arbiter's are not known there.
    assert StackConfig.from_params({'inference': slow}).inference.emulate_mean_s == 0.3
    with pytest.raises(InputError, match=r'emulate_mean_s = 0.3: .*max_action_age_s = 0.25'):
        StackConfig.from_params({'inference': slow, 'arbiter': {}})
    with pytest.raises(InputError, match='emulate_mean_s = 0.3'):
        StackConfig().with_values('inference', slow)
    StackConfig.from_params({'inference': slow, 'arbiter': {'max_action_age_s': 0.5}})


def test_host_parameters_are_in_the_table_and_kept_apart():
    # One parameter file serves ROS and the embedded runtime: the host's parameters load.
    host = {d.name for d in section_parameters(HOST)}
    assert host == {'realtime_priority', 'worker_index', 'joint_names'}
    assert {'realtime_priority', 'joint_names'} <= set(node_parameters('arbiter'))
    assert 'worker_index' in node_parameters('inference')
    config = StackConfig.from_params({
        'sim': {'realtime_priority': 40},
        'inference': {'worker_index': 2, 'joint_names': ['a', 'b']},
        'arbiter': {'realtime_priority': 90, 'joint_names': ['b']}})
    assert config.host == HostConfig(sim_realtime_priority=40, worker_index=2,
                                     state_joint_names=('a', 'b'),
                                     arbiter_realtime_priority=90,
                                     command_joint_names=('b',))
    assert (config.host.realtime_priority('arbiter'), config.host.realtime_priority('sim'),
            config.host.realtime_priority('worker_0')) == (90, 40, 0)
    # The control law does not see them; a live change elsewhere keeps them.
    assert config.arbiter == StackConfig().arbiter
    assert config.with_values('arbiter', {'ramp_in_s': 1.0}).host == config.host
    assert StackConfig.from_params(to_params(config)) == config
    with pytest.raises(InputError, match='arbiter.realtime_priority = 120'):
        StackConfig.from_params({'arbiter': {'realtime_priority': 120}})
    with pytest.raises(InputError, match=r'inference.joint_names = 3 \(int\)'):
        StackConfig.from_params({'inference': {'joint_names': 3}})


def test_joint_names_must_be_the_tasks_for_the_embedded_runtime():
    check_joint_names((), ('slider', 'hinge'), 'x.joint_names', 'cartpole')  # unset: fine
    check_joint_names(['slider', 'hinge'], ('slider', 'hinge'), 'x.joint_names', 'cartpole')
    with pytest.raises(InputError) as info:
        check_joint_names(['slider', 'shoulder_pan'], ('slider', 'hinge'), 'x.joint_names',
                          'cartpole')
    message = str(info.value)
    assert "unknown joint 'shoulder_pan'" in message and "['slider', 'hinge']" in message
    assert message.startswith('x.joint_names') and '\n' not in message
    for bad in (['hinge', 'slider'], ['slider']):
        with pytest.raises(InputError, match="in its order, \\['slider', 'hinge'\\]"):
            check_joint_names(bad, ('slider', 'hinge'), 'x.joint_names', 'cartpole')
    config = StackConfig.from_params({'arbiter': {'joint_names': ['slider']}})
    with pytest.raises(InputError, match="arbiter.joint_names = \\['slider'\\]: unknown"):
        config.check_joint_names(('slider', 'hinge'), ('hinge',))
    config.check_joint_names(('slider', 'hinge'), ('slider',))
