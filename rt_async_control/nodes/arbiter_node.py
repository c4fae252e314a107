"""Arbiter node ``arbiter``: the freshest valid action on a constant period, and the stagger.

Subscribes ``worker_<i>/action_chunk`` for each of ``num_workers`` workers; every
``control_period_s`` publishes the command, as ``std_msgs/Float64MultiArray`` on
``forward_command_controller/commands`` (``command_interface: forward``) or as a one-point
``trajectory_msgs/JointTrajectory`` on ``joint_trajectory_controller/joint_trajectory``
(``trajectory``). Publishes the workers' next start times on ``schedule`` after each chunk,
the commands it plans for the next ticks on ``plan`` (while a delay-aware worker subscribes)
and its health on ``/diagnostics`` once a second. A worker silent for too long leaves the
schedule (the others are spread over the cycle, the schedule is re-published) until its next
chunk; a simulator reset on ``episode_start`` drops the actions of the old episode. The
stagger and selection parameters are live-tunable with ``ros2 param set``; an invalid value is
refused with the core's reason.

The behaviour is :class:`~rt_async_control.roles.arbiter_role.ArbiterRole`. Ticks come from a
dedicated thread sleeping to absolute deadlines (:mod:`.timing_thread`): an rclpy timer is
dispatched by the executor with millisecond jitter. Chunks and parameter changes arrive in the
executor thread; one lock orders them with the ticks. The schedule is anchored at the first
tick (on simulated time: once the first ``/clock`` has arrived, not at time 0).
"""

from __future__ import annotations

from collections.abc import Callable
import math
import sys
import threading

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray, Header
from trajectory_msgs.msg import JointTrajectory

from rt_async_control.core.config import StackConfig
from rt_async_control.errors import InputError
from rt_async_control.nodes import arbiter_messages, conversions, qos
from rt_async_control.nodes.diagnostics import diagnostics_msg
from rt_async_control.nodes.entry import run
from rt_async_control.nodes.host_parameters import robot_joint_names
from rt_async_control.nodes.ros_parameters import core_values, declare_all, LiveParameters
from rt_async_control.nodes.timing_thread import TimingThread
from rt_async_control.roles.arbiter_role import ArbiterRole
from rt_async_control.sim.tasks import load_task

#: Topic of each command interface, relative, as ros2_control's controllers name them.
COMMAND_TOPICS = {
    'forward': 'forward_command_controller/commands',
    'trajectory': 'joint_trajectory_controller/joint_trajectory',
}
#: Seconds between /diagnostics messages (and re-sent schedules).
DIAGNOSTICS_PERIOD_S = 1.0


