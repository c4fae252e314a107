"""The nodes in one process, on their own context, driven by a bounded spin_once loop."""

import math
from pathlib import Path
import time

import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from rt_async_control.errors import InputError  # noqa: E402
from rt_async_control.nodes.arbiter_messages import plan_from_msg  # noqa: E402
from rt_async_control.nodes.arbiter_node import ArbiterNode  # noqa: E402
from rt_async_control.nodes.conversions import to_seconds  # noqa: E402
from rt_async_control.nodes.inference_node import InferenceNode  # noqa: E402
from rt_async_control.nodes.sim_node import SimNode  # noqa: E402
from rt_async_control.resources import share_path  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]

TASK = 'pendulum'
SHARED = [Parameter('task', value=TASK), Parameter('num_workers', value=1)]


def spin(context, nodes, seconds, until=lambda: False):
    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not until():
            executor.spin_once(timeout_sec=0.02)
    finally:
        executor.shutdown()


def test_sim_and_arbiter_without_workers_fall_back(context):
    sim = SimNode(context=context, parameter_overrides=list(SHARED))
    arbiter = ArbiterNode(context=context, parameter_overrides=list(SHARED))
    probe = rclpy.create_node('probe', context=context)
    states, commands = [], []
    probe.create_subscription(JointState, 'joint_states', states.append, 10)
    probe.create_subscription(Float64MultiArray, 'forward_command_controller/commands',
                              lambda msg: commands.append(time.monotonic()), 100)
    try:
        spin(context, [sim, arbiter, probe], 3.0)
    finally:
        for node in (probe, arbiter, sim):
            node.destroy_node()
    # Generous bounds: 100 Hz for about 3 s on a shared machine.
    assert len(commands) > 100
    assert len(states) > 100
    stamps = [to_seconds(s.header.stamp) for s in states]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    assert list(states[-1].name) == ['hinge']
    assert arbiter.role.stats.inaction_ticks > 0  # no worker: the default behaviour acted


def test_a_worker_feeds_the_arbiter(context):
    if not share_path('models', f'{TASK}_small.onnx').is_file():
        pytest.skip(f'models/{TASK}_small.onnx is not built')
    emulate = [Parameter('emulate_distribution', value='fixed'),
               Parameter('emulate_mean_s', value=0.02)]
    sim = SimNode(context=context, parameter_overrides=list(SHARED))
    arbiter = ArbiterNode(context=context, parameter_overrides=list(SHARED))
    worker = InferenceNode(context=context, parameter_overrides=[
        *SHARED, *emulate, Parameter('worker_index', value=0)])
    probe = rclpy.create_node('probe', context=context)
    chunks = []
    probe.create_subscription(JointTrajectory, 'worker_0/action_chunk', chunks.append, 100)
    try:
        spin(context, [sim, arbiter, worker, probe], 10.0, until=lambda: len(chunks) >= 20)
    finally:
        for node in (probe, worker, arbiter, sim):
            node.destroy_node()
    assert len(chunks) >= 20
    stamps = [to_seconds(c.header.stamp) for c in chunks]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))  # a fresh state each time
    assert arbiter.role.health[0].actions >= 10
    assert arbiter.role.reports[0] >= 10
    assert all(math.isfinite(v) for c in chunks for p in c.points for v in p.effort)


def test_the_arbiter_plans_the_commands_in_flight_for_delay_aware_workers(context):
    arbiter = ArbiterNode(context=context, parameter_overrides=list(SHARED))
    probe = rclpy.create_node('probe', context=context)
    plans = []
    probe.create_subscription(Float64MultiArray, 'plan', plans.append, 10)
    try:
        spin(context, [arbiter, probe], 5.0, until=lambda: len(plans) >= 5)
    finally:
        for node in (probe, arbiter):
            node.destroy_node()
    assert len(plans) >= 5  # published while someone subscribes
    plan = plan_from_msg(plans[-1])
    config = arbiter.role.config
    steps = math.ceil(config.arbiter.max_action_age_s / config.control_period_s - 1e-9)
    assert plan.shape == (steps, arbiter.role.action_dim)


def test_bad_parameters_fail_at_start_up_in_one_line(context):
    with pytest.raises(InputError) as info:
        ArbiterNode(context=context, parameter_overrides=[
            Parameter('task', value=TASK), Parameter('num_workers', value=0)])
    assert 'num_workers' in str(info.value)
    with pytest.raises(InputError, match='worker_index'):
        InferenceNode(context=context, parameter_overrides=[
            *SHARED, Parameter('worker_index', value=1)])  # num_workers is 1
    with pytest.raises(InputError, match='model'):
        InferenceNode(context=context, parameter_overrides=[
            *SHARED, Parameter('model_path', value=str(Path('/nonexistent/model.onnx')))])
