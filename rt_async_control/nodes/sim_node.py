"""Simulator node ``sim``: a MuJoCo task in real time, seen from outside as a ros2_control robot.

Publishes ``joint_states`` (``sensor_msgs/JointState``) every ``state_period_s`` and, for tasks
with a goal, ``goal`` (``geometry_msgs/PointStamped``); at the start and at each reset (a new
episode) ``episode_start`` (``std_msgs/Header``, :mod:`.arbiter_messages`), so the arbiter
drops actions computed in the old episode. Takes commands the way a robot with
ros2_control does: ``std_msgs/Float64MultiArray`` on ``forward_command_controller/commands``
and ``trajectory_msgs/JointTrajectory`` on ``joint_trajectory_controller/joint_trajectory``
(first point applied), each held until the next (zero-order hold). With ``publish_clock`` it
publishes simulated time on ``/clock`` for nodes run with ``use_sim_time``.

The behaviour is :class:`~rt_async_control.roles.sim_role.SimRole`; physics advances in a
dedicated thread that sleeps to absolute deadlines, not in an rclpy timer. Sim time 0 is the
first deadline: on someone else's simulated clock (``use_sim_time`` without ``publish_clock``)
that is once its first ``/clock`` has arrived, so physics never catches up from time 0.
"""

from __future__ import annotations

import sys
import threading

from geometry_msgs.msg import PointStamped
import numpy as np
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, Header
from trajectory_msgs.msg import JointTrajectory

from rt_async_control.core.config import StackConfig
from rt_async_control.core.messages import StampedState
from rt_async_control.nodes import arbiter_messages, conversions, qos
from rt_async_control.nodes.entry import run
from rt_async_control.nodes.ros_parameters import core_values, declare_all, LiveParameters
from rt_async_control.nodes.timing_thread import TimingThread
from rt_async_control.roles.sim_role import SimRole
from rt_async_control.runtime.timing import monotonic_ns
from rt_async_control.sim.simulator import Simulator

#: The goal is re-sent this often (besides every change) for subscribers that join late.
GOAL_REPEAT_S = 1.0


