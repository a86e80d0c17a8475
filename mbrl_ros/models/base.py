"""What planners need from a model (batched open-loop rollouts) and what a learning loop needs
from a model it trains (fit on transitions, serialize)."""
from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
import torch

from mbrl_ros.atomic_file import atomic_write

if TYPE_CHECKING:
    from mbrl_ros.models.training import FitReport


class RolloutModel(abc.ABC):
    """Predicts observation trajectories for a batch of action sequences.

    Planners only see this interface, so a learned ensemble, an analytic model
    and the true simulator (the oracle) are interchangeable.
    """

    #: Trajectories predicted per action sequence (particles); 1 for deterministic models.
    num_particles: int = 1

    @abc.abstractmethod
    def rollout(self, obs: torch.Tensor, actions: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Predict where each action sequence leads.

        Args:
            obs: start observation, shape ``(O,)``.
            actions: ``(N, H, A)`` action sequences.
            generator: random source for sampled propagation (None: torch's default).
        Returns:
            ``(N, P, H, O)`` predicted observations after each action, ``P = num_particles``.
        """

    def returns(self, obs: torch.Tensor, actions: torch.Tensor, reward_fn,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean predicted return ``(N,)`` of ``actions (N, H, A)`` from ``obs (O,)`` (may hold NaN/inf).

        ``mean_p sum_h reward(o[n,p,h], a[n,h], o[n,p,h+1])`` with ``o[.,.,0] = obs``. This default
        rolls out and scores the trajectory; a model with a faster fused path (one graph for
        rollout and reward) overrides it with the same semantics and random stream.
        """
        n = actions.shape[0]
        traj = self.rollout(obs, actions, generator=generator)  # (N, P, H, O)
        particles = traj.shape[1]
        start = obs.to(traj.dtype).reshape(1, 1, 1, -1).expand(n, particles, 1, -1)
        before = torch.cat([start, traj[:, :, :-1]], dim=2)
        acts = actions.to(traj.dtype).unsqueeze(1).expand(-1, particles, -1, -1)
        return reward_fn(before, acts, traj).sum(-1).mean(-1)


class LearnedModel(RolloutModel):
    """A :class:`RolloutModel` learned from transitions: the learning loop, the learner node and
    the CLI train it with :meth:`fit` and ship or store it with :meth:`to_bytes` / :meth:`save`.

    A model that is not a ``LearnedModel`` (the oracle, a fixed :class:`~mbrl_ros.models.linear.LinearModel`)
    is planned with as it is: no seed episodes, no retraining, no model file.

    Attributes:
        trained: whether :meth:`fit` ran (or a trained model was loaded); planning needs it.
        extra_metadata: JSON-serializable metadata that travels with the weights.
    """

    trained: bool = False
    extra_metadata: dict

    @abc.abstractmethod
    def fit(self, obs: np.ndarray | torch.Tensor, action: np.ndarray | torch.Tensor,
            next_obs: np.ndarray | torch.Tensor, *, seed: int = 0, max_epochs: int | None = None,
            should_stop: Callable[[], bool] | None = None, refit_normalizers: bool = True) -> "FitReport":
        """Train on transitions ``obs (N, O)``, ``action (N, A)``, ``next_obs (N, O)``, continuing
        from the current weights.

        Args:
            seed: shuffling / bootstrap seed.
            max_epochs: overrides the configured epoch limit for this call.
            should_stop: asked during training; True abandons it and leaves the model as before
                the call (raising :class:`~mbrl_ros.models.training.TrainingCancelled`).
            refit_normalizers: refit the input/target standardization to this data.
        """

    @abc.abstractmethod
    def metadata(self) -> dict:
        """JSON-serializable description of the model (format, sizes, config, ``trained``)."""

    @abc.abstractmethod
    def to_bytes(self, extra_metadata: Mapping | None = None) -> bytes:
        """The weights and :meth:`metadata` (plus ``extra_metadata``) as bytes, without pickle."""

    def save(self, path: str | Path, extra_metadata: Mapping | None = None) -> Path:
        """Write :meth:`to_bytes` to ``path`` atomically (:func:`mbrl_ros.atomic_file.atomic_write`)."""
        return atomic_write(path, self.to_bytes(extra_metadata))
