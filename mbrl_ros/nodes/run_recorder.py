"""The run directory of a simulated launch: the same files ``mbrl-ros train`` leaves.

``sim_bridge`` owns one :class:`RunRecorder`. It listens on ``/diagnostics`` to the command node
(``mpc_planner`` or ``policy_controller``: plan time p50/p99 over its last plans, deadline misses,
model version) and to ``model_learner`` (each training's epochs, seconds and holdout MSE and the
episode it followed, published right after the training), so each ``progress.csv`` row carries
train's columns (:class:`~mbrl_ros.learning.loop.EpisodeRecord`, in its order) followed by the
launch's own (``missed_steps_total``, ``physics.*``). After the last episode it writes
``progress.csv``, ``learning_curve.png``, ``params.yaml`` (the run parameters sim_bridge was given,
resolved as ``mbrl-ros train`` resolves them, so ``mbrl-ros export-policy`` and ``--params-file``
read it) and ``summary.json``; ``model_learner`` writes ``model.npz`` there (its ``model_path``).

The plan-time columns come from the command node's newest ``/diagnostics`` at the episode's end:
its last 200 plans (one cartpole episode), at most one ``diagnostics_period`` old; NaN when none
with plans came yet (a first MPC episode shorter than that period).
"""
from __future__ import annotations

import dataclasses
import math
import threading
from pathlib import Path
from typing import Any, Mapping

from mbrl_ros.learning.loop import EpisodeRecord
from mbrl_ros.nodes.parameters import SHARED_TOP_LEVEL, parameter_overrides

#: Nodes whose /diagnostics carry the plan times and the model version.
COMMAND_NODES = ("mpc_planner", "policy_controller")
LEARNER_NODE = "model_learner"


def _number(text: str | None) -> float:
    try:
        return float(text) if text is not None else math.nan
    except ValueError:
        return math.nan


