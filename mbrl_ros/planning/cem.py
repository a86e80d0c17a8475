"""Cross-entropy method MPC (Rubinstein 1999; as used by PETS, Chua et al. 2018)."""
from __future__ import annotations

import dataclasses

import torch

from mbrl_ros.config import param
from mbrl_ros.planning.base import PLANNERS, Planner


@dataclasses.dataclass(frozen=True)
class CEMConfig:
    population: int = param(100, "sequences sampled per iteration", low=2, high=1 << 20)
    num_elites: int = param(10, "best sequences that refit the sampling distribution", low=1, high=1 << 20)
    iterations: int = param(5, "refits per plan", low=1, high=1000)
    alpha: float = param(0.1, "momentum: weight of the old distribution in each refit", low=0.0, high=1.0)
    init_std: float = param(0.5, "initial standard deviation as a fraction of the half action range",
                            low=1e-6, high=10.0)
    min_std: float = param(1e-3, "floor on the std (fraction of the half range) to keep exploring",
                           low=0.0, high=1.0)
    return_best: bool = param(True, "return the best sequence seen (else the final mean)")


@PLANNERS.register("cem")
class CEMPlanner(Planner):
    """Gaussian sampling distribution refit to the elites; warm-started from the shifted mean."""

    Config = CEMConfig

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.config.num_elites > self.config.population:
            raise ValueError("cem: num_elites must not exceed population")

    def _refit(self, mean, std, elites):
        a = self.config.alpha
        new_mean = a * mean + (1 - a) * elites.mean(0)
        new_std = a * std + (1 - a) * elites.std(0, unbiased=False)
        return new_mean, torch.maximum(new_std, self.config.min_std * self._half_range)

    def _optimize(self, obs, deadline):
        cfg = self.config
        mean = self.mean.clone()
        std = (cfg.init_std * self._half_range).expand(self.horizon, -1).clone()
        best, best_value, done = mean, -float("inf"), 0
        for _ in range(cfg.iterations):
            if self.out_of_time(deadline):
                break
            noise = torch.randn(cfg.population, self.horizon, self.act_dim, generator=self.generator,
                                device=self.device)
            samples = self.clamp(mean + std * noise)
            returns = self.objective(obs, samples)
            values, idx = torch.topk(returns, cfg.num_elites)
            if float(values[0]) > best_value:
                best, best_value = samples[idx[0]].clone(), float(values[0])
            mean, std = self._refit(mean, std, samples[idx])
            done += 1
        self.mean = mean
        result = best if cfg.return_best or done == 0 else mean
        return result, best_value, done, done < cfg.iterations
