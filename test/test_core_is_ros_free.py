"""The core never pulls in ROS: importing it leaves rclpy out of sys.modules."""

import subprocess
import sys


def test_core_import_does_not_import_rclpy():
    code = (
        'import sys\n'
        'import rt_async_control.core.arbiter, rt_async_control.core.schedule\n'
        'import rt_async_control.core.stats, rt_async_control.core.config\n'
        'import rt_async_control.core.params, rt_async_control.core.messages\n'
        "ros = [m for m in sys.modules if m.split('.')[0] in ('rclpy', 'std_msgs', "
        "'sensor_msgs', 'trajectory_msgs', 'diagnostic_msgs')]\n"
        'print(ros)\n'
        'assert not ros, ros\n'
    )
    # A fresh interpreter, so modules imported by other tests cannot hide an import.
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
