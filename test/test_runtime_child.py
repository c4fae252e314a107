"""What a child process takes from the parameter file's host section (no processes started)."""

from __future__ import annotations

import pytest

from rt_async_control.core.config import StackConfig
from rt_async_control.runtime.child import ChildSpec, realtime_priority
from rt_async_control.runtime.records import Layout

LAYOUT = Layout(('hinge',), 3, 1, 1, 0, 1)


def spec(name: str, priority: int, host: dict[str, dict[str, int]]) -> ChildSpec:
    return ChildSpec(name=name, run_id='x', config=StackConfig.from_params(host),
                     layout=LAYOUT, results_dir='.', priority=priority)


@pytest.mark.parametrize('name, launcher, host, expected', [
    ('arbiter', 80, {}, 80),                                        # unset: the runtime's
    ('arbiter', 80, {'arbiter': {'realtime_priority': 95}}, 95),    # the file's
    ('sim', 70, {'sim': {'realtime_priority': 50}}, 50),
    ('sim', 70, {'arbiter': {'realtime_priority': 95}}, 70),        # another process's
    ('worker_0', 60, {'arbiter': {'realtime_priority': 95}}, 60),
    ('arbiter', 0, {'arbiter': {'realtime_priority': 95}}, 0),      # --no-realtime wins
])
def test_realtime_priority_from_the_parameter_file(name, launcher, host, expected):
    assert realtime_priority(spec(name, launcher, host)) == expected
