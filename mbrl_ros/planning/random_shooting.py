"""Random shooting: best of uniformly sampled action sequences (Nagabandi et al., ICRA 2018)."""
from __future__ import annotations

import dataclasses

import torch

from mbrl_ros.config import param
from mbrl_ros.planning.base import PLANNERS, Planner


@dataclasses.dataclass(frozen=True)
class RandomShootingConfig:
    population: int = param(1000, "sequences sampled per batch", low=1, high=1 << 20)
    iterations: int = param(1, "batches per plan (each a fresh sample; best overall wins)", low=1, high=1000)
    keep_previous: bool = param(True, "also score the shifted previous best plan")


@PLANNERS.register("random_shooting")
class RandomShootingPlanner(Planner):
    """Samples ``population`` sequences uniformly within the bounds; returns the best."""

    Config = RandomShootingConfig

    def _after_reset(self) -> None:
        self._has_previous = False

    def _optimize(self, obs, deadline):
        cfg = self.config
        best, best_value, done = self.mean, -float("inf"), 0
        for it in range(cfg.iterations):
            if self.out_of_time(deadline):
                break
            u = torch.rand(cfg.population, self.horizon, self.act_dim, generator=self.generator, device=self.device)
            samples = self.low + (self.high - self.low) * u
            if it == 0 and cfg.keep_previous and self._has_previous:
                samples = torch.cat([samples, self.mean.unsqueeze(0)], dim=0)
            returns = self.objective(obs, samples)
            value, idx = returns.max(0)
            if float(value) > best_value:
                best, best_value = samples[idx].clone(), float(value)
            done += 1
        self.mean = best
        self._has_previous = done > 0
        return best, best_value, done, done < cfg.iterations
