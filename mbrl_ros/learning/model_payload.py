"""Learned models on ``/mbrl/model``: what the learner sends and what the planner accepts.

A model travels as ``std_msgs/UInt8MultiArray`` holding
:meth:`EnsembleDynamics.to_bytes` (an ``.npz`` archive, no pickle) with
``extra_metadata = {"version": n, "task": name, "episodes": e, "transitions": N,
"metrics": {...}}``. The topic is latched (reliable, transient-local, depth 1),
so a planner that starts late still gets the newest model.

:func:`decode_model` is the planner's gate: a model is swapped in only if it
decodes, fits the task (observation and action sizes, angle entries, task name),
has finite weights and predicts finite trajectories from a probe state.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from mbrl_ros.models.ensemble import EnsembleDynamics, ModelFormatError
from mbrl_ros.tasks.base import TaskSpec


class ModelRejectedError(ValueError):
    """A received model was not swapped in; ``reason`` is a short key for counters."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def encode_model(model: EnsembleDynamics, *, version: int, task: str, episodes: int, transitions: int,
                 metrics: Mapping[str, Any]) -> bytes:
    """Serialize ``model`` with the metadata the planner and tools read."""
    return model.to_bytes(extra_metadata={"version": int(version), "task": task, "episodes": int(episodes),
                                          "transitions": int(transitions), "metrics": dict(metrics)})


def decode_model(data: bytes, spec: TaskSpec, probe_obs: np.ndarray | None = None, *,
                 probe_sequences: int = 16, seed: int = 0,
                 device: torch.device | str = "cpu") -> EnsembleDynamics:
    """Decode and check a model for ``spec``'s task.

    Args:
        data: the message payload.
        spec: the planner's task.
        probe_obs: ``(O,)`` state to roll out from (e.g. the newest one); None: zeros.
        probe_sequences: random action sequences rolled out for the finiteness check.
        seed: seed of the probe actions.
        device: torch device the model is loaded onto.
    Raises:
        ModelRejectedError: reasons ``decode``, ``dims``, ``task``, ``untrained``, ``non_finite``.
    """
    try:
        model = EnsembleDynamics.from_bytes(data, device=device)
    except (ModelFormatError, ValueError, KeyError, TypeError) as exc:
        raise ModelRejectedError("decode", f"cannot decode the model: {exc}") from None
    if (model.obs_dim, model.act_dim) != (spec.obs_dim, spec.act_dim):
        raise ModelRejectedError("dims", f"model maps obs {model.obs_dim} / actions {model.act_dim}, the task "
                                         f"{spec.name} has {spec.obs_dim} / {spec.act_dim}")
    task = model.extra_metadata.get("task")
    if task is not None and task != spec.name:
        raise ModelRejectedError("task", f"model was learned on task {task!r}, not {spec.name!r}")
    if tuple(model.angle_indices) != tuple(spec.angle_indices):
        raise ModelRejectedError("task", f"model treats entries {list(model.angle_indices)} as angles, the task "
                                         f"{list(spec.angle_indices)}")
    if not model.trained:
        raise ModelRejectedError("untrained", "model was never trained")
    for name, value in model.state_dict().items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ModelRejectedError("non_finite", f"model weights {name} contain NaN or inf")
    obs = np.zeros(spec.obs_dim) if probe_obs is None else np.asarray(probe_obs, dtype=np.float64)
    generator = torch.Generator(device=model.device).manual_seed(seed)
    low, high = spec.action_bounds(model.device)
    horizon = 10
    actions = low + (high - low) * torch.rand(probe_sequences, horizon, spec.act_dim, generator=generator,
                                              device=model.device)
    trajectories = model.rollout(torch.as_tensor(obs, dtype=torch.float32), actions, generator=generator)
    if not bool(torch.isfinite(trajectories).all()):
        raise ModelRejectedError("non_finite", "model predicts NaN or inf from the probe state")
    return model


def model_version(model: EnsembleDynamics) -> int:
    """The ``version`` in a model's metadata (-1 if it has none)."""
    try:
        return int(model.extra_metadata.get("version", -1))
    except (TypeError, ValueError):
        return -1
