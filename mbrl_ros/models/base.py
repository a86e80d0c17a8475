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