class ArbiterNode(Node):
    """The arbiter (see the module docstring).

    :param kwargs: passed to ``rclpy.node.Node`` (e.g. ``context``, ``parameter_overrides``).
    """

    def __init__(self, **kwargs) -> None:
        """Declare parameters, build the role, start the output thread."""
        super().__init__('arbiter', **kwargs)
        values = declare_all(self, 'arbiter')
        priority = int(values.pop('realtime_priority'))
        joint_names = tuple(values.pop('joint_names'))
        self._lock = threading.Lock()
        self.role: ArbiterRole | None = None
        self.parameters = LiveParameters(
            self, values, build=lambda v: StackConfig.from_params(core_values('arbiter', v)),
            apply=self.reconfigure)
        config = self.parameters.config
        if config.num_workers < 1:
            raise InputError('num_workers = 0 (auto): the arbiter needs the number of workers '
                             'that were started; set num_workers (the launch files do)')
        self.spec = load_task(config.task)
        config.check_task(self.spec.timestep_s, self.spec.action_dim)
        self.joint_names = robot_joint_names(joint_names, self.spec.actuated_joints,
                                             'joint_names')
        self.control_period_s = config.control_period_s
        self.interface = config.arbiter.command_interface
        self.role = ArbiterRole.for_task(config, config.num_workers, self.spec)

        message = Float64MultiArray if self.interface == 'forward' else JointTrajectory
        self.command_publisher = self.create_publisher(
            message, COMMAND_TOPICS[self.interface], qos.COMMAND)
        self.schedule_publisher = self.create_publisher(Float64MultiArray, 'schedule',
                                                        qos.SCHEDULE)
        self.plan_publisher = self.create_publisher(Float64MultiArray, 'plan', qos.PLAN)
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, '/diagnostics',
                                                           qos.DIAGNOSTICS)
        for index in range(config.num_workers):
            self.create_subscription(JointTrajectory, f'worker_{index}/action_chunk',
                                     self.chunk_callback_for(index), qos.ACTION_CHUNK)
        self.create_subscription(Header, 'episode_start', self.episode_callback,
                                 qos.EPISODE_START)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self.diagnostics_callback)

        # On simulated time the ticks follow the node clock (see TimingThread).
        clock = self.get_clock()
        simulated = clock.ros_time_is_active
        self.timing = TimingThread(self.control_period_s, self.tick, name='arbiter',
                                   priority=priority, on_error=self.tick_failed,
                                   clock_ns=(lambda: clock.now().nanoseconds)
                                   if simulated else None)
        self.timing.start()
        self.get_logger().info(
            f'{config.num_workers} workers, schedule {config.schedule.mode}, '
            f'{1.0 / self.control_period_s:g} Hz on {COMMAND_TOPICS[self.interface]}, '
            f'{self.timing.scheduling}{", simulated time" if simulated else ""}')

    def now(self) -> float:
        """Return the node clock (ROS time) in seconds."""
        return self.get_clock().now().nanoseconds * 1e-9

    # -- output thread ---------------------------------------------------------------------
    def tick(self, _deadline_ns: int) -> None:
        """Decide and publish one command (timing thread, at each deadline)."""
        if not self.context.ok():
            return  # shutting down: publishing would fail until destroy_node stops the thread
        now = self.now()
        with self._lock:
            first = not self.role.schedule_started
            if first:
                self.role.start(now)  # the workers' common start: as the embedded arbiter
            changes = self.role.active_changes
            decision = self.role.tick(now)  # also takes silent workers out of the schedule
            respread = self.role.active_changes != changes
        if self.interface == 'forward':
            msg = conversions.command_to_multiarray(decision.command)
        else:
            msg = conversions.command_to_trajectory(decision.command, self.joint_names,
                                                    self.control_period_s,
                                                    self.spec.command_interface)
        self.command_publisher.publish(msg)
        # Off the critical path: the command is out.
        if first or respread:
            self.publish_schedule()
        if self.plan_publisher.get_subscription_count() > 0:
            self.publish_plan(now)

    def publish_plan(self, now: float) -> None:
        """Publish the commands planned from ``now`` on, one per control period.

        What a delay-aware worker passes its policy as the commands in flight, exactly as the
        embedded runtime's ``plan`` record: the worker takes the first ``history`` rows. The
        arbiter does not know the model, so it plans as far as an action may be old: a model
        that waits for more commands than fit in ``max_action_age_s`` would only produce
        actions too old to use.
        """
        with self._lock:
            steps = max(1, math.ceil(self.role.config.arbiter.max_action_age_s
                                     / self.control_period_s - 1e-9))
            planned = self.role.planned(now, steps)
        self.plan_publisher.publish(arbiter_messages.plan_to_msg(planned))

    def tick_failed(self, exc: BaseException) -> None:
        """Log an exception raised in the output thread (the thread keeps going)."""
        self.get_logger().error(f'arbiter tick failed: {exc!r}', throttle_duration_sec=2.0)

    # -- executor callbacks ----------------------------------------------------------------
    def chunk_callback_for(self, index: int) -> Callable[[JointTrajectory], None]:
        """Return the subscription callback of worker ``index``.

        A one-argument closure: rclpy passes a second argument (the message info) to
        callbacks that accept two, so a default argument would not carry the index.
        """
        def callback(msg: JointTrajectory) -> None:
            self.chunk_callback(msg, index)

        return callback

    def chunk_callback(self, msg: JointTrajectory, index: int) -> None:
        """Offer a worker's chunk and report its inference to the schedule."""
        try:
            chunk = conversions.chunk_from_msg(msg, self.spec.command_interface)
        except ValueError as exc:
            self.get_logger().warning(f'worker_{index}: {exc}', throttle_duration_sec=5.0)
            return
        if chunk.worker_id != index:
            self.get_logger().warning(
                f'worker_{index}/action_chunk carries worker {chunk.worker_id}: ignored '
                '(two workers with the same worker_index?)', throttle_duration_sec=5.0)
            return
        with self._lock:
            if not self.role.schedule_started:
                return  # a schedule left by an earlier arbiter (transient local): not ours
            self.role.on_action(chunk, self.now())
        self.publish_schedule()

    def episode_callback(self, msg: Header) -> None:
        """Take a simulator reset: chunks computed before the new episode must not act."""
        episode, start = arbiter_messages.episode_from_msg(msg)
        with self._lock:
            self.role.on_reset(start)
        self.get_logger().info(f'episode {episode} began at {start:.3f} s: older actions '
                               'dropped')

    def publish_schedule(self) -> None:
        """Publish every worker's next start time and the cycle (once the schedule runs)."""
        with self._lock:
            role = self.role
            if role is None or not role.schedule_started:
                return
            starts = [role.worker_next_start(i) for i in range(role.num_workers)]
            cycle = role.schedule.cycle
        self.schedule_publisher.publish(arbiter_messages.schedule_to_msg(starts, cycle))

    def diagnostics_callback(self) -> None:
        """Publish health on ``/diagnostics`` and re-send the schedule."""
        now = self.now()
        with self._lock:
            report = self.role.diagnostics(now)
            max_age = self.role.config.arbiter.max_action_age_s
        report['timing_thread_missed'] = self.timing.missed
        report['timing_thread_late_us'] = self.timing.last_late_ns / 1e3
        self.diagnostics_publisher.publish(
            diagnostics_msg(report, now, self.get_fully_qualified_name(), max_age))
        self.publish_schedule()

    def reconfigure(self, config: StackConfig, changed: tuple[str, ...]) -> None:
        """Hand an accepted live change to the role (takes effect at the next cycle/tick).

        :param config: the validated new config.
        :param changed: the parameter names that changed.
        :raises InputError: the role cannot apply it; nothing changed.
        """
        if self.role is None:  # still starting up
            return
        with self._lock:
            self.role.reconfigure(config, self.now())
        self.get_logger().info(f'parameters changed: {", ".join(changed)}')
        self.publish_schedule()

    def destroy_node(self) -> None:
        """Stop the output thread, then destroy the node."""
        if hasattr(self, 'timing'):
            self.timing.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Run the arbiter until Ctrl-C or shutdown.

    :param args: command line arguments (``None``: ``sys.argv``).
    :return: the exit code.
    """
    return run(ArbiterNode, 'arbiter_node', args)


if __name__ == '__main__':
    sys.exit(main())
