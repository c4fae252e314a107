"""QoS profiles of every topic, chosen once here so publishers and subscribers always match.

Why these profiles (see docs/ros2.md, "QoS"):

* Latest value only: state, action chunks and commands are keep-last 1. A queued old state or
  action is worse than none; the newest sample replaces it.
* Publishers are RELIABLE, subscriptions of data that may come from someone else's publisher
  (``joint_states`` from ``joint_state_broadcaster``) are BEST_EFFORT. A reliable publisher
  matches both kinds of subscriber (``robot_state_publisher`` and ``forward_command_controller``
  request reliable), while a best-effort subscription matches any publisher and never asks for
  the retransmission of a sample that a newer one has already replaced.
* Action chunks are RELIABLE end to end: the arbiter feeds every chunk's measured inference
  time to the schedule, and a lost chunk would leave that worker without a next start.
* No DEADLINE and no LIFESPAN on the control path. A subscription that requests a deadline is
  incompatible with a publisher that offers none (every ros2_control controller), and lifespan
  compares source timestamps across hosts. Staleness is decided exactly by the core arbiter
  from each action's observation stamp (``max_action_age_s``) and reported on ``/diagnostics``.
* The stagger schedule is TRANSIENT_LOCAL: a worker that starts (or restarts) late receives
  the current start times at once instead of waiting for the next change. So is the
  simulator's ``episode_start`` (a reset), which must reach the arbiter once and reliably.
  The simulator's goal is latched too, but workers subscribe to it volatile so that goals
  published with default QoS (``ros2 topic pub``) match as well.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

#: Published robot state (``joint_states``): like ``joint_state_broadcaster``, reliable, so
#: reliable subscribers (``robot_state_publisher``, rviz) and best-effort ones both match.
STATE_PUBLISHER = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

#: Subscribed robot state: best effort, newest only; matches reliable and best-effort sources.
STATE_SUBSCRIPTION = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)

#: Worker -> arbiter action chunks, both ends ours: reliable, newest only.
ACTION_CHUNK = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

#: Arbiter -> workers planned commands (delay-aware policies): newest only, both ends ours.
PLAN = ACTION_CHUNK

#: Arbiter -> robot commands: reliable, because ``forward_command_controller`` and
#: ``joint_trajectory_controller`` subscribe reliable (a best-effort publisher would not match).
COMMAND = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

#: Arbiter -> workers start times: reliable and latched (transient local) for late joiners.
SCHEDULE = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

#: Simulator -> arbiter ``episode_start`` (a reset): reliable, for none may be lost, and
#: latched, so an arbiter that starts (or restarts) after the reset still drops older chunks.
EPISODE_START = SCHEDULE

#: Goal of the task (the arm's target point) as the simulator publishes it: latched.
GOAL_PUBLISHER = SCHEDULE

#: Goal as the workers subscribe it: reliable but volatile, so it also matches a goal published
#: by ``ros2 topic pub`` or any node with default QoS (a transient-local subscription would
#: not); the simulator re-sends its goal every second for workers that start late.
GOAL_SUBSCRIPTION = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

#: ``/diagnostics``: the depth diagnostic_aggregator and rqt_robot_monitor expect.
DIAGNOSTICS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

#: ``/clock`` from the simulator: reliable keep-last 1 matches rclpy's and rclcpp's time
#: sources (best effort) as well as reliable subscribers.
CLOCK = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
