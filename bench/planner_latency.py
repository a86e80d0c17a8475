"""Plan time per control step, side by side: our backends at the default config, and ours vs mbrl-lib's
PETS CEM at mbrl-lib's config, with the matmul efficiency reached, all in one run.

Part 1 (default config: the task config's ensemble, e.g. 5 x (3x200), 5 particles ts_inf, its
horizon, the planners' configs): every backend (``torch`` eager per step, the reference;
``onnx_step``: one ORT run per step; ``compiled``: the fused rollout compiled by torch.compile;
``compiled_bf16``: the same with ``learning.planning_precision: bfloat16``, its hidden layers'
matmuls in bfloat16, reported against the float32 peaks; ``onnx``: one fused ORT graph per iteration)
plans the same visited states, interleaved step by step so that a load spike on a shared host hits
them alike. Prints p50/p99 plan time, model evaluations/s, and the rollouts' GFLOP/s (time inside
the objective) as a fraction of two peaks measured in the same run with the same thread count: a
batched matmul of the rollout's own shapes (``E x rows x hidden @ E x hidden x hidden``, torch
``bmm``; the fair peak for these small matrices) and a 1024^3 sgemm (the machine's large-GEMM peak).

Part 2 (mbrl-lib's PETS cartpole config: pop 350, 5 CEM iterations, elite ratio 0.1, H 15,
20 particles, 7 x (4x200) ensemble): our ``cem`` on the backends given (the fastest counts), then mbrl-lib's own
TrajectoryOptimizerAgent + CEMOptimizer (bench/mbrl_lib_pets.py, in the interpreter given by
``--mbrl-python``: a separate venv with ``pip install mbrl==0.2.0 --no-deps``). Both do the same
model evaluations per action (350 x 20 x 15 x 5), so the speed-up is bounded by how far mbrl-lib
is from the peak; the bound is printed.

Example (the issue's closing note):
    flock /tmp/mbrl_bench.lock python bench/planner_latency.py --threads 2 \\
        --mbrl-python .bench-venv/bin/python
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_seconds, environment_header  # noqa: E402

from mbrl_ros.learning.run_config import resolve_run_parameters  # noqa: E402
from mbrl_ros.models import MODELS  # noqa: E402
from mbrl_ros.models.onnx_backend import OnnxRuntimeConfig, TrainableOnnxEnsemble  # noqa: E402
from mbrl_ros.planning import TrajectoryObjective, make_planner  # noqa: E402
from mbrl_ros.tasks import make_task  # noqa: E402

BACKENDS = ("torch", "compiled", "compiled_bf16", "onnx_step", "onnx")
MBRL_LIB_CONFIG = {"population": 350, "iterations": 5, "elite_ratio": 0.1, "alpha": 0.1, "horizon": 15,
                   "particles": 20, "ensemble": 7, "layers": 4, "hidden": 200}


def sgemm_peak_gflops(threads: int, size: int = 1024, repeats: int = 10) -> float:
    """Best-of-N throughput of a large float32 GEMM: the machine's large-matrix peak."""
    torch.set_num_threads(threads)
    a, b, out = torch.randn(size, size), torch.randn(size, size), torch.empty(size, size)
    best = best_seconds(lambda: torch.mm(a, b, out=out), repeats)
    return 2 * size ** 3 / best / 1e9


def bmm_peak_gflops(threads: int, members: int, rows: int, hidden: int, repeats: int = 200,
                    dtype: torch.dtype = torch.float32) -> float:
    """Best-of-N throughput of the rollout's own hidden-layer matmul: ``(E, rows, h) @ (E, h, h)``."""
    torch.set_num_threads(threads)
    x, w = torch.randn(members, rows, hidden, dtype=dtype), torch.randn(members, hidden, hidden, dtype=dtype)
    out = torch.empty(members, rows, hidden, dtype=dtype)
    best = best_seconds(lambda: torch.bmm(x, w, out=out), repeats)
    return 2 * members * rows * hidden * hidden / best / 1e9


def flops_per_evaluation(model) -> float:
    """FLOPs of one member's forward pass for one input row (2 per multiply-add)."""
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


