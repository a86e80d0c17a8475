"""From a learned model to a checked ONNX policy: MPC expert, DAgger, export, parity, returns.

The pieces of ``mbrl-ros export-policy`` and ``bench/distill_policy.py``, without
ROS: :func:`load_training_run` reads what ``mbrl-ros train`` wrote,
:func:`make_mpc_expert` turns a planner on the learned model into a DAgger expert,
:func:`distill_to_onnx` distills (in simulation), exports and checks parity, and
:func:`evaluate_returns` runs a controller on fixed episode seeds, so the MPC and
the policy are compared on the same starts.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from mbrl_ros.config import from_dict
from mbrl_ros.export.distill import DAggerConfig, DAggerIteration, DistillResult, MPCExpert, distill_policy
from mbrl_ros.export.onnx_policy import check_parity, export_policy_onnx, load_policy_onnx
from mbrl_ros.learning.loop import LearningConfig, run_episode
from mbrl_ros.learning.run_config import RunParameters, resolve_run_parameters
from mbrl_ros.tasks import make_task
from mbrl_ros.tasks.base import Task

#: ONNX Runtime vs torch on this many random observations must agree within PARITY_TOLERANCE.
PARITY_SAMPLES = 10_000
PARITY_TOLERANCE = 1e-5
#: First seed of evaluation episodes: far from the seeds training and DAgger roll-outs use
#: (``seed * 100003 + episode``), so evaluation starts are new to the policy.
EVALUATION_SEED_BASE = 7_000_000


class TrainingRunError(ValueError):
    """A training run directory is missing a file or holds a model that does not fit the task."""


class ParityError(RuntimeError):
    """The exported ONNX policy disagrees with the torch policy beyond the tolerance."""


@dataclasses.dataclass(frozen=True)
class TrainingRun:
    """A learned model and the parameters it was trained with.

    Attributes:
        params: merged run parameters (task, planner, model, sections).
        model: the dynamics model the expert plans through.
        model_file: where it was read from (None for ``oracle``).
    """

    params: RunParameters
    model: Any
    model_file: Path | None


def load_training_run(run_dir: str | Path | None = None, *, model_file: str | Path | None = None,
                      task: str | None = None, planner: str | None = None,
                      params_files: Sequence[str | Path] = (), overrides: Iterable[str] = ()) -> TrainingRun:
    """The parameters and model of a run written by ``mbrl-ros train`` (or given piece by piece).

    Args:
        run_dir: a directory with ``params.yaml`` and ``model.npz`` (None: use the other arguments).
        model_file: an ``.npz`` ensemble (default ``run_dir/model.npz``); with ``model: oracle``
            (``-p model:=oracle``) no file is read and the planner uses the true simulator.
        task, planner: override the run's task and planner.
        params_files, overrides: applied after the run's ``params.yaml`` (``distill.*`` too).
    Raises:
        TrainingRunError: missing files, an unreadable model, or a model for another task.
    """
    from mbrl_ros.models import MODELS
    from mbrl_ros.models.ensemble import EnsembleDynamics, ModelFormatError

    files: list[str | Path] = []
    if run_dir is not None:
        run = Path(run_dir)
        if not run.is_dir():
            raise TrainingRunError(f"training run directory {run} does not exist; pass the --out directory of "
                                   f"`mbrl-ros train`, or --model FILE --task NAME")
        run_params = run / "params.yaml"
        if not run_params.is_file():
            raise TrainingRunError(f"{run} has no params.yaml: it was not written by `mbrl-ros train`; "
                                   f"pass --model FILE --task NAME instead")
        files.append(run_params)
        if model_file is None and (run / "model.npz").is_file():
            model_file = run / "model.npz"
    elif model_file is None and task is None:
        raise TrainingRunError("give a training run directory, or --model FILE with --task NAME")
    params = resolve_run_parameters(task, planner, None, [*files, *params_files], list(overrides))
    spec_task = make_task(params.task, params.section(params.task))
    spec = spec_task.spec
    if model_file is None:
        if params.model != "oracle":
            where = f"{run_dir}/model.npz" if run_dir is not None else "--model"
            raise TrainingRunError(f"no model file: {where} is missing (model {params.model!r} must be "
                                   f"trained first with `mbrl-ros train`; or plan on the true simulator "
                                   f"with -p model:=oracle)")
        model = MODELS.get("oracle")(spec, params.section("oracle"), task=spec_task)
        return TrainingRun(params=params, model=model, model_file=None)
    path = Path(model_file)
    if not path.is_file():
        raise TrainingRunError(f"model file {path} does not exist")
    try:
        model = EnsembleDynamics.load(path)
    except (ModelFormatError, OSError) as exc:
        raise TrainingRunError(f"cannot read model {path}: {exc}") from exc
    if (model.obs_dim, model.act_dim) != (spec.obs_dim, spec.act_dim):
        raise TrainingRunError(f"model {path} maps {model.obs_dim} observations and {model.act_dim} actions, "
                               f"task {spec.name!r} has {spec.obs_dim} and {spec.act_dim}: it was trained on "
                               f"another task; give the run's task (or none: the run's params.yaml names it)")
    if not model.trained:
        raise TrainingRunError(f"model {path} was never trained; run `mbrl-ros train` with >= 2 episodes")
    return TrainingRun(params=params, model=model, model_file=path)


def make_mpc_expert(task: Task, model: Any, planner: str, planner_config: Mapping | None, *, horizon: int,
                    seed: int = 0, deadline_s: float | None = None, label: str = "first",
                    device: str = "cpu") -> MPCExpert:
    """A planner on ``model`` optimizing ``task``'s reward, wrapped as a DAgger expert."""
    import torch

    from mbrl_ros.planning import TrajectoryObjective, make_planner

    spec = task.spec
    objective = TrajectoryObjective(model, task.reward, generator=torch.Generator(device=device).manual_seed(seed),
                                    termination_fn=task.termination_fn, termination_reward=spec.termination_reward)
    mpc = make_planner(planner, planner_config, action_low=spec.action_low, action_high=spec.action_high,
                       horizon=horizon, objective=objective, device=device, seed=seed)
    return MPCExpert(mpc, deadline_s=deadline_s, label=label)


