"""rclpy nodes: thin adapters over rt_async_control.roles."""
