"""Sample efficiency: episode return vs environment steps, against the oracle planner.

For each task and planner: the same planner on the true physics (model
``oracle``) gives the reference return; the PETS loop then learns from scratch
over several seeds. Prints the mean learning curve and the number of
environment steps after which the mean return first reaches ``--fraction``
(default 90%) of the oracle's mean return.

Example (the numbers in the issue's closing note):
    python bench/sample_efficiency.py --tasks cartpole_swingup --planners icem --seeds 0 1 2 --episodes 10

Sparse tasks with a hidden start angle (``pendulum_sparse``, ``cartpole_sparse``): ``--reference
best_achievable`` replaces the oracle by the best return we know how to get from hanging down
(the oracle planner optimizing the dense swing-up reward of the same physics, scored in the sparse
reward), ``--eval-hanging N`` scores the final planner on N episodes started hanging down, and
the report splits every run's returns by start angle (degrees from hanging down):
    python bench/sample_efficiency.py --tasks pendulum_sparse --seeds 0 1 2 --episodes 20 \
        --reference best_achievable --eval-hanging 2 -p learning.terminal_value:=true
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import math

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment_header  # noqa: E402

from mbrl_ros.learning.loop import run_learning  # noqa: E402
from mbrl_ros.learning.run_config import resolve_run_parameters  # noqa: E402
from mbrl_ros.models.onnx_backend import resolve_planning_backend  # noqa: E402


#: Dense task with the same physics and observations as each sparse one (for --reference best_achievable).
DENSE_TWIN = {"pendulum_sparse": "pendulum_swingup", "cartpole_sparse": "cartpole_swingup"}
#: Start-angle bins (degrees from hanging down) of the start-angle report.
ANGLE_BINS = ((0, 45), (45, 90), (90, 135), (135, 181))


def run(task: str, planner: str, model: str, seed: int, episodes: int, threads: int, overrides,
        keep: bool = False):
    params = resolve_run_parameters(task, planner, model, overrides=overrides)
    learning = {**params.section("learning"), "episodes": episodes, "threads": threads}
    def progress(record):
        print(f"  {task} {model} seed {seed} episode {record.episode} [{record.kind}] env steps {record.env_steps}: "
              f"return {record.episode_return:.1f} (start {record.start_obs}), plan p50 "
              f"{record.plan_ms_median:.0f} ms, train {record.train_seconds:.0f} s, value "
              f"{record.value_seconds:.0f} s", flush=True)

    result = run_learning(task, planner=planner, model=model, seed=seed, learning=learning,
                          task_config=params.section(task), planner_config=params.section(planner),
                          model_config=params.section(model), on_episode=progress,
                          value_config=params.section(learning.get("value_learner", "sac_mbpo")))
    out = [r.episode_return for r in result.records], [r.env_steps for r in result.records], result.records
    return (*out, result, params) if keep else out


def start_angle_deg(record, task) -> float:
    """Start angle of an episode's pole, in degrees from hanging down (0..180)."""
    start = np.array([float(v) for v in record.start_obs.split()])
    theta = start[task.spec.angle_indices[0]]
    return float(abs(math.degrees(math.atan2(math.sin(theta), math.cos(theta)))))


def angle_report(records, task) -> list[dict]:
    """Mean return of the MPC episodes per start-angle bin (the hidden-start-angle report)."""
    rows = []
    for lo, hi in ANGLE_BINS:
        sel = [r for r in records if r.kind == "mpc" and lo <= start_angle_deg(r, task) < hi]
        rows.append({"bin_deg": [lo, min(hi, 180)], "episodes": len(sel),
                     "mean_return": float(np.mean([r.episode_return for r in sel])) if sel else None,
                     "returns": [r.episode_return for r in sel]})
    return rows


def _hanging_task(task: str, params):
    from mbrl_ros.tasks import make_task

    return make_task(task, {**params.section(task), "start_angle_range": 0.0})