def evaluation_seeds(episodes: int, base: int = EVALUATION_SEED_BASE) -> list[int]:
    """Episode seeds for evaluation (the same list for every controller compared)."""
    return [base + i for i in range(episodes)]


def evaluate_returns(task: Task, act: Callable[[np.ndarray], np.ndarray], seeds: Sequence[int], *,
                     reset: Callable[[], None] | None = None) -> list[float]:
    """Return of one episode of ``act`` per seed; ``reset()`` (a planner's warm start) before each."""
    returns = []
    for seed in seeds:
        if reset is not None:
            reset()
        returns.append(float(run_episode(task, int(seed), act)))
    return returns


@dataclasses.dataclass
class PolicyExport:
    """What :func:`distill_to_onnx` produced.

    Attributes:
        path: the ONNX file.
        parity: max abs difference ONNX Runtime vs torch on :data:`PARITY_SAMPLES` observations.
        result: the DAgger result (torch policy, data set, per-iteration history).
        seconds: wall time of distillation and export.
    """

    path: Path
    parity: float
    result: DistillResult
    seconds: float

    @property
    def history(self) -> list[DAggerIteration]:
        return self.result.history


def dagger_config(params: RunParameters | Mapping[str, Any]) -> DAggerConfig:
    """The ``distill.*`` section of the run parameters as a :class:`DAggerConfig`."""
    section = params.section("distill") if isinstance(params, RunParameters) else dict(params)
    return from_dict(DAggerConfig, section, prefix="distill.")


def distill_to_onnx(expert: MPCExpert, task: Task, out: str | Path, *, config: DAggerConfig, seed: int = 0,
                    metadata: Mapping[str, Any] | None = None, parity_tolerance: float = PARITY_TOLERANCE,
                    precision: str = "float64",
                    on_iteration: Callable[[DAggerIteration], None] | None = None) -> PolicyExport:
    """DAgger from ``expert`` on ``task`` (in simulation), ONNX export with metadata, parity check.

    Raises:
        ParityError: ONNX Runtime and torch differ by more than ``parity_tolerance`` (the file
            is still written, for inspection).
    """
    start = time.perf_counter()
    result = distill_policy(expert, task, config=config, seed=seed, on_iteration=on_iteration)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    final = result.history[-1]
    meta = {"version": 1, "distilled_from": "mpc", "dagger_iterations": config.iterations,
            "dataset_size": int(final.dataset_size), "train_loss": float(final.train_loss), "seed": int(seed),
            **dict(metadata or {})}
    path = export_policy_onnx(result.policy, out, task_spec=task.spec, metadata=meta, precision=precision)
    load_policy_onnx(path, expected_spec=task.spec)  # the checks a robot will run
    parity = check_parity(path, result.policy, n=PARITY_SAMPLES, seed=seed)
    if not parity <= parity_tolerance:
        raise ParityError(f"{path}: ONNX Runtime and torch differ by {parity:.3g} on {PARITY_SAMPLES} observations "
                          f"(tolerance {parity_tolerance:g}); the exporter and the network disagree")
    return PolicyExport(path=path, parity=parity, result=result, seconds=time.perf_counter() - start)


def learning_config(params: RunParameters) -> LearningConfig:
    """The run's ``learning.*`` section (horizon, threads, device)."""
    return from_dict(LearningConfig, params.section("learning"), prefix="learning.")
