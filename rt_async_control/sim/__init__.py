"""MuJoCo tasks and the simulator (no ROS, no sleeping)."""
