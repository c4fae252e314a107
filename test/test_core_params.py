"""ROS 2 parameter files without ROS: wildcard merge, node keys, one-line errors, shipped files."""

from pathlib import Path

import pytest
import yaml

from rt_async_control.core.config import load_stack_config
from rt_async_control.core.parameters import node_parameters
from rt_async_control.core.params import load_params
from rt_async_control.errors import InputError
from rt_async_control.sim.tasks import load_task

CONFIG_DIR = Path(__file__).resolve().parent.parent / 'config'
SHIPPED = sorted(CONFIG_DIR.glob('*.yaml'))


def write(tmp_path, text):
    path = tmp_path / 'params.yaml'
    path.write_text(text)
    return path


def test_wildcard_merges_under_every_node_and_node_keys_override(tmp_path):
    path = write(tmp_path, '''
/**:
  ros__parameters:
    task: arm
    control_period_s: 0.02
    seed: 7
/sim:
  ros__parameters:
    seed: 3
    use_sim_time: true
    qos_overrides:
      /clock:
        publisher:
          depth: 1
/robot/arbiter:
  ros__parameters:
    max_action_age_s: 1
''')
    params = load_params(path)
    assert set(params) == {'sim', 'inference', 'arbiter'}
    assert 'use_sim_time' not in params['sim']
    assert params['sim'] == {'task': 'arm', 'control_period_s': 0.02, 'seed': 3}
    assert params['inference'] == {'task': 'arm', 'control_period_s': 0.02, 'seed': 7}
    assert params['arbiter'] == {'task': 'arm', 'control_period_s': 0.02,
                                 'max_action_age_s': 1.0}
    assert isinstance(params['arbiter']['max_action_age_s'], float)
    config = load_stack_config(path)
    assert (config.task, config.sim.seed, config.inference.seed) == ('arm', 3, 7)


@pytest.mark.parametrize('text, words', [
    ('sim: [1, 2', ['malformed YAML', 'line']),
    ('- 1\n- 2\n', ['expected a mapping']),
    ('sim:\n  realtime_factor: 1.0\n', ['sim', 'missing ros__parameters']),
    ('sim:\n  ros__parameters: {}\n  extra: 1\n', ["unexpected key 'extra'"]),
    ('arbiter:\n  ros__parameters:\n    max_age_s: 0.1\n',
     ['unknown parameter arbiter.max_age_s', 'known:', 'max_action_age_s']),
    ('arbiter:\n  ros__parameters:\n    exp:\n      alpha: 0.1\n',
     ['unknown parameter arbiter.exp.alpha']),
    ('controller:\n  ros__parameters: {}\n', ["unknown node 'controller'", 'arbiter']),
    ('arbiter:\n  ros__parameters:\n    max_action_age_s: fast\n',
     ["arbiter.max_action_age_s = 'fast' (str): expected a number"]),
    ('sim:\n  ros__parameters:\n    seed: 1.5\n', ['sim.seed = 1.5', 'integer']),
    ('/**:\n  ros__parameters:\n    control_period_s: [0.01]\n',
     ['control_period_s = [0.01]', 'expected a number']),
    ('sim:\n  ros__parameters: {}\n/sim:\n  ros__parameters: {}\n', ["node 'sim' appears twice"]),
    ('arbiter:\n  ros__parameters: 3\n', ['ros__parameters: expected a mapping']),
])
def test_malformed_files_fail_with_one_line_naming_the_problem(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as error:
        load_params(path)
    message = str(error.value)
    assert message.startswith(str(path)) and '\n' not in message
    for word in words:
        assert word in message


def test_missing_file_and_bad_range_name_the_file(tmp_path):
    with pytest.raises(InputError, match='cannot read parameter file'):
        load_params(tmp_path / 'nope.yaml')
    path = write(tmp_path, 'arbiter:\n  ros__parameters:\n    max_action_age_s: -2\n')
    with pytest.raises(InputError, match=r'params.yaml: arbiter.max_action_age_s = -2.0: must be'):
        load_stack_config(path)


def test_empty_section_gives_defaults(tmp_path):
    path = write(tmp_path, 'sim:\n  ros__parameters:\n')
    assert load_params(path)['sim'] == {}
    assert load_stack_config(path).task == 'pendulum'


@pytest.mark.parametrize('path', SHIPPED, ids=lambda p: p.name)
def test_shipped_config_loads_and_fits_its_task(path):
    config = load_stack_config(path)
    assert config.task == path.stem
    task = load_task(config.task)
    config.check_task(task.timestep_s, task.action_dim)
    assert config.control_period_s == task.control_period_s
    assert config.state_period_s == task.state_period_s
    # The configured model is shipped and fits the task (the wrapper checks task and sizes).
    from rt_async_control.policy.onnx_policy import OnnxPolicy

    model = config.inference.model_file(config.task)
    assert model.is_file(), model
    assert OnnxPolicy(model, task).metadata.task == config.task


@pytest.mark.parametrize('path', SHIPPED, ids=lambda p: p.name)
def test_shipped_config_uses_exact_ros_types(path):
    # rclpy refuses an integer for a double parameter, so the files spell floats as floats.
    kinds = {'bool': bool, 'int': int, 'float': float, 'str': str}
    for key, body in yaml.safe_load(path.read_text()).items():
        node = '/**' if key == '/**' else key
        known = node_parameters(node)
        for name, value in body['ros__parameters'].items():
            kind = known[name].kind
            if kind in kinds:
                assert type(value) is kinds[kind], f'{path.name}: {key}.{name} = {value!r}'
            else:
                assert value, f'{path.name}: {key}.{name}: ROS cannot type an empty list'


def test_there_is_one_config_per_task():
    assert {p.stem for p in SHIPPED} >= {'pendulum', 'cartpole', 'arm'}


def test_host_parameters_of_ros_load_for_the_embedded_runtime_too(tmp_path):
    # The file ros2 launch gets, with the ROS host's parameters, loads for `run` as well.
    path = tmp_path / 'host.yaml'
    path.write_text('/**:\n  ros__parameters:\n    task: cartpole\n'
                    'sim:\n  ros__parameters:\n    realtime_priority: 50\n'
                    'inference:\n  ros__parameters:\n    worker_index: 1\n'
                    '    joint_names: [slider, hinge]\n'
                    'arbiter:\n  ros__parameters:\n    realtime_priority: 80\n'
                    '    joint_names: [slider]\n')
    params = load_params(path)
    assert params['arbiter']['joint_names'] == ('slider',)
    host = load_stack_config(path).host
    assert (host.sim_realtime_priority, host.worker_index, host.state_joint_names,
            host.arbiter_realtime_priority, host.command_joint_names) == (
        50, 1, ('slider', 'hinge'), 80, ('slider',))
