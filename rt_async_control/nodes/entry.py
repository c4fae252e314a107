"""The one ``main`` body of every node: init, spin, clean shutdown, bad input in one line."""

from __future__ import annotations

from collections.abc import Callable
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from rt_async_control.errors import InputError


def run(make_node: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    """Create a node and spin it until Ctrl-C or an external shutdown (the Jazzy idiom).

    :param make_node: builds the node (after ``rclpy.init``).
    :param name: the executable name, prefixed to a start-up error.
    :param args: command line arguments for ``rclpy.init`` (``None``: ``sys.argv``).
    :return: 0 on a clean shutdown, 2 when the node rejected its input at start-up.
    """
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except InputError as exc:
        # Bad parameters, model or joint names: one line, no traceback, exit code 2.
        print(f'{name}: error: {exc}', file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
