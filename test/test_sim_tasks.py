"""Task metadata: every task loads, matches its MuJoCo scene, and bad names fail clearly."""

import mujoco
import numpy as np
import pytest

from rt_async_control.errors import InputError
from rt_async_control.sim.model import load_model, ObservationCodec
from rt_async_control.sim.tasks import known_tasks, load_task, load_task_file


@pytest.mark.parametrize('name', known_tasks())
def test_task_matches_scene(name):
    spec = load_task(name)
    model = load_model(spec)
    codec = ObservationCodec.build(spec, model)
    assert spec.name == name
    assert spec.command_interface == 'effort'
    assert spec.control_period_s == pytest.approx(0.01)
    assert spec.timestep_s <= 0.002
    assert spec.substeps * spec.timestep_s == pytest.approx(spec.control_period_s)
    assert model.opt.timestep == spec.timestep_s
    # The scene's actuator ranges are the metadata's command limits.
    ranges = model.actuator_ctrlrange[codec.actuator_ids]
    np.testing.assert_allclose(ranges[:, 0], spec.command_lower)
    np.testing.assert_allclose(ranges[:, 1], spec.command_upper)
    assert len(codec.qpos_adr) == len(spec.joint_names)
    assert spec.obs_dim == len(spec.observation)
    assert spec.episode_steps * spec.control_period_s == pytest.approx(spec.episode_s)


def test_arm_has_three_named_revolute_joints_with_limits():
    spec = load_task('arm')
    model = load_model(spec)
    assert spec.actuated_joints == ('shoulder_pan', 'shoulder_lift', 'elbow')
    for name in spec.actuated_joints:
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
        assert model.jnt_type[jid] == mujoco.mjtJoint.mjJNT_HINGE
        assert model.jnt_limited[jid]
    assert {'goal_x', 'goal_y', 'goal_z'} <= set(spec.observation)


def test_pendulum_torque_cannot_lift_directly():
    spec = load_task('pendulum')
    model = load_model(spec)
    data = mujoco.MjData(model)
    data.qpos[0] = np.pi / 2
    mujoco.mj_forward(model, data)
    assert spec.command_upper[0] < abs(data.qfrc_bias[0])


def test_unknown_task_lists_known_ones():
    with pytest.raises(InputError) as info:
        load_task('hexapod')
    message = str(info.value)
    assert 'hexapod' in message and '\n' not in message
    for name in known_tasks():
        assert name in message


def test_malformed_metadata_fails_with_one_line(tmp_path):
    source = load_task('pendulum').scene.with_suffix('.yaml').read_text()
    broken = tmp_path / 'broken.yaml'
    broken.write_text(source.replace('command_upper: [2.0]', 'command_upper: [2.0, 3.0]'))
    with pytest.raises(InputError, match='command_upper') as info:
        load_task_file(broken)
    assert '\n' not in str(info.value)
    broken.write_text(source.replace('control_period_s: 0.01', 'control_period_s: 0.011'))
    with pytest.raises(InputError, match='control_period_s'):
        load_task_file(broken)
    broken.write_text(source.replace('observation:', 'observations:'))
    with pytest.raises(InputError, match='observation'):
        load_task_file(broken)
