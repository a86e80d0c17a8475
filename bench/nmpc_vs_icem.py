"""NMPC (CasADi multiple shooting; IPOPT or SQP) against iCEM on the same learned model: plan time and return.

1. A PETS ensemble is learned on the task by the PETS loop with iCEM (``--learn-episodes``
   episodes, the first of random actions, seed ``--learn-seed``) and refit once on all the
   data; or one saved earlier is loaded (``--model-file``). ``--save-model`` writes it.
2. For every seed, one full episode per planner on that model from the same start state
   (``task.reset(seed)``), re-planning every control step with a shifted warm start, no
   deadline. iCEM plans on the ensemble's own propagation (``ts_inf``, 5 particles), NMPC on
   the elites' mean network in CasADi: with config/planners/nmpc.yaml, distilled into a 2x16
   network, compiled to C (cached), each solve capped at ``max_solve_time``, with iCEM (the
   task's icem config) as its fallback.

Prints per planner the median and p99 plan time, wall clock and the planning thread's CPU
time (on a shared machine the two differ by the load), each episode's return, and for NMPC its
setup apart from plan times (distillation, code generation, compilation or cache hit), solver
iterations, failures, fallbacks and return statuses. ``-p nmpc.<field>:=<value>`` overrides.

Example (the numbers in the README and bench/results/nmpc_vs_icem.log):
    python bench/nmpc_vs_icem.py --learn-episodes 4 --planners icem --seeds 100 --save-model /tmp/cartpole.npz
    python bench/nmpc_vs_icem.py --model-file /tmp/cartpole.npz --episode-length 60 --seeds 100 101 102
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
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
from mbrl_ros.planning.casadi_models import torch_ensemble_of  # noqa: E402
from mbrl_ros.planning.nmpc import NMPCPlanner  # noqa: E402
from mbrl_ros.tasks import make_task  # noqa: E402


def learn_model(task_name: str, episodes: int, seed: int, threads: int, overrides) -> EnsembleDynamics:
    params = resolve_run_parameters(task_name, "icem", "pets_ensemble", overrides=overrides)
    learning = {**params.section("learning"), "episodes": episodes, "threads": threads}
    run = run_learning(task_name, planner="icem", model="pets_ensemble", seed=seed, learning=learning,
                       task_config=params.section(task_name), planner_config=params.section("icem"),
                       model_config=params.section("pets_ensemble"),
                       on_episode=lambda r: print(f"# learn episode {r.episode} ({r.kind}): return "
                                                  f"{r.episode_return:.1f}, {r.episode_seconds:.0f} s", flush=True))
    model = torch_ensemble_of(run.model)  # the torch ensemble behind an ORT planning wrapper
    report = model.fit(*run.data.arrays(), seed=seed + episodes)  # the last episode's data too
    print(f"# final fit on {run.data.size} transitions: {report.epochs} epochs, elite holdout mse "
          f"{np.mean([report.holdout_mse[i] for i in report.elites]):.4f}", flush=True)
    return model


def make_nmpc(task, model, seed: int, horizon: int, planner_config: dict, icem_config: dict):
    """nmpc with icem (the task's icem config, same objective) as its fallback; timed build."""
    objective = TrajectoryObjective(model, task.reward, generator=torch.Generator().manual_seed(seed))
    bounds = dict(action_low=task.spec.action_low, action_high=task.spec.action_high, horizon=horizon,
                  objective=objective, seed=seed)
    fallback = make_planner("icem", icem_config, **bounds)
    start = time.perf_counter()
    planner = NMPCPlanner(planner_config, bounds.pop("action_low"), bounds.pop("action_high"), horizon,
                          objective, seed=seed, fallback_planner=fallback)
    return planner, time.perf_counter() - start


def setup_report(planner: NMPCPlanner, seconds: float) -> dict:
    """Distillation and NLP build (codegen, compile, cache) of a constructed nmpc, kept apart from solving."""
    builds = []
    for build in planner.build_reports:
        row = {k: v for k, v in build.items() if k != "compiled"}
        compiled = build.get("compiled")
        if compiled is not None:
            row.update(cached=compiled.cached, codegen_seconds=compiled.codegen_seconds,
                       compile_seconds=compiled.compile_seconds, source_bytes=compiled.source_bytes,
                       library=str(compiled.library))
        builds.append(row)
    distills = [dataclasses.asdict(r) for r in planner.distill_reports]
    return {"construct_seconds": seconds, "builds": builds, "distillations": distills}


def run_planner(name: str, task, model, seed: int, horizon: int, planner_config: dict,
                icem_config: dict) -> dict:
    setup = None
    if name == "nmpc":
        planner, seconds = make_nmpc(task, model, seed, horizon, planner_config, icem_config)
        setup = setup_report(planner, seconds)
    else:
        objective = TrajectoryObjective(model, task.reward, generator=torch.Generator().manual_seed(seed))
        planner = make_planner(name, planner_config, action_low=task.spec.action_low,
                               action_high=task.spec.action_high, horizon=horizon, objective=objective, seed=seed)
    times, cpu_times, iterations, statuses = [], [], [], collections.Counter()

    def act(obs):
        cpu = time.thread_time()
        result = planner.plan(obs)
        cpu_times.append(time.thread_time() - cpu)
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
           "cpu_p50_ms": float(np.median(cpu_times) * 1e3), "cpu_p99_ms": float(np.percentile(cpu_times, 99) * 1e3),
           "episode_seconds": time.perf_counter() - start, "plan_ms": [t * 1e3 for t in times],
           "plan_cpu_ms": [t * 1e3 for t in cpu_times]}
    if name == "nmpc":
        row.update(solver_failures=planner.solver_failures, fallbacks=dict(planner.fallbacks),
                   statuses=dict(statuses), setup=setup)
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

    icem_config = resolve_run_parameters(args.task, "icem", overrides=args.param).section("icem")
    rows = []
    for seed in args.seeds:
        for name in args.planners:
            pcfg = resolve_run_parameters(args.task, name, overrides=args.param).section(name)
            row = run_planner(name, task, model, seed, horizon, pcfg, icem_config)
            row["config"] = pcfg
            rows.append(row)
            extra = f" iters {row['mean_iterations']:.1f}"
            if name == "nmpc":
                setup = row["setup"]
                compiles = ", ".join(f"{b['codegen']} {b['solver']} codegen {b.get('codegen_seconds', 0):.2f} s "
                                     f"compile {b.get('compile_seconds', 0):.1f} s cached {b.get('cached')}"
                                     for b in setup["builds"])
                distills = ", ".join(f"{d['seconds']:.1f} s rel. rmse {max(d['relative_rmse']):.3f}"
                                     for d in setup["distillations"])
                print(f"# nmpc setup (not in plan times): {setup['construct_seconds']:.1f} s; build: {compiles}; "
                      f"distillation: {distills or 'none'}", flush=True)
                extra += (f" failures {row['solver_failures']} fallbacks {row['fallbacks']} {row['statuses']}")
            print(f"{name:6s} seed {seed}: return {row['return']:7.1f}  plan p50 {row['p50_ms']:8.1f} ms  "
                  f"p99 {row['p99_ms']:8.1f} ms  (cpu p50 {row['cpu_p50_ms']:.1f} p99 {row['cpu_p99_ms']:.1f}) "
                  f"({row['episode_seconds']:.0f} s){extra}", flush=True)
    print(f"{'planner':8s} {'p50 ms':>9s} {'p99 ms':>9s} {'cpu p50':>9s} {'cpu p99':>9s} {'mean return':>12s}  "
          f"returns per seed (plan times pooled over all seeds)")
    summary = []
    for name in args.planners:
        mine = [r for r in rows if r["planner"] == name]
        pooled = np.concatenate([r["plan_ms"] for r in mine])  # every plan of every seed
        pooled_cpu = np.concatenate([r["plan_cpu_ms"] for r in mine])
        times_p50, times_p99 = float(np.median(pooled)), float(np.percentile(pooled, 99))
        cpu_p50, cpu_p99 = float(np.median(pooled_cpu)), float(np.percentile(pooled_cpu, 99))
        returns = [r["return"] for r in mine]
        entry = {"planner": name, "p50_ms": times_p50, "p99_ms": times_p99, "cpu_p50_ms": cpu_p50,
                 "cpu_p99_ms": cpu_p99, "returns": returns, "mean_return": float(np.mean(returns)),
                 "plans": int(pooled.size)}
        if name == "nmpc":
            entry["fallbacks"] = int(sum(sum(r["fallbacks"].values()) for r in mine))
            entry["solver_failures"] = int(sum(r["solver_failures"] for r in mine))
        summary.append(entry)
        print(f"{name:8s} {times_p50:9.1f} {times_p99:9.1f} {cpu_p50:9.1f} {cpu_p99:9.1f} {np.mean(returns):12.1f}  "
              + " ".join(f"{r:.1f}" for r in returns))
    by_name = {e["planner"]: e for e in summary}
    if "nmpc" in by_name and "icem" in by_name:
        nmpc, icem = by_name["nmpc"], by_name["icem"]
        ratio = nmpc["mean_return"] / icem["mean_return"] if icem["mean_return"] else float("nan")
        print(f"# nmpc / icem mean return {ratio:.3f}; nmpc fallbacks {nmpc['fallbacks']} of {nmpc['plans']} "
              f"plans; goal: p50 <= 20 ms {'met' if nmpc['p50_ms'] <= 20 else 'NOT met'}, p99 <= 50 ms "
              f"{'met' if nmpc['p99_ms'] <= 50 else 'NOT met'}, return within 10% "
              f"{'met' if ratio >= 0.9 else 'NOT met'} (loadavg_1m now {os.getloadavg()[0]:.2f})")
    print(f"# total {time.perf_counter() - t0:.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"task": args.task, "horizon": horizon, "episode_length": task.spec.episode_length,
                               "rows": rows, "summary": summary}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
