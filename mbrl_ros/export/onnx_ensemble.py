"""``.onnx`` files of PETS ensembles and their parity with torch.

:func:`export_ensemble` writes the one-step graph of a trained
:class:`~mbrl_ros.models.ensemble.EnsembleDynamics`
(:func:`~mbrl_ros.models.onnx_backend.ensemble_step_graph`) to a file that
:meth:`~mbrl_ros.models.onnx_backend.OnnxEnsembleModel.load` plans with;
:func:`ensemble_parity` measures how far ONNX Runtime's predictions are from torch's.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from mbrl_ros.atomic_file import atomic_write
from mbrl_ros.models.ensemble import EnsembleDynamics
from mbrl_ros.models.onnx_backend import OnnxEnsembleModel, ensemble_step_graph

if TYPE_CHECKING:  # onnx loads on first export
    import onnx


def export_ensemble(model: EnsembleDynamics, path: str | Path | None = None, *,
                    members: str | Sequence[int] = "elites", opset: int = 17) -> "onnx.ModelProto":
    """The one-step function of ``model`` as an ONNX graph, written to ``path`` when given.

    Args:
        model: a trained (or loaded) ensemble.
        path: also write the model there (atomically) when given.
        members: ``"elites"`` (what planning uses), ``"all"``, or member indices.
        opset: ONNX opset (13 or later).
    Returns:
        The ``onnx.ModelProto``; its ``metadata_props`` describe the model for
        :meth:`~mbrl_ros.models.onnx_backend.OnnxEnsembleModel.load`.
    """
    proto = ensemble_step_graph(model, members=members, opset=opset)
    if path is not None:
        atomic_write(path, proto.SerializeToString())
    return proto


def random_ensemble_inputs(model: EnsembleDynamics, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(obs (n, O), action (n, A))`` spread over twice the training data's std (angles: any value)."""
    rng = np.random.default_rng(seed)
    mean = model.input_norm.mean.detach().cpu().numpy().astype(np.float64)
    std = model.input_norm.std.detach().cpu().numpy().astype(np.float64)
    other = [i for i in range(model.obs_dim) if i not in model.angle_indices]
    obs = np.empty((n, model.obs_dim))
    obs[:, other] = mean[: len(other)] + 2 * std[: len(other)] * rng.standard_normal((n, len(other)))
    obs[:, list(model.angle_indices)] = rng.uniform(-np.pi, np.pi, (n, len(model.angle_indices)))
    act_mean, act_std = mean[-model.act_dim:], std[-model.act_dim:]
    action = act_mean + 2 * act_std * rng.uniform(-1, 1, (n, model.act_dim))
    return obs.astype(np.float32), action.astype(np.float32)


def ensemble_parity(model: EnsembleDynamics, backend: OnnxEnsembleModel, n: int = 10000, *, seed: int = 0,
                    chunk: int = 2500) -> dict[str, float]:
    """Max abs difference of one-step predictions, torch ``predict`` vs ONNX Runtime.

    Args:
        model: the torch ensemble; backend: its export (any subset of members).
        n: random inputs (:func:`random_ensemble_inputs`).
    Returns:
        ``{"mean": max |next_mean diff|, "std": max |std diff|, "n": n}`` in observation units.
    """
    obs, action = random_ensemble_inputs(model, n, seed)
    worst = {"mean": 0.0, "std": 0.0}
    members = torch.tensor(backend.members, dtype=torch.long)
    for begin in range(0, n, chunk):
        o, a = obs[begin:begin + chunk], action[begin:begin + chunk]
        mean_t, var_t = model.predict(torch.from_numpy(o), torch.from_numpy(a))
        mean_t, std_t = mean_t[members].numpy(), var_t[members].sqrt().numpy()
        mean_o, std_o = backend.predict_members(o, a)
        worst["mean"] = max(worst["mean"], float(np.abs(mean_t - mean_o).max()))
        worst["std"] = max(worst["std"], float(np.abs(std_t - std_o).max()))
    return {**worst, "n": n}
