"""The ROS layer without ROS: names it uses exist, nothing imports it, its helpers are right."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from rt_async_control.core.parameters import HOST, node_parameters, NODES
from rt_async_control.errors import InputError
from rt_async_control.nodes.host_parameters import robot_joint_names, ROS_ONLY
from rt_async_control.nodes.launch_support import (
    DEFAULT_TASK,
    flag,
    robot_joints,
    task_and_file,
    worker_count,
)
from rt_async_control.nodes.launch_support import node_parameters as launch_sections
from rt_async_control.sim.model import JointObservation
from rt_async_control.sim.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / 'rt_async_control'
NODES_DIR = PACKAGE / 'nodes'
LAUNCH_FILES = sorted((ROOT / 'launch').glob('*_launch.py'))
EXECUTABLES = {'sim_node': 'sim', 'inference_node': 'inference', 'arbiter_node': 'arbiter'}


def known(node: str) -> set[str]:
    return set(node_parameters(node)) | {d.name for d in ROS_ONLY.get(node, ())}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f'{node.module}.{alias.name}' for alias in node.names)
    return names


def test_nothing_outside_nodes_imports_the_ros_layer():
    # The ROS timing benchmark runs the arbiter node itself (only where rclpy exists).
    allowed = {PACKAGE / 'benchmarks' / 'ros_timer.py'}
    offenders = []
    for path in PACKAGE.rglob('*.py'):
        if NODES_DIR in path.parents or path in allowed:
            continue
        if any(m.startswith('rt_async_control.nodes') for m in imported_modules(path)):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_ros_free_node_helpers_do_not_import_rclpy():
    # The launch files and these tests import them where ROS is absent.
    for name in ('host_parameters', 'launch_support'):
        modules = imported_modules(NODES_DIR / f'{name}.py')
        assert not [m for m in modules if m.split('.')[0] in ('rclpy', 'launch', 'launch_ros')]


def dict_keys(node: ast.AST) -> list[str]:
    return [k.value for d in ast.walk(node) if isinstance(d, ast.Dict)
            for k in d.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_set_only_declared_parameters(path):
    calls = [n for n in ast.walk(ast.parse(path.read_text()))
             if isinstance(n, ast.Call) and getattr(n.func, 'id', '') == 'Node']
    assert calls, f'{path.name} starts no Node'
    for call in calls:
        kwargs = {k.arg: k.value for k in call.keywords}
        executable = kwargs['executable'].value
        node = EXECUTABLES[executable]
        # Names computed outside the call (shared = {...}) are found by their variable.
        names = dict_keys(kwargs['parameters'])
        for var in (n.id for n in ast.walk(kwargs['parameters']) if isinstance(n, ast.Name)):
            for assign in ast.walk(ast.parse(path.read_text())):
                if isinstance(assign, ast.Assign) and any(
                        getattr(t, 'id', None) == var for t in assign.targets):
                    names += dict_keys(assign.value)
        # use_sim_time: every rclpy node declares it.
        unknown = set(names) - known(node) - {'use_sim_time'}
        assert not unknown, f'{path.name}: {executable} gets undeclared parameters {unknown}'


@pytest.mark.parametrize('executable', sorted(EXECUTABLES))
def test_nodes_read_only_declared_parameters(executable):
    node = EXECUTABLES[executable]
    tree = ast.parse((NODES_DIR / f'{executable}.py').read_text())
    declared = [c.args[1].value for c in ast.walk(tree) if isinstance(c, ast.Call)
                and getattr(c.func, 'id', '') == 'declare_all']
    assert declared == [node]
    popped = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
              and getattr(c.func, 'attr', '') == 'pop' and c.args
              and isinstance(c.args[0], ast.Constant)}
    # The node keeps the ROS-only ones out of the core config, and only those.
    assert popped == {d.name for d in ROS_ONLY[node]}


def test_ros_only_parameters_come_from_the_one_table():
    # One place for every parameter name: the host's are the table's section 'host'.
    assert set(ROS_ONLY) == set(NODES)
    assert {d.name for d in ROS_ONLY['sim']} == {'realtime_priority'}
    assert {d.name for d in ROS_ONLY['inference']} == {'worker_index', 'joint_names'}
    assert {d.name for d in ROS_ONLY['arbiter']} == {'realtime_priority', 'joint_names'}
    for node, definitions in ROS_ONLY.items():
        for definition in definitions:
            assert node_parameters(node)[definition.name] is definition
            assert definition.section == HOST and definition.node == node
            assert definition.check(definition.default) == definition.default
            assert definition.read_only


def test_joint_observation_needs_the_goal_of_a_goal_task():
    sim = Simulator('arm', seed=1)
    with pytest.raises(ValueError, match='goal'):
        JointObservation(sim.spec)(sim.state().position, sim.state().velocity, None)


def test_launch_sections_are_typed_for_ros():
    sections = launch_sections(ROOT / 'config' / 'arm.yaml')
    assert set(sections) == set(NODES)
    for node, values in sections.items():
        assert set(values) <= known(node)
        for value in values.values():
            assert not isinstance(value, tuple)
            assert value != []  # ROS cannot type an empty list
    assert sections['arbiter']['task'] == 'arm'


def test_launch_rejects_a_bad_parameter_file_in_one_line(tmp_path):
    path = tmp_path / 'bad.yaml'
    path.write_text('arbiter:\n  ros__parameters:\n    schedule: fastest\n')
    with pytest.raises(InputError, match='schedule') as info:
        launch_sections(path)
    assert '\n' not in str(info.value)


def test_worker_count():
    assert worker_count({}, '3') == 3
    assert worker_count({'arbiter': {'num_workers': 5}}, '') == 5
    auto = worker_count({'inference': {'emulate_distribution': 'fixed', 'emulate_mean_s': 0.035},
                         'arbiter': {'control_period_s': 0.01,
                                     'initial_inference_time_s': 0.01}}, '')
    assert auto == 4  # ceil(35 ms / 10 ms)
    for bad in ('0', '-1', 'many'):
        with pytest.raises(InputError, match='num_workers'):
            worker_count({}, bad)


def test_launch_flags_and_task_choice(tmp_path):
    assert [flag(t, 'x') for t in ('true', 'True', '1', 'false', 'FALSE', '0')] == [
        True, True, True, False, False, False]
    with pytest.raises(InputError, match='use_sim_time'):
        flag('yes please', 'use_sim_time')
    share = ROOT
    assert task_and_file('', '', share) == (DEFAULT_TASK, share / 'config' /
                                            f'{DEFAULT_TASK}.yaml')
    assert task_and_file('cartpole', '', share) == ('cartpole', share / 'config' /
                                                    'cartpole.yaml')
    # A parameter file without a task argument keeps the file's task.
    pendulum = str(ROOT / 'config' / 'pendulum.yaml')
    assert task_and_file('', pendulum, share) == ('pendulum', Path(pendulum))
    assert task_and_file('arm', pendulum, share)[0] == 'arm'


def test_robot_joint_names():
    assert robot_joint_names((), ('a', 'b'), 'joint_names') == ('a', 'b')
    assert robot_joint_names(['x', 'y'], ('a', 'b'), 'joint_names') == ('x', 'y')
    with pytest.raises(InputError, match='joint_names'):
        robot_joint_names(['x'], ('a', 'b'), 'joint_names')
    assert robot_joints('cartpole', 'rail, pole') == (['rail', 'pole'], ['rail'])
    assert robot_joints('arm', '') == ([], [])


def test_docs_name_every_parameter():
    text = (ROOT / 'docs' / 'ros2.md').read_text()
    for node in NODES:
        for name in known(node):
            assert f'`{name}`' in text, f'docs/ros2.md does not describe {node}.{name}'


def test_ros_benchmark_says_why_it_is_skipped_without_rclpy():
    pytest.importorskip('rt_async_control.benchmarks')
    try:
        import rclpy  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip('rclpy is installed: the benchmark measures instead')
    from rt_async_control.benchmarks import ros_timer

    (figure,) = ros_timer.measure(quick=True)
    assert np.isnan(figure.value) and 'rclpy is not installed' in figure.note
