"""The virtual executor against the real-time embedded runtime on one short configuration.

Real processes for a few seconds on a shared machine: only the figure that wall-clock load
cannot move much (the median action age, which the schedule fixes) is asserted; inaction and
return are printed for the report (they depend on how busy the cores are).
"""

from __future__ import annotations

import math

import pytest

from rt_async_control.resources import share_path

pytest.importorskip('rt_async_control.runtime.launcher')
pytestmark = pytest.mark.skipif(not (share_path('models') / 'arm_small.onnx').is_file(),
                                reason='the shipped arm policy is not there yet')


@pytest.mark.slow
def test_runtime_and_virtual_time_agree_on_action_age():
    from rt_async_control.virtual.crosscheck import crosscheck

    result = crosscheck('arm', 'max_time', mean_s=0.03, duration_s=3.0)
    print('\n'.join(result.lines()))
    assert not result.config['runtime_crashed']
    assert all(math.isfinite(v) for v in result.virtual.values())
    assert result.agree['action_age_p50_s'], result.lines()
    assert result.virtual['inaction_fraction'] < 0.5
