"""Host-independent behaviour of each node.

The ROS nodes, the embedded runtime and the virtual-time executor all drive these roles.
"""
