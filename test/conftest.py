"""Fixtures shared by several test files."""

import pytest


@pytest.fixture
def context():
    """Return an rclpy context of the test's own, shut down afterwards (skips without ROS)."""
    rclpy = pytest.importorskip('rclpy')
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)
