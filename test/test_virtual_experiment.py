"""A small sweep with the shipped pendulum policies: the paper's orderings, and determinism.

Only orderings are asserted (which mode keeps more, which is fresher), never exact values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rt_async_control.resources import share_path
from rt_async_control.virtual.experiment import run_sweep
from rt_async_control.virtual.report import build_summary, write_outputs
from rt_async_control.virtual.sweep import make_spec, plan

MODELS = share_path('models')
pytestmark = pytest.mark.skipif(not (MODELS / 'pendulum_small.onnx').is_file(),
                                reason='the shipped pendulum policy is not there yet')


def small_spec(**overrides):
    """Return a pendulum sweep small enough for a test (one seed, four inference times)."""
    values = {'multiples': (1.0, 2.0, 5.0, 10.0), 'spread_multiples': (10.0,),
              'cvs': (0.0, 0.3), 'worker_counts': (), 'search_cvs': (0.0,), 'models_dir': MODELS}
    values.update(overrides)
    return make_spec(('pendulum',), quick=True, seeds=1, **values)


@pytest.fixture(scope='module')
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run the small sweep once on two processes and write its outputs."""
    spec = small_spec()
    rows, refs = run_sweep(spec, plan(spec), processes=2)
    document = build_summary(rows, refs, spec, wall_s=0.0, quick=True)
    out = tmp_path_factory.mktemp('sweep')
    write_outputs(rows, document, out)
    return json.loads((out / 'summary.json').read_text()) | {'out': str(out)}


@pytest.mark.slow
def test_workers_needed_grow_linearly_with_inference_time(summary):
    table = summary['tasks']['pendulum']['workers']['cv=0']['by_multiple']
    assert {m: v['measured'] for m, v in table.items()} == {
        m: v['formula'] for m, v in table.items()}
    measured = [v['measured'] for v in table.values()]
    assert measured == sorted(measured) and measured[-1] > measured[0]
    fit = summary['tasks']['pendulum']['workers']['cv=0']['fit_measured_vs_multiple']
    assert fit['r2'] > 0.99


@pytest.mark.slow
def test_staggering_removes_inaction_and_keeps_more_return(summary):
    at10 = summary['tasks']['pendulum']['at_10x']['cv=0']
    assert at10['max_time']['inaction_fraction'] == 0.0
    assert at10['sequential']['inaction_fraction'] > 0.8          # one action per 10 ticks
    assert at10['max_time']['kept'] > at10['sequential']['kept']
    curve = summary['tasks']['pendulum']['curves']['cv=0']['plain']['max_time']
    assert all(e['inaction_fraction'] == 0.0 for e in curve.values())
    seq = summary['tasks']['pendulum']['curves']['cv=0']['plain']['sequential']
    assert seq['1']['kept'] > seq['10']['kept']


@pytest.mark.slow
def test_exp_time_is_fresher_than_max_time_when_inference_varies(summary):
    at10 = summary['tasks']['pendulum']['at_10x']['cv=0.3']
    assert at10['exp_time']['action_age_ms'] < at10['max_time']['action_age_ms']
    # Padding to the planned maximum: no inaction, more workers than exp_time's cycle needs.
    assert at10['max_time']['inaction_fraction'] == 0.0
    assert at10['exp_time']['inaction_fraction'] > 0.0
    assert at10['max_time']['num_workers'] > at10['exp_time']['num_workers'] > 10


@pytest.mark.slow
def test_staggered_delay_aware_reaches_five_times_sequential(summary):
    check = summary['checks']['pendulum'].get('staggered_delay_aware_vs_sequential')
    if not (MODELS / 'pendulum_small_delay50ms.onnx').is_file():
        pytest.skip('the delay-aware pendulum policy is not shipped yet')
    assert check['pass'], check


@pytest.mark.slow
def test_arm_staggered_delay_aware_reaches_five_times_sequential(tmp_path):
    # The arm, where a delay-aware policy must act on the arbiter's plan, not exact commands.
    if not (MODELS / 'arm_small_delay50ms.onnx').is_file():
        pytest.skip('the delay-aware arm policy is not shipped yet')
    spec = make_spec(('arm',), quick=True, seeds=1, multiples=(1.0, 2.0, 5.0),
                     spread_multiples=(), cvs=(0.0,), worker_counts=(), search_cvs=(),
                     models_dir=MODELS)
    rows, refs = run_sweep(spec, plan(spec), processes=2)
    document = build_summary(rows, refs, spec, wall_s=0.0, quick=True)
    check = document['checks']['arm']['staggered_delay_aware_vs_sequential']
    assert check['pass'], check


@pytest.mark.slow
def test_outputs_and_report_state_the_findings(summary):
    out = Path(summary['out'])
    for name in ('results.csv', 'summary.json', 'report.md', 'pendulum_sweep.png'):
        assert (out / name).stat().st_size > 0
    report = (out / 'report.md').read_text()
    for heading in ('(a) Workers needed', '(b) Return vs inference time', '(c) Inaction',
                    '(d) Delay-aware'):
        assert heading in report
    assert summary['tasks']['pendulum']['required_workers'] == {
        '0.01': 1, '0.02': 2, '0.05': 5, '0.1': 10}


def test_same_seed_gives_identical_rows():
    spec = small_spec(multiples=(3.0,), cvs=(0.3,), spread_multiples=(),
                      modes=('exp_time', 'async'), search_cvs=())
    first, _ = run_sweep(spec, plan(spec), processes=1)
    again, _ = run_sweep(spec, plan(spec), processes=1)
    # repr: a nan compares unequal to itself, its text does not.
    assert [repr({k: v for k, v in r.items() if k != 'wall_s'}) for r in first] == [
        repr({k: v for k, v in r.items() if k != 'wall_s'}) for r in again]
    assert len(first) == 2


def test_cli_rejects_bad_input(capsys):
    from rt_async_control.cli import main

    assert main(['experiment', '--tasks', 'walker', '--out', '/tmp/unused']) == 2
    assert 'walker' in capsys.readouterr().err
    assert main(['experiment', '--seeds', '0']) == 2


def test_plan_pairs_delay_aware_models_with_their_delay_and_caps_workers(tmp_path):
    spec = make_spec(('pendulum',), quick=False, models_dir=MODELS)
    runs = plan(spec)
    assert max(r.num_workers for r in runs) <= 256
    delays = {float(p.stem.split('delay')[1][:-2]) / 10 for p in
              MODELS.glob('pendulum_small_delay*ms.onnx')}   # ms / 10 ms periods
    assert {r.multiple for r in runs if r.policy == 'delay_aware'} == delays & set(
        spec.multiples)
    main = [r for r in runs if r.part == 'main' and r.policy == 'plain']
    assert len(main) == len(spec.multiples) * len(spec.cvs) * len(spec.modes) * len(spec.seeds)


def test_a_measured_table_brings_its_own_spread(tmp_path):
    from rt_async_control.virtual.inference_times import MeasuredTimes

    table = MeasuredTimes((0.01, 0.02, 0.03))
    spec = make_spec(('pendulum',), quick=True, models_dir=MODELS, distribution='measured',
                     table=table)
    assert spec.cvs == (0.0, round(table.cv, 3))
    assert {r.distribution for r in plan(spec)} == {'fixed', 'measured'}
