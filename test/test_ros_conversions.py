"""Message conversions between ROS 2 messages and the core's state and action chunk."""

import math

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402

from rt_async_control.core.messages import ActionChunk, StampedState  # noqa: E402
from rt_async_control.nodes import arbiter_messages, conversions  # noqa: E402
from rt_async_control.nodes.diagnostics import diagnostics_msg  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.mark.parametrize('seconds', [0.0, 1.5, 2.9999999999, 12345.000000001, 1.7e9 + 0.25])
def test_time_round_trip(seconds):
    msg = conversions.to_time_msg(seconds)
    assert 0 <= msg.nanosec < 1_000_000_000
    assert conversions.to_seconds(msg) == pytest.approx(seconds, abs=1e-6)


def chunk(horizon: int) -> ActionChunk:
    rows = np.arange(horizon * 3, dtype=np.float64).reshape(horizon, 3) / 7.0
    return ActionChunk(observation_stamp=100.125, worker_id=2, inference_time=0.0312345678,
                       actions=rows, step=0.01, started=100.1301234567)


@pytest.mark.parametrize('horizon', [1, 4])
def test_chunk_round_trip(horizon):
    original = chunk(horizon)
    msg = conversions.chunk_to_msg(original, ['a', 'b', 'c'])
    assert conversions.to_seconds(msg.header.stamp) == pytest.approx(100.125, abs=1e-9)
    assert len(msg.points) == horizon
    for k, point in enumerate(msg.points):
        assert conversions.to_seconds(point.time_from_start) == pytest.approx(k * 0.01)
        assert list(point.effort) == original.actions[k].tolist()
        assert not point.positions
    back = conversions.chunk_from_msg(msg)
    assert back.worker_id == 2
    assert back.inference_time == original.inference_time  # exact: repr round trip
    assert back.started == original.started
    assert back.observation_stamp == pytest.approx(original.observation_stamp, abs=1e-9)
    np.testing.assert_array_equal(back.actions, original.actions)
    assert back.step == (math.inf if horizon == 1 else pytest.approx(0.01))


def test_chunk_without_metadata_is_refused():
    msg = conversions.chunk_to_msg(chunk(2), ['a', 'b', 'c'])
    msg.header.frame_id = 'world'
    with pytest.raises(ValueError, match='frame_id'):
        conversions.chunk_from_msg(msg)


def test_state_is_reordered_to_the_task_joints():
    msg = JointState()
    msg.header.stamp = conversions.to_time_msg(3.5)
    msg.name = ['extra', 'elbow', 'shoulder']
    msg.position = [9.0, 2.0, 1.0]
    msg.velocity = [9.0, 20.0, 10.0]
    order = conversions.JointOrder(['shoulder', 'elbow'])
    state = conversions.state_from_msg(msg, order, 7, lambda p, v, g: np.concatenate([p, v]))
    assert isinstance(state, StampedState)
    assert state.stamp == pytest.approx(3.5)
    assert state.seq == 7
    np.testing.assert_array_equal(state.position, [1.0, 2.0])
    np.testing.assert_array_equal(state.velocity, [10.0, 20.0])
    np.testing.assert_array_equal(state.effort, [0.0, 0.0])  # empty field: zeros
    np.testing.assert_array_equal(state.observation, [1.0, 2.0, 10.0, 20.0])
    msg.name = ['extra', 'elbow', 'wrist']
    with pytest.raises(ValueError, match='shoulder'):
        conversions.state_from_msg(msg, order, 8, lambda p, v, g: p)


def test_state_to_msg():
    state = StampedState(1.25, 3, ('a', 'b'), np.array([1.0, 2.0]), np.array([3.0, 4.0]),
                         np.array([5.0, 6.0]), np.zeros(4))
    msg = conversions.state_to_msg(state)
    assert list(msg.name) == ['a', 'b']
    assert list(msg.effort) == [5.0, 6.0]
    assert conversions.to_seconds(msg.header.stamp) == pytest.approx(1.25)


def test_commands_as_each_controller_reads_them():
    command = np.array([0.5, -1.0, 2.0])
    forward = conversions.command_to_multiarray(command)
    assert isinstance(forward, Float64MultiArray)
    np.testing.assert_array_equal(conversions.command_from_msg(forward), command)
    trajectory = conversions.command_to_trajectory(command, ['a', 'b', 'c'], 0.01)
    assert trajectory.header.stamp.sec == 0 and trajectory.header.stamp.nanosec == 0
    assert conversions.to_seconds(trajectory.points[0].time_from_start) == pytest.approx(0.01)
    order = conversions.JointOrder(['c', 'a', 'b'])
    np.testing.assert_array_equal(conversions.command_from_msg(trajectory, order),
                                  [2.0, 0.5, -1.0])


def test_schedule_round_trip():
    msg = arbiter_messages.schedule_to_msg([10.0, 10.01, 10.02], 0.03)
    assert arbiter_messages.schedule_from_msg(msg) == ((10.0, 10.01, 10.02), 0.03)
    with pytest.raises(ValueError):
        arbiter_messages.schedule_from_msg(Float64MultiArray())


def test_plan_round_trip():
    planned = np.arange(12, dtype=np.float64).reshape(4, 3) / 3.0
    back = arbiter_messages.plan_from_msg(arbiter_messages.plan_to_msg(planned))
    np.testing.assert_array_equal(back, planned)
    with pytest.raises(ValueError, match='layout'):
        arbiter_messages.plan_from_msg(Float64MultiArray(data=[1.0, 2.0]))


def test_chunk_metadata_keeps_numpy_floats_exact():
    text = conversions.chunk_meta(np.int64(3), np.float64(1.25), np.float64(0.1))
    assert conversions.parse_chunk_meta(text) == (3, 1.25, 0.1)


def test_diagnostics_levels_and_values():
    from diagnostic_msgs.msg import DiagnosticStatus

    report = {'ticks': 10, 'inaction_ratio': 0.5, 'action_age_ms': float('nan'),
              'workers': [{'worker': 0, 'last_seen_s': 0.01, 'rejected': 0,
                           'last_reason': None},
                          {'worker': 1, 'last_seen_s': float('nan'), 'rejected': 0}]}
    msg = diagnostics_msg(report, 12.5, '/arbiter', 0.1)
    # Levels are one byte in Python (b'\x00'...), values are text.
    assert [s.level for s in msg.status] == [DiagnosticStatus.WARN, DiagnosticStatus.OK,
                                             DiagnosticStatus.WARN]
    assert all(isinstance(kv.value, str) for s in msg.status for kv in s.values)
    assert 'workers' not in [kv.key for kv in msg.status[0].values]
    assert conversions.to_seconds(msg.header.stamp) == pytest.approx(12.5)