def evaluate_hanging(result, task: str, params, episodes: int, seed: int) -> list[float]:
    """Returns of the trained run's planner (terminal value and proposals included) from hanging down."""
    from mbrl_ros.learning.loop import run_episode

    hanging = _hanging_task(task, params)
    repeat = int(params.section("learning").get("action_repeat", 1))
    returns = []
    for k in range(episodes):
        result.planner.reset()

        def act(obs):
            plan = result.planner.plan(obs)
            result.planner.shift()
            return plan.actions[0].cpu().numpy()

        returns.append(run_episode(hanging, 900_000 + 1000 * seed + k, act, action_repeat=repeat))
    return returns


def value_head_overhead(result, task: str, params, plans: int = 40) -> dict | None:
    """Plan time of the trained planner with its value head (terminal value + actor proposals) and
    without it (same model, same states, alternating), in ms; None without a value head."""
    planner, objective = result.planner, result.planner.objective
    if objective.terminal_value is None:
        return None
    hanging = _hanging_task(task, params)
    obs, _ = hanging.reset(seed=12345)
    states = [obs]
    for _ in range(plans - 1):
        obs, *_ = hanging.step(np.asarray(hanging.spec.action_high) * np.sign(np.sin(len(states) / 5)))
        states.append(obs)
    value, proposals, discount = objective.terminal_value, planner.proposal_fn, objective.discount
    times = {"with": [], "without": []}
    for state in states:
        for mode in ("with", "without"):
            on = mode == "with"
            objective.terminal_value, planner.proposal_fn = (value, proposals) if on else (None, None)
            objective.discount = discount if on else 1.0
            planner.reset()
            times[mode].append(planner.plan(state).seconds)
    objective.terminal_value, planner.proposal_fn, objective.discount = value, proposals, discount
    with_ms, without_ms = (float(np.median(times[m]) * 1e3) for m in ("with", "without"))
    return {"plans": plans, "median_ms_with": with_ms, "median_ms_without": without_ms,
            "ratio": with_ms / without_ms}


def best_achievable(task: str, planner: str, seeds, overrides, threads: int) -> list[float]:
    """Sparse return from hanging down of the oracle planner optimizing the dense twin's reward."""
    from mbrl_ros.learning.loop import RepeatedActionModel, run_episode
    from mbrl_ros.models.oracle import OracleModel
    from mbrl_ros.planning import TrajectoryObjective, make_planner
    from mbrl_ros.tasks import make_task

    params = resolve_run_parameters(task, planner, "oracle", overrides=overrides)
    sparse = _hanging_task(task, params)
    dense_name = DENSE_TWIN[task]
    dense_cls = type(make_task(dense_name)).Config
    shared = {k: v for k, v in params.section(task).items()
              if k in {f.name for f in dense_cls.__dataclass_fields__.values()} and k != "cost_weights"}
    shared.update(control_period=sparse.spec.control_period, episode_length=sparse.spec.episode_length)
    dense = make_task(dense_name, shared)
    learning = params.section("learning")
    repeat = int(learning.get("action_repeat", 1))
    returns = []
    for seed in seeds:
        torch.manual_seed(seed)
        objective = TrajectoryObjective(RepeatedActionModel(OracleModel(sparse), repeat), dense.reward)
        mpc = make_planner(planner, params.section(planner), action_low=sparse.spec.action_low,
                           action_high=sparse.spec.action_high, horizon=int(learning.get("horizon", 20)),
                           objective=objective, seed=seed)

        def act(obs):
            plan = mpc.plan(obs)
            mpc.shift()
            return plan.actions[0].cpu().numpy()

        returns.append(run_episode(sparse, 900_000 + 1000 * seed, act, action_repeat=repeat))
    return returns


