"""NMPC (CasADi multiple shooting + IPOPT) against iCEM on the same learned model: plan time and return.

1. A PETS ensemble is learned on the task by the PETS loop with iCEM (``--learn-episodes``
   episodes, the first of random actions, seed ``--learn-seed``) and refit once on all the
   data; or one saved earlier is loaded (``--model-file``). ``--save-model`` writes it.
2. For every seed, one full episode per planner on that model from the same start state
   (``task.reset(seed)``), re-planning every control step with a shifted warm start, no
   deadline. iCEM plans on the ensemble's own propagation (``ts_inf``, 5 particles), NMPC on
   the elites' mean network written in CasADi.

Prints per planner the median and p99 plan time and each episode's return (and, for NMPC,
IPOPT iterations, solver failures and return statuses).

Example (the numbers in the issue's closing note):
    python bench/nmpc_vs_icem.py --learn-episodes 4 --seeds 100 101 102 --save-model /tmp/cartpole.npz
    python bench/nmpc_vs_icem.py --model-file /tmp/cartpole.npz --episode-length 100
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import casadi
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment_header  # noqa: E402

from mbrl_ros.learning.loop import run_episode, run_learning  # noqa: E402
from mbrl_ros.learning.run_config import resolve_run_parameters  # noqa: E402
from mbrl_ros.models.ensemble import EnsembleDynamics  # noqa: E402
from mbrl_ros.planning import TrajectoryObjective, make_planner  # noqa: E402
from mbrl_ros.tasks import make_task  # noqa: E402


def learn_model(task_name: str, episodes: int, seed: int, threads: int, overrides) -> EnsembleDynamics:
    params = resolve_run_parameters(task_name, "icem", "pets_ensemble", overrides=overrides)
    learning = {**params.section("learning"), "episodes": episodes, "threads": threads}
    run = run_learning(task_name, planner="icem", model="pets_ensemble", seed=seed, learning=learning,
                       task_config=params.section(task_name), planner_config=params.section("icem"),
                       model_config=params.section("pets_ensemble"),
                       on_episode=lambda r: print(f"# learn episode {r.episode} ({r.kind}): return "
                                                  f"{r.episode_return:.1f}, {r.episode_seconds:.0f} s", flush=True))
    report = run.model.fit(*run.data.arrays(), seed=seed + episodes)  # the last episode's data too
    print(f"# final fit on {run.data.size} transitions: {report.epochs} epochs, elite holdout mse "
          f"{np.mean([report.holdout_mse[i] for i in report.elites]):.4f}", flush=True)
    return run.model


def run_planner(name: str, task, model, seed: int, horizon: int, planner_config: dict) -> dict:
    objective = TrajectoryObjective(model, task.reward, generator=torch.Generator().manual_seed(seed))
    planner = make_planner(name, planner_config, action_low=task.spec.action_low,
                           action_high=task.spec.action_high, horizon=horizon, objective=objective, seed=seed)
    times, iterations, statuses = [], [], collections.Counter()

    def act(obs):
        result = planner.plan(obs)
        times.append(result.seconds)
        iterations.append(result.iterations)
        if name == "nmpc":
            statuses[planner.last_status] += 1
        planner.shift()
        return result.actions[0].cpu().numpy()

    start = time.perf_counter()
    episode_return = run_episode(task, seed, act)
    row = {"planner": name, "seed": seed, "return": float(episode_return), "steps": len(times),
           "p50_ms": float(np.median(times) * 1e3), "p99_ms": float(np.percentile(times, 99) * 1e3),
           "max_ms": float(np.max(times) * 1e3), "mean_iterations": float(np.mean(iterations)),
           "episode_seconds": time.perf_counter() - start, "plan_ms": [t * 1e3 for t in times]}
    if name == "nmpc":
        row.update(solver_failures=planner.solver_failures, statuses=dict(statuses))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cartpole_swingup")
    parser.add_argument("--model-file", default=None, help="a saved ensemble (.npz); default: learn one")
    parser.add_argument("--learn-episodes", type=int, default=4, help="PETS-loop episodes (first one random)")
    parser.add_argument("--learn-seed", type=int, default=0)
    parser.add_argument("--save-model", default=None, help="write the learned ensemble here (.npz)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[100, 101, 102], help="evaluation episode seeds")
    parser.add_argument("--planners", nargs="+", default=["nmpc", "icem"])
    parser.add_argument("--episode-length", type=int, default=None, help="default: the task config's")
    parser.add_argument("--horizon", type=int, default=None, help="default: the task config's learning.horizon")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("-p", "--param", action="append", default=[], help="parameter override name:=value")
    parser.add_argument("--out", default="bench/results/nmpc_vs_icem.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(environment_header(f"casadi {casadi.__version__} IPOPT/mumps (float64) vs torch eager (float32)",
                             args.threads))
    overrides = list(args.param)
    if args.episode_length:
        overrides.append(f"{args.task}.episode_length:={args.episode_length}")
    params = resolve_run_parameters(args.task, overrides=overrides)
    horizon = args.horizon or int(params.section("learning").get("horizon", 20))

    t0 = time.perf_counter()
    if args.model_file:
        model = EnsembleDynamics.load(args.model_file)
        print(f"# model loaded from {args.model_file}")
    else:
        model = learn_model(args.task, args.learn_episodes, args.learn_seed, args.threads, args.param)
        print(f"# model learned in {time.perf_counter() - t0:.0f} s")
    if args.save_model:
        model.save(args.save_model)
        print(f"# model saved to {args.save_model}")
    cfg = model.config
    task = make_task(args.task, params.section(args.task))
    print(f"# task {args.task}, {task.spec.episode_length} steps per episode, horizon {horizon}; model "
          f"{cfg.ensemble_size} x {cfg.hidden_layers}x{cfg.hidden_units} {cfg.activation}, elites "
          f"{model.elites.tolist()}, {model.num_particles} particles ({cfg.propagation}) for icem")

    rows = []
    for seed in args.seeds:
        for name in args.planners:
            pcfg = resolve_run_parameters(args.task, name, overrides=args.param).section(name)
            row = run_planner(name, task, model, seed, horizon, pcfg)
            row["config"] = pcfg
            rows.append(row)
            extra = (f" iters {row['mean_iterations']:.1f} failures {row['solver_failures']} {row['statuses']}"
                     if name == "nmpc" else f" iters {row['mean_iterations']:.1f}")
            print(f"{name:6s} seed {seed}: return {row['return']:7.1f}  plan p50 {row['p50_ms']:8.1f} ms  "
                  f"p99 {row['p99_ms']:8.1f} ms  ({row['episode_seconds']:.0f} s){extra}", flush=True)
    print(f"{'planner':8s} {'p50 ms':>9s} {'p99 ms':>9s} {'mean return':>12s}  returns per seed (plan times "
          f"pooled over all seeds)")
    summary = []
    for name in args.planners:
        mine = [r for r in rows if r["planner"] == name]
        pooled = np.concatenate([r["plan_ms"] for r in mine])  # every plan of every seed
        times_p50, times_p99 = float(np.median(pooled)), float(np.percentile(pooled, 99))
        returns = [r["return"] for r in mine]
        summary.append({"planner": name, "p50_ms": times_p50, "p99_ms": times_p99, "returns": returns,
                        "mean_return": float(np.mean(returns)), "plans": int(pooled.size)})
        print(f"{name:8s} {times_p50:9.1f} {times_p99:9.1f} {np.mean(returns):12.1f}  "
              + " ".join(f"{r:.1f}" for r in returns))
    print(f"# total {time.perf_counter() - t0:.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"task": args.task, "horizon": horizon, "episode_length": task.spec.episode_length,
                               "rows": rows, "summary": summary}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
