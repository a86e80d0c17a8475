"""Plan time per control step for each planner on a PETS ensemble, and the matmul efficiency reached.

Builds the stated ensemble (default 5 members of 3x200 MLPs), fits it briefly on
random transitions of the task (weights do not change the cost), then times
``plan()`` + ``shift()`` along a trajectory of visited states, as the MPC loop
does. Prints median and p99 plan time, model evaluations per plan, and the
GFLOP/s of the model rollouts as a fraction of a large-GEMM peak measured in
the same run with the same thread count.

Example (the numbers in the issue's closing note):
    python bench/planner_latency.py --task cartpole_swingup --threads 2 --steps 300
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

from mbrl_ros.learning.run_config import resolve_run_parameters  # noqa: E402
from mbrl_ros.models import MODELS  # noqa: E402
from mbrl_ros.planning import PLANNERS, TrajectoryObjective, make_planner  # noqa: E402
from mbrl_ros.tasks import make_task  # noqa: E402


def matmul_peak_gflops(threads: int, size: int = 1024, repeats: int = 20) -> float:
    """Best-of-N throughput of a large float32 GEMM: the machine's practical matmul peak."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - t)
    return 2 * size ** 3 / best / 1e9


def flops_per_evaluation(model) -> float:
    """Multiply-adds of one member's forward pass for one input row (x2 for FLOPs)."""
    return float(sum(2 * layer.weight.shape[1] * layer.weight.shape[2] for layer in model.layers))


def random_transitions(task, n_episodes: int, seed: int):
    rng = np.random.default_rng(seed)
    spec = task.spec
    rows = []
    for ep in range(n_episodes):
        obs, _ = task.reset(seed=seed + ep)
        for _ in range(spec.episode_length):
            act = rng.uniform(spec.action_low, spec.action_high)
            nxt, _, term, trunc, _ = task.step(act)
            rows.append((obs, act, nxt))
            obs = nxt
            if term or trunc:
                break
    return [np.array(x) for x in zip(*rows)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cartpole_swingup")
    parser.add_argument("--planners", nargs="+", default=None, help="default: every registered planner")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300, help="timed plan calls per planner")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--horizon", type=int, default=None, help="default: the task config's learning.horizon")
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds per plan (anytime planners stop before it); default: the task "
                             "config's learning.plan_deadline, 0 = none")
    parser.add_argument("-p", "--param", action="append", default=[], help="parameter override name:=value")
    parser.add_argument("--out", default="bench/results/planner_latency.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(environment_header("torch eager (float32, CPU)", args.threads))

    params = resolve_run_parameters(args.task, overrides=args.param)
    task = make_task(args.task, params.section(args.task))
    horizon = args.horizon or int(params.section("learning").get("horizon", 20))
    deadline_s = args.deadline if args.deadline is not None else float(
        params.section("learning").get("plan_deadline", 0.0))
    model_cfg = params.section("pets_ensemble")
    model = MODELS.get("pets_ensemble")(task.spec, model_cfg, seed=0)
    obs, act, nxt = random_transitions(task, 2, seed=0)
    model.fit(obs, act, nxt, max_epochs=3)
    cfg = model.config
    print(f"# model: {cfg.ensemble_size} members x {cfg.hidden_layers}x{cfg.hidden_units} MLP, "
          f"{model.num_particles} particles ({cfg.propagation}), elites {cfg.num_elites}; horizon {horizon}; "
          f"deadline {deadline_s * 1e3:.0f} ms (0 = none); task {args.task}")
    peak = matmul_peak_gflops(args.threads)
    flops_eval = flops_per_evaluation(model)
    print(f"# matmul peak (1024^3 sgemm, {args.threads} threads): {peak:.1f} GFLOP/s; "
          f"{flops_eval / 1e3:.1f} kFLOP per model evaluation")
    states = obs[:: max(1, len(obs) // (args.steps + args.warmup))]
    results = []
    print(f"{'planner':16s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} {'iters':>6s} {'evals/plan':>11s} "
          f"{'M evals/s':>10s} {'GFLOP/s':>8s} {'of peak':>8s}  config")
    for name in args.planners or PLANNERS.names():
        pcfg = resolve_run_parameters(args.task, name, overrides=args.param).section(name)
        objective = TrajectoryObjective(model, task.reward, generator=torch.Generator().manual_seed(0))
        planner = make_planner(name, pcfg, action_low=task.spec.action_low, action_high=task.spec.action_high,
                               horizon=horizon, objective=objective, seed=0)
        times, iterations = [], []
        evals_before = 0
        for i in range(args.warmup + args.steps):
            if i == args.warmup:
                evals_before = objective.model_evaluations
            state = states[i % len(states)]
            t = time.perf_counter()
            result = planner.plan(state, deadline=t + deadline_s if deadline_s > 0 else None)
            planner.shift()
            if i >= args.warmup:
                times.append(time.perf_counter() - t)
                iterations.append(result.iterations)
        times = np.array(times)
        evals = (objective.model_evaluations - evals_before) / args.steps
        rate = evals / times.mean()
        gflops = rate * flops_eval / 1e9
        row = {"planner": name, "p50_ms": float(np.median(times) * 1e3), "deadline_ms": deadline_s * 1e3,
               "mean_iterations": float(np.mean(iterations)),
               "deadline_cut_fraction": float(np.mean(np.array(iterations) < planner.config.iterations)),
               "p99_ms": float(np.percentile(times, 99) * 1e3), "max_ms": float(times.max() * 1e3),
               "evals_per_plan": evals, "evals_per_s": rate, "gflops": gflops, "fraction_of_peak": gflops / peak,
               "config": pcfg, "horizon": horizon, "threads": args.threads, "peak_gflops": peak}
        results.append(row)
        print(f"{name:16s} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['max_ms']:8.2f} "
              f"{row['mean_iterations']:6.2f} {evals:11.0f} "
              f"{rate / 1e6:10.3f} {gflops:8.1f} {gflops / peak:8.1%}  {json.dumps(pcfg)}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