class RunRecorder:
    """Collects what the other nodes report and writes the run directory (see the module docstring).

    Args:
        node: the sim_bridge node (subscribes to ``/diagnostics`` on it).
        episodes: episodes in the run.
        episode_length: steps per episode.
    """

    def __init__(self, node: Any, episodes: int, episode_length: int):
        from mbrl_ros.ros.compat import msg

        self._node = node
        self._episodes = episodes
        self._episode_length = episode_length
        self._lock = threading.Lock()
        self._command: dict[str, str] = {}
        self._trainings: dict[int, dict[str, float]] = {}
        self._learner_version = -1
        self._planner_version: int | None = None  # None: no mpc_planner heard from
        self._misses_before = 0.0
        self.step = 0
        self.episode = -1
        self.episode_return = 0.0
        self.waiting_for_learner = False
        node.create_subscription(msg("diagnostic_msgs/msg/DiagnosticArray"), "/diagnostics", self._on_diagnostics, 50)

    def _on_diagnostics(self, message: Any) -> None:
        for status in message.status:
            name = status.name.rsplit("/", 1)[-1]
            if name in COMMAND_NODES:
                values = {kv.key: kv.value for kv in status.values}
                with self._lock:
                    self._command = values
                    if name == "mpc_planner":  # no model_version yet: no model yet
                        # A model it accepted is swapped in at its next plan (model_version_ready).
                        self._planner_version = int(max(_number(values.get("model_version", "-1")),
                                                        _number(values.get("model_version_ready", "-1"))))
            elif name == LEARNER_NODE:
                values = {kv.key: kv.value for kv in status.values}
                if "model_version" in values:
                    with self._lock:
                        self._learner_version = max(self._learner_version, int(_number(values["model_version"])))
                after = values.get("trained_after_episodes")
                if after is None:
                    continue
                with self._lock:
                    self._trainings[int(after) - 1] = {
                        "train_seconds": _number(values.get("train_seconds")),
                        "train_epochs": int(_number(values.get("train_epochs")) or 0),
                        "holdout_mse": _number(values.get("holdout_mse")),
                        # learning.terminal_value: the critic's training after the same episode
                        **({"value_seconds": _number(values["value_seconds"])} if "value_seconds" in values else {})}

    def planner_has_newest_model(self) -> bool:
        """True once mpc_planner reports the learner's newest model (or there is no mpc_planner):
        a lockstep episode then starts on the model trained for it, as in ``mbrl-ros train``,
        instead of on whatever the planner had swapped in by then."""
        with self._lock:
            return self._planner_version is None or self._planner_version >= self._learner_version

    # -- the live progress line ------------------------------------------------------------
    def progress_line(self) -> str:
        """``episode 3/10 step 120/200 return 45.2 plan p99 31.2 ms model v3`` (what is known so far)."""
        with self._lock:
            command = dict(self._command)
        p99 = _number(command.get("plan_ms_p99"))
        parts = [f"episode {self.episode + 1}/{self._episodes}"]
        if self.waiting_for_learner:
            parts[0] += " done"
            parts.append("waiting for model_learner's training")
        else:
            parts.append(f"step {self.step}/{self._episode_length} return {self.episode_return:.1f}")
        if not math.isnan(p99):
            parts.append(f"plan p99 {p99:.1f} ms")
        if "model_version" in command:
            parts.append(f"model v{command['model_version']}")
        return ", ".join(parts)

    # -- rows ---------------------------------------------------------------------------------
    def episode_row(self, episode: int, kind: str, env_steps: int, episode_return: float,
                    episode_seconds: float, start_obs: Any = ()) -> dict[str, Any]:
        """Train's columns for one finished episode (training filled in by :meth:`rows`)."""
        with self._lock:
            command = dict(self._command)
        misses = _number(command.get("deadline_misses"))
        misses = 0.0 if math.isnan(misses) else misses
        planned = kind != "random" and "plan_ms_p99" in command
        row = {"episode": episode, "kind": kind, "env_steps": env_steps, "episode_return": episode_return,
               "plan_ms_median": _number(command.get("plan_ms_median")) if planned else math.nan,
               "plan_ms_p99": _number(command.get("plan_ms_p99")) if planned else math.nan,
               "deadline_misses": int(misses - self._misses_before),
               "train_seconds": 0.0, "train_epochs": 0, "holdout_mse": math.nan,
               "episode_seconds": episode_seconds,
               # sim_bridge's rewards are the task's own step rewards, so the env's return is the return
               "env_return": episode_return, "value_seconds": 0.0,
               "start_obs": " ".join(f"{v:.6g}" for v in start_obs)}
        row = {f.name: row[f.name] for f in dataclasses.fields(EpisodeRecord)}  # train's columns, train's order
        self._misses_before = misses
        return row

    def rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``rows`` with the training that followed each episode (as train's rows have it)."""
        with self._lock:
            trainings = dict(self._trainings)
        return [{**row, **trainings.get(int(row["episode"]), {})} for row in rows]

    # -- the run directory ----------------------------------------------------------------
    def run_parameters(self, task: str) -> dict[str, Any]:
        """The run parameters (task, planner, model, learning.*, their sections) given to the node,
        resolved with the package defaults as ``mbrl-ros train`` resolves them."""
        from mbrl_ros.config import from_dict, merge, to_dict, unflatten
        from mbrl_ros.learning import LearningConfig
        from mbrl_ros.learning.run_config import resolve_run_parameters

        given = unflatten(parameter_overrides(self._node))
        planner = given.get("planner") if isinstance(given.get("planner"), str) else None
        model = given.get("model") if isinstance(given.get("model"), str) else None
        base = resolve_run_parameters(task, planner, model)
        learning = given.get("learning") if isinstance(given.get("learning"), dict) else {}
        value_learner = learning.get("value_learner", "sac_mbpo")  # its section, with learning.terminal_value
        keep = set(SHARED_TOP_LEVEL) | {base.task, base.planner, base.model, str(value_learner)}
        values = merge(base.values, {k: v for k, v in given.items() if k in keep})
        values["task"] = task
        values["learning"] = to_dict(from_dict(LearningConfig, values.get("learning", {}), prefix="learning."))
        return values

    def write(self, out: str | Path, rows: list[dict[str, Any]], title: str, *, task: str, seed: int,
              extra: Mapping[str, Any]) -> list[Path]:
        """Write progress.csv, learning_curve.png, params.yaml and summary.json to ``out``."""
        from mbrl_ros.learning.report import write_learning_curve, write_params_yaml, write_summary

        out = Path(out)
        values = self.run_parameters(task)
        csv_path, png_path = write_learning_curve(self.rows(rows), out, title)
        params_path = write_params_yaml(out, values)
        model_file = out / "model.npz"
        summary_path = write_summary(out, task=task, planner=values["planner"], model=values["model"], seed=seed,
                                     rows=rows, csv=csv_path, curve=png_path,
                                     model_file=model_file if model_file.is_file() else None,
                                     param_sources=[], extra=extra)
        return [csv_path, png_path, params_path, summary_path]

