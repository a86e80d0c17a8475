"""Training of dynamics ensembles, kept apart from the model (mbrl-lib's Model / ModelTrainer split).

:class:`EnsembleTrainer` fits an :class:`~mbrl_ros.models.ensemble.EnsembleDynamics` to
transitions: a holdout split, optional bootstrap resamples per member, Adam on the Gaussian
negative log-likelihood with the PETS log-variance bound penalty (MSE for the deterministic
ensemble), early stopping on the holdout MSE with each member's best weights kept, and the
elites chosen on the holdout set (Chua et al., PETS, NeurIPS 2018).
:meth:`EnsembleDynamics.fit <mbrl_ros.models.ensemble.EnsembleDynamics.fit>` delegates here.
"""
from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch.nn import functional as F

if TYPE_CHECKING:  # ensemble.py imports this module
    from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics

#: The :class:`~mbrl_ros.models.ensemble.EnsembleConfig` fields the trainer reads (the rest
#: describe the network and its propagation, which training does not change).
TRAINING_FIELDS = ("learning_rate", "weight_decay", "batch_size", "max_epochs", "patience",
                   "improvement_threshold", "holdout_fraction", "bootstrap", "logvar_bound_weight")


class TrainingCancelled(Exception):
    """``fit`` was told to stop before it finished; the model is as it was before the call."""


@dataclasses.dataclass
class FitReport:
    """What one training call did."""

    epochs: int
    train_loss: float
    holdout_mse: list[float]  # per member, normalized target units
    elites: list[int]
    num_train: int
    num_holdout: int
    seconds: float


_Snapshot = tuple[dict[str, torch.Tensor], bool, bool]


