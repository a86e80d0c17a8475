"""Known linear dynamics ``x' = A x + B u (+ c)``: a nominal model and a test fixture."""
from __future__ import annotations

import numpy as np
import torch

from mbrl_ros.models.base import RolloutModel


class LinearModel(RolloutModel):
    """Deterministic linear rollouts, batched: one matmul per step for all sequences.

    Args:
        A: ``(O, O)`` state matrix; B: ``(O, A)`` input matrix; c: optional ``(O,)`` offset.
    """

    num_particles = 1

    def __init__(self, A, B, c=None, device: torch.device | str = "cpu"):
        self.A = torch.as_tensor(np.asarray(A), dtype=torch.float32, device=device)
        self.B = torch.as_tensor(np.asarray(B), dtype=torch.float32, device=device)
        if self.A.ndim != 2 or self.A.shape[0] != self.A.shape[1] or self.B.shape[0] != self.A.shape[0]:
            raise ValueError(f"LinearModel: A must be (O, O) and B (O, A); got {tuple(self.A.shape)}, "
                             f"{tuple(self.B.shape)}")
        self.c = (torch.zeros(self.A.shape[0], device=device) if c is None
                  else torch.as_tensor(np.asarray(c), dtype=torch.float32, device=device))

    @torch.no_grad()
    def rollout(self, obs, actions, generator=None):
        n, horizon, _ = actions.shape
        x = obs.to(torch.float32).reshape(1, -1).expand(n, -1)
        out = torch.empty(n, 1, horizon, self.A.shape[0], device=self.A.device)
        for h in range(horizon):
            x = x @ self.A.T + actions[:, h].to(torch.float32) @ self.B.T + self.c
            out[:, 0, h] = x
        return out
