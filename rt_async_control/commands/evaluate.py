"""``rt-async-control evaluate MODEL.onnx --task TASK``: score a policy faster than real time."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the sub-command's arguments."""
    parser.add_argument('model', metavar='MODEL.onnx', help='the ONNX policy to evaluate')
    parser.add_argument('--task', required=True, help='task to run it on (pendulum, cartpole, '
                        'arm); the model must have been trained for it')
    parser.add_argument('--episodes', type=int, default=20, metavar='K',
                        help='seeded episodes (seeds SEED .. SEED+K-1; default 20)')
    parser.add_argument('--delay', type=float, default=0.0, metavar='S',
                        help='fixed observation delay in seconds, rounded to whole control '
                        'periods (default 0)')
    parser.add_argument('--seed', type=int, default=0, help='first episode seed (default 0)')
    parser.add_argument('--providers', default='cpu',
                        help='ONNX Runtime providers, e.g. cuda,cpu (default cpu)')
    parser.add_argument('--json', action='store_true', help='print one JSON object')


def run(args: argparse.Namespace) -> int:
    """Evaluate the model and print mean return and success rate."""
    from rt_async_control.errors import InputError
    from rt_async_control.policy.evaluate import evaluate_model
    from rt_async_control.sim.tasks import load_task

    if args.episodes < 1:
        raise InputError(f'--episodes must be >= 1, got {args.episodes}')
    if not args.delay >= 0:
        raise InputError(f'--delay must be >= 0 seconds, got {args.delay}')
    task = load_task(args.task)
    report = evaluate_model(args.model, task, episodes=args.episodes, delay_s=args.delay,
                            seed=args.seed, providers=args.providers)
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        for line in report.lines():
            print(line)
    return 0
