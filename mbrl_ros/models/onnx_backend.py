"""ONNX Runtime planning backend for PETS ensembles: model ``pets_ensemble_onnx``.

:func:`ensemble_step_graph` builds the one-step function of a trained
:class:`~mbrl_ros.models.ensemble.EnsembleDynamics` as an ONNX graph, member
major, with everything the torch model does around its MLPs baked in::

    obs (E, M, O), action (E, M, A)
      -> angle entries as (sin, cos) -> input normalization
      -> per layer: MatMul (E x M x in) @ (E x in x out) + bias, activation
      -> mean | log-variance with the PETS soft bounds
      -> next_mean (E, M, O) = obs + denormalized mean, std (E, M, O) in observation units

``E`` is fixed (the exported members, the elites by default), ``M`` is dynamic.
:class:`OnnxEnsembleModel` runs the same propagation schemes as the torch
model (``ts1``, ``ts_inf``, ``expectation``; Chua et al., PETS, NeurIPS 2018)
through an ``onnxruntime.InferenceSession``, with the sampling noise drawn
from the caller's ``torch.Generator``. The promise is the torch model's
semantics and particle layout; today the draws (``randperm`` for ``ts1``,
``randn`` per step) are also the torch model's calls in its order, so the same
generator seed gives the same trajectories up to float rounding (a test pins
this, so a change to either rollout that breaks it is noticed).

Choosing the backend is choosing the model name: ``model: pets_ensemble_onnx``
builds a :class:`TrainableOnnxEnsemble`, which trains the torch ensemble as
``pets_ensemble`` does (same parameters, same ``.npz`` file) and re-exports it
after every ``fit``; ORT options go in the ``onnx`` sub-namespace::

    model: pets_ensemble_onnx
    pets_ensemble_onnx:
      ensemble_size: 5
      onnx: {intra_op_threads: 1}

Writing the graph to an ``.onnx`` file and checking it against torch is
:mod:`mbrl_ros.export.onnx_ensemble`.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch

from mbrl_ros.atomic_file import atomic_write
from mbrl_ros.config import from_dict, param, to_dict, unflatten
from mbrl_ros.models import MODELS
from mbrl_ros.models.base import LearnedModel, RolloutModel
from mbrl_ros.models.ensemble import PROPAGATIONS, EnsembleConfig, EnsembleDynamics, ModelFormatError
from mbrl_ros.models.ort import IOBoundRun, ort_session
from mbrl_ros.models.training import FitReport

if TYPE_CHECKING:  # onnx loads on first export, not with mbrl_ros.models
    import onnx

FORMAT = "mbrl_ros.ensemble_onnx"
FORMAT_VERSION = 1
INPUTS = ("obs", "action")
OUTPUTS = ("next_mean", "std")


@dataclasses.dataclass(frozen=True)
class OnnxRuntimeConfig:
    """How the ONNX ensemble backend runs (the ``onnx`` namespace of ``pets_ensemble_onnx``)."""

    intra_op_threads: int = param(1, "ONNX Runtime intra-op threads (1: no thread pool)", low=1, high=256)
    allow_spinning: bool = param(False, "idle ORT threads spin-wait: lower latency with >1 thread, but they "
                                        "keep their cores busy between calls")
    opset: int = param(17, "ONNX opset of the exported graph", low=13, high=21)
    cached_batch_sizes: int = param(8, "row counts whose preallocated I/O buffers are kept between rollouts "
                                       "(iCEM uses a few population sizes per plan)", low=1, high=1024)
    fused: bool = param(True, "plan with one ONNX graph per optimizer iteration (the whole horizon, the "
                              "propagation and the task reward: mbrl_ros.models.onnx_rollout) instead of one "
                              "session run per step; trainable ensembles only (a loaded .onnx is per step)")


# -- the graph ---------------------------------------------------------------
def _member_indices(model: EnsembleDynamics, members: str | Sequence[int]) -> list[int]:
    if isinstance(members, str):
        if members == "elites":
            return [int(i) for i in model.elites]
        if members == "all":
            return list(range(model.config.ensemble_size))
        raise ValueError(f"members must be 'elites', 'all' or a list of indices, got {members!r}")
    chosen = [int(i) for i in members]
    if not chosen or any(not 0 <= i < model.config.ensemble_size for i in chosen):
        raise ValueError(f"member indices {chosen} out of range for {model.config.ensemble_size} members")
    return chosen


def ensemble_step_graph(model: EnsembleDynamics, *, members: str | Sequence[int] = "elites",
                        opset: int = 17) -> "onnx.ModelProto":
    """The one-step function of ``model`` as an ONNX graph (see the module docstring).

    Args:
        model: a trained (or loaded) ensemble.
        members: ``"elites"`` (what planning uses), ``"all"``, or member indices.
        opset: ONNX opset (13 or later).
    Returns:
        The ``onnx.ModelProto``; its ``metadata_props`` describe the model for :meth:`OnnxEnsembleModel.load`.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if not model.trained:
        raise RuntimeError("ONNX export: the ensemble has not been trained (call fit) or loaded yet")
    chosen = _member_indices(model, members)
    obs_dim, act_dim, n = model.obs_dim, model.act_dim, len(chosen)
    index = torch.tensor(chosen, dtype=torch.long)
    init: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value) -> str:
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        init.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    # Input encoding: the same column order as EnsembleDynamics.model_inputs.
    if model.angle_indices:
        other = [i for i in range(obs_dim) if i not in model.angle_indices]
        parts = []
        if other:
            parts.append(node("Gather", ["obs", const("other_index", np.array(other, np.int64))], "obs_other",
                              axis=2))
        angles = node("Gather", ["obs", const("angle_index", np.array(model.angle_indices, np.int64))],
                      "angles", axis=2)
        parts += [node("Sin", [angles], "angles_sin"), node("Cos", [angles], "angles_cos")]
        x = node("Concat", parts + ["action"], "raw_inputs", axis=2)
    else:
        x = node("Concat", ["obs", "action"], "raw_inputs", axis=2)
    x = node("Sub", [x, const("input_mean", model.input_norm.mean.float())], "inputs_centered")
    x = node("Div", [x, const("input_std", model.input_norm.std.float())], "inputs_normalized")

    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        weight = layer.weight.detach().float().index_select(0, index)
        bias = layer.bias.detach().float().index_select(0, index)
        x = node("MatMul", [x, const(f"weight_{i}", weight)], f"matmul_{i}")
        x = node("Add", [x, const(f"bias_{i}", bias)], f"layer_{i}")
        if i == last:
            break
        activation = model.config.activation
        if activation == "silu":
            gate = node("Sigmoid", [x], f"sigmoid_{i}")
            x = node("Mul", [x, gate], f"hidden_{i}")
        elif activation == "relu":
            x = node("Relu", [x], f"hidden_{i}")
        elif activation == "tanh":
            x = node("Tanh", [x], f"hidden_{i}")
        else:
            raise ValueError(f"ONNX export: activation {activation!r} has no ONNX mapping")

    scale = const("target_scale", model.target_norm.scale.float())
    if model.probabilistic:
        nodes.append(helper.make_node("Split", [x, const("split_sizes", np.array([obs_dim, obs_dim], np.int64))],
                                      ["mean_normalized", "logvar_raw"], name="split_mean_logvar", axis=2))
        mean = "mean_normalized"
        max_lv = const("max_logvar", model.max_logvar.float())
        min_lv = const("min_logvar", model.min_logvar.float())
        # logvar = max - softplus(max - logvar); logvar = min + softplus(logvar - min)  (PETS soft bounds)
        lv = node("Sub", [max_lv, "logvar_raw"], "logvar_gap_max")
        lv = node("Softplus", [lv], "logvar_softplus_max")
        lv = node("Sub", [max_lv, lv], "logvar_upper_bounded")
        lv = node("Sub", [lv, min_lv], "logvar_gap_min")
        lv = node("Softplus", [lv], "logvar_softplus_min")
        lv = node("Add", [min_lv, lv], "logvar")
        lv = node("Mul", [lv, const("one_half", np.array(0.5, np.float32))], "half_logvar")
        lv = node("Exp", [lv], "std_normalized")
        node("Mul", [lv, scale], "std")
    else:
        mean = x
        node("ConstantOfShape", [node("Shape", [x], "output_shape")], "std",
             value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))
    delta = node("Mul", [mean, scale], "delta_scaled")
    delta = node("Add", [delta, const("target_mean", model.target_norm.mean.float())], "delta")
    node("Add", ["obs", delta], "next_mean")

    graph = helper.make_graph(
        nodes, "mbrl_ros_ensemble_step",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [n, "M", obs_dim]),
         helper.make_tensor_value_info("action", TensorProto.FLOAT, [n, "M", act_dim])],
        [helper.make_tensor_value_info("next_mean", TensorProto.FLOAT, [n, "M", obs_dim]),
         helper.make_tensor_value_info("std", TensorProto.FLOAT, [n, "M", obs_dim])],
        init, doc_string="One step of an mbrl_ros dynamics ensemble, member major (E, M, .).")
    opset_id = helper.make_opsetid("", int(opset))
    proto = helper.make_model(graph, opset_imports=[opset_id], producer_name="mbrl_ros")
    proto.ir_version = helper.find_min_ir_version_for([opset_id])
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "obs_dim": obs_dim, "act_dim": act_dim,
        "members": chosen, "probabilistic": model.probabilistic, "angle_indices": list(model.angle_indices),
        "config": to_dict(model.config), "extra": dict(model.extra_metadata),
    }
    helper.set_model_props(proto, {key: json.dumps(value) for key, value in meta.items()})
    onnx.checker.check_model(proto)
    return proto


