"""Embedded runtime: the whole stack in real time on one machine, no ROS."""