class TimedObjective(TrajectoryObjective):
    """The objective, timing its calls: the rollout (and reward) time of a plan."""

    seconds = 0.0

    def __call__(self, obs, actions):
        t = time.perf_counter()
        try:
            return super().__call__(obs, actions)
        finally:
            self.seconds += time.perf_counter() - t


def planning_model(model, backend: str, threads: int):
    if backend == "torch":
        return model
    if backend.startswith("compiled"):  # a copy: the torch row must stay eager
        copy = type(model).from_bytes(model.to_bytes())
        # The warm-up plans compile (Inductor's disk cache helps).
        copy.compile_planning(background=False, precision="bfloat16" if backend.endswith("bf16") else "float32")
        return copy
    return TrainableOnnxEnsemble(model, OnnxRuntimeConfig(intra_op_threads=threads, fused=backend == "onnx"))


def time_planners(task, model, name: str, pcfg: dict, horizon: int, backends, states, threads: int,
                  warmup: int, steps: int, deadline_s: float):
    """Interleaved plan() + shift() of one planner per backend over the same states."""
    runs = {}
    for backend in backends:
        objective = TimedObjective(planning_model(model, backend, threads), task.reward,
                                   generator=torch.Generator().manual_seed(0))
        planner = make_planner(name, pcfg, action_low=task.spec.action_low, action_high=task.spec.action_high,
                               horizon=horizon, objective=objective, seed=0,
                               nominal_action=task.spec.nominal_action)
        runs[backend] = {"planner": planner, "objective": objective, "times": [], "iterations": [],
                         "evals": 0, "rollout_s": 0.0}
    for i in range(warmup + steps):
        state = states[i % len(states)]
        for backend, run in runs.items():
            objective = run["objective"]
            evals0, seconds0 = objective.model_evaluations, objective.seconds
            t = time.perf_counter()
            result = run["planner"].plan(state, deadline=t + deadline_s if deadline_s > 0 else None)
            run["planner"].shift()
            elapsed = time.perf_counter() - t
            if i >= warmup:
                run["times"].append(elapsed)
                run["iterations"].append(result.iterations)
                run["evals"] += objective.model_evaluations - evals0
                run["rollout_s"] += objective.seconds - seconds0
    return runs


def summarize(run, flops_eval: float, peaks: dict, steps: int) -> dict:
    times = np.array(run["times"])
    evals = run["evals"] / steps
    rollout_gflops = run["evals"] * flops_eval / run["rollout_s"] / 1e9
    return {"p50_ms": float(np.median(times) * 1e3), "p99_ms": float(np.percentile(times, 99) * 1e3),
            "max_ms": float(times.max() * 1e3), "mean_iterations": float(np.mean(run["iterations"])),
            "evals_per_plan": evals, "evals_per_s": evals / float(times.mean()),
            "rollout_share": run["rollout_s"] / float(times.sum()), "rollout_gflops": rollout_gflops,
            **{f"of_{k}": rollout_gflops / v for k, v in peaks.items()}}


def print_row(label: str, backend: str, row: dict) -> None:
    print(f"{label:10s} {backend:13s} {row['p50_ms']:9.2f} {row['p99_ms']:9.2f} {row['max_ms']:9.2f} "
          f"{row['mean_iterations']:5.2f} {row['evals_per_plan']:10.0f} {row['evals_per_s'] / 1e6:9.3f} "
          f"{row['rollout_share']:7.0%} {row['rollout_gflops']:8.1f} {row['of_bmm_peak']:8.1%} "
          f"{row['of_sgemm_peak']:8.1%}", flush=True)


