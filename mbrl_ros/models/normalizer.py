"""Per-dimension standardization that survives constant dimensions."""
from __future__ import annotations

import torch
from torch import nn


class Normalizer(nn.Module):
    """Maps ``x`` to ``(x - mean) / std``; dimensions with ``std < min_std`` are constant.

    A constant dimension (e.g. a reacher's target within an episode, or a delta
    that is always 0) would otherwise divide by zero and poison training: it is
    normalized with std 1 and denormalized with scale 0, so a model predicts the
    constant exactly whatever its raw output.
    """

    def __init__(self, dim: int, min_std: float = 1e-6):
        super().__init__()
        self.min_std = float(min_std)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("scale", torch.ones(dim))  # std, or 0 for constant dimensions

    @torch.no_grad()
    def fit(self, data: torch.Tensor) -> None:
        """Fit to ``data`` of shape ``(N, dim)``."""
        if data.ndim != 2 or data.shape[1] != self.mean.shape[0]:
            raise ValueError(f"Normalizer.fit expects (N, {self.mean.shape[0]}), got {tuple(data.shape)}")
        if data.shape[0] == 0:
            raise ValueError("Normalizer.fit needs at least one sample")
        self.mean.copy_(data.mean(0))
        std = data.std(0, unbiased=False) if data.shape[0] > 1 else torch.ones_like(self.std)
        constant = std < self.min_std
        self.std.copy_(torch.where(constant, torch.ones_like(std), std))
        self.scale.copy_(torch.where(constant, torch.zeros_like(std), std))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.mean
