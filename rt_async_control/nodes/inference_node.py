"""Inference worker node ``inference_<i>``: the policy on the freshest state, at its start times.

Subscribes ``joint_states`` (and ``goal`` for tasks with one), follows its start times from the
arbiter's ``schedule`` (and, for a delay-aware policy, takes the arbiter's ``plan`` as the
commands in flight, like the embedded runtime's worker) and publishes each action chunk on
``worker_<i>/action_chunk`` as a
``trajectory_msgs/JointTrajectory`` (header.stamp = observation stamp; worker id, start time
and measured inference time in header.frame_id). The behaviour is
:class:`~rt_async_control.roles.worker_role.WorkerRole`; this node converts and waits.

Inference runs in its own thread, never in an executor callback: a forward pass takes longer
than a control period and must not hold up the subscriptions that deliver the next state.
Start times and stamps are on the node clock (ROS time); waits sleep on the monotonic clock in
slices of at most :data:`POLL_S` (:data:`SIM_POLL_S` on simulated time, whose rate against the
wall clock is unknown) and read the node clock again.
"""

from __future__ import annotations

import sys
import threading

from geometry_msgs.msg import PointStamped
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from rt_async_control.core.config import StackConfig
from rt_async_control.core.messages import StampedState
from rt_async_control.errors import InputError
from rt_async_control.nodes import arbiter_messages, conversions, qos
from rt_async_control.nodes.entry import run
from rt_async_control.nodes.host_parameters import robot_joint_names
from rt_async_control.nodes.ros_parameters import core_values, declare_all, LiveParameters
from rt_async_control.policy.onnx_policy import OnnxPolicy
from rt_async_control.roles.worker_role import Emulation, WorkerRole
from rt_async_control.runtime.timing import monotonic_ns, sleep_until
from rt_async_control.sim.model import JointObservation
from rt_async_control.sim.tasks import load_task

#: Longest single wait, seconds: the loop re-reads the schedule and the stop flag this often.
POLL_S = 0.1
#: Longest single wait on simulated time (wall seconds): the node clock is read this often.
SIM_POLL_S = 0.0005