HEADER = (f"{'planner':10s} {'backend':13s} {'p50 ms':>9s} {'p99 ms':>9s} {'max ms':>9s} {'iters':>5s} "
          f"{'evals/plan':>10s} {'M evals/s':>9s} {'rollout':>7s} {'GFLOP/s':>8s} {'of bmm':>8s} {'of sgemm':>8s}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cartpole_swingup")
    parser.add_argument("--planners", nargs="+", default=["icem"])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200, help="timed plan calls per planner and backend")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--horizon", type=int, default=None, help="default: the task config's learning.horizon")
    parser.add_argument("--deadline", type=float, default=0.0, help="seconds per plan (0: none, full iterations)")
    parser.add_argument("-p", "--param", action="append", default=[], help="parameter override name:=value")
    parser.add_argument("--mbrl-python", default=None,
                        help="interpreter with mbrl==0.2.0 for part 2 (e.g. .bench-venv/bin/python); "
                             "none: part 2 is skipped")
    parser.add_argument("--mbrl-actions", type=int, default=3, help="timed actions per library in part 2")
    parser.add_argument("--out", default="bench/results/planner_latency.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(environment_header("torch eager | torch.compile fused | onnxruntime per step | onnxruntime fused graph (float32, CPU)",
                             args.threads))
    import onnxruntime

    print(f"# onnxruntime {onnxruntime.__version__} (MLAS), ORT intra-op threads {args.threads}, no spinning")

    params = resolve_run_parameters(args.task, overrides=args.param)
    task = make_task(args.task, params.section(args.task))
    horizon = args.horizon or int(params.section("learning").get("horizon", 20))
    model = MODELS.get("pets_ensemble")(task.spec, params.section("pets_ensemble"), seed=0)
    obs, act, nxt = random_transitions(task, 2, seed=0)
    model.fit(obs, act, nxt, max_epochs=3)
    cfg = model.config
    print(f"# part 1, default config: {cfg.ensemble_size} members x {cfg.hidden_layers}x{cfg.hidden_units} MLP, "
          f"{model.num_particles} particles ({cfg.propagation}), elites {cfg.num_elites}; horizon {horizon}; "
          f"deadline {args.deadline * 1e3:.0f} ms (0 = none); task {args.task}")
    flops_eval = flops_per_evaluation(model)
    states = obs[:: max(1, len(obs) // (args.steps + args.warmup))]
    results = {"threads": args.threads, "part1": [], "part2": {}}
    for name in args.planners:
        pcfg = resolve_run_parameters(args.task, name, overrides=args.param).section(name)
        first_rows = int(pcfg.get("population", 64)) * model.num_particles // cfg.num_elites
        peaks = {"bmm_peak": bmm_peak_gflops(args.threads, cfg.num_elites, first_rows, cfg.hidden_units),
                 "sgemm_peak": sgemm_peak_gflops(args.threads)}
        bf16_peak = bmm_peak_gflops(args.threads, cfg.num_elites, first_rows, cfg.hidden_units,
                                    dtype=torch.bfloat16)
        print(f"# {name}: peaks in this run: bmm ({cfg.num_elites}, {first_rows}, {cfg.hidden_units}) @ "
              f"({cfg.num_elites}, {cfg.hidden_units}, {cfg.hidden_units}) {peaks['bmm_peak']:.1f} GFLOP/s, "
              f"1024^3 sgemm {peaks['sgemm_peak']:.1f} GFLOP/s (the same bmm in bfloat16: {bf16_peak:.1f}, the "
              f"peak for compiled_bf16's hidden layers); {flops_eval / 1e3:.1f} kFLOP per evaluation; "
              f"config {json.dumps(pcfg)}")
        print(HEADER)
        runs = time_planners(task, model, name, pcfg, horizon, args.backends, states, args.threads,
                             args.warmup, args.steps, args.deadline)
        for backend, run in runs.items():
            row = summarize(run, flops_eval, peaks, args.steps)
            print_row(name, backend, row)
            results["part1"].append({"planner": name, "backend": backend, "config": pcfg, "horizon": horizon,
                                     **row, **peaks, "bmm_bf16_peak": bf16_peak})

    if args.mbrl_python:
        results["part2"] = mbrl_lib_comparison(args, task)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return 0


def mbrl_lib_comparison(args, task) -> dict:
    c = MBRL_LIB_CONFIG
    print(f"# part 2, mbrl-lib's PETS cartpole config: CEM pop {c['population']}, {c['iterations']} iterations, "
          f"elite ratio {c['elite_ratio']}, alpha {c['alpha']}, H {c['horizon']}, {c['particles']} particles, "
          f"{c['ensemble']} x ({c['layers']}x{c['hidden']}) ensemble; {args.mbrl_actions} timed actions each")
    ens_cfg = {"ensemble_size": c["ensemble"], "num_elites": 5, "hidden_layers": c["layers"],
               "hidden_units": c["hidden"], "num_particles": c["particles"], "propagation": "ts_inf"}
    model = MODELS.get("pets_ensemble")(task.spec, ens_cfg, seed=0)
    obs, act, nxt = random_transitions(task, 1, seed=0)
    model.fit(obs, act, nxt, max_epochs=1)
    pcfg = {"population": c["population"], "iterations": c["iterations"],
            "num_elites": int(np.ceil(c["population"] * c["elite_ratio"])), "alpha": c["alpha"]}
    flops_eval = flops_per_evaluation(model)
    rows = c["population"] * c["particles"] // 5
    peaks = {"bmm_peak": bmm_peak_gflops(args.threads, 5, rows, c["hidden"], repeats=20),
             "sgemm_peak": sgemm_peak_gflops(args.threads)}
    backends = [b for b in args.backends if b != "onnx_step"]  # per-step ORT: far slower, skipped here
    runs = time_planners(task, model, "cem", pcfg, c["horizon"], backends, obs, args.threads, 1,
                         args.mbrl_actions, 0.0)
    print(f"# peaks: bmm (5, {rows}, 200) @ (5, 200, 200) {peaks['bmm_peak']:.1f} GFLOP/s, sgemm "
          f"{peaks['sgemm_peak']:.1f} GFLOP/s")
    print(HEADER)
    rows_by_backend = {}
    for backend in backends:
        rows_by_backend[backend] = summarize(runs[backend], flops_eval, peaks, args.mbrl_actions)
        print_row("cem", backend, rows_by_backend[backend])
    best = min(rows_by_backend, key=lambda b: rows_by_backend[b]["p50_ms"])
    ours = {"backend": best, **rows_by_backend[best]}
    command = [args.mbrl_python, str(Path(__file__).resolve().parent / "mbrl_lib_pets.py"),
               "--threads", str(args.threads), "--actions", str(args.mbrl_actions),
               *[f"--{k}={c[k]}" for k in ("population", "iterations", "horizon", "particles", "ensemble",
                                            "layers", "hidden")]]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        print(f"# mbrl-lib run failed (exit {done.returncode}): {done.stderr[-2000:]}")
        return {"ours": ours, "mbrl_lib": {"error": done.stderr[-2000:]}}
    theirs = json.loads(lines[-1])
    if "error" in theirs:
        print(f"# mbrl-lib: {theirs['error']} (nothing re-implemented)")
        return {"ours": ours, "mbrl_lib": theirs}
    their_gflops = theirs["evals_per_s"] * flops_eval / 1e9
    speedup = theirs["p50_s"] * 1e3 / ours["p50_ms"]
    bound = theirs["p50_s"] / (theirs["evals_per_action"] * flops_eval / 1e9 / peaks["sgemm_peak"])
    print(f"{'mbrl-lib':10s} {'torch':13s} {theirs['p50_s'] * 1e3:9.2f} {theirs['p99_s'] * 1e3:9.2f} "
          f"{'':9s} {c['iterations']:5d} {theirs['evals_per_action']:10d} {theirs['evals_per_s'] / 1e6:9.3f} "
          f"{'':7s} {their_gflops:8.1f} {their_gflops / peaks['bmm_peak']:8.1%} "
          f"{their_gflops / peaks['sgemm_peak']:8.1%}  ({theirs['library']}, torch {theirs['torch']}, "
          f"{theirs['threads']} threads)")
    print(f"# per action: ours ({best}) {ours['p50_ms']:.0f} ms vs mbrl-lib {theirs['p50_s'] * 1e3:.0f} ms "
          f"(p50): "
          f"x{speedup:.2f} "
          f"faster; the same evaluations at the 1024^3 sgemm peak would be x{bound:.2f} faster than mbrl-lib "
          f"(the most any implementation could show here)")
    return {"ours": ours, "ours_by_backend": rows_by_backend, "mbrl_lib": theirs, "speedup_p50": speedup,
            "speedup_bound_at_sgemm_peak": bound,
            "config": c, **peaks}


if __name__ == "__main__":
    sys.exit(main())
