"""The sim-to-real experiment (``mbrl-ros sim2real``), in one process, no ROS.

Per seed, on a task with a "real" stand-in profile (``config/randomization/stand_in/``):

1. ``oracle``: the planner on the stand-in's true physics (masses, gains; not its delay
   or noise), ``oracle_episodes`` episodes: the return to reach (90% of its mean);
2. ``scratch``: PETS on the stand-in from scratch (random seed episodes, then MPC), the
   baseline; its episodes are also the held-out real data the model errors use;
3. for each sim variant (``nominal``: the task as configured; ``randomized``: physics
   re-sampled every episode from ``config/randomization/<task>.yaml``): PETS in sim for
   ``sim_episodes``, a last fit on all sim data, then the model on the stand-in: its first
   episode is the zero-shot return, and it is fine-tuned after every episode
   (:mod:`mbrl_ros.learning.initial_model`'s rule) for ``finetune_episodes`` in all.

Reported per run: returns per episode; real episodes to reach 90% of the oracle; model
error on the held-out real data, one-step and ``eval_horizon``-step open loop, of the sim
model (zero-shot), the fine-tuned model and the scratch model; the gap closed by
fine-tuning, ``(final - zero_shot) / (oracle - zero_shot)``.

Model error: mean over observation entries of MSE / variance of that entry in the held-out
data (1.0 = as bad as predicting the data's mean), one step and ``eval_horizon`` steps ahead
(open loop from every ``eval_stride``-th state, the mean over particles).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from mbrl_ros.config import param
from mbrl_ros.learning.loop import LearningConfig, run_learning
from mbrl_ros.models.ensemble import EnsembleDynamics
from mbrl_ros.tasks import make_task
from mbrl_ros.tasks.randomization import with_profile


@dataclasses.dataclass(frozen=True)
class Sim2RealConfig:
    """Budget of one sim-to-real experiment (``sim2real.*``)."""

    sim_episodes: int = param(8, "episodes of PETS in sim per variant (seed episodes included)", low=2,
                              high=10000)
    finetune_episodes: int = param(5, "episodes on the stand-in starting from the sim model (the first is "
                                   "zero-shot)", low=1, high=10000)
    scratch_episodes: int = param(8, "episodes of PETS from scratch on the stand-in (the baseline)", low=2,
                                  high=10000)
    oracle_episodes: int = param(1, "episodes of the planner on the stand-in's true physics", low=0, high=1000)
    variants: list[str] = param(["nominal", "randomized"], "sim models to carry over: nominal (no "
                                "randomization) and/or randomized")
    randomization: str = param("randomized", "training randomization profile (name or YAML path)")
    stand_in: str = param("stand_in", "the real robot's stand-in profile (name or YAML path)")
    eval_horizon: int = param(10, "H of the H-step model error", low=1, high=1000)
    eval_stride: int = param(10, "open-loop starts every this many steps of held-out data", low=1, high=1000)
    target_fraction: float = param(0.9, "fraction of the oracle's return that counts as reached", low=0.0,
                                   high=1.0)


@dataclasses.dataclass
class Phase:
    """One run of the experiment: its returns and, for learned models, errors on real data."""

    name: str  # oracle, scratch, zero_shot/finetune from <variant>, sim/<variant>
    returns: list[float]
    seconds: float
    model_error: dict[str, float] = dataclasses.field(default_factory=dict)
    physics: list[dict] = dataclasses.field(default_factory=list)
    steps: list[int] = dataclasses.field(default_factory=list)  # per episode: fewer than the length = terminated


class EpisodeRecorder:
    """Collects ``(obs, action, next_obs)`` of each episode (``on_transition`` + ``on_episode``)."""

    def __init__(self):
        self.episodes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._current: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def on_transition(self, obs, action, next_obs) -> None:
        self._current.append((np.array(obs), np.array(action), np.array(next_obs)))

    def on_episode(self, _record) -> None:
        if self._current:
            o, a, n = (np.stack(x) for x in zip(*self._current))
            self.episodes.append((o, a, n))
        self._current = []


def model_errors(model, episodes: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], *, horizon: int,
                 stride: int = 10, seed: int = 0) -> dict[str, float]:
    """Normalized one-step and ``horizon``-step errors of ``model`` on held-out episodes (see module doc)."""
    obs = np.concatenate([e[0] for e in episodes])
    nxt = np.concatenate([e[2] for e in episodes])
    var = np.maximum(nxt.var(0), 1e-8)
    gen = torch.Generator().manual_seed(seed)
    one, hstep = [], []
    with torch.no_grad():
        for o, a, n in episodes:
            # Rollouts take one start state each: one-step errors use starts every stride // 2 steps.
            starts = range(0, len(o), max(1, stride // 2))
            for t in starts:
                pred = model.rollout(torch.as_tensor(o[t], dtype=torch.float32),
                                     torch.as_tensor(a[t:t + 1][None], dtype=torch.float32), generator=gen)
                one.append(((pred[0, :, 0].mean(0).numpy() - n[t]) ** 2) / var)
            for t in range(0, len(o) - horizon + 1, stride):
                pred = model.rollout(torch.as_tensor(o[t], dtype=torch.float32),
                                     torch.as_tensor(a[t:t + horizon][None], dtype=torch.float32), generator=gen)
                hstep.append(((pred[0, :, -1].mean(0).numpy() - n[t + horizon - 1]) ** 2) / var)
    return {"one_step": float(np.mean(one)) if one else float("nan"),
            f"{horizon}_step": float(np.mean(hstep)) if hstep else float("nan"),
            "transitions": int(obs.shape[0])}


def target_return(oracle: float, fraction: float) -> float:
    """The return that counts as reaching ``fraction`` of the oracle's, for returns of either sign.

    ``oracle - (1 - fraction) * |oracle|``: 90 of an oracle's 100, and for negative returns (a
    quadrotor's costs) 10% more cost than the oracle's, -22 for -20 (``0.9 * oracle`` would ask
    for less cost than the oracle). NaN when there is no oracle return.
    """
    if not np.isfinite(oracle):
        return float("nan")
    return float(oracle - (1.0 - fraction) * abs(oracle))


def episodes_to_reach(returns: Sequence[float], target: float) -> int | None:
    """1-based count of episodes until the first return >= ``target`` (None: never)."""
    for i, r in enumerate(returns):
        if r >= target:
            return i + 1
    return None


def _copy(model) -> EnsembleDynamics:
    return EnsembleDynamics.from_bytes(model.to_bytes())


def run_sim2real(task_name: str, *, planner: str, seed: int, config: Sim2RealConfig,
                 learning: LearningConfig, task_config: Mapping | None = None, planner_config: Mapping | None = None,
                 model_config: Mapping | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """One seed of the experiment (module docstring); returns a JSON-able summary."""
    task_config = dict(task_config or {})
    common = dict(planner=planner, seed=seed, planner_config=planner_config, model_config=model_config)

    def stand_in(physics: list | None = None):
        on_sample = None if physics is None else (lambda s, v: physics.append({"seed": s, **v}))
        return with_profile(make_task(task_name, task_config), config.stand_in, seed=seed, on_sample=on_sample)

    def episode_line(name):
        steps_before = [0]

        def line(r):
            steps, steps_before[0] = r.env_steps - steps_before[0], r.env_steps
            log(f"[seed {seed}] {name} episode {r.episode} ({r.kind}): return {r.episode_return:.2f} "
                f"after {steps} steps")
        return line

    def steps_of(records) -> list[int]:
        totals = [0] + [r.env_steps for r in records]
        return [b - a for a, b in zip(totals, totals[1:])]

    phases: dict[str, Phase] = {}
    oracle_mean = float("nan")
    if config.oracle_episodes:
        start = time.perf_counter()
        run = run_learning(task_name, model="oracle", task=stand_in(),
                           learning=dataclasses.replace(learning, episodes=config.oracle_episodes),
                           on_episode=episode_line("oracle"), **{**common, "model_config": None})
        phases["oracle"] = Phase("oracle", [r.episode_return for r in run.records], time.perf_counter() - start,
                                 steps=steps_of(run.records))
        oracle_mean = float(np.mean(phases["oracle"].returns))

    start = time.perf_counter()
    real = EpisodeRecorder()
    run = run_learning(task_name, task=stand_in(), learning=dataclasses.replace(learning, episodes=config.scratch_episodes),
                       on_transition=real.on_transition,
                       on_episode=lambda r: (real.on_episode(r), episode_line("scratch")(r)), **common)
    held_out = real.episodes
    phases["scratch"] = Phase("scratch", [r.episode_return for r in run.records], time.perf_counter() - start,
                              model_errors(run.model, held_out, horizon=config.eval_horizon,
                                           stride=config.eval_stride, seed=seed), steps=steps_of(run.records))

    for variant in config.variants:
        if variant not in ("nominal", "randomized"):
            raise ValueError(f"sim2real.variants: unknown variant {variant!r} (nominal, randomized)")
        start = time.perf_counter()
        physics: list[dict] = []
        profile = config.randomization if variant == "randomized" else None
        sim_task = with_profile(make_task(task_name, task_config), profile, seed=seed,
                                on_sample=lambda s, v: physics.append({"seed": s, **v}))
        sim = run_learning(task_name, task=sim_task, learning=dataclasses.replace(learning, episodes=config.sim_episodes),
                           on_episode=episode_line(f"sim/{variant}"), **common)
        # The last sim episode is not trained on by the loop (it ends there); the carried model is.
        sim.model.fit(*sim.data.arrays(), seed=seed + 7919, max_epochs=learning.max_train_epochs or None)
        carried = _copy(sim.model)
        phases[f"sim/{variant}"] = Phase(f"sim/{variant}", [r.episode_return for r in sim.records],
                                         time.perf_counter() - start,
                                         model_errors(carried, held_out, horizon=config.eval_horizon,
                                                      stride=config.eval_stride, seed=seed), physics,
                                         steps_of(sim.records))
        start = time.perf_counter()
        tuned = run_learning(task_name, task=stand_in(), initial_model=carried,
                             learning=dataclasses.replace(learning, episodes=config.finetune_episodes),
                             on_episode=episode_line(f"finetune/{variant}"), **common)
        phases[f"finetune/{variant}"] = Phase(
            f"finetune/{variant}", [r.episode_return for r in tuned.records], time.perf_counter() - start,
            model_errors(tuned.model, held_out, horizon=config.eval_horizon, stride=config.eval_stride, seed=seed),
            steps=steps_of(tuned.records))

    target = target_return(oracle_mean, config.target_fraction)  # either sign: quadrotor returns are costs
    summary: dict[str, Any] = {"task": task_name, "planner": planner, "seed": seed, "oracle_return": oracle_mean,
                               "target_return": target, "phases": {k: dataclasses.asdict(v) for k, v in phases.items()}}
    summary["scratch_episodes_to_target"] = episodes_to_reach(phases["scratch"].returns, target)
    for variant in config.variants:
        returns = phases[f"finetune/{variant}"].returns
        zero_shot = returns[0]
        gap = oracle_mean - zero_shot
        summary[f"{variant}_zero_shot_return"] = zero_shot
        summary[f"{variant}_finetune_episodes_to_target"] = episodes_to_reach(returns, target)
        summary[f"{variant}_gap_closed"] = float((returns[-1] - zero_shot) / gap) if gap > 0 else float("nan")
    return summary


def write_sim2real_report(summaries: Sequence[Mapping[str, Any]], out, title: str):
    """``sim2real.csv`` (one row per seed, phase and episode) and ``sim2real.png`` (mean curves)."""
    import csv
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "sim2real.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["seed", "phase", "episode", "return", "one_step_error", "h_step_error", "oracle_return",
                         "steps"])
        for s in summaries:
            for name, phase in s["phases"].items():
                err = phase["model_error"]
                h_key = next((k for k in err if k.endswith("_step") and k != "one_step"), None)
                steps = phase.get("steps") or []
                for i, r in enumerate(phase["returns"]):
                    writer.writerow([s["seed"], name, i, f"{r:.4f}", err.get("one_step", ""),
                                     err.get(h_key, "") if h_key else "", f"{s['oracle_return']:.4f}",
                                     steps[i] if i < len(steps) else ""])
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    styles = {"scratch": ("tab:gray", "from scratch on the stand-in"),
              "finetune/nominal": ("tab:orange", "sim model (no randomization), fine-tuned"),
              "finetune/randomized": ("tab:blue", "randomized-sim model, fine-tuned")}
    for name, (color, label) in styles.items():
        curves = [s["phases"][name]["returns"] for s in summaries if name in s["phases"]]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        mean = np.mean([c[:n] for c in curves], axis=0)
        ax.plot(np.arange(1, n + 1), mean, "o-", color=color, label=f"{label} (mean of {len(curves)})")
    oracle = [s["oracle_return"] for s in summaries if np.isfinite(s["oracle_return"])]
    if oracle:
        ax.axhline(np.mean(oracle), color="k", ls="--", label="oracle on the stand-in")
        ax.axhline(np.mean([s["target_return"] for s in summaries]), color="k", ls=":", label="90% of the oracle")
    ax.set_xlabel("episodes on the real stand-in")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    png_path = out / "sim2real.png"
    fig.savefig(png_path)
    plt.close(fig)
    return csv_path, png_path
