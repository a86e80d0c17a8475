"""Torch eager vs ONNX Runtime for the same PETS ensemble: model throughput and iCEM plan time.

Builds the ensemble of the task config (default 5 members of 3x200 MLPs), fits
it briefly on random transitions (weights do not change the cost), exports its
elites, and first prints the one-step parity (max abs difference of the next
observation mean and std over N random inputs). Then, for each thread count,
with torch and ORT given the same number of intra-op threads:

* model evaluations per second of ``rollout`` alone on a population-sized batch;
* ``plan()`` + ``shift()`` time (p50/p99) of ``icem`` along visited states, the
  two backends interleaved step by step so that they share the machine's load.

Prints the ORT/torch ratios measured in the same run and writes JSON.

Example:
    python bench/onnx_backend.py --task cartpole_swingup --threads 1 2 --steps 200
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_seconds, environment_header  # noqa: E402
from planner_latency import random_transitions  # noqa: E402

from mbrl_ros.config import from_dict  # noqa: E402
from mbrl_ros.export.onnx_ensemble import ensemble_parity  # noqa: E402
from mbrl_ros.learning.run_config import resolve_run_parameters  # noqa: E402
from mbrl_ros.models import MODELS  # noqa: E402
from mbrl_ros.models.onnx_backend import OnnxEnsembleModel  # noqa: E402
from mbrl_ros.planning import TrajectoryObjective, make_planner  # noqa: E402
from mbrl_ros.planning.icem import ICEMConfig  # noqa: E402
from mbrl_ros.tasks import make_task  # noqa: E402


def rollout_rate(model, obs, actions, repeats: int) -> float:
    """Model evaluations (transitions) per second of ``rollout`` on one batch, best of ``repeats``."""
    gen = torch.Generator().manual_seed(0)
    best = best_seconds(lambda: model.rollout(obs, actions, generator=gen), repeats)
    n, horizon, _ = actions.shape
    return n * model.num_particles * horizon / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cartpole_swingup")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=200, help="timed plan calls per backend and thread count")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--population", type=int, default=None, help="icem population (default: task config)")
    parser.add_argument("--rollout-repeats", type=int, default=20)
    parser.add_argument("--parity-n", type=int, default=10000, help="random inputs of the parity check")
    parser.add_argument("--spin", action="store_true", help="let idle ORT threads spin (allow_spinning)")
    parser.add_argument("-p", "--param", action="append", default=[], help="parameter override name:=value")
    parser.add_argument("--out", default="bench/results/onnx_backend.json")
    args = parser.parse_args()

    params = resolve_run_parameters(args.task, "icem", overrides=args.param)
    task = make_task(args.task, params.section(args.task))
    icem_cfg = params.section("icem")
    if args.population:
        icem_cfg["population"] = args.population
    torch.set_num_threads(1)
    model = MODELS.get("pets_ensemble")(task.spec, params.section("pets_ensemble"), seed=0)
    obs, act, nxt = random_transitions(task, 2, seed=0)
    model.fit(obs, act, nxt, max_epochs=3)
    cfg = model.config
    print(f"# model: {cfg.ensemble_size} members x {cfg.hidden_layers}x{cfg.hidden_units} {cfg.activation} MLP, "
          f"elites {cfg.num_elites}, {model.num_particles} particles ({cfg.propagation}); horizon {args.horizon}; "
          f"icem {json.dumps(icem_cfg)}; task {args.task}; onnxruntime {onnxruntime.__version__}")
    parity = ensemble_parity(model, OnnxEnsembleModel.from_ensemble(model), n=args.parity_n)
    print(f"# parity torch vs ORT on {parity['n']} random inputs (elites): max |d next_mean| = {parity['mean']:.3g}, "
          f"max |d std| = {parity['std']:.3g} (observation units)")

    states = obs[:: max(1, len(obs) // (args.steps + args.warmup))]
    low, high = np.array(task.spec.action_low), np.array(task.spec.action_high)
    population = from_dict(ICEMConfig, icem_cfg).population
    batch = torch.tensor(np.random.default_rng(1).uniform(low, high, (population, args.horizon, task.spec.act_dim)),
                         dtype=torch.float32)
    start_obs = torch.tensor(states[0], dtype=torch.float32)
    results = {"parity": parity, "task": args.task, "horizon": args.horizon, "icem": icem_cfg, "runs": []}
    print(f"{'backend':8s} {'threads':>7s} {'rollout Mev/s':>13s} {'plan p50 ms':>11s} {'plan p99 ms':>11s} "
          f"{'plan Mev/s':>10s}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        header = environment_header(f"torch eager vs onnxruntime {onnxruntime.__version__} (float32, CPU)", threads)
        print(header)
        backends = {"torch": model,
                    "ort": OnnxEnsembleModel.from_ensemble(model, {"intra_op_threads": threads,
                                                                   "allow_spinning": args.spin})}
        planners, objectives, times = {}, {}, {name: [] for name in backends}
        for name, backend in backends.items():
            objectives[name] = TrajectoryObjective(backend, task.reward, generator=torch.Generator().manual_seed(0))
            planners[name] = make_planner("icem", icem_cfg, action_low=low, action_high=high, horizon=args.horizon,
                                          objective=objectives[name], seed=0)
        rates = {name: rollout_rate(backend, start_obs, batch, args.rollout_repeats)
                 for name, backend in backends.items()}
        evals_before = {}
        for i in range(args.warmup + args.steps):
            state = states[i % len(states)]
            for name in backends:  # interleaved: both backends see the same load
                if i == args.warmup:
                    evals_before[name] = objectives[name].model_evaluations
                t = time.perf_counter()
                planners[name].plan(state)
                planners[name].shift()
                if i >= args.warmup:
                    times[name].append(time.perf_counter() - t)
        rows = {}
        for name in backends:
            t = np.array(times[name])
            evals = objectives[name].model_evaluations - evals_before[name]
            rows[name] = {"backend": name, "threads": threads, "rollout_evals_per_s": rates[name],
                          "plan_p50_ms": float(np.median(t) * 1e3), "plan_p99_ms": float(np.percentile(t, 99) * 1e3),
                          "plan_evals_per_s": evals / t.sum(), "steps": args.steps}
            r = rows[name]
            print(f"{name:8s} {threads:7d} {r['rollout_evals_per_s'] / 1e6:13.3f} {r['plan_p50_ms']:11.2f} "
                  f"{r['plan_p99_ms']:11.2f} {r['plan_evals_per_s'] / 1e6:10.3f}", flush=True)
        ratio = {"rollout_evals_per_s": rows["ort"]["rollout_evals_per_s"] / rows["torch"]["rollout_evals_per_s"],
                 "plan_p50": rows["ort"]["plan_p50_ms"] / rows["torch"]["plan_p50_ms"],
                 "plan_p99": rows["ort"]["plan_p99_ms"] / rows["torch"]["plan_p99_ms"]}
        print(f"# ORT/torch at {threads} thread(s): rollout throughput x{ratio['rollout_evals_per_s']:.2f}, "
              f"plan p50 time x{ratio['plan_p50']:.2f}, plan p99 time x{ratio['plan_p99']:.2f}")
        results["runs"].append({"threads": threads, "header": header,
                                "torch": rows["torch"], "ort": rows["ort"], "ratio_ort_over_torch": ratio})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
