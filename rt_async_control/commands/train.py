"""``rt-async-control train TASK``: distil the task's expert into an ONNX policy."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the sub-command's arguments."""
    from rt_async_control.policy.sizes import SIZES

    parser.add_argument('task', metavar='TASK', help='pendulum, cartpole or arm')
    parser.add_argument('--size', default='small', choices=tuple(SIZES),
                        help='network size (default small, ~100k parameters)')
    parser.add_argument('--delay-aware', type=float, default=0.0, metavar='DELAY_S',
                        help='train for observations DELAY_S old: the input also holds the '
                        'round(DELAY_S / control period) commands in flight (default 0)')
    parser.add_argument('--out', default='models', metavar='DIR',
                        help='output directory (default ./models)')
    parser.add_argument('--seed', type=int, default=0, help='seed of everything (default 0)')
    parser.add_argument('--rounds', type=int, default=None,
                        help='DAgger rounds after behaviour cloning (default per task)')
    parser.add_argument('--episodes', type=int, default=None,
                        help='episodes collected per round (default per task)')
    parser.add_argument('--epochs', type=int, default=None,
                        help='training epochs per round (default per task)')
    parser.add_argument('--final-epochs', type=int, default=None,
                        help='extra epochs on all the data after the last round (default per '
                        'task)')
    parser.add_argument('--goal-relabels', type=int, default=None,
                        help='copies of every visited state with other goals (tasks with a '
                        'goal; default per task)')
    parser.add_argument('--horizon', type=int, default=1, metavar='H',
                        help='action chunk rows per call (default 1)')
    parser.add_argument('--name', default=None,
                        help='file stem (default TASK_SIZE[_delayNNms])')


def run(args: argparse.Namespace) -> int:
    """Train, export and verify the policy; print where it went and how it scores."""
    from rt_async_control.policy.train import train_policy, TrainConfig
    from rt_async_control.sim.tasks import load_task

    task = load_task(args.task)
    config = TrainConfig.for_task(task, size=args.size, delay_s=args.delay_aware,
                                  seed=args.seed, rounds=args.rounds,
                                  episodes=args.episodes, epochs=args.epochs,
                                  horizon=args.horizon, final_epochs=args.final_epochs,
                                  goal_relabels=args.goal_relabels)
    result = train_policy(task, config, out_dir=args.out, name=args.name, log=print)
    print(f'wrote {result.path} and {result.path.with_suffix(".json")}')
    return 0
