"""Parameters declared from the core table; live changes validated by the core config."""

import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.parameter import Parameter  # noqa: E402

from rt_async_control.core.config import StackConfig  # noqa: E402
from rt_async_control.core.parameters import node_parameters  # noqa: E402
from rt_async_control.nodes.ros_parameters import (  # noqa: E402
    core_values,
    declare_all,
    LiveParameters,
)

pytestmark = pytest.mark.ros


@pytest.fixture
def node(context):
    node = rclpy.create_node('arbiter', context=context,
                             parameter_overrides=[Parameter('num_workers', value=3)])
    yield node
    node.destroy_node()


def test_every_table_parameter_is_declared_with_its_descriptor(node):
    values = declare_all(node, 'arbiter')
    assert set(node_parameters('arbiter')) <= set(values)
    assert values['num_workers'] == 3  # the override, not the default
    assert values['default_command'] == []  # empty array default declared by type
    period = node.describe_parameter('control_period_s')
    assert period.read_only
    assert '[s]' in period.description
    assert period.floating_point_range[0].to_value == pytest.approx(10.0)
    schedule = node.describe_parameter('schedule')
    assert not schedule.read_only
    assert 'max_time' in schedule.additional_constraints


def live(node, applied):
    values = declare_all(node, 'arbiter')
    values.pop('realtime_priority')
    values.pop('joint_names')
    return LiveParameters(
        node, values, build=lambda v: StackConfig.from_params(core_values('arbiter', v)),
        apply=lambda config, changed: applied.append(changed))


def test_a_valid_change_is_applied(node):
    applied = []
    parameters = live(node, applied)
    result = node.set_parameters([Parameter('schedule', value='exp_time')])[0]
    assert result.successful, result.reason
    assert parameters.config.schedule.mode == 'exp_time'
    assert node.get_parameter('schedule').value == 'exp_time'
    assert applied == [('schedule',)]


@pytest.mark.parametrize('name, value, words', [
    ('schedule', 'fastest', 'schedule'),
    ('max_action_age_s', 0.001, 'max_action_age_s'),  # below the control period
    ('default_behaviour', 'default', 'default_command'),  # needs a default command
])
def test_an_invalid_change_is_refused_with_the_core_reason(node, name, value, words):
    applied = []
    parameters = live(node, applied)
    before = node.get_parameter(name).value
    result = node.set_parameters([Parameter(name, value=value)])[0]
    assert not result.successful
    assert words in result.reason
    assert node.get_parameter(name).value == before
    assert parameters.values[name] == before
    assert applied == []


def test_read_only_and_wrongly_typed_changes_are_refused_by_rclpy(node):
    live(node, [])
    assert not node.set_parameters([Parameter('control_period_s', value=0.02)])[0].successful
    assert not node.set_parameters([Parameter('max_action_age_s', value='soon')])[0].successful


def test_a_refusal_by_the_role_keeps_the_old_value(node):
    def refuse(config, changed):
        raise ValueError('manual_offsets_s = [0.0]: needs 3 offsets')

    values = declare_all(node, 'arbiter')
    values.pop('realtime_priority')
    values.pop('joint_names')
    LiveParameters(node, values,
                   build=lambda v: StackConfig.from_params(core_values('arbiter', v)),
                   apply=refuse)
    result = node.set_parameters([Parameter('manual_offsets_s', value=[0.0])])[0]
    assert not result.successful
    assert 'needs 3 offsets' in result.reason


def test_a_node_is_checked_on_its_own_values_only(context):
    # A worker does not know the arbiter's max_action_age_s: an emulated time above its
    # default (0.25 s) is the arbiter's business, not a reason to refuse the worker.
    worker = rclpy.create_node('inference', context=context, parameter_overrides=[
        Parameter('emulate_distribution', value='fixed'),
        Parameter('emulate_mean_s', value=0.4)])
    try:
        values = declare_all(worker, 'inference')
        values.pop('worker_index')
        values.pop('joint_names')
        sections = core_values('inference', values)
        assert list(sections) == ['inference']
        config = StackConfig.from_params(sections)
        assert config.inference.emulate_mean_s == pytest.approx(0.4)
    finally:
        worker.destroy_node()
