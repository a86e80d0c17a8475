"""Sample efficiency: episode return vs environment steps, against the oracle planner.

For each task and planner: the same planner on the true physics (model
``oracle``) gives the reference return; the PETS loop then learns from scratch
over several seeds. Prints the mean learning curve and the number of
environment steps after which the mean return first reaches ``--fraction``
(default 90%) of the oracle's mean return.

Example (the numbers in the issue's closing note):
    python bench/sample_efficiency.py --tasks cartpole_swingup --planners icem --seeds 0 1 2 --episodes 10
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment_header  # noqa: E402

from mbrl_ros.export.onnx_ensemble import resolve_planning_backend  # noqa: E402
from mbrl_ros.learning.loop import run_learning  # noqa: E402
from mbrl_ros.learning.run_config import resolve_run_parameters  # noqa: E402


def run(task: str, planner: str, model: str, seed: int, episodes: int, threads: int, overrides):
    params = resolve_run_parameters(task, planner, model, overrides=overrides)
    learning = {**params.section("learning"), "episodes": episodes, "threads": threads}
    result = run_learning(task, planner=planner, model=model, seed=seed, learning=learning,
                          task_config=params.section(task), planner_config=params.section(planner),
                          model_config=params.section(model))
    return [r.episode_return for r in result.records], [r.env_steps for r in result.records], result.records


_BACKEND_WORDS = {"onnx": "onnxruntime fused graph", "onnx_step": "onnxruntime per step", "torch": "torch"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["pendulum_swingup", "cartpole_swingup"])
    parser.add_argument("--planners", nargs="+", default=["icem"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--oracle-episodes", type=int, default=1, help="oracle episodes per seed")
    parser.add_argument("--fraction", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("-p", "--param", action="append", default=[], help="parameter override name:=value")
    parser.add_argument("--out", default="bench/results/sample_efficiency.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    planning = resolve_run_parameters(args.tasks[0], args.planners[0], None, overrides=args.param).section(
        "learning").get("planning_backend", "auto")
    backend = resolve_planning_backend(planning, threads=args.threads)
    print(environment_header(f"torch (training), {_BACKEND_WORDS[backend]} (planning a "
                             f"learned ensemble; learning.planning_backend={planning})", args.threads))
    report = []
    for task in args.tasks:
        for planner in args.planners:
            t0 = time.perf_counter()
            oracle = [r for s in args.seeds
                      for r in run(task, planner, "oracle", s, args.oracle_episodes, args.threads, args.param)[0]]
            oracle_mean = float(np.mean(oracle))
            curves, steps = [], None
            for seed in args.seeds:
                returns, steps, _ = run(task, planner, "pets_ensemble", seed, args.episodes, args.threads, args.param)
                curves.append(returns)
                print(f"{task:18s} {planner:16s} seed {seed}: " + " ".join(f"{r:7.1f}" for r in returns),
                      flush=True)
            mean_curve = np.mean(curves, axis=0)
            target = args.fraction * oracle_mean
            reached = next((int(s) for s, r in zip(steps, mean_curve) if r >= target), None)
            reached_episode = next((i + 1 for i, r in enumerate(mean_curve) if r >= target), None)
            row = {"task": task, "planner": planner, "seeds": args.seeds, "oracle_returns": oracle,
                   "oracle_mean": oracle_mean, "target": target, "mean_curve": mean_curve.tolist(),
                   "env_steps": steps, "steps_to_target": reached, "episodes_to_target": reached_episode,
                   "best_mean_return_ratio": float(mean_curve.max() / oracle_mean), "seconds": time.perf_counter() - t0}
            report.append(row)
            print(f"{task:18s} {planner:16s} oracle mean {oracle_mean:7.1f} (n={len(oracle)}); mean curve "
                  + " ".join(f"{r:7.1f}" for r in mean_curve))
            print(f"{task:18s} {planner:16s} -> {args.fraction:.0%} of oracle ({target:.1f}) reached at "
                  f"{reached} env steps (episode {reached_episode}); best mean/oracle "
                  f"{row['best_mean_return_ratio']:.3f}; {row['seconds']:.0f} s", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