class EnsembleTrainer:
    """Trains one ensemble in place.

    Args:
        model: the ensemble to train (its weights, normalizers, elites and ``trained`` change).
        config: an :class:`~mbrl_ros.models.ensemble.EnsembleConfig` whose
            :data:`TRAINING_FIELDS` are used; None: the model's own config. The member and
            elite counts always come from the model.
    """

    def __init__(self, model: "EnsembleDynamics", config: "EnsembleConfig | None" = None):
        self.model = model
        self.config = config if config is not None else model.config

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Summed over members: mean NLL (or MSE) of normalized targets ``y (E, B, O)`` given
        normalized inputs ``x (E, B, in)``, plus the log-variance bound penalty."""
        model = self.model
        mean, logvar = model.forward_all(x)
        if logvar is None:
            return F.mse_loss(mean, y, reduction="none").mean((1, 2)).sum()
        inv_var = torch.exp(-logvar)
        nll = ((mean - y) ** 2 * inv_var + logvar).mean((1, 2)).sum()
        bound = self.config.logvar_bound_weight * (model.max_logvar.sum() - model.min_logvar.sum())
        return nll + bound

    @torch.no_grad()
    def holdout_mse(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(E,)`` mean squared error of every member on normalized ``x (N, in)``, ``y (N, O)``."""
        model = self.model
        mean, _ = model.forward_all(x.unsqueeze(0).expand(model.config.ensemble_size, -1, -1))
        return ((mean - y) ** 2).mean((1, 2))

    def fit(self, obs: np.ndarray | torch.Tensor, action: np.ndarray | torch.Tensor,
            next_obs: np.ndarray | torch.Tensor, *, seed: int = 0, max_epochs: int | None = None,
            should_stop: Callable[[], bool] | None = None, refit_normalizers: bool = True) -> FitReport:
        """Train on transitions (continuing from the current weights).

        Args:
            obs, action, next_obs: ``(N, O)``, ``(N, A)``, ``(N, O)``; rows with a non-finite entry
                are dropped.
            seed: shuffling / bootstrap seed.
            max_epochs: overrides ``config.max_epochs`` for this call.
            should_stop: asked before every mini-batch (e.g. ``threading.Event.is_set``); when
                it returns True, training is abandoned and the model is put back as it was
                before the call, so a long retrain never delays a shutdown and no half-trained
                model is left behind.
            refit_normalizers: refit the input/target standardization to this data (False:
                keep the current one, for fine-tuning a carried-over model on little data).
        Returns:
            :class:`FitReport` with per-member holdout MSE and the chosen elites.
        Raises:
            TrainingCancelled: ``should_stop`` returned True.
            ValueError: wrong shapes, or fewer than 2 (finite) transitions.
        """
        start = time.perf_counter()
        model, cfg = self.model, self.config
        obs_t = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=model.device)
        act_t = torch.as_tensor(np.asarray(action), dtype=torch.float32, device=model.device)
        nxt_t = torch.as_tensor(np.asarray(next_obs), dtype=torch.float32, device=model.device)
        n = obs_t.shape[0]
        if obs_t.shape != (n, model.obs_dim) or nxt_t.shape != (n, model.obs_dim) or \
                act_t.shape != (n, model.act_dim):
            raise ValueError(f"fit expects obs/next_obs (N, {model.obs_dim}) and action (N, {model.act_dim}); got "
                             f"{tuple(obs_t.shape)}, {tuple(act_t.shape)}, {tuple(nxt_t.shape)}")
        if n < 2:
            raise ValueError("fit needs at least 2 transitions")
        finite = torch.isfinite(obs_t).all(1) & torch.isfinite(act_t).all(1) & torch.isfinite(nxt_t).all(1)
        if not bool(finite.all()):
            obs_t, act_t, nxt_t = obs_t[finite], act_t[finite], nxt_t[finite]
            n = obs_t.shape[0]
            if n < 2:
                raise ValueError("fit: fewer than 2 finite transitions")
        # Taken before the normalizers are refitted: all that a cancelled call must undo.
        before = None if should_stop is None else _snapshot(model)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        x_all = model.model_inputs(obs_t, act_t)
        y_all = nxt_t - obs_t
        order = torch.randperm(n, generator=gen)
        n_hold = int(round(cfg.holdout_fraction * n)) if n >= 10 else 0
        hold_idx, train_idx = order[:n_hold], order[n_hold:]
        if refit_normalizers or not model.trained:
            model.input_norm.fit(x_all[train_idx])
            model.target_norm.fit(y_all[train_idx])
        x_train = model.input_norm.normalize(x_all[train_idx])
        y_train = model.target_norm.normalize(y_all[train_idx])
        x_hold = model.input_norm.normalize(x_all[hold_idx]) if n_hold else x_train
        y_hold = model.target_norm.normalize(y_all[hold_idx]) if n_hold else y_train
        n_train = x_train.shape[0]
        n_members = model.config.ensemble_size
        if cfg.bootstrap:
            sample = torch.randint(n_train, (n_members, n_train), generator=gen)
        else:
            sample = torch.arange(n_train).expand(n_members, -1)

        optim = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        model.weights_changed()
        model.train()
        best = self.holdout_mse(x_hold, y_hold)
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        epochs_without_improvement = 0
        epochs = 0
        last_loss = float("nan")
        batch = min(cfg.batch_size, n_train)
        epoch_limit = max_epochs or cfg.max_epochs
        for epoch in range(epoch_limit):
            epochs = epoch + 1
            shuffle = torch.argsort(torch.rand(n_members, n_train, generator=gen), dim=1)
            idx = torch.gather(sample, 1, shuffle)
            losses = []
            for begin in range(0, n_train, batch):
                if should_stop is not None and should_stop():
                    _restore(model, before)
                    raise TrainingCancelled(f"training stopped in epoch {epochs} of {epoch_limit}; "
                                            "the model is unchanged")
                rows = idx[:, begin:begin + batch]
                loss = self.loss(x_train[rows], y_train[rows])
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                losses.append(float(loss.detach()))
            last_loss = float(np.mean(losses)) / n_members
            mse = self.holdout_mse(x_hold, y_hold)
            improved = (best - mse) / best.clamp_min(1e-12) > cfg.improvement_threshold
            if bool(improved.any()):
                best = torch.where(improved, mse, best)
                state = model.state_dict()
                for name, value in state.items():
                    if value.ndim >= 1 and value.shape[0] == n_members and name.startswith("layers."):
                        best_state[name][improved] = value.detach()[improved]
                epochs_without_improvement = 0
            else:
                epochs_without_improvement += 1
                if epochs_without_improvement >= cfg.patience:
                    break
        # Keep each member's best weights; the shared log-variance bounds stay as trained.
        state = model.state_dict()
        for name, value in best_state.items():
            if name.startswith("layers."):
                state[name].copy_(value)
        model.eval()
        final = self.holdout_mse(x_hold, y_hold)
        model.elites = torch.argsort(final)[: model.config.num_elites].sort().values.to(model.device)
        model.weights_changed()
        model.trained = True
        return FitReport(epochs=epochs, train_loss=last_loss, holdout_mse=[float(v) for v in final],
                         elites=[int(i) for i in model.elites], num_train=n_train, num_holdout=n_hold,
                         seconds=time.perf_counter() - start)


def _snapshot(model: "EnsembleDynamics") -> _Snapshot:
    """Everything ``fit`` changes: weights, normalizers, elites, ``trained`` and the train/eval mode."""
    state = {name: value.detach().clone() for name, value in model.state_dict().items()}
    return state, model.trained, model.training


def _restore(model: "EnsembleDynamics", snapshot: _Snapshot) -> None:
    state, trained, training = snapshot
    model.load_state_dict(state)
    model.trained = trained
    model.train(training)
    model.weights_changed()
