"""MCAP recording with ROS 2 encodings: written, read back, field values intact."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rt_async_control.runtime.mcap_record import msgdef, read_messages, Recorder, Status


def test_messages_round_trip(tmp_path):
    path = tmp_path / 'run.mcap'
    with Recorder(path, frame_id='world') as rec:
        rec.joint_state('/joint_states', 1.5, ['hinge', 'slider'], np.array([0.1, -0.2]),
                        [1.0, 2.0], None)
        rec.joint_trajectory('/worker_0/action', 1.25, ['hinge', 'slider'],
                             np.arange(6.0).reshape(3, 2), 0.02)
        rec.joint_trajectory('/worker_1/action', 1.3, ['hinge', 'slider'], [[7.0, 8.0]],
                             math.inf)
        rec.float64_array('/command', 1.75, np.array([0.5, -0.25]))
        rec.diagnostics('/diagnostics', 2.0, [
            Status('arbiter', 'WARN', 'inaction 3%', {'inaction_ratio': 0.03}),
            {'name': 'worker_0', 'level': 2, 'message': 'hung'}])
    got = {topic: (schema, msg) for topic, schema, msg in read_messages(path)}
    assert len(got) == 5

    schema, state = got['/joint_states']
    assert schema == 'sensor_msgs/msg/JointState'
    assert (state.header.stamp.sec, state.header.stamp.nanosec) == (1, 500_000_000)
    assert state.header.frame_id == 'world'
    assert state.name == ['hinge', 'slider'] and state.position == [0.1, -0.2]
    assert state.velocity == [1.0, 2.0] and state.effort == []

    schema, chunk = got['/worker_0/action']
    assert schema == 'trajectory_msgs/msg/JointTrajectory'
    assert [p.positions for p in chunk.points] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert [p.time_from_start.nanosec for p in chunk.points] == [0, 20_000_000, 40_000_000]
    single = got['/worker_1/action'][1]
    assert len(single.points) == 1 and single.points[0].time_from_start.sec == 0

    schema, command = got['/command']
    assert schema == 'std_msgs/msg/Float64MultiArray' and command.data == [0.5, -0.25]
    assert command.layout.dim[0].size == 2

    schema, diag = got['/diagnostics']
    assert schema == 'diagnostic_msgs/msg/DiagnosticArray'
    assert [(s.name, s.level, s.message) for s in diag.status] == [
        ('arbiter', 1, 'inaction 3%'), ('worker_0', 2, 'hung')]
    assert [(kv.key, kv.value) for kv in diag.status[0].values] == [('inaction_ratio', '0.03')]


def test_log_time_follows_the_stamp_and_topics_filter(tmp_path):
    path = tmp_path / 'order.mcap'
    with Recorder(path) as rec:
        for k in range(5):
            rec.float64_array('/command', 10.0 + k * 0.01, [float(k)])
            rec.float64_array('/other', 10.0 + k * 0.01, [0.0])
    commands = [msg.data[0] for _, _, msg in read_messages(path, topics=['/command'])]
    assert commands == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_msgdef_carries_its_dependencies():
    text = msgdef('trajectory_msgs/JointTrajectory')
    for dep in ('std_msgs/Header', 'builtin_interfaces/Time',
                'trajectory_msgs/JointTrajectoryPoint', 'builtin_interfaces/Duration'):
        assert f'MSG: {dep}\n' in text
    with pytest.raises(KeyError):
        msgdef('geometry_msgs/Twist')
