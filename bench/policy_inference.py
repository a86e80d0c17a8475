"""Latency per action of an exported ONNX policy, in-process, one thread (goal: p99 <= 20 us).

Exports a :class:`~mbrl_ros.export.onnx_policy.PolicyNetwork` for the task
(weights untrained: they do not change the cost), loads it with the validating
loader as a controller would, and times ``policy(observation)`` (copy in,
run, copy out) over observations visited by random episodes. Torch eager
on the same network is printed for reference.

Example:
    python bench/policy_inference.py --task cartpole_swingup --calls 20000
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment_header  # noqa: E402
from planner_latency import random_transitions  # noqa: E402

from mbrl_ros.export.onnx_policy import PolicyNetwork, check_parity, export_policy_onnx, load_policy_onnx  # noqa: E402
from mbrl_ros.tasks import make_task  # noqa: E402

GOAL_P99_US = 20.0


def latencies_us(fn, observations: np.ndarray, calls: int, warmup: int) -> np.ndarray:
    for i in range(warmup):
        fn(observations[i % len(observations)])
    out = np.empty(calls)
    clock = time.perf_counter_ns
    for i in range(calls):
        obs = observations[i % len(observations)]
        start = clock()
        fn(obs)
        out[i] = clock() - start
    return out / 1e3


def summary(us: np.ndarray) -> dict[str, float]:
    return {"p50_us": float(np.median(us)), "p99_us": float(np.percentile(us, 99)),
            "p999_us": float(np.percentile(us, 99.9)), "max_us": float(us.max()), "calls": int(us.size)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cartpole_swingup")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--hidden-layers", type=int, default=2)
    parser.add_argument("--hidden-units", type=int, default=64)
    parser.add_argument("--precision", choices=("float64", "float32"), default="float64",
                        help="arithmetic inside the graph (input/output are float32)")
    parser.add_argument("--out", default="bench/results/policy_inference.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(environment_header(f"onnxruntime {onnxruntime.__version__} (float32 in/out, "
                             f"{args.precision} inside, CPU, IOBinding, in-process)", 1))
    task = make_task(args.task)
    observations = random_transitions(task, 2, seed=0)[0].astype(np.float32)
    policy = PolicyNetwork.from_spec(task.spec, {"hidden_layers": args.hidden_layers,
                                                 "hidden_units": args.hidden_units})
    policy.fit_normalization(observations)
    policy.eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = export_policy_onnx(policy, Path(tmp) / "policy.onnx", task_spec=task.spec, metadata={"version": 1},
                                  precision=args.precision)
        parity = check_parity(path, policy, n=10000)
        onnx_policy = load_policy_onnx(path, expected_spec=task.spec, intra_op_threads=1)
    print(f"# policy: {task.spec.obs_dim} -> {args.hidden_layers}x{args.hidden_units} tanh -> {task.spec.act_dim}; "
          f"task {args.task}; parity on 10000 observations: {parity:.3g}")
    results = {"task": args.task, "hidden_layers": args.hidden_layers, "hidden_units": args.hidden_units,
               "precision": args.precision,
               "parity_max_abs": parity, "goal_p99_us": GOAL_P99_US}
    results["onnx"] = summary(latencies_us(onnx_policy, observations, args.calls, args.warmup))
    results["torch"] = summary(latencies_us(policy.act, observations, max(args.calls // 10, 100), args.warmup // 10))
    print(f"{'backend':8s} {'p50 us':>8s} {'p99 us':>8s} {'p99.9 us':>9s} {'max us':>8s} {'calls':>7s}")
    for name in ("onnx", "torch"):
        r = results[name]
        print(f"{name:8s} {r['p50_us']:8.1f} {r['p99_us']:8.1f} {r['p999_us']:9.1f} {r['max_us']:8.1f} {r['calls']:7d}")
    met = results["onnx"]["p99_us"] <= GOAL_P99_US
    results["goal_met"] = met
    print(f"# goal p99 <= {GOAL_P99_US:.0f} us per action: {'met' if met else 'MISSED'} "
          f"(p99 {results['onnx']['p99_us']:.1f} us)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
