"""Distilled ONNX policy vs the MPC planner it was distilled from, on the same episode seeds.

1. Learn a model with the in-process PETS loop (``run_learning``; 1 random + MPC episodes,
   1 thread, no plan deadline), exactly as ``mbrl-ros train`` does.
2. Distill by DAgger from the planner on that learned model (the expert plans through the
   model, the roll-outs run in the simulator), export to ONNX, check parity with torch.
3. Evaluate the MPC planner (on the learned model) and the ONNX policy (ONNX Runtime, one
   thread, through the validating loader) on the same ``--eval-episodes`` seeds, none of
   which training or DAgger used. Goal: policy return >= 90% of the MPC's.

Writes ``<prefix>.log``, ``<prefix>.json`` and ``<prefix>.onnx`` (the policy) and saves the
learned model under ``runs/``.

Example:
    python bench/distill_policy.py --task cartpole_swingup --planner icem --episodes 7 --eval-episodes 5
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
from common import environment_header  # noqa: E402

from mbrl_ros.export.mpc_distillation import (  # noqa: E402
    dagger_config,
    distill_to_onnx,
    evaluate_returns,
    evaluation_seeds,
    make_mpc_expert,
)
from mbrl_ros.export.onnx_policy import load_policy_onnx  # noqa: E402
from mbrl_ros.learning.loop import run_learning  # noqa: E402
from mbrl_ros.models.ensemble import EnsembleDynamics  # noqa: E402
from mbrl_ros.learning.run_config import resolve_run_parameters  # noqa: E402
from mbrl_ros.tasks import make_task  # noqa: E402

GOAL_RATIO = 0.9


class Tee:
    """Print to stdout and to a log file."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w")

    def __call__(self, text: str) -> None:
        print(text, flush=True)
        self._file.write(text + "\n")
        self._file.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cartpole_swingup")
    parser.add_argument("--planner", default="icem")
    parser.add_argument("--episodes", type=int, default=7, help="learning episodes (1 random + MPC)")
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", choices=("first", "mean"), default="first",
                        help="expert label: the plan's first action or the planner's sampling mean")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="run parameter, e.g. -p distill.iterations:=8 -p distill.policy.hidden_units:=128")
    parser.add_argument("--prefix", default="bench/results/distill_policy")
    parser.add_argument("--model", help="skip learning: plan through this model.npz (e.g. the one an earlier run "
                                        "of this bench saved under runs/; learning is deterministic per seed)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    prefix = Path(args.prefix)
    log = Tee(prefix.with_suffix(".log"))
    log(environment_header(f"torch (learning, MPC) + onnxruntime {onnxruntime.__version__} (policy)", 1))
    log(f"# python {' '.join(sys.argv)}")

    params = resolve_run_parameters(args.task, args.planner, None, overrides=args.param)
    learning = {**params.section("learning"), "episodes": args.episodes, "threads": 1, "plan_deadline": 0.0}
    cfg = dagger_config(params)
    start = time.perf_counter()
    model_dir = Path("runs") / f"distill_{args.task}_{args.planner}_seed{args.seed}"
    if args.model:
        model_file = Path(args.model)
        model = EnsembleDynamics.load(model_file)
        learning_returns: list[float] = []
        log(f"# model {model_file} (learning skipped)")
    else:
        run = run_learning(params.task, planner=params.planner, model=params.model, seed=args.seed,
                           learning=learning, task_config=params.section(params.task),
                           planner_config=params.section(params.planner), model_config=params.section(params.model),
                           on_episode=lambda r: log(f"learning episode {r.episode} [{r.kind}] return "
                                                    f"{r.episode_return:.1f}"))
        model, learning_returns = run.model, [r.episode_return for r in run.records]
        model_dir.mkdir(parents=True, exist_ok=True)
        model_file = model.save(model_dir / "model.npz")
    learn_s = time.perf_counter() - start

    task = make_task(params.task, params.section(params.task))
    horizon = int(learning["horizon"])

    def expert():
        return make_mpc_expert(task, model, params.planner, params.section(params.planner), horizon=horizon,
                               seed=args.seed, label=args.label)

    log(f"# DAgger: {cfg}")
    export = distill_to_onnx(
        expert(), task, prefix.with_suffix(".onnx"), config=cfg, seed=args.seed,
        metadata={"expert": params.planner, "label": args.label, "learning_episodes": args.episodes},
        on_iteration=lambda it: log(f"dagger iteration {it.iteration}: beta {it.beta:.3f} steps {it.steps} "
                                    f"(expert {it.expert_steps}) roll-out return {it.mean_return:.1f} "
                                    f"policy-expert rmse {it.policy_expert_rmse:.3f} data {it.dataset_size} "
                                    f"loss {it.train_loss:.4f} validation return {it.validation_return:.1f}"))
    log(f"kept the policy of iteration {export.result.best_iteration}")
    log(f"parity (ONNX Runtime vs torch, 10000 observations): max abs diff {export.parity:.3g}")

    seeds = evaluation_seeds(args.eval_episodes)
    # The MPC as it runs in the learning loop: first plan action, warm start reset per episode.
    mpc = make_mpc_expert(task, model, params.planner, params.section(params.planner), horizon=horizon,
                          seed=args.seed + 1)
    start = time.perf_counter()
    mpc_returns = evaluate_returns(task, mpc, seeds, reset=mpc.reset)
    mpc_s = time.perf_counter() - start
    policy = load_policy_onnx(export.path, expected_spec=task.spec, intra_op_threads=1)
    start = time.perf_counter()
    policy_returns = evaluate_returns(task, policy, seeds)
    policy_s = time.perf_counter() - start
    ratio = float(np.mean(policy_returns) / np.mean(mpc_returns))
    steps = args.eval_episodes * task.spec.episode_length
    log(f"evaluation seeds {seeds}")
    log(f"MPC ({params.planner} on the learned model) returns {[round(r, 1) for r in mpc_returns]} "
        f"mean {np.mean(mpc_returns):.1f} ({mpc_s / steps * 1e3:.1f} ms per action)")
    log(f"ONNX policy returns {[round(r, 1) for r in policy_returns]} mean {np.mean(policy_returns):.1f} "
        f"({policy_s / steps * 1e6:.0f} us per step incl. simulation)")
    log(f"ratio policy / MPC: {ratio:.3f} (goal >= {GOAL_RATIO}: {'met' if ratio >= GOAL_RATIO else 'MISSED'})")
    results = {
        "task": params.task, "planner": params.planner, "seed": args.seed, "learning_episodes": args.episodes,
        "learning_returns": learning_returns, "learning_seconds": learn_s,
        "dagger": {"config": json.loads(json.dumps(cfg, default=lambda o: o.__dict__)), "label": args.label,
                   "history": [it.__dict__ for it in export.history], "seconds": export.seconds,
                   "best_iteration": export.result.best_iteration},
        "parity_max_abs": export.parity, "evaluation_seeds": seeds,
        "mpc_returns": mpc_returns, "policy_returns": policy_returns,
        "mpc_mean": float(np.mean(mpc_returns)), "policy_mean": float(np.mean(policy_returns)),
        "ratio": ratio, "goal_ratio": GOAL_RATIO, "goal_met": ratio >= GOAL_RATIO,
        "onnx_file": str(export.path), "model_file": str(model_file),
    }
    prefix.with_suffix(".json").write_text(json.dumps(results, indent=2, default=float))
    log(f"wrote {prefix.with_suffix('.json')}, {prefix.with_suffix('.log')}, {export.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
