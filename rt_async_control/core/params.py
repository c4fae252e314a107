"""Read ROS 2 parameter files (``node: ros__parameters: ...``) without ROS.

The embedded runtime and the virtual-time executor read the same ``config/<task>.yaml`` the
ROS nodes get from ``ros2 launch``, with the same rules: a ``/**`` section applies to every
node, a node's own section overrides it, node keys may be written ``name``, ``/name`` or
``/namespace/name``. Names and types are checked against :mod:`.parameters`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rt_async_control.core.parameters import check_node_values, node_parameters, NODES, SHARED
from rt_async_control.errors import InputError

ROS_PARAMETERS = 'ros__parameters'
# Parameters every rclpy node has; a file may set them for ROS, the core has no use for them.
ROS_BUILTIN = ('use_sim_time', 'start_type_description_service')
ROS_BUILTIN_PREFIXES = ('qos_overrides.',)


def load_params(path: str | Path) -> dict[str, dict[str, Any]]:
    """Load a parameter file and return each node's parameters, ``/**`` merged in.

    :param path: the YAML file.
    :return: for every known node (``sim``, ``inference``, ``arbiter``): parameter name ->
        value, with the ``/**`` values that node declares under its own; values are in
        canonical form (floats for numbers, tuples for lists). ROS's own parameters
        (``use_sim_time``, ``qos_overrides.*``) are accepted and left out.
    :raises InputError: missing file, malformed YAML, a section without ``ros__parameters``,
        an unknown node or parameter (the known ones are listed), a value of the wrong type.
    """
    where = f'{path}: '
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InputError(f'{where}cannot read parameter file ({exc.strerror})') from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        at = f' at line {mark.line + 1}' if mark is not None else ''
        problem = getattr(exc, 'problem', None) or type(exc).__name__
        raise InputError(f'{where}malformed YAML{at}: {problem}') from None
    return parse_params(document, where)


def parse_params(document: Any, where: str = '') -> dict[str, dict[str, Any]]:
    """Check an already parsed parameter document and merge ``/**`` under every node.

    :param document: the YAML document (a mapping of node keys).
    :param where: prefix for errors (a file name and ``': '``), may be empty.
    :return: see :func:`load_params`.
    :raises InputError: as :func:`load_params`.
    """
    if not isinstance(document, dict):
        raise InputError(f'{where}expected a mapping of node names to ros__parameters, got '
                         f'{type(document).__name__}')
    sections: dict[str, dict[str, Any]] = {}
    for key, body in document.items():
        node = node_key(key, where)
        if node in sections:
            raise InputError(f'{where}node {node!r} appears twice (as {key!r})')
        if not isinstance(body, dict) or ROS_PARAMETERS not in body:
            raise InputError(f'{where}{key}: missing {ROS_PARAMETERS}')
        extra = [k for k in body if k != ROS_PARAMETERS]
        if extra:
            raise InputError(f'{where}{key}: unexpected key {extra[0]!r} beside '
                             f'{ROS_PARAMETERS}')
        values = body[ROS_PARAMETERS] or {}
        if not isinstance(values, dict):
            raise InputError(f'{where}{key}.{ROS_PARAMETERS}: expected a mapping, got '
                             f'{type(values).__name__}')
        flat = {name: value for name, value in _flatten(values).items()
                if name not in ROS_BUILTIN and not name.startswith(ROS_BUILTIN_PREFIXES)}
        sections[node] = check_node_values(node, flat, where)
    wildcard = sections.get(SHARED, {})
    merged = {}
    for node in NODES:
        known = node_parameters(node)
        merged[node] = {k: v for k, v in wildcard.items() if k in known}
        merged[node].update(sections.get(node, {}))
    return merged


def node_key(key: Any, where: str = '') -> str:
    """Return the node name a top-level key addresses (``'/**'`` for the wildcard).

    ``arbiter``, ``/arbiter``, ``/robot/arbiter`` and ``/**/arbiter`` all address
    ``arbiter``; ``/**`` and ``/robot/**`` address every node.

    :param key: the top-level YAML key.
    :param where: prefix for errors.
    :return: ``'/**'`` or a node name from :data:`~.parameters.NODES`.
    :raises InputError: a key that names no known node.
    """
    if not isinstance(key, str):
        raise InputError(f'{where}node key {key!r} is not a string')
    last = key.rstrip('/').rsplit('/', 1)[-1]
    if last in ('**', '*'):
        return SHARED
    if last not in NODES:
        raise InputError(f'{where}unknown node {key!r}; known: {SHARED}, {", ".join(NODES)}')
    return last


def _flatten(values: dict[str, Any], prefix: str = '') -> dict[str, Any]:
    # ROS writes nested mappings as dotted parameter names; ours are flat, so a nested name
    # then fails the unknown-name check with its full dotted name.
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            flat.update(_flatten(value, f'{name}.'))
        else:
            flat[name] = value
    return flat
