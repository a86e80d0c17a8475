"""Model carry-over: start learning (or planning) from a model trained elsewhere.

A ``model.npz`` written by ``mbrl-ros train``, ``mbrl-ros train-from-bag`` or
``model_learner``'s ``model_path`` can be handed to ``model_learner`` and
``mpc_planner`` (``initial_model:=<file>``) or to ``mbrl-ros train --initial-model``.
:func:`load_initial_model` refuses a file that is missing, malformed, untrained, or
made for another task (task name, observation/action sizes, angle entries), with an
:class:`InitialModelError` (a :class:`~mbrl_ros.config.ConfigError`: a node exits
with code 2, the CLI with 2, both with one line that names the file).

Fine-tuning rule (sim vs real data): **real data replaces sim data; the sim model
is the prior.** A model file carries weights, never data, so on the robot the
learner trains on robot transitions only, starting from the carried weights (not
from a fresh initialization), and keeps the carried input/target normalization
(``fit(..., refit_normalizers=False)``): the first retrains on one episode of
robot data move the sim model instead of re-scaling its inputs under it. Early
stopping on a holdout of the robot data decides how far each retrain moves it.
No random seed episode is needed: the carried model plans from the first state.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mbrl_ros.config import ConfigError
from mbrl_ros.learning.model_payload import ModelRejectedError, decode_model
from mbrl_ros.models.ensemble import EnsembleDynamics
from mbrl_ros.tasks.base import TaskSpec


class InitialModelError(ConfigError):
    """An ``initial_model`` file cannot be used for this task."""


def load_initial_model(path: str | Path, spec: TaskSpec, *, model: str | None = None,
                       device: torch.device | str = "cpu", probe_obs: np.ndarray | None = None) -> EnsembleDynamics:
    """Load and check a carried-over model for ``spec``'s task.

    Args:
        path: the ``.npz`` file.
        spec: the task it must fit.
        model: registered model the caller learns (``pets_ensemble`` or
            ``deterministic_ensemble``); None: any ensemble.
        device: torch device.
        probe_obs: ``(O,)`` state for the finite-prediction check (None: zeros).
    Raises:
        InitialModelError: missing/unreadable file, not an ensemble, another task or model kind.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InitialModelError(f"initial_model {path}: cannot read the file ({exc.strerror or exc})") from None
    try:
        loaded = decode_model(data, spec, probe_obs, device=device)
    except ModelRejectedError as exc:
        raise InitialModelError(f"initial_model {path}: refused ({exc.reason}): {exc}") from None
    if model is not None:
        kind = "pets_ensemble" if loaded.probabilistic else "deterministic_ensemble"
        if kind != model:
            raise InitialModelError(f"initial_model {path}: is a {kind}, the learner trains a {model} "
                                    f"(set model:={kind})")
    return loaded


def carried_metadata(model: EnsembleDynamics, path: str | Path) -> dict:
    """Metadata that says where a fine-tuned model started (kept in every later version)."""
    extra = dict(model.extra_metadata)
    return {"initial_model": str(path), "initial_model_task": extra.get("task"),
            "initial_model_version": extra.get("version"), "initial_model_source": extra.get("source")}
