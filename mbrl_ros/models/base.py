"""What planners need from a model: batched open-loop rollouts."""
from __future__ import annotations

import abc

import torch


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
