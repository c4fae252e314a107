"""Convert between ROS 2 messages and the core's transport-neutral messages.

Only standard messages are used, so the package stays pure ament_python:

* ``sensor_msgs/JointState`` <-> :class:`~rt_async_control.core.messages.StampedState`
  (the observation vector is not in the message: the receiver rebuilds it from the joints and
  the task, see :func:`state_from_msg`);
* ``trajectory_msgs/JointTrajectory`` <-> :class:`~rt_async_control.core.messages.ActionChunk`:
  ``header.stamp`` is the observation stamp, one point per chunk row with
  ``time_from_start = k * step``, the row in the field of the command interface (``effort``
  for the shipped tasks). ``header.frame_id`` carries the worker id, start time and measured
  inference time (:func:`chunk_meta`), so the arbiter receives them atomically with the rows;
* ``std_msgs/Float64MultiArray``: the command for ``forward_command_controller`` (the
  arbiter's schedule and plan messages are in :mod:`.arbiter_messages`).

Times are float seconds on the node's clock (ROS time: system time or ``/clock``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import math

from builtin_interfaces.msg import Duration, Time
import numpy as np
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from rt_async_control.core.messages import ActionChunk, StampedState

#: Fields of ``JointTrajectoryPoint`` by command interface of the task.
TRAJECTORY_FIELDS: dict[str, str] = {
    'effort': 'effort',
    'position': 'positions',
    'velocity': 'velocities',
}

#: Builds the policy's observation from joint positions, velocities and the task's goal
#: (``None`` for tasks without one).
ObservationFn = Callable[[np.ndarray, np.ndarray, 'np.ndarray | None'], np.ndarray]


def to_seconds(stamp: Time | Duration) -> float:
    """Return a ``builtin_interfaces`` Time or Duration as float seconds.

    :param stamp: the message field.
    :return: ``sec + nanosec * 1e-9``.
    """
    return stamp.sec + stamp.nanosec * 1e-9


def _split(seconds: float) -> tuple[int, int]:
    sec = math.floor(seconds)
    nanosec = int(round((seconds - sec) * 1e9))
    if nanosec >= 1_000_000_000:  # rounding carried into the next second
        sec, nanosec = sec + 1, nanosec - 1_000_000_000
    return int(sec), nanosec


def to_time_msg(seconds: float) -> Time:
    """Return float seconds as a ``builtin_interfaces/Time``.

    :param seconds: a finite time, seconds.
    :return: the message, nanoseconds rounded.
    """
    sec, nanosec = _split(seconds)
    return Time(sec=sec, nanosec=nanosec)


def to_duration_msg(seconds: float) -> Duration:
    """Return float seconds as a ``builtin_interfaces/Duration``.

    :param seconds: a finite duration, seconds.
    :return: the message, nanoseconds rounded.
    """
    sec, nanosec = _split(seconds)
    return Duration(sec=sec, nanosec=nanosec)


def state_to_msg(state: StampedState) -> JointState:
    """Return a core state as ``sensor_msgs/JointState`` (the observation stays behind).

    :param state: the state measured at ``state.stamp``.
    :return: the message with ``header.stamp`` = the measurement time.
    """
    msg = JointState()
    msg.header.stamp = to_time_msg(state.stamp)
    msg.name = list(state.joint_names)
    msg.position = state.position.tolist()
    msg.velocity = state.velocity.tolist()
    msg.effort = state.effort.tolist()
    return msg


class JointOrder:
    """Reorder the joints of incoming ``JointState`` messages into the task's order.

    ``joint_state_broadcaster`` publishes every joint of the robot in its own order; the policy
    needs the task's joints in the task's order. The index map is computed once per distinct
    name list, so the per-message cost is one fancy-indexing copy.

    :param joint_names: the joints the task expects, in order.
    """

    def __init__(self, joint_names: Sequence[str]) -> None:
        """Remember the expected joint names."""
        self.joint_names = tuple(joint_names)
        self._names: tuple[str, ...] | None = None
        self._index: np.ndarray | None = None

    def index(self, names: Sequence[str]) -> np.ndarray:
        """Return, for each expected joint, its index in ``names``.

        :param names: the ``name`` field of a JointState message.
        :return: integer indices, shape ``(n_joints,)``.
        :raises ValueError: a task joint is missing from ``names``.
        """
        names = tuple(names)
        if names != self._names:
            where = {name: i for i, name in enumerate(names)}
            missing = [n for n in self.joint_names if n not in where]
            if missing:
                raise ValueError(f'joint_states lacks joint {missing[0]!r} (has {list(names)})')
            self._index = np.array([where[n] for n in self.joint_names], dtype=np.intp)
            self._names = names
        assert self._index is not None
        return self._index

    def pick(self, values: Sequence[float], names: Sequence[str]) -> np.ndarray:
        """Return the task's joints of one JointState field (zeros when the field is empty).

        :param values: ``position``, ``velocity`` or ``effort`` of the message.
        :param names: the message's ``name`` field.
        :return: float64 array, shape ``(n_joints,)``.
        """
        if len(values) == 0:  # JointState allows empty velocity / effort
            return np.zeros(len(self.joint_names))
        if len(values) != len(names):
            raise ValueError(f'joint_states has {len(names)} names but {len(values)} values')
        return np.asarray(values, dtype=np.float64)[self.index(names)]


def state_from_msg(msg: JointState, order: JointOrder, seq: int, observe: ObservationFn,
                   goal: np.ndarray | None = None) -> StampedState:
    """Return a ``JointState`` message as a core state with the policy's observation.

    :param msg: the received message.
    :param order: the task's joint order.
    :param seq: sequence number given by the receiver (JointState has none).
    :param observe: builds the observation from positions, velocities and ``goal``.
    :param goal: the task's current goal, or ``None``.
    :return: the state stamped with ``msg.header.stamp``.
    :raises ValueError: the message lacks a task joint or its fields disagree in length.
    """
    position = order.pick(msg.position, msg.name)
    velocity = order.pick(msg.velocity, msg.name)
    effort = order.pick(msg.effort, msg.name)
    return StampedState(
        stamp=to_seconds(msg.header.stamp),
        seq=seq,
        joint_names=order.joint_names,
        position=position,
        velocity=velocity,
        effort=effort,
        observation=np.asarray(observe(position, velocity, goal), dtype=np.float64),
    )


def chunk_meta(worker_id: int, started: float, inference_time: float) -> str:
    """Return the ``header.frame_id`` text that carries a chunk's metadata.

    ``repr`` keeps every digit of the floats, so the arbiter reads back exactly what the
    worker measured.

    :param worker_id: the worker.
    :param started: when the inference started, seconds.
    :param inference_time: measured seconds of the call.
    :return: ``'worker=<i>;started=<s>;inference_time=<s>'``.
    """
    # float(): the repr of a numpy float is 'np.float64(...)', which float() cannot read back.
    return (f'worker={int(worker_id)};started={float(started)!r};'
            f'inference_time={float(inference_time)!r}')


def parse_chunk_meta(text: str) -> tuple[int, float, float]:
    """Return ``(worker_id, started, inference_time)`` read from :func:`chunk_meta` text.

    :param text: the ``header.frame_id`` of a received chunk.
    :return: the three values.
    :raises ValueError: the text is not of that form.
    """
    fields = dict(part.split('=', 1) for part in text.split(';') if '=' in part)
    try:
        return int(fields['worker']), float(fields['started']), float(fields['inference_time'])
    except (KeyError, ValueError) as exc:
        raise ValueError(f'action chunk frame_id {text!r} lacks worker/started/inference_time'
                         ) from exc


def chunk_to_msg(chunk: ActionChunk, joint_names: Sequence[str],
                 interface: str = 'effort') -> JointTrajectory:
    """Return an action chunk as ``trajectory_msgs/JointTrajectory``.

    :param chunk: the worker's output.
    :param joint_names: the actuated joints, in command order.
    :param interface: the task's command interface (``effort``, ``position``, ``velocity``).
    :return: header.stamp = observation stamp, one point per row, ``time_from_start = k*step``.
    """
    field = TRAJECTORY_FIELDS[interface]
    msg = JointTrajectory()
    msg.header.stamp = to_time_msg(chunk.observation_stamp)
    msg.header.frame_id = chunk_meta(chunk.worker_id, chunk.started, chunk.inference_time)
    msg.joint_names = list(joint_names)
    step = chunk.step if math.isfinite(chunk.step) else 0.0
    for k, row in enumerate(chunk.actions):
        point = JointTrajectoryPoint()
        setattr(point, field, row.tolist())
        point.time_from_start = to_duration_msg(k * step)
        msg.points.append(point)
    return msg


def chunk_from_msg(msg: JointTrajectory, interface: str = 'effort') -> ActionChunk:
    """Return a received ``JointTrajectory`` as an action chunk.

    The constructor never raises on bad rows: the arbiter checks shape and finiteness
    (``chunk_problem``) and counts the rejection.

    :param msg: the message from a worker.
    :param interface: the task's command interface.
    :return: the chunk; ``step`` from the second point's ``time_from_start``.
    :raises ValueError: ``header.frame_id`` does not carry the chunk's metadata.
    """
    field = TRAJECTORY_FIELDS[interface]
    worker_id, started, inference_time = parse_chunk_meta(msg.header.frame_id)
    rows = [np.asarray(getattr(point, field), dtype=np.float64) for point in msg.points]
    try:
        actions = np.stack(rows) if rows else np.empty((0, 0))
    except ValueError:  # ragged rows: an empty array makes chunk_problem say 'shape'
        actions = np.empty((0, 0))
    step = to_seconds(msg.points[1].time_from_start) if len(msg.points) > 1 else math.inf
    return ActionChunk(
        observation_stamp=to_seconds(msg.header.stamp),
        worker_id=worker_id,
        inference_time=inference_time,
        actions=actions,
        step=step,
        started=started,
    )


def command_to_multiarray(command: np.ndarray) -> Float64MultiArray:
    """Return a command as ``std_msgs/Float64MultiArray`` (``forward_command_controller``).

    :param command: one value per actuated joint, in the controller's joint order.
    :return: the message, ``data`` only (the controller ignores the layout).
    """
    msg = Float64MultiArray()
    msg.data = command.tolist()
    return msg


def command_to_trajectory(command: np.ndarray, joint_names: Sequence[str], reach_s: float,
                          interface: str = 'effort') -> JointTrajectory:
    """Return a command as a one-point ``JointTrajectory`` (``joint_trajectory_controller``).

    ``header.stamp`` stays zero, which the controller reads as "start now"; the point is due
    ``reach_s`` later (one control period), when the next command replaces it.

    :param command: one value per joint of ``joint_names``.
    :param joint_names: the actuated joints.
    :param reach_s: ``time_from_start`` of the point, seconds.
    :param interface: the field to fill (``position``/``velocity``; ``effort`` for the sim).
    :return: the message.
    """
    msg = JointTrajectory()
    msg.joint_names = list(joint_names)
    point = JointTrajectoryPoint()
    setattr(point, TRAJECTORY_FIELDS[interface], command.tolist())
    point.time_from_start = to_duration_msg(reach_s)
    msg.points.append(point)
    return msg


def command_from_msg(msg: Float64MultiArray | JointTrajectory, order: JointOrder | None = None,
                     interface: str = 'effort') -> np.ndarray:
    """Return the command carried by either command message, as a robot driver reads it.

    :param msg: a ``Float64MultiArray`` (values in controller joint order) or a
        ``JointTrajectory`` whose first point is applied (reordered by ``order``).
    :param order: the actuated joints' order, needed for trajectories.
    :param interface: the trajectory field to read.
    :return: float64 array, one value per actuated joint.
    :raises ValueError: an empty trajectory or one that lacks an actuated joint.
    """
    if isinstance(msg, Float64MultiArray):
        return np.asarray(msg.data, dtype=np.float64)
    if not msg.points:
        raise ValueError('command trajectory has no points')
    values = getattr(msg.points[0], TRAJECTORY_FIELDS[interface])
    if order is None:
        return np.asarray(values, dtype=np.float64)
    return order.pick(values, msg.joint_names)