_BACKEND_WORDS = {"onnx": "onnxruntime fused graph", "onnx_step": "onnxruntime per step", "torch": "torch",
                  "compiled": "torch.compile fused rollout (Inductor)"}


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
    parser.add_argument("--reference", choices=("oracle", "best_achievable"), default="oracle",
                        help="what --fraction is of: the oracle planner's return on the task, or (sparse tasks) "
                             "the best achievable return from hanging down")
    parser.add_argument("--eval-hanging", type=int, default=0,
                        help="after training, episodes of the final planner started hanging down (sparse tasks)")
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
            if args.reference == "best_achievable":
                oracle = best_achievable(task, planner, args.seeds, args.param, args.threads)
                print(f"{task:18s} {planner:16s} best achievable from hanging down (oracle on the dense "
                      f"twin's reward): " + " ".join(f"{r:7.1f}" for r in oracle), flush=True)
            else:
                oracle = [r for s in args.seeds
                          for r in run(task, planner, "oracle", s, args.oracle_episodes, args.threads,
                                       args.param)[0]]
            oracle_mean = float(np.mean(oracle))
            curves, steps, per_seed = [], None, []
            for seed in args.seeds:
                returns, steps, records, result, params = run(task, planner, "pets_ensemble", seed, args.episodes,
                                                              args.threads, args.param, keep=True)
                curves.append(returns)
                print(f"{task:18s} {planner:16s} seed {seed}: " + " ".join(f"{r:7.1f}" for r in returns),
                      flush=True)
                seed_row = {"seed": seed, "returns": returns, "env_returns": [r.env_return for r in records],
                            "plan_ms_median": [r.plan_ms_median for r in records],
                            "value_seconds": [r.value_seconds for r in records],
                            "train_seconds": [r.train_seconds for r in records]}
                if hasattr(getattr(result.task, "config", None), "start_angle_range"):
                    seed_row["start_deg"] = [start_angle_deg(r, result.task) for r in records]
                    seed_row["by_start_angle"] = angle_report(records, result.task)
                    print(f"{task:18s} seed {seed} by start angle: " + "; ".join(
                        f"{b['bin_deg'][0]}-{b['bin_deg'][1]} deg: " +
                        ("-" if b["mean_return"] is None else f"{b['mean_return']:.1f} (n={b['episodes']})")
                        for b in seed_row["by_start_angle"]), flush=True)
                if seed == args.seeds[0]:
                    overhead = value_head_overhead(result, task, params)
                    if overhead is not None:
                        seed_row["value_head_overhead"] = overhead
                        print(f"{task:18s} seed {seed} plan time median with value head "
                              f"{overhead['median_ms_with']:.1f} ms, without {overhead['median_ms_without']:.1f} ms "
                              f"(x{overhead['ratio']:.2f}, {overhead['plans']} plans each, same model and states)",
                              flush=True)
                if args.eval_hanging:
                    seed_row["hanging_returns"] = evaluate_hanging(result, task, params, args.eval_hanging, seed)
                    print(f"{task:18s} seed {seed} from hanging down after {steps[-1]} env steps: "
                          + " ".join(f"{r:7.1f}" for r in seed_row["hanging_returns"])
                          + f" ({np.mean(seed_row['hanging_returns']) / oracle_mean:.1%} of the reference "
                            f"{oracle_mean:.1f})", flush=True)
                per_seed.append(seed_row)
            mean_curve = np.mean(curves, axis=0)
            target = args.fraction * oracle_mean
            reached = next((int(s) for s, r in zip(steps, mean_curve) if r >= target), None)
            reached_episode = next((i + 1 for i, r in enumerate(mean_curve) if r >= target), None)
            row = {"task": task, "planner": planner, "seeds": args.seeds, "oracle_returns": oracle,
                   "oracle_mean": oracle_mean, "target": target, "mean_curve": mean_curve.tolist(),
                   "env_steps": steps, "steps_to_target": reached, "episodes_to_target": reached_episode,
                   "best_mean_return_ratio": float(mean_curve.max() / oracle_mean), "seconds": time.perf_counter() - t0,
                   "reference": args.reference, "overrides": args.param, "per_seed": per_seed}
            if args.eval_hanging:
                hanging = [np.mean(r["hanging_returns"]) for r in per_seed]
                row["hanging_mean_ratio_per_seed"] = [float(h / oracle_mean) for h in hanging]
                print(f"{task:18s} {planner:16s} from hanging down: per-seed mean / reference "
                      + " ".join(f"{h / oracle_mean:.3f}" for h in hanging), flush=True)
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
