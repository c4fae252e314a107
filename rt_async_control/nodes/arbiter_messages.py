"""The arbiter's messages: the stagger schedule, the planned commands, episode starts.

The first two go to the workers as ``std_msgs/Float64MultiArray`` (standard messages only):

* ``schedule``: ``data = [next_start_0, ..., next_start_{N-1}, cycle]``, absolute start times
  on the node clock;
* ``plan``: the commands the arbiter expects to send at its next ticks
  (``ArbiterRole.planned``), one row per control period, for delay-aware policies: the
  embedded runtime's ``plan`` record, as a ROS message.

The simulator tells the arbiter of a reset on ``episode_start`` (``std_msgs/Header``:
``stamp`` = the time the new episode began on the simulator's clock, ``frame_id`` = its
index), the embedded runtime's ``episode`` record; the arbiter drops every chunk computed from
a state before it (``ArbiterRole.on_reset``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from std_msgs.msg import Float64MultiArray, Header, MultiArrayDimension

from rt_async_control.nodes.conversions import to_seconds, to_time_msg


def schedule_to_msg(starts: Sequence[float], cycle: float) -> Float64MultiArray:
    """Return the stagger schedule: each worker's next start time, then the cycle.

    :param starts: absolute start time of each worker, seconds on the node clock.
    :param cycle: the current cycle length, seconds.
    :return: ``data = [start_0, ..., start_{N-1}, cycle]``, labelled in the layout.
    """
    msg = Float64MultiArray()
    msg.layout.dim = [MultiArrayDimension(label='next_start_s_then_cycle_s',
                                          size=len(starts) + 1, stride=len(starts) + 1)]
    msg.data = [float(s) for s in starts] + [float(cycle)]
    return msg


def schedule_from_msg(msg: Float64MultiArray) -> tuple[tuple[float, ...], float]:
    """Return ``(starts, cycle)`` read from :func:`schedule_to_msg`'s message.

    :param msg: the received schedule.
    :return: each worker's next start and the cycle, seconds.
    :raises ValueError: the message holds no cycle.
    """
    data = tuple(float(x) for x in msg.data)
    if not data:
        raise ValueError('schedule message is empty')
    return data[:-1], data[-1]


def plan_to_msg(commands: np.ndarray) -> Float64MultiArray:
    """Return the arbiter's planned commands (``ArbiterRole.planned``), one row per tick.

    :param commands: ``(steps, action_dim)``, row ``i`` expected ``i`` control periods on.
    :return: row-major ``data`` with a two-dimension layout (``step``, ``command``).
    """
    commands = np.asarray(commands, dtype=np.float64)
    steps, dim = commands.shape
    msg = Float64MultiArray()
    msg.layout.dim = [MultiArrayDimension(label='step', size=steps, stride=steps * dim),
                      MultiArrayDimension(label='command', size=dim, stride=dim)]
    msg.data = commands.reshape(-1).tolist()
    return msg


def plan_from_msg(msg: Float64MultiArray) -> np.ndarray:
    """Return ``(steps, action_dim)`` read from :func:`plan_to_msg`'s message.

    :param msg: the received plan.
    :return: the planned commands, oldest first.
    :raises ValueError: the layout does not describe the data.
    """
    dims = msg.layout.dim
    if len(dims) != 2 or dims[0].size * dims[1].size != len(msg.data):
        raise ValueError(f'plan message: layout {[(d.label, d.size) for d in dims]} does not '
                         f'describe {len(msg.data)} values')
    return np.asarray(msg.data, dtype=np.float64).reshape(dims[0].size, dims[1].size)


def episode_to_msg(episode: int, start: float) -> Header:
    """Return the ``episode_start`` message of a new episode.

    :param episode: its index (0 first).
    :param start: the time it began, seconds on the simulator's clock.
    :return: ``stamp`` = ``start``, ``frame_id`` = the index.
    """
    msg = Header()
    msg.stamp = to_time_msg(start)
    msg.frame_id = str(int(episode))
    return msg


def episode_from_msg(msg: Header) -> tuple[int, float]:
    """Return ``(episode, start)`` read from :func:`episode_to_msg`'s message.

    :param msg: the received message.
    :return: the index (-1 when ``frame_id`` is not one) and the start, seconds.
    """
    try:
        episode = int(msg.frame_id)
    except ValueError:
        episode = -1
    return episode, to_seconds(msg.stamp)
