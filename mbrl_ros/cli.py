"""``mbrl-ros`` command line: ``train`` (in-process learning run) and ``list``."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Sequence

import yaml


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mbrl_ros.learning import LearningConfig
    from mbrl_ros.learning.loop import run_learning
    from mbrl_ros.learning.run_config import resolve_run_parameters
    from mbrl_ros.config import from_dict, merge, to_dict

    overrides = list(args.param or [])
    if args.episodes is not None:
        overrides.append(f"learning.episodes:={args.episodes}")
    if args.threads is not None:
        overrides.append(f"learning.threads:={args.threads}")
    params = resolve_run_parameters(args.task, args.planner, args.model, args.params_file or [], overrides)
    learning = from_dict(LearningConfig, params.section("learning"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "params.yaml").write_text(yaml.safe_dump(
        {"/**": {"ros__parameters": merge(params.values, {"learning": to_dict(learning)})}}, sort_keys=False))

    from mbrl_ros.tasks import make_task

    episode_length = make_task(params.task, params.section(params.task)).spec.episode_length
    bar = tqdm(total=learning.episodes * episode_length, unit="step", disable=args.quiet,
               desc=f"{params.task}/{params.planner}/{params.model}", dynamic_ncols=True, file=sys.stderr)

    def on_episode(record) -> None:
        line = (f"episode {record.episode:3d} [{record.kind:6s}] steps {record.env_steps:6d} "
                f"return {record.episode_return:9.2f}  plan p50/p99 {record.plan_ms_median:6.1f}/"
                f"{record.plan_ms_p99:6.1f} ms  train {record.train_seconds:5.1f} s "
                f"({record.train_epochs} ep, holdout mse {record.holdout_mse:.3g})")
        bar.write(line)

    run = run_learning(params.task, planner=params.planner, model=params.model, seed=args.seed,
                       learning=learning, task_config=params.section(params.task),
                       planner_config=params.section(params.planner), model_config=params.section(params.model),
                       on_episode=on_episode, on_step=lambda: bar.update(1))
    bar.close()
    from mbrl_ros.learning.report import write_learning_curve

    csv_path, png_path = write_learning_curve([dataclasses.asdict(r) for r in run.records], out,
                                              f"{params.task} / {params.planner} / seed {args.seed}")
    model_path = None
    if hasattr(run.model, "save"):
        model_path = run.model.save(out / "model.npz")
    returns = [r.episode_return for r in run.records]
    summary = {
        "task": params.task, "planner": params.planner, "model": params.model, "seed": args.seed,
        "episodes": len(returns), "env_steps": run.records[-1].env_steps, "returns": returns,
        "best_return": max(returns), "final_return": returns[-1],
        "csv": str(csv_path), "curve": str(png_path), "model_file": str(model_path) if model_path else None,
        "param_sources": list(params.sources),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"final return {returns[-1]:.2f} (best {max(returns):.2f}) after {summary['env_steps']} steps; "
          f"wrote {csv_path}, {png_path}" + (f", {model_path}" if model_path else ""))
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    from mbrl_ros import launcher

    return launcher.main(args.rest)


def cmd_list(_args: argparse.Namespace) -> int:
    from mbrl_ros.models import MODELS
    from mbrl_ros.planning import PLANNERS
    from mbrl_ros.tasks import TASKS

    for title, registry in (("tasks", TASKS), ("planners", PLANNERS), ("models", MODELS)):
        print(f"{title}: {', '.join(registry.names())}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mbrl-ros", description="Model-based RL for ROS 2.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="run the in-process PETS learning loop on a simulated task")
    train.add_argument("--task", help="registered task (default: cartpole_swingup)")
    train.add_argument("--planner", help="registered planner (default: from the task's config, icem)")
    train.add_argument("--model", help="registered model (default pets_ensemble; 'oracle' = true physics)")
    train.add_argument("--episodes", type=int, help="episodes in total, random seed episodes included")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, help="torch threads (default 1)")
    train.add_argument("--out", default="runs/latest", help="output directory")
    train.add_argument("--params-file", action="append", help="ROS 2 params YAML (repeatable)")
    train.add_argument("-p", "--param", action="append", metavar="NAME:=VALUE",
                       help="parameter override, e.g. -p icem.population:=128 (repeatable)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)
    launch = sub.add_parser("launch", add_help=False,
                            help="run a YAML launch file without ROS 2: mbrl-ros launch FILE [name:=value ...]")
    launch.add_argument("rest", nargs=argparse.REMAINDER)
    launch.set_defaults(func=cmd_launch)
    lst = sub.add_parser("list", help="list registered tasks, planners and models")
    lst.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args = build_parser().parse_args(argv)
    from mbrl_ros.config import ConfigError
    from mbrl_ros.registry import UnknownComponentError

    try:
        return args.func(args)
    except (ConfigError, UnknownComponentError) as exc:
        print(f"mbrl-ros: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