class InferenceNode(Node):
    """One staggered inference worker (see the module docstring).

    :param kwargs: passed to ``rclpy.node.Node`` (e.g. ``context``, ``parameter_overrides``).
    """

    def __init__(self, **kwargs) -> None:
        """Declare parameters, load and warm up the policy, start the inference thread."""
        super().__init__('inference', **kwargs)
        values = declare_all(self, 'inference')
        self.worker_index = int(values.pop('worker_index'))
        joint_names = tuple(values.pop('joint_names'))
        self.parameters = LiveParameters(
            self, values,
            build=lambda v: StackConfig.from_params(core_values('inference', v)),
            apply=self.reconfigure)
        config = self.parameters.config
        if 0 < config.num_workers <= self.worker_index:
            # Its entry would never appear in the schedule: the worker would wait forever.
            raise InputError(f'worker_index = {self.worker_index}: must be below num_workers = '
                             f'{config.num_workers}')
        self.spec = load_task(config.task)
        self.policy = OnnxPolicy(config.inference.model_file(config.task), task=self.spec,
                                 providers=config.inference.providers)
        self.role = WorkerRole.from_policy(self.worker_index, self.policy, config.inference)
        self.policy.warmup(config.inference.warmup_calls)
        self.observe = JointObservation(self.spec)
        self.order = conversions.JointOrder(
            robot_joint_names(joint_names, self.spec.joint_names, 'joint_names'))

        self._cond = threading.Condition()
        self._state_msg: JointState | None = None
        self._seq = 0
        self._goal: np.ndarray | None = None
        self._starts: tuple[float, ...] = ()
        self._plan: np.ndarray | None = None
        self._plan_short_warned = False
        self._stop = threading.Event()

        self.chunk_publisher = self.create_publisher(
            JointTrajectory, f'worker_{self.worker_index}/action_chunk', qos.ACTION_CHUNK)
        self.create_subscription(JointState, 'joint_states', self.state_callback,
                                 qos.STATE_SUBSCRIPTION)
        self.create_subscription(Float64MultiArray, 'schedule', self.schedule_callback,
                                 qos.SCHEDULE)
        if self.observe.needs_goal:
            self.create_subscription(PointStamped, 'goal', self.goal_callback,
                                     qos.GOAL_SUBSCRIPTION)
        if self.role.history:
            # A delay-aware policy takes the commands in flight: the arbiter's plan, as the
            # embedded runtime's worker reads its ``plan`` channel.
            self.create_subscription(Float64MultiArray, 'plan', self.plan_callback, qos.PLAN)
        self._thread = threading.Thread(target=self.inference_loop, name='inference',
                                        daemon=True)
        self._thread.start()
        self.get_logger().info(
            f'worker {self.worker_index}: {self.policy.path.name} on {self.policy.providers[0]}, '
            f'emulated {self.role.emulation.describe()}')

    def now(self) -> float:
        """Return the node clock (ROS time) in seconds."""
        return self.get_clock().now().nanoseconds * 1e-9

    def reconfigure(self, config: StackConfig, changed: tuple[str, ...]) -> None:
        """Apply accepted live changes (the emulated inference time).

        :param config: the validated new config.
        :param changed: the names that changed.
        """
        if hasattr(self, 'role'):
            self.role.emulation = Emulation.from_config(config.inference)

    # -- executor callbacks: store the newest value and wake the inference thread ----------
    def state_callback(self, msg: JointState) -> None:
        """Keep the newest state message (converted only when an inference starts)."""
        with self._cond:
            self._state_msg = msg
            self._seq += 1

    def goal_callback(self, msg: PointStamped) -> None:
        """Keep the task's current goal."""
        with self._cond:
            self._goal = np.array([msg.point.x, msg.point.y, msg.point.z])

    def schedule_callback(self, msg: Float64MultiArray) -> None:
        """Take the arbiter's new start times and wake the inference thread."""
        try:
            starts, _cycle = conversions.schedule_from_msg(msg)
        except ValueError as exc:
            self.get_logger().warning(str(exc), throttle_duration_sec=5.0)
            return
        with self._cond:
            self._starts = starts
            self._cond.notify_all()

    def plan_callback(self, msg: Float64MultiArray) -> None:
        """Keep the arbiter's newest planned commands (delay-aware policies)."""
        try:
            plan = arbiter_messages.plan_from_msg(msg)
        except ValueError as exc:
            self.get_logger().warning(str(exc), throttle_duration_sec=5.0)
            return
        with self._cond:
            self._plan = plan

    # -- inference thread ------------------------------------------------------------------
    def sleep_until_ros(self, when: float) -> None:
        """Sleep until the node clock reaches ``when`` (at most :data:`POLL_S`)."""
        poll = SIM_POLL_S if self.get_clock().ros_time_is_active else POLL_S
        delay = min(when - self.now(), poll)
        if delay > 0.0:
            sleep_until(monotonic_ns() + int(delay * 1e9))

    def next_start(self, after: float) -> float | None:
        """Wait (bounded) for a start time of this worker later than ``after``.

        :param after: the start already used.
        :return: the start time, or ``None`` when there is none yet (the caller loops).
        """
        with self._cond:
            i = self.worker_index
            if not (len(self._starts) > i and self._starts[i] > after):
                self._cond.wait(POLL_S)
            if len(self._starts) > i and self._starts[i] > after:
                return self._starts[i]
        return None

    def current_state(self) -> StampedState | None:
        """Return the newest state as a core state, or ``None`` if it cannot be built yet."""
        with self._cond:
            msg, seq, goal = self._state_msg, self._seq, self._goal
        if msg is None:
            return None
        try:
            return conversions.state_from_msg(msg, self.order, seq, self.observe, goal)
        except ValueError as exc:  # missing joint, no goal yet
            self.get_logger().warning(f'cannot use joint_states: {exc}', throttle_duration_sec=5.0)
            return None

    def in_flight(self) -> np.ndarray | None:
        """Return the commands in flight for a delay-aware policy, oldest first.

        The first ``history`` rows of the arbiter's newest plan: what the embedded worker
        reads from its ``plan`` channel (``None`` before the first plan, or for a plain
        policy: the policy then pads with its zero command).
        """
        history = self.role.history
        with self._cond:
            plan = self._plan
        if not history or plan is None:
            return None
        if len(plan) < history and not self._plan_short_warned:
            self._plan_short_warned = True
            self.get_logger().warning(
                f'the policy takes {history} commands in flight, the arbiter plans '
                f'{len(plan)} (max_action_age_s / control_period_s): the oldest are padded')
        return plan[:history]

    def inference_loop(self) -> None:
        """Run :meth:`inference_step` until stopped; an error is logged and the loop goes on."""
        used = float('-inf')
        while not self._stop.is_set() and self.context.ok():
            try:
                used = self.inference_step(used)
            except Exception as exc:  # noqa: BLE001 - a worker keeps going, like the arbiter
                if self._stop.is_set() or not self.context.ok():
                    break  # shutting down: the publisher's context is gone
                self.get_logger().error(f'inference failed: {exc!r}', throttle_duration_sec=2.0)
                self._stop.wait(POLL_S)

    def inference_step(self, used: float) -> float:
        """Wait for this worker's next start; at it, infer and publish when due.

        :param used: the start time of the last inference (``-inf`` for none).
        :return: the start time used now (``used`` when no inference ran).
        """
        if self.now() < used:
            used = float('-inf')  # the clock jumped back (sim restarted): start afresh
        start = self.next_start(used)
        if start is None:
            return used
        if self.now() < start:
            self.sleep_until_ros(start)
            return used  # re-read: another worker's report may have moved this start
        state = self.current_state()
        if state is None:
            self._stop.wait(POLL_S)
            return used
        started = self.now()
        result = self.role.infer(state, started, self.now, self.in_flight())
        while self.now() < result.publish_at and not self._stop.is_set():
            self.sleep_until_ros(result.publish_at)  # the emulated part of the call
        self.chunk_publisher.publish(
            conversions.chunk_to_msg(result.chunk, self.spec.actuated_joints,
                                     self.spec.command_interface))
        return start

    def destroy_node(self) -> None:
        """Stop the inference thread, then destroy the node."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Run one inference worker until Ctrl-C or shutdown.

    :param args: command line arguments (``None``: ``sys.argv``).
    :return: the exit code.
    """
    return run(InferenceNode, 'inference_node', args)


if __name__ == '__main__':
    sys.exit(main())
