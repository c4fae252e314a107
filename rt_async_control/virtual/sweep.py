"""What the paper's sweep runs: the grid of tasks, inference times, spreads, modes and policies.

Inference times are multiples of the control period (0.5x to 50x). Each multiple is run in
every mode with the workers that mode is planned with (:func:`~.modes.plan_mode`: max_time
from a planning maximum, exp_time from the expected cycle, async from the 99th percentile),
with a fixed time (CV 0) and with lognormal times of CV 0.1 and 0.3, for
the plain policy and, where one is shipped for that delay, the delay-aware policy. Besides
this main grid: the number of workers at one multiple from 1 to beyond ``N*`` (``workers``),
and a search for the fewest workers that give a new action every period (``search``).
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from pathlib import Path
import re

from rt_async_control.core.parameters import node_parameters, SHARED
from rt_async_control.core.schedule_config import ScheduleConfig
from rt_async_control.errors import InputError
from rt_async_control.policy.metadata import METADATA_KEY, ModelMetadata, sidecar_path
from rt_async_control.sim.tasks import known_tasks, load_task
from rt_async_control.virtual.inference_times import (
    inference_times,
    InferenceTimes,
    MeasuredTimes,
)
from rt_async_control.virtual.modes import (
    episode_inferences,
    FRESH_SLACK_PERIODS,
    MODES,
    plan_mode,
)

FULL_MULTIPLES: tuple[float, ...] = (0.5, 1, 2, 3, 5, 7, 10, 15, 20, 30, 50)
QUICK_MULTIPLES: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 50)
CVS: tuple[float, ...] = (0.0, 0.1, 0.3)
# The multiple whose figures summary.json reports per mode, and where N is swept.
FOCUS_MULTIPLE = 10.0
# The largest worker count the stack's parameters accept.
MAX_WORKERS = int(node_parameters(SHARED)['num_workers'].high or 256)
# The worker search asks for a new action at this fraction of the ticks after start-up (the
# paper's "an action every period"); with a spread of times a rare slow inference leaves a
# gap whatever N is, so it is not 1.
EVERY_TICK = 0.99


@dataclass(frozen=True)
class SweepSpec:
    """The whole sweep.

    :param tasks: task names.
    :param multiples: mean inference times as multiples of the control period.
    :param cvs: coefficients of variation (0 = fixed time).
    :param modes: interaction modes.
    :param seeds: episode seeds.
    :param distribution: distribution of times for CV > 0 (``lognormal``, ``normal``,
        ``measured``).
    :param table: measured times (shape only, rescaled per multiple) for ``measured``.
    :param worker_counts: N of the worker sweep as multiples of ``N*`` (rounded, >= 1).
    :param search_cvs: CVs at which the fewest workers without inaction are searched.
    :param models_dir: where ``<task>_small.onnx`` and the delay-aware models are.
    :param spread_multiples: multiples run with CV > 0 (empty: all of ``multiples``).
    :param slack_periods: freshness slack of the arbiter (:func:`~.modes.freshness_bound`).
    """

    tasks: tuple[str, ...]
    multiples: tuple[float, ...]
    cvs: tuple[float, ...] = CVS
    modes: tuple[str, ...] = MODES
    seeds: tuple[int, ...] = (0, 1)
    distribution: str = 'lognormal'
    table: MeasuredTimes | None = None
    worker_counts: tuple[float, ...] = (0.1, 0.3, 0.5, 0.8, 0.9, 1.0, 1.1, 1.5, 2.0)
    search_cvs: tuple[float, ...] = (0.0, 0.3)
    models_dir: Path = Path('models')
    spread_multiples: tuple[float, ...] = ()
    slack_periods: float = FRESH_SLACK_PERIODS

    def __post_init__(self) -> None:
        """Check names and ranges."""
        for task in self.tasks:
            if task not in known_tasks():
                raise InputError(f'--tasks: unknown task {task!r} (choose from '
                                 f'{", ".join(known_tasks())})')
        for mode in self.modes:
            if mode not in MODES:
                raise InputError(f'mode {mode!r}: choose from {", ".join(MODES)}')
        if not self.seeds:
            raise InputError('--seeds: need at least one seed')
        for m in self.multiples:
            if not (math.isfinite(m) and m > 0):
                raise InputError(f'inference multiple {m!r}: must be > 0')
        if not (math.isfinite(self.slack_periods) and self.slack_periods >= 0):
            raise InputError(f'--slack: {self.slack_periods!r} must be >= 0 periods')
        if self.distribution == 'measured' and self.table is None:
            raise InputError("distribution 'measured' needs --times FILE")


@dataclass(frozen=True)
class RunSpec:
    """One virtual run of the sweep.

    :param part: ``main``, ``workers`` or ``search``.
    :param task: task name.
    :param policy: ``plain``, ``delay_aware`` or ``chunked``.
    :param model: the ONNX file.
    :param mode: interaction mode.
    :param multiple: mean inference time / control period.
    :param cv: coefficient of variation.
    :param distribution: ``fixed`` for CV 0, else the sweep's distribution.
    :param num_workers: workers run (the mode's planned ``N``; the largest tried, for a search).
    :param required: max_time's ``N* = ceil(T_max / T)`` for the planning maximum.
    :param seed: episode seed.
    """

    part: str
    task: str
    policy: str
    model: str
    mode: str
    multiple: float
    cv: float
    distribution: str
    num_workers: int
    required: int
    seed: int


def make_spec(tasks: tuple[str, ...], quick: bool, seeds: int | None = None,
              **overrides: object) -> SweepSpec:
    """Return the quick or the full sweep.

    Quick: 7 inference times with a fixed time, the spreads (CV 0.1, 0.3) at 2x and 10x only,
    4 worker counts around ``N*``, 2 seeds. Full: 11 inference times, every spread at each, 9
    worker counts, 5 seeds.

    :param tasks: task names.
    :param quick: the quick grid.
    :param seeds: number of seeds (``None``: 2 quick, 5 full).
    :param overrides: any other :class:`SweepSpec` field.
    :return: the spec.
    """
    count = (2 if quick else 5) if seeds is None else int(seeds)
    if count < 1:
        raise InputError(f'--seeds must be >= 1, got {count}')
    values: dict[str, object] = {
        'tasks': tuple(tasks), 'seeds': tuple(range(count)),
        'multiples': QUICK_MULTIPLES if quick else FULL_MULTIPLES}
    if quick:
        values.update(spread_multiples=(2.0, FOCUS_MULTIPLE),
                      worker_counts=(0.5, 0.9, 1.0, 1.5))
    values.update({k: v for k, v in overrides.items() if v is not None})
    table = values.get('table')
    if values.get('distribution') == 'measured' and isinstance(table, MeasuredTimes):
        # A table has its own spread: one grid with it, labelled with its CV, beside CV 0.
        spread = round(table.cv, 3)
        values.update(cvs=(0.0, spread), search_cvs=(0.0, spread))
    return SweepSpec(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TaskModels:
    """The policies of one task found in the models directory.

    :param plain: ``<task>_small.onnx``.
    :param delayed: delay-aware models by trained delay, seconds
        (``<task>_small_delay<ms>ms.onnx``).
    :param chunked: plain chunk models by the ages they cover, ``H * step`` seconds
        (``<task>_small_h<H>.onnx``): the arbiter applies the row planned for an action's age.
    """

    plain: Path
    delayed: dict[float, Path]
    chunked: dict[float, Path]

    def for_age(self, age_s: float, period_s: float) -> list[tuple[str, Path]]:
        """Return ``(family, model)`` of every policy to run for actions ``age_s`` old.

        :param age_s: the expected action age (the mean inference time), seconds.
        :param period_s: the control period, seconds.
        :return: the plain model, the delay-aware one trained for that age (within half a
            period) and the chunk model whose rows reach that age, where they exist.
        """
        out = [('plain', self.plain)]
        out += [('delay_aware', path) for delay, path in self.delayed.items()
                if abs(delay - age_s) <= 0.5 * period_s + 1e-9][:1]
        out += [('chunked', path) for reach, path in sorted(self.chunked.items())
                if period_s <= age_s < reach - 0.5 * period_s][:1]
        return out


def model_files(task: str, models_dir: Path) -> TaskModels:
    """Return the task's plain, delay-aware and chunk models.

    :param task: task name.
    :param models_dir: the models directory.
    :return: the models found.
    :raises InputError: the plain model is missing.
    """
    plain = models_dir / f'{task}_small.onnx'
    if not plain.is_file():
        raise InputError(f'model {plain}: file does not exist (run rt-async-control train)')
    delayed, chunked = {}, {}
    for path in sorted(models_dir.glob(f'{task}_small_*.onnx')):
        if match := re.fullmatch(rf'{task}_small_delay(\d+)ms\.onnx', path.name):
            delayed[int(match.group(1)) / 1e3] = path
        elif re.fullmatch(rf'{task}_small_h\d+\.onnx', path.name):
            metadata = _metadata(path)
            if metadata.history == 0 and metadata.chunk_horizon > 1:
                chunked[metadata.chunk_horizon * metadata.chunk_step_s] = path
    return TaskModels(plain, delayed, chunked)


def _metadata(path: Path) -> ModelMetadata:
    # The JSON sidecar, else the record inside the ONNX file (no inference session needed).
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        return ModelMetadata.from_json(sidecar.read_text(), source=str(sidecar))
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False)
             .metadata_props}
    if METADATA_KEY not in props:
        raise InputError(f'model {path}: no {METADATA_KEY} metadata')
    return ModelMetadata.from_json(props[METADATA_KEY], source=str(path))


def planned_workers_of(spec: SweepSpec, task: str, mode: str, multiple: float,
                       cv: float) -> int:
    """Return the workers ``mode`` is planned with at one grid point (:func:`.modes.plan_mode`).

    :param spec: the sweep.
    :param task: task name (its period, episode length and schedule margin).
    :param mode: interaction mode.
    :param multiple: mean inference time / control period.
    :param cv: coefficient of variation.
    :return: ``N`` (1 for sequential).
    """
    period = load_task(task).control_period_s
    # The sweep's stack runs the schedule's default margin (``experiment.base_config``).
    return plan_mode(mode, times_for(spec, multiple, cv, period), period,
                     episode_inferences(task), ScheduleConfig().exp_margin_std).num_workers


def times_for(spec: SweepSpec, multiple: float, cv: float, period_s: float) -> InferenceTimes:
    """Return the inference-time source of one grid point (fixed at CV 0)."""
    distribution = 'fixed' if cv == 0.0 else spec.distribution
    return inference_times(distribution, multiple * period_s, cv, spec.table)


def plan(spec: SweepSpec) -> list[RunSpec]:
    """Return every run of the sweep, the most expensive (most workers) first.

    :param spec: the sweep.
    :return: the runs.
    """
    runs: list[RunSpec] = []
    for task_name in spec.tasks:
        task = load_task(task_name)
        period = task.control_period_s
        found = model_files(task_name, spec.models_dir)
        for cv in spec.cvs:
            dist = 'fixed' if cv == 0.0 else spec.distribution
            grid = spec.multiples if cv == 0.0 or not spec.spread_multiples else tuple(
                m for m in spec.multiples if m in spec.spread_multiples)
            for multiple in grid:
                planned = {mode: planned_workers_of(spec, task_name, mode, multiple, cv)
                           for mode in (*spec.modes, 'max_time')}
                required = planned['max_time']
                for (policy, model) in found.for_age(multiple * period, period):
                    for mode in spec.modes:
                        runs += [RunSpec('main', task_name, policy, str(model), mode, multiple,
                                         cv, dist, planned[mode], required, seed)
                                 for seed in spec.seeds]
                if cv in spec.search_cvs:
                    runs.append(RunSpec('search', task_name, 'plain', str(found.plain), 'max_time',
                                        multiple, cv, dist, min(3 * required + 2, MAX_WORKERS),
                                        required, spec.seeds[0]))
            if FOCUS_MULTIPLE in spec.multiples and cv in spec.search_cvs:
                # Worker counts are fractions of max_time's N*, the same for every mode, so
                # the modes are compared at equal N.
                required = planned_workers_of(spec, task_name, 'max_time', FOCUS_MULTIPLE, cv)
                counts = sorted({min(MAX_WORKERS, max(1, round(f * required)))
                                 for f in spec.worker_counts})
                for mode in ('async', 'max_time', 'exp_time'):
                    runs += [RunSpec('workers', task_name, 'plain', str(found.plain), mode,
                                     FOCUS_MULTIPLE, cv, dist, n, required, spec.seeds[0])
                             for n in counts if mode in spec.modes]
    runs.sort(key=lambda r: -(r.num_workers * (8 if r.part == 'search' else 1)))
    return runs
