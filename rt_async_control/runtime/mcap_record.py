"""Record the embedded runtime's traffic to MCAP with ROS 2 message encodings.

The file uses the ``ros2`` MCAP profile (``ros2msg`` schemas, ``cdr`` messages), so Foxglove
and ``ros2 bag`` open it as if the ROS 2 nodes had run: state as ``sensor_msgs/JointState``,
worker chunks as ``trajectory_msgs/JointTrajectory``, commands as
``std_msgs/Float64MultiArray``, health as ``diagnostic_msgs/DiagnosticArray``.

Stamps are seconds on the runtime's clock (monotonic unless the caller passes wall time);
each message's header stamp and its MCAP log time are both that stamp.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
import math
from pathlib import Path
from typing import Any

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from mcap_ros2.writer import Writer
import numpy as np
import numpy.typing as npt

_SEPARATOR = '=' * 80

# ROS 2 message definitions (Humble..Rolling), written out with only the fields; each
# schema is the top-level definition followed by its dependencies, ros2msg style.
_DEFS: dict[str, str] = {
    'builtin_interfaces/Time': 'int32 sec\nuint32 nanosec\n',
    'builtin_interfaces/Duration': 'int32 sec\nuint32 nanosec\n',
    'std_msgs/Header': 'builtin_interfaces/Time stamp\nstring frame_id\n',
    'sensor_msgs/JointState': ('std_msgs/Header header\nstring[] name\nfloat64[] position\n'
                               'float64[] velocity\nfloat64[] effort\n'),
    'trajectory_msgs/JointTrajectoryPoint': (
        'float64[] positions\nfloat64[] velocities\nfloat64[] accelerations\n'
        'float64[] effort\nbuiltin_interfaces/Duration time_from_start\n'),
    'trajectory_msgs/JointTrajectory': ('std_msgs/Header header\nstring[] joint_names\n'
                                        'JointTrajectoryPoint[] points\n'),
    'std_msgs/MultiArrayDimension': 'string label\nuint32 size\nuint32 stride\n',
    'std_msgs/MultiArrayLayout': 'MultiArrayDimension[] dim\nuint32 data_offset\n',
    'std_msgs/Float64MultiArray': 'MultiArrayLayout layout\nfloat64[] data\n',
    'diagnostic_msgs/KeyValue': 'string key\nstring value\n',
    'diagnostic_msgs/DiagnosticStatus': (
        'byte OK=0\nbyte WARN=1\nbyte ERROR=2\nbyte STALE=3\n'
        'byte level\nstring name\nstring message\nstring hardware_id\nKeyValue[] values\n'),
    'diagnostic_msgs/DiagnosticArray': 'std_msgs/Header header\nDiagnosticStatus[] status\n',
}
_DEPS: dict[str, tuple[str, ...]] = {
    'sensor_msgs/JointState': ('std_msgs/Header', 'builtin_interfaces/Time'),
    'trajectory_msgs/JointTrajectory': (
        'std_msgs/Header', 'builtin_interfaces/Time', 'trajectory_msgs/JointTrajectoryPoint',
        'builtin_interfaces/Duration'),
    'std_msgs/Float64MultiArray': ('std_msgs/MultiArrayLayout', 'std_msgs/MultiArrayDimension'),
    'diagnostic_msgs/DiagnosticArray': (
        'std_msgs/Header', 'builtin_interfaces/Time', 'diagnostic_msgs/DiagnosticStatus',
        'diagnostic_msgs/KeyValue'),
}
LEVELS = {'OK': 0, 'WARN': 1, 'ERROR': 2, 'STALE': 3}


def msgdef(datatype: str) -> str:
    """Return the concatenated ``ros2msg`` definition of ``datatype`` with its dependencies.

    :param datatype: ``'pkg/Name'``, e.g. ``'sensor_msgs/JointState'``.
    :return: the schema text MCAP stores for it.
    """
    parts = [_DEFS[datatype]]
    for dep in _DEPS.get(datatype, ()):
        parts.append(f'{_SEPARATOR}\nMSG: {dep}\n{_DEFS[dep]}')
    return '\n'.join(parts)


@dataclass(frozen=True)
class Status:
    """One ``diagnostic_msgs/DiagnosticStatus``.

    :param name: component name, e.g. ``'arbiter'``.
    :param level: ``'OK'``, ``'WARN'``, ``'ERROR'``, ``'STALE'`` or 0..3.
    :param message: one-line summary.
    :param values: key/value details (values are turned into strings).
    :param hardware_id: the hardware it concerns, if any.
    """

    name: str
    level: str | int = 'OK'
    message: str = ''
    values: Mapping[str, Any] = field(default_factory=dict)
    hardware_id: str = ''


def _time(stamp: float) -> dict[str, int]:
    ns = round(stamp * 1e9)
    return {'sec': ns // 1_000_000_000, 'nanosec': ns % 1_000_000_000}


def _floats(values: npt.ArrayLike | None) -> list[float]:
    return [] if values is None else np.asarray(values, dtype=np.float64).ravel().tolist()


class Recorder:
    """Write ROS 2-encoded messages to an MCAP file; a context manager.

    :param path: output ``.mcap`` file (overwritten).
    :param frame_id: ``header.frame_id`` of every message.
    """

    def __init__(self, path: str | Path, frame_id: str = '') -> None:
        """Open ``path`` and start the MCAP stream."""
        self.path = Path(path)
        self.frame_id = frame_id
        self._file = open(self.path, 'wb')  # noqa: SIM115 - closed in close()
        self._writer = Writer(self._file)
        self._schemas: dict[str, Any] = {}
        self._seq: dict[str, int] = {}

    def _write(self, topic: str, datatype: str, message: dict[str, Any], stamp: float) -> None:
        schema = self._schemas.get(datatype)
        if schema is None:
            pkg, name = datatype.split('/')
            schema = self._writer.register_msgdef(f'{pkg}/msg/{name}', msgdef(datatype))
            self._schemas[datatype] = schema
        seq = self._seq.get(topic, 0) + 1
        self._seq[topic] = seq
        log_ns = max(round(stamp * 1e9), 0)
        self._writer.write_message(topic, schema, message, log_time=log_ns,
                                   publish_time=log_ns, sequence=seq)

    def _header(self, stamp: float) -> dict[str, Any]:
        return {'stamp': _time(stamp), 'frame_id': self.frame_id}

    def joint_state(self, topic: str, stamp: float, names: Sequence[str],
                    pos: npt.ArrayLike, vel: npt.ArrayLike | None = None,
                    eff: npt.ArrayLike | None = None) -> None:
        """Write a ``sensor_msgs/JointState``.

        :param topic: topic name, e.g. ``'/joint_states'``.
        :param stamp: time of measurement, seconds.
        :param names: joint names.
        :param pos: positions (one per joint).
        :param vel: velocities, or ``None`` for none.
        :param eff: efforts, or ``None`` for none.
        """
        self._write(topic, 'sensor_msgs/JointState', {
            'header': self._header(stamp), 'name': list(names), 'position': _floats(pos),
            'velocity': _floats(vel), 'effort': _floats(eff)}, stamp)

    def joint_trajectory(self, topic: str, stamp: float, names: Sequence[str],
                         rows: npt.ArrayLike, step: float) -> None:
        """Write an action chunk as a ``trajectory_msgs/JointTrajectory``.

        :param topic: topic name.
        :param stamp: observation stamp of the chunk (``header.stamp``), seconds.
        :param names: joint names, one per action column.
        :param rows: actions, shape (H, n_joints); row k becomes a point at ``k * step``.
        :param step: seconds between rows (``math.inf`` when H == 1: one point at 0).
        """
        table = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        points = []
        for k, row in enumerate(table):
            offset = k * step if math.isfinite(step) else 0.0
            points.append({'positions': row.tolist(), 'time_from_start': _time(offset)})
        self._write(topic, 'trajectory_msgs/JointTrajectory', {
            'header': self._header(stamp), 'joint_names': list(names), 'points': points}, stamp)

    def float64_array(self, topic: str, stamp: float, values: npt.ArrayLike) -> None:
        """Write a ``std_msgs/Float64MultiArray`` (what ``forward_command_controller`` takes).

        :param topic: topic name.
        :param stamp: log time, seconds (the message itself has no header).
        :param values: the data, flattened.
        """
        data = _floats(values)
        layout = {'dim': [{'label': 'data', 'size': len(data), 'stride': len(data)}],
                  'data_offset': 0}
        self._write(topic, 'std_msgs/Float64MultiArray', {'layout': layout, 'data': data},
                    stamp)

    def diagnostics(self, topic: str, stamp: float,
                    statuses: Iterable[Status | Mapping[str, Any]]) -> None:
        """Write a ``diagnostic_msgs/DiagnosticArray``.

        :param topic: topic name, usually ``'/diagnostics'``.
        :param stamp: seconds.
        :param statuses: :class:`Status` objects or mappings with the same keys.
        """
        out = []
        for status in statuses:
            if not isinstance(status, Status):
                status = Status(**status)
            level = LEVELS[status.level] if isinstance(status.level, str) else status.level
            out.append({'level': int(level), 'name': status.name, 'message': status.message,
                        'hardware_id': status.hardware_id,
                        'values': [{'key': str(k), 'value': str(v)}
                                   for k, v in status.values.items()]})
        self._write(topic, 'diagnostic_msgs/DiagnosticArray',
                    {'header': self._header(stamp), 'status': out}, stamp)

    def close(self) -> None:
        """Finish the MCAP stream (summary, index) and close the file; idempotent."""
        if not self._file.closed:
            self._writer.finish()
            self._file.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_messages(path: str | Path,
                  topics: Iterable[str] | None = None) -> Iterator[tuple[str, str, Any]]:
    """Yield ``(topic, schema name, decoded message)`` from an MCAP file, in log-time order.

    :param path: the ``.mcap`` file.
    :param topics: only these topics (default all).
    :return: an iterator of tuples; messages have attributes named like the ROS fields.
    """
    with open(path, 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for schema, channel, _, message in reader.iter_decoded_messages(
                topics=None if topics is None else list(topics), log_time_order=True):
            yield channel.topic, schema.name if schema is not None else '', message