# -- inference -------------------------------------------------------------
class _StepBuffers:
    """Preallocated I/O arrays of one row count ``M`` (plus scratch for the propagation)."""

    def __init__(self, session, members: int, rows: int, obs_dim: int, act_dim: int):
        shape = (members, rows, obs_dim)
        self.obs = np.empty(shape, np.float32)
        self.action = np.empty((members, rows, act_dim), np.float32)
        self.next_mean = np.empty(shape, np.float32)
        self.std = np.empty(shape, np.float32)
        self.noise = np.empty(shape, np.float32)
        self.noise_t = torch.from_numpy(self.noise)  # torch fills it in place with the caller's generator
        self.run = IOBoundRun(session, {"obs": self.obs, "action": self.action},
                              {"next_mean": self.next_mean, "std": self.std})
        # ts1 only: the particles in their fixed layout while obs holds them permuted.
        self.state = np.empty((members * rows, obs_dim), np.float32)
        self.perm_t = torch.empty(members * rows, dtype=torch.long)
        self.sequence = np.empty(members * rows, np.int64)


def _float32_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu", torch.float32).numpy()
    return np.ascontiguousarray(value, dtype=np.float32)


def _metadata(proto) -> dict[str, Any]:
    props = {p.key: p.value for p in proto.metadata_props}
    try:
        meta = {key: json.loads(value) for key, value in props.items()}
    except json.JSONDecodeError as exc:
        raise ModelFormatError(f"ONNX ensemble metadata is not JSON: {exc}") from exc
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(
            f"not an mbrl_ros ONNX ensemble of format version {FORMAT_VERSION} (format {meta.get('format')!r}, "
            f"version {meta.get('format_version')!r}); export it again with "
            f"mbrl_ros.export.onnx_ensemble.export_ensemble()")
    missing = {"obs_dim", "act_dim", "members", "probabilistic", "angle_indices", "config"} - set(meta)
    if missing:
        raise ModelFormatError(f"ONNX ensemble metadata lacks {sorted(missing)}; export it again")
    return meta


