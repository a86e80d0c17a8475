"""Learned models on ``/mbrl/model``: what the learner sends and what the planner accepts.

A model travels as ``std_msgs/UInt8MultiArray`` holding
:meth:`EnsembleDynamics.to_bytes` (an ``.npz`` archive, no pickle) with
``extra_metadata = {"version": n, "task": name, "episodes": e, "transitions": N,
"metrics": {...}}``. The topic is latched (reliable, transient-local, depth 1),
so a planner that starts late still gets the newest model.

With ``learning.terminal_value`` the learner's critic and actor travel in the same payload,
under the model's version: ``extra_metadata["value"]`` describes the value learner
(:meth:`SacMbpoValueLearner.metadata`: its name, config and own update count) and its arrays
are extra ``.npy`` members named ``attached.value.<name>``, which
:meth:`EnsembleDynamics.from_bytes` ignores. One message, not a second latched topic: a
depth-1 latched topic keeps only its newest sample, and two topics could deliver a model and a
critic of different retrains. Such a payload is still a model file for every reader
(``export-policy``, ``initial_model``).

:func:`decode_model` is the planner's gate: a model is swapped in only if it
decodes, fits the task (observation and action sizes, angle entries, task name),
has finite weights and predicts finite trajectories from a probe state;
:func:`decode_value` then rebuilds the critic, if the payload has one, with its own checks.
"""
from __future__ import annotations

import io
import zipfile
from typing import Any, Callable, Mapping

import numpy as np
import torch

from mbrl_ros.config import ConfigError
from mbrl_ros.models.ensemble import ATTACHED_PREFIX, EnsembleDynamics, ModelFormatError, read_npz_member
from mbrl_ros.registry import UnknownComponentError
from mbrl_ros.tasks.base import TaskSpec

#: Member name prefix of the value learner's arrays in a payload.
VALUE_PREFIX = ATTACHED_PREFIX + "value."


class ModelRejectedError(ValueError):
    """A received model was not swapped in; ``reason`` is a short key for counters."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def encode_model(model: EnsembleDynamics, *, version: int, task: str, episodes: int, transitions: int,
                 metrics: Mapping[str, Any], values: Any = None) -> bytes:
    """Serialize ``model`` with the metadata the planner and tools read, and ``values`` (a value
    learner such as :class:`~mbrl_ros.learning.value.SacMbpoValueLearner`, or None) with it."""
    extra = {"version": int(version), "task": task, "episodes": int(episodes), "transitions": int(transitions),
             "metrics": dict(metrics)}
    return with_values(model, extra, values)


def with_values(model: Any, metadata: Mapping[str, Any], values: Any = None) -> bytes:
    """``model.to_bytes(metadata)`` with ``values``' description in the metadata and its arrays
    attached (``attached.value.*`` members); just the model's bytes when ``values`` is None."""
    extra = dict(metadata)
    if values is not None:
        extra["value"] = values.metadata()
    data = model.to_bytes(extra_metadata=extra)
    if values is None:
        return data
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:  # np.savez's own layout: one stored .npy per array
        for name, array in values.state_arrays().items():
            with archive.open(f"{VALUE_PREFIX}{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def decode_value(data: bytes, model: EnsembleDynamics, spec: TaskSpec, *, reward_fn: Callable,
                 termination_fn: Callable | None = None, probe_obs: np.ndarray | None = None,
                 device: torch.device | str = "cpu") -> Any:
    """The value learner inside a payload whose ``model`` :func:`decode_model` returned, or None
    when the payload has none (a model of a run without ``learning.terminal_value``).

    Args:
        data: the message payload.
        model: its decoded model (its metadata says whether a critic is there).
        spec: the planner's task; reward_fn, termination_fn: its batched reward and termination.
        probe_obs: ``(O,)`` state whose value must be finite; None: zeros.
        device: torch device the networks are loaded onto.
    Raises:
        ModelRejectedError: reason ``value`` (undecodable, another task's sizes, non-finite).
    """
    meta = model.extra_metadata.get("value")
    if meta is None:
        return None
    from mbrl_ros.learning.value import make_value_learner

    try:
        if (meta["obs_dim"], meta["act_dim"]) != (spec.obs_dim, spec.act_dim):
            raise ValueError(f"it maps obs {meta['obs_dim']} / actions {meta['act_dim']}, the task "
                             f"{spec.name} has {spec.obs_dim} / {spec.act_dim}")
        values = make_value_learner(meta["learner"], meta["config"], spec=spec, reward_fn=reward_fn,
                                    termination_fn=termination_fn, device=device)
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        arrays = {name: np.array(read_npz_member(archive, VALUE_PREFIX + name, shape))
                  for name, shape in values.array_shapes().items()}
        values.load_state_arrays(arrays, trained=bool(meta["trained"]), version=int(meta["version"]))
    except (ConfigError, UnknownComponentError, ModelFormatError, KeyError, ValueError, TypeError, OSError,
            zipfile.BadZipFile) as exc:
        raise ModelRejectedError("value", f"cannot decode the critic: {exc}") from None
    for name, array in arrays.items():
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            raise ModelRejectedError("value", f"critic array {name} contains NaN or inf")
    obs = np.zeros(spec.obs_dim) if probe_obs is None else np.asarray(probe_obs, dtype=np.float64)
    probe = values.terminal_value(torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1))
    if not bool(torch.isfinite(probe).all()):
        raise ModelRejectedError("value", "the critic's value of the probe state is NaN or inf")
    return values


def restore_value(values: Any, data: bytes, model: EnsembleDynamics, task: Any, *,
                   device: torch.device | str = "cpu") -> bool:
    """Load the critic saved in payload ``data`` (of the decoded ``model``) into the value learner
    ``values`` of ``task`` (a resumed run or learner); False when the payload carries none.

    Raises:
        ModelRejectedError: reason ``value`` (see :func:`decode_value`).
    """
    saved = decode_value(data, model, task.spec, reward_fn=task.reward, termination_fn=task.termination_fn,
                         device=device)
    if saved is None:
        return False
    values.load_state_arrays(saved.state_arrays(), trained=saved.trained, version=saved.version)
    return True


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
        ModelRejectedError: reasons ``decode``, ``dims``, ``task``, ``untrained``, ``non_finite``
            (a critic in the payload is checked by :func:`decode_value`).
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
