"""quadrotor_hover learned from scratch online: position RMS error vs flight data, against the oracle.

Runs the PETS loop (``mbrl_ros.learning.loop.run_learning``) on ``quadrotor_hover``
with the parameters of ``config/tasks/quadrotor_hover.yaml`` (plus ``-p``
overrides): seed episode(s) of exploration around the hover thrust, then one MPC
episode per model, the model retrained on all the flight data after each episode.
For every episode it prints the flight data collected so far (env steps and
seconds of flight, this episode included), the data the model that flew it was
trained on, the return, and the RMS position error (m) over the episode after
``--settle`` seconds (the start is a random offset of up to 0.2 m per axis with
velocity, tilt and spin, so the first second measures recovery, not holding).
The same planner on the true MuJoCo model (``model: oracle``) flies the same
start states for comparison.

The summary gives, per seed and for the mean over seeds, the first MPC episode
whose RMS is below ``--threshold`` (0.1 m) and how much flight data its model had
been trained on.

Example (the numbers in the closing note of issue 4):
    python bench/quadrotor_hover.py --seeds 0 1 2 --episodes 10 --jobs 3
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment_header  # noqa: E402

from mbrl_ros.learning.loop import run_learning  # noqa: E402
from mbrl_ros.learning.run_config import resolve_run_parameters  # noqa: E402
from mbrl_ros.tasks import make_task  # noqa: E402

TASK = "quadrotor_hover"


class EpisodeErrors:
    """Collects the position error of every step; splits it into episodes at each reset."""

    def __init__(self, target: np.ndarray, settle_steps: int):
        self.target = np.asarray(target, dtype=np.float64)
        self.settle_steps = settle_steps
        self._errors: list[float] = []

    def __call__(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> None:
        self._errors.append(float(np.linalg.norm(next_obs[:3] - self.target)))

    def finish_episode(self) -> dict[str, float]:
        """RMS (after the settle time) and largest position error (m) of the episode just flown."""
        errors = np.asarray(self._errors)
        self._errors = []
        held = errors[self.settle_steps:]
        return {"rms": float(np.sqrt(np.mean(held ** 2))) if held.size else float("nan"),
                "max": float(held.max()) if held.size else float("nan"), "steps": int(errors.size)}


def fly(model: str, seed: int, episodes: int, params, args, log) -> list[dict]:
    """One learning run (or oracle run); returns one row per episode."""
    task_cfg = params.section(TASK)
    learning = {**params.section("learning"), "episodes": episodes, "threads": args.threads,
                "plan_deadline": 0.0}
    task = make_task(TASK, task_cfg)
    control_period, episode_length = task.spec.control_period, task.spec.episode_length
    errors = EpisodeErrors(np.asarray(task.config.hover_point), round(args.settle / control_period))
    rows: list[dict] = []
    previous_steps = 0

    def on_episode(record):
        nonlocal previous_steps
        err = errors.finish_episode()
        row = {"seed": seed, "model": model, "episode": record.episode, "kind": record.kind,
               "steps": err["steps"], "crashed": err["steps"] < episode_length,
               "trained_on_steps": previous_steps if record.kind == "mpc" and model != "oracle" else 0,
               "env_steps": record.env_steps, "flight_seconds": record.env_steps * control_period,
               "return": record.episode_return, "rms_m": err["rms"], "max_error_m": err["max"],
               "plan_ms_median": record.plan_ms_median, "train_seconds": record.train_seconds,
               "train_epochs": record.train_epochs, "holdout_mse": record.holdout_mse,
               "episode_seconds": record.episode_seconds}
        row["trained_on_seconds"] = row["trained_on_steps"] * control_period
        row["flight_before_seconds"] = previous_steps * control_period
        previous_steps = record.env_steps
        rows.append(row)
        log(f"{model:13s} seed {seed} ep {record.episode:2d} {record.kind:6s} flight {record.env_steps:5d} steps "
            f"{row['flight_seconds']:6.1f} s (model trained on {row['trained_on_seconds']:5.1f} s) "
            f"return {record.episode_return:9.2f}  RMS {err['rms']:.3f} m  max {err['max']:.3f} m  "
            f"{'crashed after ' + str(err['steps']) + ' steps  ' if row['crashed'] else ''}"
            f"plan {record.plan_ms_median:6.1f} ms  train {record.train_seconds:5.1f} s "
            f"({record.train_epochs} ep)  wall {record.episode_seconds:5.1f} s")

    run_learning(TASK, planner=params.planner, model=model, seed=seed, learning=learning, task_config=task_cfg,
                 planner_config=params.section(params.planner), model_config=params.section(model),
                 on_episode=on_episode, on_transition=errors)
    return rows


def run_seed(seed: int, params, args) -> tuple[list[dict], list[dict], list[str]]:
    """The oracle episode and the learning run of one seed: ``(oracle rows, learned rows, log lines)``."""
    torch.set_num_threads(args.threads)
    lines: list[str] = []

    def log(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    # Episode 0 of the oracle run starts where episode 0 of the learning run starts.
    oracle = [] if args.no_oracle else fly("oracle", seed, 1, params, args, log)
    return oracle, fly(params.model, seed, args.episodes, params, args, log), lines


def first_below(rows: list[dict], threshold: float) -> dict | None:
    """The first full-length (not crashed) MPC row with RMS below ``threshold``, or None."""
    return next((r for r in rows if r["kind"] == "mpc" and not r["crashed"] and r["rms_m"] < threshold), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=6, help="episodes per seed, seed episodes included")
    parser.add_argument("--planner", default=None, help="planner (default: the task config's)")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds at the start of each episode left out of the RMS (recovery from the "
                             "perturbed start)")
    parser.add_argument("--threshold", type=float, default=0.1, help="RMS position error to reach (m)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes")
    parser.add_argument("--no-oracle", action="store_true", help="skip the oracle planner")
    parser.add_argument("-p", "--param", action="append", default=[], help="parameter override name:=value")
    parser.add_argument("--out", default="bench/results/quadrotor_hover",
                        help="output prefix: writes <out>.log and <out>.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log_file = out.with_suffix(".log").open("w")

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    params = resolve_run_parameters(TASK, args.planner, None, overrides=args.param)
    log(environment_header("torch", args.threads))
    log(f"# {' '.join(sys.argv)}")
    log(f"# planner={params.planner} model={params.model} settle={args.settle} s threshold={args.threshold} m "
        f"sources={list(params.sources)} overrides={args.param}")
    t0 = time.perf_counter()
    if args.jobs > 1:  # one process per seed; each is deterministic (1 torch thread, no plan deadline)
        with ProcessPoolExecutor(min(args.jobs, len(args.seeds))) as pool:
            results = list(pool.map(run_seed, args.seeds, [params] * len(args.seeds), [args] * len(args.seeds)))
    else:
        results = [run_seed(seed, params, args) for seed in args.seeds]
    oracle_rows = [row for oracle, _, _ in results for row in oracle]
    learned = {seed: rows for seed, (_, rows, _) in zip(args.seeds, results)}
    for _, _, lines in results:  # the per-episode lines, grouped by seed
        for line in lines:
            log_file.write(line + "\n")

    log("")
    oracle_rms = [r["rms_m"] for r in oracle_rows]
    if oracle_rms:
        log(f"oracle ({params.planner} on the true MuJoCo model) RMS per seed: "
            + " ".join(f"{v:.3f}" for v in oracle_rms) + f"  mean {np.mean(oracle_rms):.3f} m")
    # Episodes end early on a crash, so seeds differ in flight data per episode: the table gives
    # each seed's flight data and RMS ("x" marks a crash; its RMS covers only what was flown).
    log("episode  kind    per seed: flight data before the episode (s) -> RMS (m)        mean RMS (m)")
    mean_rms = []
    for i in range(args.episodes):
        rows = [learned[s][i] for s in args.seeds]
        crashed = any(r["crashed"] for r in rows)
        mean_rms.append(float(np.mean([r["rms_m"] for r in rows])) if not crashed else float("nan"))
        cells = "  ".join(f"{r['flight_before_seconds']:5.1f} -> {r['rms_m']:6.3f}{'x' if r['crashed'] else ' '}"
                          for r in rows)
        log(f"{i:7d}  {rows[0]['kind']:6s}  {cells}   {mean_rms[-1]:7.3f}")
    summary = {"per_seed": {}, "mean": None}
    for seed, rows in learned.items():
        hit = first_below(rows, args.threshold)
        holds = (all(not r["crashed"] and r["rms_m"] < args.threshold for r in rows[hit["episode"]:])
                 if hit else False)
        summary["per_seed"][seed] = (
            {"episode": hit["episode"], "trained_on_steps": hit["trained_on_steps"],
             "trained_on_seconds": hit["trained_on_seconds"], "rms_m": hit["rms_m"],
             "stays_below_after": holds} if hit else None)
        if hit:
            log(f"seed {seed}: RMS {hit['rms_m']:.3f} m < {args.threshold} m first in episode {hit['episode']}, "
                f"model trained on {hit['trained_on_steps']} steps = {hit['trained_on_seconds']:.1f} s of flight"
                f" ({'stays below in every later episode' if holds else 'not below in every later episode'})")
        else:
            log(f"seed {seed}: RMS never below {args.threshold} m without a crash in {args.episodes} episodes")
    mean_hit = next((i for i, v in enumerate(mean_rms) if learned[args.seeds[0]][i]["kind"] == "mpc"
                     and v < args.threshold), None)
    if mean_hit is not None:
        trained = [learned[s][mean_hit]["trained_on_seconds"] for s in args.seeds]
        summary["mean"] = {"episode": mean_hit, "trained_on_seconds_per_seed": trained,
                           "trained_on_seconds_mean": float(np.mean(trained)), "rms_m": mean_rms[mean_hit]}
        log(f"mean over seeds: RMS {mean_rms[mean_hit]:.3f} m < {args.threshold} m (no seed crashing) first in "
            f"episode {mean_hit}, models trained on {np.mean(trained):.1f} s of flight on average "
            f"(per seed {', '.join(f'{t:.1f}' for t in trained)} s)")
    else:
        log(f"mean over seeds: RMS never below {args.threshold} m (no seed crashing) in {args.episodes} episodes")
    report = {"task": TASK, "planner": params.planner, "model": params.model, "seeds": args.seeds,
              "settle_seconds": args.settle, "threshold_m": args.threshold, "overrides": args.param,
              "parameters": {k: params.values.get(k) for k in ("learning", params.planner, params.model, TASK)},
              "oracle": oracle_rows, "oracle_mean_rms_m": float(np.mean(oracle_rms)) if oracle_rms else None,
              "learned": [r for rows in learned.values() for r in rows], "mean_rms_m": mean_rms,
              "summary": summary, "seconds": time.perf_counter() - t0}
    out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    log(f"wrote {out.with_suffix('.json')} ({report['seconds']:.0f} s)")
    log_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