class OnnxEnsembleModel(RolloutModel):
    """Rollouts of an exported ensemble through ONNX Runtime (CPU).

    Build it with :meth:`from_ensemble`, :meth:`load` or :meth:`from_bytes`.

    Attributes:
        members: indices of the exported members in the source ensemble (``E`` of them).
        propagation, num_particles: as in :class:`~mbrl_ros.models.ensemble.EnsembleConfig`.
    """

    def __init__(self, model: bytes | None = None, runtime: OnnxRuntimeConfig | Mapping | None = None, *,
                 propagation: str | None = None, num_particles: int | None = None):
        self.runtime = (runtime if isinstance(runtime, OnnxRuntimeConfig)
                        else from_dict(OnnxRuntimeConfig, runtime or {}, prefix="onnx."))
        self._propagation_override = propagation
        self._particles_override = num_particles
        self._session = None
        self._buffers: collections.OrderedDict[int, _StepBuffers] = collections.OrderedDict()
        self.onnx_bytes: bytes | None = None
        if model is not None:
            self._install(model)

    @classmethod
    def from_bytes(cls, data: bytes, runtime: OnnxRuntimeConfig | Mapping | None = None,
                   **overrides) -> "OnnxEnsembleModel":
        """From a serialized export; ``overrides``: ``propagation``, ``num_particles``."""
        return cls(data, runtime, **overrides)

    @classmethod
    def load(cls, path: str | Path, runtime: OnnxRuntimeConfig | Mapping | None = None,
             **overrides) -> "OnnxEnsembleModel":
        """From an ``.onnx`` file written by :func:`mbrl_ros.export.onnx_ensemble.export_ensemble`."""
        return cls(Path(path).read_bytes(), runtime, **overrides)

    @classmethod
    def from_ensemble(cls, ensemble: EnsembleDynamics, runtime: OnnxRuntimeConfig | Mapping | None = None,
                      **overrides) -> "OnnxEnsembleModel":
        """Export ``ensemble``'s elites and run them (a snapshot: later training does not reach it)."""
        runtime = (runtime if isinstance(runtime, OnnxRuntimeConfig)
                   else from_dict(OnnxRuntimeConfig, runtime or {}, prefix="onnx."))
        return cls(ensemble_step_graph(ensemble, opset=runtime.opset).SerializeToString(), runtime, **overrides)

    # -- setup ----------------------------------------------------------
    def _install(self, data: bytes) -> None:
        import onnx
        from google.protobuf.message import DecodeError

        try:
            proto = onnx.load_from_string(data)
        except DecodeError as exc:
            raise ModelFormatError(f"not an ONNX model: {exc}") from exc
        meta = _metadata(proto)
        names = ([i.name for i in proto.graph.input], [o.name for o in proto.graph.output])
        if tuple(names[0]) != INPUTS or tuple(names[1]) != OUTPUTS:
            raise ModelFormatError(f"ONNX ensemble has inputs {names[0]} and outputs {names[1]}; expected "
                                   f"{list(INPUTS)} -> {list(OUTPUTS)}")
        config = from_dict(EnsembleConfig, meta["config"])
        propagation = self._propagation_override or config.propagation
        particles = self._particles_override or config.num_particles
        members = [int(i) for i in meta["members"]]
        if propagation not in PROPAGATIONS:
            raise ValueError(f"propagation must be one of {PROPAGATIONS}, got {propagation!r}")
        if propagation != "expectation" and particles % len(members):
            raise ValueError(f"num_particles ({particles}) must be a multiple of the {len(members)} exported "
                             f"members for {propagation} propagation; pass num_particles= (or "
                             f"propagation=) when loading it")
        self.config = config
        self.obs_dim, self.act_dim = int(meta["obs_dim"]), int(meta["act_dim"])
        self.members = members
        self.num_members = len(members)
        self.probabilistic = bool(meta["probabilistic"])
        self.angle_indices = tuple(int(i) for i in meta["angle_indices"])
        self.extra_metadata = dict(meta.get("extra", {}))
        self.propagation = propagation
        self.num_particles = 1 if propagation == "expectation" else int(particles)
        self._session = ort_session(data, intra_op_threads=self.runtime.intra_op_threads,
                                    allow_spinning=self.runtime.allow_spinning)
        self._buffers.clear()
        self.onnx_bytes = bytes(data)

    @property
    def trained(self) -> bool:
        return self._session is not None

    def save_onnx(self, path: str | Path) -> Path:
        """Write the exported ONNX model to ``path`` (atomically)."""
        if self.onnx_bytes is None:
            raise RuntimeError("no ONNX model to save: the ensemble has not been trained or loaded yet")
        return atomic_write(path, self.onnx_bytes)

    def _step_buffers(self, rows: int) -> _StepBuffers:
        buffers = self._buffers.get(rows)
        if buffers is None:
            buffers = _StepBuffers(self._session, self.num_members, rows, self.obs_dim, self.act_dim)
            self._buffers[rows] = buffers
            while len(self._buffers) > self.runtime.cached_batch_sizes:
                self._buffers.popitem(last=False)
        else:
            self._buffers.move_to_end(rows)
        return buffers

    def _require_session(self) -> None:
        if self._session is None:
            raise RuntimeError("the ensemble has not been trained (call fit) or loaded yet")

    # -- one step ------------------------------------------------------
    def predict_members(self, obs, action) -> tuple[np.ndarray, np.ndarray]:
        """One step of every exported member.

        Args:
            obs: ``(M, O)`` (given to every member) or ``(E, M, O)``.
            action: ``(M, A)`` or ``(E, M, A)``.
        Returns:
            ``(next_mean, std)``, each ``(E, M, O)`` float32 in observation units.
        """
        self._require_session()
        obs, action = _float32_numpy(obs), _float32_numpy(action)
        if obs.ndim == 2:
            obs = np.broadcast_to(obs, (self.num_members, *obs.shape))
        if action.ndim == 2:
            action = np.broadcast_to(action, (self.num_members, *action.shape))
        rows = obs.shape[1]
        if obs.shape != (self.num_members, rows, self.obs_dim) or \
                action.shape != (self.num_members, rows, self.act_dim):
            raise ValueError(f"predict_members expects obs (E, M, {self.obs_dim}) and action (E, M, "
                             f"{self.act_dim}) with E = {self.num_members}; got {obs.shape}, {action.shape}")
        feed = {"obs": np.ascontiguousarray(obs), "action": np.ascontiguousarray(action)}
        next_mean, std = self._session.run(list(OUTPUTS), feed)
        return next_mean, std

    # -- planning -------------------------------------------------------
    @torch.no_grad()
    def rollout(self, obs: torch.Tensor, actions: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """``(N, P, H, O)`` trajectories of ``N`` action sequences ``(N, H, A)`` from ``obs (O,)``.

        Same propagation as :meth:`EnsembleDynamics.rollout`: ``ts_inf`` (particle
        ``p = e * k + j`` follows exported member ``e``), ``ts1`` (a random member per
        particle and step), ``expectation`` (one particle: the members' mean). Noise
        comes from ``generator`` (None: torch's default generator). Returns float32 on CPU.
        """
        self._require_session()
        actions_np = _float32_numpy(actions)
        if actions_np.ndim != 3 or actions_np.shape[2] != self.act_dim:
            raise ValueError(f"rollout expects actions (N, H, {self.act_dim}), got {actions_np.shape}")
        start = _float32_numpy(obs).reshape(self.obs_dim)
        n, horizon, _ = actions_np.shape
        if self.propagation == "expectation":
            return torch.from_numpy(self._rollout_expectation(start, actions_np))
        members, dim = self.num_members, self.obs_dim
        per_member = self.num_particles // members
        rows = n * per_member
        buf = self._step_buffers(rows)
        out = np.empty((n, members, per_member, horizon, dim), np.float32)
        out_by_member = out.transpose(1, 0, 2, 3, 4)  # a view: (E, N, k, H, O)
        action_by_particle = buf.action.reshape(members, n, per_member, self.act_dim)
        ts1 = self.propagation == "ts1"
        if ts1:
            state = buf.state
            state[:] = start
            obs_rows = buf.obs.reshape(members * rows, dim)
            action_rows = buf.action.reshape(members * rows, self.act_dim)
        else:
            buf.obs[:] = start
        for h in range(horizon):
            if ts1:
                torch.randperm(members * rows, generator=generator, out=buf.perm_t)
                perm = buf.perm_t.numpy()
                np.take(state, perm, axis=0, out=obs_rows, mode="clip")
                # Row r = e * rows + i * k + j carries sequence i.
                np.remainder(perm, rows, out=buf.sequence)
                np.floor_divide(buf.sequence, per_member, out=buf.sequence)
                np.take(actions_np[:, h], buf.sequence, axis=0, out=action_rows, mode="clip")
            else:
                action_by_particle[:] = actions_np[None, :, None, h]
            buf.run()
            if self.probabilistic:
                torch.randn(buf.noise_t.shape, generator=generator, out=buf.noise_t)
                np.multiply(buf.std, buf.noise, out=buf.noise)
                np.add(buf.next_mean, buf.noise, out=buf.noise if ts1 else buf.obs)
                step = buf.noise
            else:
                if not ts1:
                    buf.obs[:] = buf.next_mean
                step = buf.next_mean
            if ts1:
                state[perm] = step.reshape(members * rows, dim)
                out_by_member[:, :, :, h] = state.reshape(members, n, per_member, dim)
            else:
                out_by_member[:, :, :, h] = buf.obs.reshape(members, n, per_member, dim)
        return torch.from_numpy(out.reshape(n, members * per_member, horizon, dim))

    def _rollout_expectation(self, start: np.ndarray, actions: np.ndarray) -> np.ndarray:
        n, horizon, _ = actions.shape
        buf = self._step_buffers(n)
        out = np.empty((n, 1, horizon, self.obs_dim), np.float32)
        buf.obs[:] = start
        for h in range(horizon):
            buf.action[:] = actions[None, :, h]
            buf.run()
            np.mean(buf.next_mean, axis=0, out=out[:, 0, h])
            buf.obs[:] = out[None, :, 0, h]
        return out


class TrainableOnnxEnsemble(OnnxEnsembleModel, LearnedModel):
    """A torch :class:`EnsembleDynamics` for training, ONNX Runtime for planning (``pets_ensemble_onnx``).

    :meth:`fit` trains the torch ensemble and re-exports its elites; :meth:`save`
    and :meth:`to_bytes` write the torch model's ``.npz`` (loadable by either
    backend); :meth:`save_onnx` writes the ``.onnx`` that planning uses.

    Args:
        ensemble: the torch ensemble (exported now if already trained).
        runtime: :class:`OnnxRuntimeConfig` or a mapping of its fields.
    """

    def __init__(self, ensemble: EnsembleDynamics, runtime: OnnxRuntimeConfig | Mapping | None = None):
        super().__init__(None, runtime)
        self.ensemble = ensemble
        self.config = ensemble.config
        self.obs_dim, self.act_dim = ensemble.obs_dim, ensemble.act_dim
        self.probabilistic = ensemble.probabilistic
        self.angle_indices = ensemble.angle_indices
        self.propagation = ensemble.config.propagation
        self.num_particles = ensemble.num_particles
        self.extra_metadata = ensemble.extra_metadata
        self.members = [int(i) for i in ensemble.elites]
        self.num_members = len(self.members)
        if ensemble.trained:
            self.refresh()

    def refresh(self) -> None:
        """Re-export the torch ensemble's current elites into the ORT session (and the fused graphs in use)."""
        self._install(ensemble_step_graph(self.ensemble, opset=self.runtime.opset).SerializeToString())
        keys = list(getattr(self, "_fused", {}))
        self._fused: dict = {}
        for reward_fn, horizon in keys:
            self.prepare_returns(reward_fn, horizon)

    def prepare_returns(self, reward_fn, horizon: int):
        """Export the fused graph of ``reward_fn`` over ``horizon`` now (it takes about a second), so
        the first plan on a new model does not pay for it; None when the fused path is off or failed."""
        from mbrl_ros.models.onnx_rollout import FusedExportError, fused_for

        if not self.runtime.fused or not self.ensemble.trained:
            return None
        fused_cache = self.__dict__.setdefault("_fused", {})
        key = (reward_fn, int(horizon))
        if key not in fused_cache:
            try:
                fused_cache[key] = fused_for(self.ensemble, reward_fn, int(horizon),
                                             intra_op_threads=self.runtime.intra_op_threads,
                                             allow_spinning=self.runtime.allow_spinning,
                                             cached_batch_sizes=self.runtime.cached_batch_sizes,
                                             opset=self.runtime.opset)
            except FusedExportError as exc:
                warnings.warn(f"{exc}; this model plans with one ORT run per step instead", RuntimeWarning,
                              stacklevel=2)
                fused_cache[key] = None
            while len(fused_cache) > 4:  # a few (reward, horizon) pairs at most: one per planner in use
                fused_cache.pop(next(iter(fused_cache)))
        return fused_cache[key]

    def returns(self, obs, actions, reward_fn, generator=None):
        """The fused graph's returns when ``runtime.fused`` (same random stream as :meth:`rollout`)."""
        fused = self.prepare_returns(reward_fn, actions.shape[1])
        if fused is None:
            return super().returns(obs, actions, reward_fn, generator)
        return fused(obs, actions, generator)

    def fit(self, obs, action, next_obs, **kwargs) -> FitReport:
        """:meth:`EnsembleDynamics.fit`, then :meth:`refresh`."""
        report = self.ensemble.fit(obs, action, next_obs, **kwargs)
        self.refresh()
        return report

    def metadata(self) -> dict:
        return self.ensemble.metadata()

    def to_bytes(self, extra_metadata: Mapping | None = None) -> bytes:
        return self.ensemble.to_bytes(extra_metadata)

    def to_casadi(self):
        """The torch ensemble's mean network in CasADi (``nmpc`` plans on it, not on ORT)."""
        from mbrl_ros.planning.casadi_models import casadi_dynamics

        return casadi_dynamics(self.ensemble)


# -- which backend plans -----------------------------------------------------------
#: ``learning.planning_backend`` values. ``onnx``: the fused graph (one ORT run per optimizer
#: iteration for the whole horizon and the reward, :mod:`mbrl_ros.models.onnx_rollout`);
#: ``onnx_step``: one ORT run per horizon step; ``torch``: torch eager, the reference. ``auto`` is
#: ``onnx`` on the CPU at any thread count: bench/planner_latency.py measured it the fastest for the
#: default 5 x (3x200) ensemble, icem pop 48, H 20 (bench/results/planner_latency_fused.log: fused
#: p50 300 ms vs per step 577 ms vs torch 9042 ms, interleaved, on a host at load ~30).
#: ``compiled``: the fused rollout in torch compiled by Inductor (:mod:`mbrl_ros.models.compiled_rollout`;
#: needs a C++ compiler, compiles in the background and plans eager meanwhile).
PLANNING_BACKENDS = ("auto", "onnx", "onnx_step", "torch", "compiled")
#: ``learning.planning_precision``: the dtype of the hidden layers' matmuls (``compiled`` only).
PLANNING_PRECISIONS = ("float32", "bfloat16")


def resolve_planning_backend(backend: str, *, device: torch.device | str = "cpu", threads: int = 1) -> str:
    """``onnx``, ``onnx_step`` or ``torch``: ``auto`` takes the fused ONNX Runtime graph on the CPU,
    torch elsewhere (``threads`` is kept for callers; the choice no longer depends on it).

    Raises:
        ValueError: an unknown backend, or an ONNX backend on a non-CPU device.
    """
    if backend not in PLANNING_BACKENDS:
        raise ValueError(f"planning_backend must be one of {PLANNING_BACKENDS}, got {backend!r}")
    on_cpu = torch.device(device).type == "cpu"
    if backend == "auto":
        return "onnx" if on_cpu else "torch"
    if (backend.startswith("onnx") or backend == "compiled") and not on_cpu:
        raise ValueError(f"planning_backend {backend} runs on the CPU; the model is on {device!r} "
                         f"(use torch or auto)")
    return backend


def for_planning(model, backend: str = "auto", *, device: torch.device | str = "cpu", threads: int = 1,
                 precision: str = "float32"):
    """``model`` as the planners should run it.

    A torch PETS ensemble (:class:`EnsembleDynamics`, probabilistic) is wrapped in a
    :class:`TrainableOnnxEnsemble` when ``backend`` resolves to ``onnx`` (fused graph) or
    ``onnx_step`` (ORT with ``threads`` intra-op threads); it still trains, saves and serializes as
    the torch model. With ``compiled`` a torch ensemble plans through its compiled fused rollout
    (:meth:`EnsembleDynamics.compile_planning`, its hidden matmuls in ``precision``) and comes back
    itself. Other models (oracle, deterministic ensembles, models already on ORT) come
    back unchanged.
    """
    chosen = resolve_planning_backend(backend, device=device, threads=threads)
    if precision not in PLANNING_PRECISIONS:
        raise ValueError(f"planning_precision must be one of {PLANNING_PRECISIONS}, got {precision!r}")
    if precision != "float32" and chosen != "compiled":
        raise ValueError(f"planning_precision {precision} needs planning_backend compiled (got {chosen})")
    if chosen == "compiled" and isinstance(model, EnsembleDynamics):
        model.compile_planning(precision=precision)
        return model
    if chosen.startswith("onnx") and type(model) is EnsembleDynamics and model.probabilistic:
        return TrainableOnnxEnsemble(model, OnnxRuntimeConfig(intra_op_threads=int(threads),
                                                              fused=chosen == "onnx"))
    return model


def make_onnx_ensemble(spec, config: Mapping | EnsembleConfig | None = None, task=None,
                       device: torch.device | str = "cpu", seed: int = 0) -> TrainableOnnxEnsemble:
    """Registry factory of ``pets_ensemble_onnx``: EnsembleConfig fields plus an ``onnx`` mapping."""
    if torch.device(device).type != "cpu":
        raise ValueError(f"pets_ensemble_onnx plans with ONNX Runtime on the CPU; got device {device!r} "
                         f"(use model pets_ensemble for {device})")
    if isinstance(config, EnsembleConfig):
        ensemble_cfg, runtime = config, {}
    else:
        values = unflatten(dict(config or {}))
        runtime = values.pop("onnx", {})
        ensemble_cfg = from_dict(EnsembleConfig, values)
    ensemble = EnsembleDynamics(spec.obs_dim, spec.act_dim, ensemble_cfg, angle_indices=spec.angle_indices,
                                probabilistic=True, device=device, seed=seed)
    return TrainableOnnxEnsemble(ensemble, from_dict(OnnxRuntimeConfig, runtime, prefix="onnx."))


MODELS.register("pets_ensemble_onnx", make_onnx_ensemble)
