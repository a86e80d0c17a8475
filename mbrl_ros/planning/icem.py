"""Improved CEM (iCEM): Pinneri et al., "Sample-efficient Cross-Entropy Method for
Real-time Planning", CoRL 2020.

Differences from CEM: colored (temporally correlated) sampling noise, a
population that shrinks every iteration, a fraction of elites kept into the
next iteration, elites shifted into the next time step's first iteration, the
mean sequence added at the last iteration, and the best sequence seen is
executed.
"""
from __future__ import annotations

import dataclasses

import torch

from mbrl_ros.config import param
from mbrl_ros.planning.base import PLANNERS, Planner
from mbrl_ros.planning.colored_noise import colored_noise


@dataclasses.dataclass(frozen=True)
class ICEMConfig:
    population: int = param(64, "sequences sampled in the first iteration", low=2, high=1 << 20)
    population_decay: float = param(1.25, "population divides by this every iteration", low=1.0, high=10.0)
    min_population: int = param(16, "population never decays below this", low=2, high=1 << 20)
    num_elites: int = param(8, "best sequences that refit the distribution", low=1, high=1 << 20)
    iterations: int = param(3, "refits per plan", low=1, high=1000)
    noise_beta: float = param(2.0, "colored-noise exponent (0 white, 2 red)", low=0.0, high=6.0)
    keep_elites_fraction: float = param(0.3, "fraction of elites carried into the next iteration",
                                        low=0.0, high=1.0)
    shift_elites: bool = param(True, "shift the last elites into the next plan's first iteration")
    add_mean: bool = param(True, "score the mean sequence in the last iteration")
    alpha: float = param(0.1, "momentum: weight of the old distribution in each refit", low=0.0, high=1.0)
    init_std: float = param(0.5, "initial std as a fraction of the half action range", low=1e-6, high=10.0)
    min_std: float = param(1e-3, "std floor (fraction of the half range)", low=0.0, high=1.0)


@PLANNERS.register("icem")
class ICEMPlanner(Planner):
    """iCEM with anytime semantics: the best sequence seen so far is returned at the deadline."""

    Config = ICEMConfig

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.config.num_elites > self.config.min_population:
            raise ValueError("icem: num_elites must not exceed min_population")

    def _after_reset(self) -> None:
        self._elites = None

    def _after_shift(self, steps: int) -> None:
        if self._elites is not None:
            tail = self.nominal.expand(self._elites.shape[0], steps, -1)
            self._elites = torch.cat([self._elites[:, steps:], tail], dim=1)

    def population_at(self, iteration: int) -> int:
        cfg = self.config
        return max(int(round(cfg.population / cfg.population_decay ** iteration)), cfg.min_population)

    def _optimize(self, obs, deadline):
        cfg = self.config
        mean = self.mean.clone()
        std = (cfg.init_std * self._half_range).expand(self.horizon, -1).clone()
        best, best_value, done = mean, -float("inf"), 0
        kept = None
        n_keep = int(round(cfg.keep_elites_fraction * cfg.num_elites))
        for it in range(cfg.iterations):
            if self.out_of_time(deadline):
                break
            n = self.population_at(it)
            noise = colored_noise(cfg.noise_beta, (n, self.act_dim), self.horizon, self.generator, self.device)
            samples = self.clamp(mean + std * noise.transpose(1, 2))
            extra = []
            if it == 0 and cfg.shift_elites and self._elites is not None and n_keep:
                extra.append(self._elites[:n_keep])
            if kept is not None:
                extra.append(kept)
            if it == cfg.iterations - 1 and cfg.add_mean:
                extra.append(mean.unsqueeze(0))
            if extra:
                samples = torch.cat([samples, *extra], dim=0)
            returns = self.objective(obs, samples)
            values, idx = torch.topk(returns, min(cfg.num_elites, samples.shape[0]))
            elites = samples[idx]
            if float(values[0]) > best_value:
                best, best_value = elites[0].clone(), float(values[0])
            a = cfg.alpha
            mean = a * mean + (1 - a) * elites.mean(0)
            std = torch.maximum(a * std + (1 - a) * elites.std(0, unbiased=False), cfg.min_std * self._half_range)
            kept = elites[:n_keep] if n_keep else None
            self._elites = elites
            done += 1
        self.mean = mean
        return best, best_value, done, done < cfg.iterations
