"""Ensembles of MLP dynamics models: PETS probabilistic ensemble and a deterministic one.

Chua et al., "Deep Reinforcement Learning in a Handful of Trials using
Probabilistic Dynamics Models" (PETS), NeurIPS 2018. Each member predicts the
change of the observation (delta-state target). The probabilistic ensemble
outputs a Gaussian per member (mean and log-variance, with learned soft bounds
on the log-variance) and is trained with the Gaussian negative log-likelihood;
the deterministic ensemble outputs a mean trained with MSE.

All members run in one batched matmul per layer (``torch.baddbmm`` over an
``E x in x out`` weight), never a Python loop over members or samples.
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
import zipfile
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mbrl_ros.config import from_dict, param, to_dict
from mbrl_ros.models import MODELS
from mbrl_ros.models.base import LearnedModel
from mbrl_ros.models.normalizer import Normalizer
from mbrl_ros.models.training import EnsembleTrainer, FitReport

FORMAT_VERSION = 1
#: Members of a model file whose names start with this belong to whoever added them (e.g. a critic
#: trained with the model, :mod:`mbrl_ros.learning.model_payload`); :meth:`EnsembleDynamics.from_bytes`
#: leaves them alone, so such a file stays a model file for every reader.
ATTACHED_PREFIX = "attached."
PROPAGATIONS = ("ts1", "ts_inf", "expectation")
_ACTIVATIONS = {"silu": F.silu, "relu": F.relu, "tanh": torch.tanh}


class ModelFormatError(ValueError):
    """A saved model file is malformed, of another version, or does not fit the task."""


@dataclasses.dataclass(frozen=True)
class EnsembleConfig:
    """Architecture, training and propagation settings of a dynamics ensemble."""

    ensemble_size: int = param(5, "number of members (independently initialized networks)", low=1, high=64)
    num_elites: int = param(5, "members used for planning: the best on the holdout set", low=1, high=64)
    hidden_layers: int = param(3, "hidden layers per member", low=1, high=16)
    hidden_units: int = param(200, "units per hidden layer", low=1, high=4096)
    activation: str = param("silu", "hidden activation", choices=tuple(_ACTIVATIONS))
    learning_rate: float = param(1e-3, "Adam learning rate", low=1e-7, high=1.0)
    weight_decay: float = param(5e-5, "L2 weight decay", low=0.0, high=1.0)
    batch_size: int = param(256, "minibatch size per member", low=1, high=1 << 20)
    max_epochs: int = param(200, "upper bound on epochs per training call", low=1, high=100000)
    patience: int = param(12, "epochs without holdout improvement before stopping", low=1, high=10000)
    improvement_threshold: float = param(0.01, "relative holdout improvement that counts", low=0.0, high=1.0)
    holdout_fraction: float = param(0.1, "fraction of transitions kept for validation", low=0.0, high=0.5)
    bootstrap: bool = param(True, "train each member on a bootstrap resample of the data")
    propagation: str = param("ts_inf", "particle propagation: ts1, ts_inf or expectation",
                             choices=PROPAGATIONS)
    num_particles: int = param(5, "particles per action sequence (a multiple of num_elites for ts_inf/ts1)",
                               low=1, high=1024)
    logvar_bound_weight: float = param(0.01, "weight of the log-variance bound penalty (PETS)",
                                       low=0.0, high=10.0)


class EnsembleLinear(nn.Module):
    """``E`` independent linear layers applied as one batched matmul.

    Input ``(E, N, in)``, output ``(E, N, out)``.
    """

    def __init__(self, ensemble_size: int, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(ensemble_size, 1, out_features))
        bound = 1.0 / math.sqrt(in_features)
        # Truncated normal as in PETS; std 1/(2 sqrt(in)).
        nn.init.trunc_normal_(self.weight, std=bound / 2, a=-bound, b=bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleDynamics(nn.Module, LearnedModel):
    """MLP ensemble predicting ``next_obs - obs`` from ``(obs, action)``.

    Inputs: angles listed in ``angle_indices`` are encoded as ``(sin, cos)``;
    everything is standardized by :class:`Normalizer` fitted on training data.

    Args:
        obs_dim: O, observation size.
        act_dim: A, action size.
        config: :class:`EnsembleConfig`.
        angle_indices: observation entries that are angles (rad).
        probabilistic: Gaussian outputs with NLL (PETS) if True, else mean with MSE.
        device: torch device (CPU by default).
        seed: initialization seed.
    """

    def __init__(self, obs_dim: int, act_dim: int, config: EnsembleConfig | None = None, *,
                 angle_indices: tuple[int, ...] = (), probabilistic: bool = True,
                 device: torch.device | str = "cpu", seed: int = 0):
        super().__init__()
        cfg = config or EnsembleConfig()
        if cfg.num_elites > cfg.ensemble_size:
            raise ValueError(f"num_elites ({cfg.num_elites}) exceeds ensemble_size ({cfg.ensemble_size})")
        if cfg.propagation != "expectation" and cfg.num_particles % cfg.num_elites:
            raise ValueError(
                f"num_particles ({cfg.num_particles}) must be a multiple of num_elites ({cfg.num_elites}) "
                f"for {cfg.propagation} propagation, so every member carries the same number of particles")
        self.config = cfg
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.angle_indices = tuple(int(i) for i in angle_indices)
        self.probabilistic = bool(probabilistic)
        self.device = torch.device(device)
        self.num_particles = 1 if cfg.propagation == "expectation" else cfg.num_particles

        other = [i for i in range(self.obs_dim) if i not in self.angle_indices]
        self.register_buffer("_other_idx", torch.tensor(other, dtype=torch.long), persistent=False)
        self.register_buffer("_angle_idx", torch.tensor(self.angle_indices, dtype=torch.long),
                             persistent=False)
        self.input_dim = len(other) + 2 * len(self.angle_indices) + self.act_dim
        out_dim = 2 * self.obs_dim if self.probabilistic else self.obs_dim

        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        sizes = [self.input_dim] + [cfg.hidden_units] * cfg.hidden_layers + [out_dim]
        self.layers = nn.ModuleList(EnsembleLinear(cfg.ensemble_size, a, b) for a, b in zip(sizes, sizes[1:]))
        torch.random.set_rng_state(gen_state)
        self._act = _ACTIVATIONS[cfg.activation]
        self.max_logvar = nn.Parameter(torch.full((1, 1, self.obs_dim), 0.5))
        self.min_logvar = nn.Parameter(torch.full((1, 1, self.obs_dim), -10.0))
        self.input_norm = Normalizer(self.input_dim)
        self.target_norm = Normalizer(self.obs_dim)
        self.register_buffer("elites", torch.arange(cfg.num_elites, dtype=torch.long))
        self.trained = False
        self.extra_metadata: dict = {}
        self._planning_layers: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._log_target_scale: torch.Tensor | None = None
        self._compiled_returns: dict | None = None  # (reward_fn, horizon) -> CompiledReturns, when enabled
        self._compile_in_background = True
        self._planning_precision = "float32"
        self.to(self.device)

    # -- network --------------------------------------------------------
    def model_inputs(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Raw network inputs ``(..., in)`` from ``obs (..., O)`` and ``action (..., A)``."""
        if not self.angle_indices:
            return torch.cat([obs, action], dim=-1)
        angles = obs.index_select(-1, self._angle_idx)
        return torch.cat([obs.index_select(-1, self._other_idx), torch.sin(angles), torch.cos(angles),
                          action], dim=-1)

    def _forward(self, x: torch.Tensor, layers) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Normalized inputs ``(E, N, in)`` -> normalized delta mean and log-variance ``(E, N, O)``."""
        for weight, bias in layers[:-1]:
            x = self._act(torch.baddbmm(bias, x, weight))
        weight, bias = layers[-1]
        out = torch.baddbmm(bias, x, weight)
        if not self.probabilistic:
            return out, None
        mean, logvar = out[..., : self.obs_dim], out[..., self.obs_dim:]
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return mean, logvar

    def _all_layers(self):
        return [(layer.weight, layer.bias) for layer in self.layers]

    def _elite_layers(self):
        """Elite weights with the normalizers folded in, cached until the weights change.

        Planning runs the network many times per control step, so the input
        standardization is folded into the first layer (``((x - m) / s) W + b =
        x (W / s) + (b - (m / s) W)``) and the target denormalization into the mean
        head of the last layer: each step saves four elementwise passes. ``predict``
        keeps the unfolded path, so tests compare the two.
        """
        if self._planning_layers is None:
            layers = [(w.detach(), b.detach()) for w, b in self._all_layers()]
            if len(self.elites) != self.config.ensemble_size:
                layers = [(w[self.elites].contiguous(), b[self.elites].contiguous()) for w, b in layers]
            inv_std = 1.0 / self.input_norm.std
            w0, b0 = layers[0]
            layers[0] = (w0 * inv_std[None, :, None],
                         b0 - torch.einsum("i,eio->eo", self.input_norm.mean * inv_std, w0).unsqueeze(1))
            o = self.obs_dim
            w_last, b_last = layers[-1]
            scale, shift = self.target_norm.scale, self.target_norm.mean
            layers[-1] = (torch.cat([w_last[..., :o] * scale, w_last[..., o:]], dim=-1).contiguous(),
                          torch.cat([b_last[..., :o] * scale + shift, b_last[..., o:]], dim=-1).contiguous())
            self._planning_layers = layers
            # log(0) = -inf for constant target dimensions: their noise is scaled to exactly 0.
            self._log_target_scale = torch.log(scale)
        return self._planning_layers

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-member prediction of the next observation.

        Args:
            obs: ``(N, O)``; action: ``(N, A)``.
        Returns:
            ``(mean, variance)`` each ``(E, N, O)`` in observation units (variance is 0 for
            the deterministic ensemble).
        """
        x = self.input_norm.normalize(self.model_inputs(obs, action))
        x = x.unsqueeze(0).expand(self.config.ensemble_size, -1, -1)
        mean, logvar = self._forward(x, self._all_layers())
        next_obs = obs + self.target_norm.denormalize(mean)
        if logvar is None:
            return next_obs, torch.zeros_like(next_obs)
        return next_obs, torch.exp(logvar) * self.target_norm.scale ** 2

    # -- planning -------------------------------------------------------
    @torch.no_grad()
    def rollout(self, obs: torch.Tensor, actions: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """``(N, P, H, O)`` trajectories of ``N`` action sequences ``(N, H, A)`` from ``obs (O,)``.

        ``ts_inf``: particle ``p`` follows one elite for the whole horizon; ``ts1``: every
        particle picks a random elite at every step; ``expectation``: one particle per
        sequence, the mean of the elites' means.
        """
        if not self.trained:
            raise RuntimeError("the ensemble has not been trained (call fit) or loaded yet")
        n, horizon, _ = actions.shape
        layers = self._elite_layers()
        n_elite = len(self.elites)
        obs = obs.to(dtype=torch.float32, device=self.device).reshape(1, self.obs_dim)
        actions = actions.to(dtype=torch.float32, device=self.device)
        mode = self.config.propagation
        if mode == "expectation":
            state = obs.expand(n, -1).clone()
            out = torch.empty(n, 1, horizon, self.obs_dim, device=self.device)
            for h in range(horizon):
                x = self.model_inputs(state, actions[:, h])
                mean, _ = self._forward(x.unsqueeze(0).expand(n_elite, -1, -1), layers)
                state += mean.mean(0)
                out[:, 0, h] = state
            return out

        per_member = self.num_particles // n_elite
        rows = n * per_member
        # Layout (E, N, k): member e carries particles e, e+E, ... of every sequence.
        state = obs.expand(n_elite * rows, -1).clone()
        out = torch.empty(n_elite, n, per_member, horizon, self.obs_dim, device=self.device)
        act_rows = actions.unsqueeze(0).unsqueeze(2).expand(n_elite, n, per_member, horizon, self.act_dim)
        act_rows = act_rows.reshape(n_elite * rows, horizon, self.act_dim)
        for h in range(horizon):
            act = act_rows[:, h]
            if mode == "ts1":
                perm = torch.randperm(n_elite * rows, generator=generator, device=self.device)
                inverse = torch.empty_like(perm)
                inverse[perm] = torch.arange(perm.numel(), device=self.device)
                state_in, act = state[perm], act[perm]
            else:
                state_in = state
            x = self.model_inputs(state_in, act).view(n_elite, rows, -1)
            delta, logvar = self._forward(x, layers)  # delta in observation units (folded head)
            if logvar is not None:
                noise = torch.randn(delta.shape, generator=generator, device=self.device)
                std = torch.exp(torch.add(self._log_target_scale, logvar, alpha=0.5))
                delta = torch.addcmul(delta, std, noise)
            delta = delta.reshape(n_elite * rows, self.obs_dim)
            if mode == "ts1":
                delta = delta[inverse]
            state += delta
            out[:, :, :, h] = state.view(n_elite, n, per_member, self.obs_dim)
        return out.permute(1, 0, 2, 3, 4).reshape(n, self.num_particles, horizon, self.obs_dim)

    def compile_planning(self, *, background: bool = True, precision: str = "float32") -> None:
        """Plan through the compiled fused rollout (planning backend ``compiled``,
        :mod:`mbrl_ros.models.compiled_rollout`): :meth:`returns` uses it from now on.

        Args:
            background: compile each new batch size on a worker thread and plan eager meanwhile.
            precision: ``float32``, or ``bfloat16`` for the hidden layers' matmuls (see
                :class:`~mbrl_ros.models.compiled_rollout.CompiledReturns`).
        """
        if self.device.type != "cpu":
            raise ValueError(f"planning_backend compiled runs Inductor's CPU code; the model is on {self.device} "
                             f"(use planning_backend torch)")
        if self._compiled_returns is None or precision != self._planning_precision:
            self._compiled_returns = {}  # (re)built in this precision
        self._compile_in_background = bool(background)
        self._planning_precision = precision

    def adopt_compiled_planning(self, previous) -> int:
        """Take over ``previous``'s compiled planning code (a model this one replaces, of the same
        architecture): its weights are copied in, nothing is traced or compiled again. Without this a
        new model version would re-trace its rollout (seconds of Python holding the interpreter lock).
        Call it from the thread that plans. Returns how many compiled rollouts were taken over."""
        theirs = getattr(previous, "_compiled_returns", None)
        if self._compiled_returns is None or not theirs or previous is self:
            return 0
        taken = 0
        for key, compiled in theirs.items():
            if key in self._compiled_returns or compiled.precision != self._planning_precision:
                continue
            try:
                compiled.adopt(self)
            except ValueError:  # another architecture: this model compiles its own
                continue
            self._compiled_returns[key] = compiled
            taken += 1
        return taken

    def compiled_planning(self) -> list:
        """The :class:`~mbrl_ros.models.compiled_rollout.CompiledReturns` in use (empty: not compiling)."""
        return list((self._compiled_returns or {}).values())

    def returns(self, obs: torch.Tensor, actions: torch.Tensor, reward_fn,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean predicted return ``(N,)`` (:meth:`RolloutModel.returns
        <mbrl_ros.models.base.RolloutModel.returns>`), through the compiled fused rollout after
        :meth:`compile_planning` (same random stream: equal up to float rounding)."""
        if self._compiled_returns is None:
            return super().returns(obs, actions, reward_fn, generator=generator)
        if not self.trained:
            raise RuntimeError("the ensemble has not been trained (call fit) or loaded yet")
        from mbrl_ros.models.compiled_rollout import CompiledReturns

        key = (reward_fn, int(actions.shape[1]))
        compiled = self._compiled_returns.get(key)
        if compiled is None:
            while len(self._compiled_returns) >= 4:  # a few (reward, horizon) pairs: one per planner in use
                self._compiled_returns.pop(next(iter(self._compiled_returns)))
            compiled = self._compiled_returns[key] = CompiledReturns(self, reward_fn, key[1],
                                                                     background=self._compile_in_background,
                                                                     precision=self._planning_precision)
        return compiled(obs.to(device=self.device), actions.to(device=self.device), generator)

    # -- training (mbrl_ros.models.training) -----------------------------
    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every member on normalized inputs ``x (E, N, in)``: normalized delta mean and log-variance
        ``(E, N, O)`` (None for the deterministic ensemble), with gradients (what training fits)."""
        return self._forward(x, self._all_layers())

    def weights_changed(self) -> None:
        """Drop the planning copy of the weights (:meth:`_elite_layers`); call after changing the
        weights, normalizers or elites."""
        self._planning_layers = None

    def fit(self, obs: np.ndarray | torch.Tensor, action: np.ndarray | torch.Tensor,
            next_obs: np.ndarray | torch.Tensor, *, seed: int = 0, max_epochs: int | None = None,
            should_stop: Callable[[], bool] | None = None, refit_normalizers: bool = True) -> FitReport:
        """Train on transitions (continuing from the current weights): :meth:`EnsembleTrainer.fit
        <mbrl_ros.models.training.EnsembleTrainer.fit>` with this model's config.

        Args:
            obs, action, next_obs: ``(N, O)``, ``(N, A)``, ``(N, O)``.
            seed: shuffling / bootstrap seed.
            max_epochs: overrides ``config.max_epochs`` for this call.
            should_stop: asked before every mini-batch; True abandons training and puts the
                model back as it was before the call.
            refit_normalizers: refit the input/target standardization to this data.
        Returns:
            :class:`~mbrl_ros.models.training.FitReport` with per-member holdout MSE and the elites.
        Raises:
            TrainingCancelled: ``should_stop`` returned True.
        """
        return EnsembleTrainer(self).fit(obs, action, next_obs, seed=seed, max_epochs=max_epochs,
                                         should_stop=should_stop, refit_normalizers=refit_normalizers)

    # -- persistence (no pickle) ----------------------------------------
    def metadata(self) -> dict:
        return {
            "format": "mbrl_ros.ensemble", "format_version": FORMAT_VERSION,
            "model": "pets_ensemble" if self.probabilistic else "deterministic_ensemble",
            "obs_dim": self.obs_dim, "act_dim": self.act_dim, "angle_indices": list(self.angle_indices),
            "config": to_dict(self.config), "trained": self.trained,
        }

    def to_bytes(self, extra_metadata: Mapping | None = None) -> bytes:
        """Serialize weights and metadata as an ``.npz`` archive (no pickle).

        ``extra_metadata`` (JSON-serializable: e.g. a version and validation metrics)
        travels with the weights and comes back as ``model.extra_metadata``.
        """
        arrays = {k: v.detach().cpu().numpy() for k, v in self.state_dict().items()}
        meta = {**self.metadata(), "extra": dict(extra_metadata or self.extra_metadata)}
        arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, device: torch.device | str = "cpu") -> "EnsembleDynamics":
        """Inverse of :meth:`to_bytes`; refuses pickled or malformed content.

        Every array's header is checked against the bytes that follow it and against the
        architecture the metadata names before its data are read, so a corrupt or hostile
        payload (truncated, a header claiming terabytes, wrong shapes) is refused with
        :class:`ModelFormatError` instead of being allocated.
        """
        try:
            archive = np.load(io.BytesIO(data), allow_pickle=False)
            meta = json.loads(bytes(read_npz_member(archive, "__metadata__")).decode())
            if meta.get("format") != "mbrl_ros.ensemble" or meta.get("format_version") != FORMAT_VERSION:
                raise ModelFormatError(f"unsupported model format {meta.get('format')!r} "
                                       f"version {meta.get('format_version')!r} (expected {FORMAT_VERSION})")
            model = cls(meta["obs_dim"], meta["act_dim"], from_dict(EnsembleConfig, meta["config"]),
                        angle_indices=tuple(meta["angle_indices"]),
                        probabilistic=meta["model"] == "pets_ensemble", device=device)
            expected = model.state_dict()
            state = {k: torch.from_numpy(np.array(read_npz_member(archive, k, _shape(expected.get(k)))))
                     for k in archive.files if k != "__metadata__" and not k.startswith(ATTACHED_PREFIX)}
        except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise ModelFormatError(f"not an mbrl_ros ensemble file: {exc}") from exc
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelFormatError(f"model weights do not match the stored architecture: {exc}") from exc
        model.trained = bool(meta["trained"])
        model.extra_metadata = dict(meta.get("extra", {}))
        model.weights_changed()
        return model

    @classmethod
    def load(cls, path: str | Path, *, device: torch.device | str = "cpu") -> "EnsembleDynamics":
        return cls.from_bytes(Path(path).read_bytes(), device=device)


def _shape(tensor: torch.Tensor | None) -> tuple[int, ...] | None:
    return None if tensor is None else tuple(tensor.shape)


def read_npz_member(archive, name: str, expected: tuple[int, ...] | None = None) -> np.ndarray:
    """One array of an ``.npz`` (``np.load`` of it, ``allow_pickle=False``), read only after its header
    proved sane (see ``from_bytes``) and, with ``expected``, that it has that shape.

    Raises:
        ModelFormatError: the header claims more data than the archive holds, or another shape.
        KeyError: no such member.
    """
    info = archive.zip.getinfo(f"{name}.npy")
    with archive.zip.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = read_header(member)
        claimed = math.prod(shape) * dtype.itemsize
        if claimed > info.file_size - member.tell():
            raise ModelFormatError(f"array {name} claims {claimed} bytes of data, the archive holds "
                                   f"{info.file_size - member.tell()}")
    if expected is not None and tuple(shape) != tuple(expected):
        raise ModelFormatError(f"array {name} has shape {tuple(shape)}, the architecture needs "
                               f"{tuple(expected)}")
    return archive[name]


def _factory(probabilistic: bool):
    def make(spec, config: Mapping | EnsembleConfig | None = None, task=None, device="cpu", seed: int = 0):
        cfg = config if isinstance(config, EnsembleConfig) else from_dict(EnsembleConfig, config or {})
        return EnsembleDynamics(spec.obs_dim, spec.act_dim, cfg, angle_indices=spec.angle_indices,
                                probabilistic=probabilistic, device=device, seed=seed)
    return make


MODELS.register("pets_ensemble", _factory(True))
MODELS.register("deterministic_ensemble", _factory(False))
