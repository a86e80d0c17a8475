"""Model Predictive Path Integral control (Williams et al., ICRA 2017 / T-RO 2018)."""
from __future__ import annotations

import dataclasses

import torch

from mbrl_ros.config import param
from mbrl_ros.planning.base import PLANNERS, Planner


@dataclasses.dataclass(frozen=True)
class MPPIConfig:
    population: int = param(256, "perturbed sequences per iteration", low=1, high=1 << 20)
    iterations: int = param(2, "importance-weighted updates per plan", low=1, high=1000)
    temperature: float = param(0.5, "lambda: softmax temperature on returns (return units)",
                               low=1e-6, high=1e6)
    noise_std: float = param(0.3, "perturbation std as a fraction of the half action range",
                             low=1e-6, high=10.0)
    smoothing: float = param(0.0, "0..1: low-pass filter on the noise along the horizon", low=0.0, high=0.99)


@PLANNERS.register("mppi")
class MPPIPlanner(Planner):
    """Nominal sequence updated by the softmax-weighted mean of Gaussian perturbations."""

    Config = MPPIConfig

    def _optimize(self, obs, deadline):
        cfg = self.config
        nominal = self.mean.clone()
        std = cfg.noise_std * self._half_range
        value, done = -float("inf"), 0
        for _ in range(cfg.iterations):
            if self.out_of_time(deadline):
                break
            noise = torch.randn(cfg.population, self.horizon, self.act_dim, generator=self.generator,
                                device=self.device) * std
            if cfg.smoothing > 0:
                for h in range(1, self.horizon):  # loop over the horizon only, batched over samples
                    noise[:, h] = cfg.smoothing * noise[:, h - 1] + (1 - cfg.smoothing) * noise[:, h]
            samples = self.clamp(nominal + noise)
            samples[0] = nominal  # the unperturbed nominal is always scored
            returns = self.objective(obs, samples)
            weights = torch.softmax((returns - returns.max()) / cfg.temperature, dim=0)
            nominal = self.clamp((weights[:, None, None] * samples).sum(0))
            value = float((weights * returns).sum())
            done += 1
        self.mean = nominal
        return nominal, value, done, done < cfg.iterations