class SimNode(Node):
    """The simulated robot (see the module docstring).

    :param kwargs: passed to ``rclpy.node.Node`` (e.g. ``context``, ``parameter_overrides``).
    """

    def __init__(self, **kwargs) -> None:
        """Declare parameters, load the task, start stepping in real time."""
        super().__init__('sim', **kwargs)
        values = declare_all(self, 'sim')
        priority = int(values.pop('realtime_priority'))
        self.parameters = LiveParameters(
            self, values, build=lambda v: StackConfig.from_params(core_values('sim', v)),
            apply=lambda config, changed: None)  # every sim parameter is read-only
        config = self.parameters.config
        sim = config.sim
        self.publish_clock = bool(sim.publish_clock)
        # With /clock the node runs on its own simulated clock, which already includes the
        # realtime factor; without it the role scales ROS time itself.
        factor = 1.0 if self.publish_clock else sim.realtime_factor
        self.role = SimRole(Simulator(config.task, seed=int(sim.seed)), config.state_period_s,
                            factor)
        self.spec = self.role.spec
        self.order = conversions.JointOrder(self.spec.actuated_joints)
        self._realtime_factor = sim.realtime_factor
        self._mono0 = monotonic_ns()
        self._lock = threading.Lock()
        self._goal_sent: tuple[float, ...] | None = None
        self._goal_sent_at = float('-inf')

        self.state_publisher = self.create_publisher(JointState, 'joint_states',
                                                     qos.STATE_PUBLISHER)
        self.goal_publisher = self.create_publisher(PointStamped, 'goal', qos.GOAL_PUBLISHER)
        self.episode_publisher = self.create_publisher(Header, 'episode_start',
                                                       qos.EPISODE_START)
        self._episode_sent = -1
        self.clock_publisher = (self.create_publisher(Clock, '/clock', qos.CLOCK)
                                if self.publish_clock else None)
        self.create_subscription(Float64MultiArray, 'forward_command_controller/commands',
                                 self.command_callback, qos.COMMAND)
        self.create_subscription(JointTrajectory, 'joint_trajectory_controller/joint_trajectory',
                                 self.command_callback, qos.COMMAND)

        self._started = False
        period = config.state_period_s / (sim.realtime_factor if self.publish_clock else 1.0)
        clock = self.get_clock()
        # Deadlines on the clock the simulator runs on (see now()).
        external = clock.ros_time_is_active and not self.publish_clock
        self.timing = TimingThread(period, self.tick, name='sim', priority=priority,
                                   on_error=self.tick_failed,
                                   clock_ns=(lambda: clock.now().nanoseconds)
                                   if external else None)
        self.timing.start()
        self.get_logger().info(
            f'task {self.spec.name}: states every {config.state_period_s * 1e3:g} ms, '
            f'realtime factor {sim.realtime_factor:g}, {self.timing.scheduling}')

    def now(self) -> float:
        """Return the time the simulator runs on: simulated time with /clock, else ROS time."""
        if self.publish_clock:
            return (monotonic_ns() - self._mono0) * 1e-9 * self._realtime_factor
        return self.get_clock().now().nanoseconds * 1e-9

    def tick(self, _deadline_ns: int) -> None:
        """Advance physics to now and publish the state when one is due (timing thread)."""
        if not self.context.ok():
            return  # shutting down: publishing would fail until destroy_node stops the thread
        now = self.now()
        with self._lock:
            if self._started:
                state = self.role.advance(now)
            else:
                state, self._started = self.role.start(now), True
            goal = self.role.sim.goal if state is not None else None
            episode, start = self.role.episode, self.role.episode_start
        if episode != self._episode_sent:  # the start and every reset, before its states
            self._episode_sent = episode
            self.episode_publisher.publish(arbiter_messages.episode_to_msg(episode, start))
        if state is not None:
            self.publish_state(state, goal, now)

    def publish_state(self, state: StampedState, goal: np.ndarray | None, now: float) -> None:
        """Publish a state, the simulated time and (on change or every second) the goal."""
        if self.clock_publisher is not None:
            self.clock_publisher.publish(Clock(clock=conversions.to_time_msg(now)))
        self.state_publisher.publish(conversions.state_to_msg(state))
        if goal is not None:
            key = tuple(goal.tolist())
            if key != self._goal_sent or now - self._goal_sent_at >= GOAL_REPEAT_S:
                msg = PointStamped()
                msg.header.stamp = conversions.to_time_msg(state.stamp)
                msg.header.frame_id = 'world'
                msg.point.x, msg.point.y, msg.point.z = key
                self.goal_publisher.publish(msg)
                self._goal_sent, self._goal_sent_at = key, now

    def command_callback(self, msg: Float64MultiArray | JointTrajectory) -> None:
        """Hold a received command from now on; a malformed one is ignored with a warning."""
        try:
            command = conversions.command_from_msg(
                msg, self.order if isinstance(msg, JointTrajectory) else None,
                self.spec.command_interface)
            now = self.now()
            with self._lock:
                if not self._started:
                    return  # before the first step: the initial command holds
                self.role.apply(np.asarray(command), now)
        except ValueError as exc:  # InputError too: wrong length, non-finite, missing joint
            self.get_logger().warning(f'command ignored: {exc}', throttle_duration_sec=2.0)

    def tick_failed(self, exc: BaseException) -> None:
        """Log an exception raised in the stepping thread (the thread keeps going)."""
        self.get_logger().error(f'simulation step failed: {exc!r}', throttle_duration_sec=2.0)

    def destroy_node(self) -> None:
        """Stop stepping, then destroy the node."""
        if hasattr(self, 'timing'):
            self.timing.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Run the simulator node until Ctrl-C or shutdown.

    :param args: command line arguments (``None``: ``sys.argv``).
    :return: the exit code.
    """
    return run(SimNode, 'sim_node', args)


if __name__ == '__main__':
    sys.exit(main())
