"""Turn the arbiter role's health figures into a ``diagnostic_msgs/DiagnosticArray``.

One status for the control output (rate, inaction, action age, schedule) and one per worker
(last chunk, inference time, rejections), shown by ``rqt_robot_monitor`` and aggregated by
``diagnostic_aggregator`` like any driver's diagnostics.
"""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from rt_async_control.nodes.conversions import to_time_msg

#: Inaction above this fraction of ticks is a warning: the default behaviour is acting a lot.
INACTION_WARN = 0.05


def _value(value: Any) -> str:
    if isinstance(value, float):
        return 'nan' if math.isnan(value) else f'{value:.6g}'
    return str(value)


def _status(name: str, level: bytes, message: str, values: Mapping[str, Any],
            hardware_id: str) -> DiagnosticStatus:
    return DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=_value(v)) for k, v in values.items()
                                    if not isinstance(v, (list, dict))])


def diagnostics_msg(report: Mapping[str, Any], now: float, node_name: str,
                    max_action_age_s: float) -> DiagnosticArray:
    """Return the arbiter's ``/diagnostics`` message.

    :param report: ``ArbiterRole.diagnostics(now)``.
    :param now: the time of the report, seconds (node clock).
    :param node_name: prefix of the status names (the node's fully qualified name).
    :param max_action_age_s: a worker silent for longer than this is reported stale.
    :return: the message: the control status, then one status per worker.
    """
    msg = DiagnosticArray()
    msg.header.stamp = to_time_msg(now)
    inaction = report.get('inaction_ratio', math.nan)
    workers = list(report.get('workers', ()))
    fresh = [w for w in workers if w.get('last_seen_s', math.inf) <= max_action_age_s]
    if workers and not fresh:
        level, text = DiagnosticStatus.ERROR, 'no worker has delivered a recent action'
    elif isinstance(inaction, float) and inaction > INACTION_WARN:
        level, text = DiagnosticStatus.WARN, f'inaction on {inaction:.1%} of ticks'
    else:
        level, text = DiagnosticStatus.OK, f'{len(fresh)}/{len(workers)} workers fresh'
    msg.status.append(_status(f'{node_name}: control output', level, text, report, node_name))
    for worker in workers:
        seen = worker.get('last_seen_s', math.nan)
        if not seen <= max_action_age_s:
            level, text = DiagnosticStatus.WARN, 'no recent action chunk'
        elif worker.get('rejected', 0) and worker.get('last_reason'):
            level, text = DiagnosticStatus.OK, f'last rejection: {worker["last_reason"]}'
        else:
            level, text = DiagnosticStatus.OK, 'delivering'
        msg.status.append(_status(f'{node_name}: worker {worker.get("worker")}', level, text,
                                  worker, node_name))
    return msg
