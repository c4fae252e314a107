"""ROS-free core: every decision of the stack, with time passed in.

Nothing in this package imports rclpy, ROS messages, or reads a clock.
"""
