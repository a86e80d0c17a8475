"""Learned terminal value for sampling MPC: a Q ensemble and a SAC actor, Dyna/MBPO style (no ROS).

Why: a planner only sees ``horizon`` steps ahead, so a sparse reward farther away is invisible
to it (a pendulum hanging down never finds the upright reward inside 1.6 s). A critic trained
on real transitions plus short model rollouts branched from real states (MBPO, Janner et al.
2019) carries the reward back beyond the horizon; the planner adds it as the terminal value
``discount^H V(o_H)`` (TD-MPC2, Hansen et al. 2024; MuZero), and the actor's plans, rolled
through the model, seed the planner's population.

* :class:`EnsembleMLP`: ``K`` MLPs batched as one ``baddbmm`` per layer.
* :class:`SacMbpoValueLearner` (registered ``sac_mbpo``): ``K`` Q networks with target copies
  (clipped double-Q over the members), a tanh-Gaussian actor with a learned temperature,
  trained after every episode on real data and on branched rollouts whose length grows
  linearly over episodes. ``V(s) = min_k Q_k(s, mu(s))`` is the terminal value.

Rewards come from the task's batched ``reward_fn`` and terminations from its ``termination_fn``:
past a termination the target bootstraps from the absorbing state's value
``spec.termination_reward / (1 - discount)`` (0 by default: no bootstrap), the crash charge
that the planner's objective and the episode return count too; the value is per planned action (one held
``action_repeat`` transition), like the planner's steps.

One rule for every learning run: :class:`ValueTraining` says when and on what a value learner
trains (the in-process loop and ``model_learner`` both use it), :func:`plan_with_values` makes a
planner use one (the loop, ``mpc_planner`` and its planning process), and
:meth:`SacMbpoValueLearner.state_arrays` / :meth:`~SacMbpoValueLearner.load_state_arrays` move one
between processes (inside the model payload, :mod:`mbrl_ros.learning.model_payload`).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mbrl_ros.config import ConfigError, from_dict, param, to_dict
from mbrl_ros.learning.schedule import RetrainSchedule
from mbrl_ros.models.training import TrainingCancelled
from mbrl_ros.registry import Registry

#: Value-learner name -> class (constructor ``(config, spec, reward_fn, termination_fn, device, seed)``).
VALUE_LEARNERS: Registry = Registry("value learner")

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class EnsembleMLP(nn.Module):
    """``K`` independent MLPs evaluated together: ``(K, N, in) -> (K, N, out)``, one matmul per layer."""

    def __init__(self, members: int, in_features: int, out_features: int, hidden_units: int,
                 hidden_layers: int):
        super().__init__()
        sizes = [in_features] + [hidden_units] * hidden_layers + [out_features]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(sizes, sizes[1:]):
            bound = 1.0 / math.sqrt(a)  # nn.Linear's default init, per member
            self.weights.append(nn.Parameter(torch.empty(members, a, b).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(members, 1, b).uniform_(-bound, bound)))
        self.members = members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.members, -1, -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = F.silu(x)
        return x


@dataclasses.dataclass(frozen=True)
class SacMbpoConfig:
    """Settings of the ``sac_mbpo`` value learner (parameter section ``sac_mbpo.*``)."""

    critics: int = param(2, "Q networks in the ensemble (targets and the terminal value take their min)",
                         low=1, high=64)
    hidden_units: int = param(64, "hidden units per layer (critics and actor)", low=4, high=4096)
    hidden_layers: int = param(2, "hidden layers (critics and actor)", low=1, high=8)
    discount: float = param(0.98, "per planned action; the planner discounts its rewards by it too when "
                            "the terminal value is on", low=0.5, high=0.9999)
    learning_rate: float = param(1e-3, "Adam step size of critics, actor and temperature", low=1e-6, high=1.0)
    batch_size: int = param(256, "transitions per gradient step", low=1, high=1 << 16)
    updates_per_step: float = param(1.0, "gradient steps after each episode per new real transition",
                                    low=0.0, high=1000.0)
    min_updates: int = param(200, "gradient steps after each episode at least", low=0, high=1_000_000)
    real_fraction: float = param(0.5, "share of each batch from real transitions (the rest from model "
                                 "rollouts; 1 trains on real data only)", low=0.0, high=1.0)
    rollout_starts: int = param(512, "real states the model rollouts branch from after each episode",
                                low=1, high=1 << 20)
    rollout_length_min: int = param(1, "model rollout length (planned actions) at rollout_schedule_start",
                                    low=0, high=1000)
    rollout_length_max: int = param(5, "model rollout length at rollout_schedule_end and after", low=0,
                                    high=1000)
    rollout_schedule_start: int = param(1, "episode at which the linear rollout-length schedule starts",
                                        low=0, high=100000)
    rollout_schedule_end: int = param(10, "episode at which it reaches rollout_length_max", low=0,
                                      high=100000)
    model_buffer: int = param(100_000, "model transitions kept (oldest dropped first)", low=1, high=1 << 24)
    tau: float = param(0.01, "Polyak step of the target critics per gradient step", low=0.0, high=1.0)
    init_temperature: float = param(0.1, "initial entropy temperature alpha", low=1e-6, high=100.0)
    target_entropy_per_action: float = param(-1.0, "entropy target of the temperature per action dimension "
                                             "(SAC's -dim(A) in all by default)", low=-100.0, high=100.0)
    num_proposals: int = param(8, "actor plans rolled through the model and scored before each plan "
                               "(TD-MPC2's policy trajectories; 0: none)", low=0, high=4096)

    def __post_init__(self):
        if self.rollout_schedule_end < self.rollout_schedule_start:
            raise ConfigError("sac_mbpo.rollout_schedule_end must not be before rollout_schedule_start")
        if self.rollout_length_max < self.rollout_length_min:
            raise ConfigError("sac_mbpo.rollout_length_max must be >= rollout_length_min")


@dataclasses.dataclass
class ValueUpdateReport:
    """What one :meth:`SacMbpoValueLearner.update` did."""

    seconds: float
    updates: int
    rollout_length: int
    model_transitions: int  # in the model buffer after this update
    critic_loss: float
    actor_loss: float
    mean_q: float
    temperature: float


def rollout_length(config: SacMbpoConfig, episode: int) -> int:
    """MBPO's linear schedule: ``rollout_length_min`` up to ``rollout_length_max`` over the episodes."""
    lo, hi = config.rollout_length_min, config.rollout_length_max
    start, end = config.rollout_schedule_start, config.rollout_schedule_end
    if episode <= start or end == start:
        return lo if episode <= start or end != start else hi
    if episode >= end:
        return hi
    return int(round(lo + (hi - lo) * (episode - start) / (end - start)))


class OneStepModel:
    """Batched one-step predictions ``(N, O), (N, A) -> (N, O)`` from a learned ensemble.

    ``sample=True``: each row follows a random elite with its predicted noise (PETS
    sampling, for branched rollouts); ``False``: the elites' mean (actor proposals).
    Models without per-member predictions (the oracle) give ``None`` from :func:`one_step_model`.
    """

    def __init__(self, ensemble):
        self.ensemble = ensemble

    @torch.no_grad()
    def __call__(self, obs: torch.Tensor, action: torch.Tensor, *, sample: bool,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        mean, var = self.ensemble.predict(obs.float(), action.float())  # (E, N, O)
        elites = self.ensemble.elites
        mean, var = mean[elites], var[elites]
        if not sample:
            return mean.mean(0)
        n = obs.shape[0]
        pick = torch.randint(len(elites), (n,), generator=generator, device=mean.device)
        rows = torch.arange(n, device=mean.device)
        noise = torch.randn(mean.shape[1:], generator=generator, device=mean.device)
        return mean[pick, rows] + var[pick, rows].sqrt() * noise


def one_step_model(model) -> OneStepModel | None:
    """The :class:`OneStepModel` of a torch ensemble or its ONNX wrapper, else None."""
    torch_model = getattr(model, "ensemble", model)
    if callable(getattr(torch_model, "predict", None)) and hasattr(torch_model, "elites") \
            and getattr(torch_model, "trained", False):
        return OneStepModel(torch_model)
    return None


class _Features(nn.Module):
    """Observation features: angles as (sin, cos), then standardized with statistics of real data."""

    def __init__(self, obs_dim: int, angle_indices: tuple[int, ...]):
        super().__init__()
        other = [i for i in range(obs_dim) if i not in angle_indices]
        self.register_buffer("other", torch.tensor(other, dtype=torch.long))
        self.register_buffer("angles", torch.tensor(angle_indices, dtype=torch.long))
        self.dim = len(other) + 2 * len(angle_indices)
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("std", torch.ones(self.dim))

    def raw(self, obs: torch.Tensor) -> torch.Tensor:
        if self.angles.numel() == 0:
            return obs
        a = obs.index_select(-1, self.angles)
        return torch.cat([obs.index_select(-1, self.other), torch.sin(a), torch.cos(a)], dim=-1)

    def fit(self, obs: torch.Tensor) -> None:
        x = self.raw(obs)
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-3) if x.shape[0] > 1 else torch.ones_like(self.std))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (self.raw(obs) - self.mean) / self.std


@VALUE_LEARNERS.register("sac_mbpo")
class SacMbpoValueLearner:
    """Q ensemble + SAC actor on real and branched model transitions (see the module docstring).

    Args:
        config: :class:`SacMbpoConfig` or a mapping of its fields.
        spec: the task's :class:`~mbrl_ros.tasks.base.TaskSpec`.
        reward_fn: batched reward ``(..., O), (..., A), (..., O) -> (...)`` (the planner's).
        termination_fn: batched termination or None.
        device: torch device; seed: initialization and sampling seed.
    """

    Config = SacMbpoConfig
    name = "sac_mbpo"

    def __init__(self, config, spec, reward_fn: Callable, termination_fn: Callable | None = None, *,
                 device: torch.device | str = "cpu", seed: int = 0):
        self.config = config if isinstance(config, SacMbpoConfig) else from_dict(SacMbpoConfig, config or {})
        cfg = self.config
        self.spec = spec
        self.reward_fn = reward_fn
        self.termination_fn = termination_fn
        #: Value of the state after a termination: ``spec.termination_reward / (1 - discount)``.
        self._absorbing_value = float(getattr(spec, "termination_reward", 0.0)) / (1.0 - cfg.discount)
        self.device = torch.device(device)
        self.obs_dim, self.act_dim = spec.obs_dim, spec.act_dim
        low, high = spec.action_bounds(self.device)
        self._act_mid, self._act_half = (high + low) / 2, (high - low) / 2
        rng_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.features = _Features(self.obs_dim, tuple(spec.angle_indices)).to(self.device)
        feat = self.features.dim
        self.critic = EnsembleMLP(cfg.critics, feat + self.act_dim, 1, cfg.hidden_units,
                                  cfg.hidden_layers).to(self.device)
        self.actor = EnsembleMLP(1, feat, 2 * self.act_dim, cfg.hidden_units, cfg.hidden_layers).to(self.device)
        torch.random.set_rng_state(rng_state)
        self.target = copy.deepcopy(self.critic)
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(cfg.init_temperature), device=self.device, requires_grad=True)
        self.target_entropy = cfg.target_entropy_per_action * float(self.act_dim)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.learning_rate)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.learning_rate)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.learning_rate)
        self.generator = torch.Generator(device=self.device).manual_seed(seed + 7919)
        self._model_obs = torch.empty(0, self.obs_dim, device=self.device)
        self._model_act = torch.empty(0, self.act_dim, device=self.device)
        self._model_next = torch.empty(0, self.obs_dim, device=self.device)
        self.trained = False
        self.version = 0  # increments with every update (published with the model by nodes)

    # -- networks -------------------------------------------------------
    def _normalize_action(self, action: torch.Tensor) -> torch.Tensor:
        return (action - self._act_mid) / self._act_half

    def _to_env_action(self, unit: torch.Tensor) -> torch.Tensor:
        return self._act_mid + self._act_half * unit

    def q_values(self, obs: torch.Tensor, action: torch.Tensor, target: bool = False) -> torch.Tensor:
        """``(K, N)`` Q values of ``obs (N, O)`` and env-unit ``action (N, A)``."""
        x = torch.cat([self.features(obs), self._normalize_action(action)], dim=-1)
        return (self.target if target else self.critic)(x).squeeze(-1)

    def policy(self, obs: torch.Tensor, deterministic: bool = False,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(action in env units (N, A), log-prob (N,))`` of the tanh-Gaussian actor."""
        out = self.actor(self.features(obs))[0]
        mean, log_std = out[..., :self.act_dim], out[..., self.act_dim:]
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        if deterministic:
            pre = mean
        else:
            pre = mean + log_std.exp() * torch.randn(mean.shape, generator=generator, device=mean.device)
        unit = torch.tanh(pre)
        log_prob = (-0.5 * ((pre - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - (2 * (math.log(2) - pre - F.softplus(-2 * pre))).sum(-1)  # tanh Jacobian
        return self._to_env_action(unit), log_prob

    @torch.no_grad()
    def terminal_value(self, obs: torch.Tensor) -> torch.Tensor:
        """``V(o) = min_k Q_k(o, mu(o))`` for ``obs (..., O)`` -> ``(...)``; zeros before the first update."""
        lead = obs.shape[:-1]
        if not self.trained:
            return torch.zeros(lead, dtype=obs.dtype, device=obs.device)
        flat = obs.reshape(-1, self.obs_dim).to(device=self.device, dtype=torch.float32)
        action, _ = self.policy(flat, deterministic=True)
        return self.q_values(flat, action).min(0).values.reshape(lead).to(obs.dtype)

    # -- model rollouts -------------------------------------------------
    @torch.no_grad()
    def _branch(self, model: OneStepModel, starts: torch.Tensor, length: int) -> None:
        """MBPO: roll the actor ``length`` steps through the model from real ``starts``; keep the transitions."""
        obs = starts
        alive = torch.ones(starts.shape[0], dtype=torch.bool, device=self.device)
        new_obs, new_act, new_next = [], [], []
        for _ in range(length):
            action, _ = self.policy(obs, generator=self.generator)
            nxt = model(obs, action, sample=True, generator=self.generator).to(self.device)
            keep = alive & torch.isfinite(nxt).all(-1)
            new_obs.append(obs[keep]), new_act.append(action[keep]), new_next.append(nxt[keep])
            if self.termination_fn is not None:
                alive = keep & ~self.termination_fn(obs, action, nxt).to(torch.bool)
            else:
                alive = keep
            if not bool(alive.any()):
                break
            obs = torch.where(alive.unsqueeze(-1), nxt, obs)
        cap = self.config.model_buffer
        self._model_obs = torch.cat([self._model_obs, *new_obs])[-cap:]
        self._model_act = torch.cat([self._model_act, *new_act])[-cap:]
        self._model_next = torch.cat([self._model_next, *new_next])[-cap:]

    def proposals(self, model, horizon: int) -> Callable[[torch.Tensor], torch.Tensor | None]:
        """``obs (O,) -> (K, H, A)``: the actor rolled closed-loop through ``model``'s elite mean
        (one deterministic plan, the rest sampled), for :attr:`Planner.proposal_fn`."""
        count = self.config.num_proposals

        @torch.no_grad()
        def propose(obs: torch.Tensor) -> torch.Tensor | None:
            step = one_step_model(model)
            if count == 0 or not self.trained or step is None:
                return None
            state = obs.to(device=self.device, dtype=torch.float32).reshape(1, -1).expand(count, -1)
            plans = torch.empty(count, horizon, self.act_dim, device=self.device)
            for h in range(horizon):  # closed loop: the actor sees each predicted state
                sampled, _ = self.policy(state, generator=self.generator)
                mean_action, _ = self.policy(state[:1], deterministic=True)
                action = torch.cat([mean_action, sampled[1:]], dim=0)
                plans[:, h] = action
                if h + 1 < horizon:
                    state = step(state, action, sample=False).to(self.device)
            return plans

        return propose

    # -- training -------------------------------------------------------
    def _rewards_dones(self, obs, action, nxt) -> tuple[torch.Tensor, torch.Tensor]:
        reward = self.reward_fn(obs, action, nxt).to(torch.float32)
        if self.termination_fn is None:
            return reward, torch.zeros_like(reward)
        return reward, self.termination_fn(obs, action, nxt).to(torch.float32)

    def _sample(self, real: tuple[torch.Tensor, ...], n: int) -> tuple[torch.Tensor, ...]:
        n_model = self._model_obs.shape[0]
        n_real = n if n_model == 0 else int(round(self.config.real_fraction * n))
        idx = torch.randint(real[0].shape[0], (n_real,), generator=self.generator, device=self.device)
        parts = [tuple(t[idx] for t in real)]
        if n - n_real > 0:
            j = torch.randint(n_model, (n - n_real,), generator=self.generator, device=self.device)
            parts.append((self._model_obs[j], self._model_act[j], self._model_next[j]))
        return tuple(torch.cat([p[i] for p in parts]) for i in range(3))

    def update(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray, *, model=None,
               episode: int = 0, new_transitions: int | None = None,
               should_stop: Callable[[], bool] | None = None) -> ValueUpdateReport:
        """Train on the real transitions ``(N, O), (N, A), (N, O)`` and fresh branched rollouts of ``model``.

        ``should_stop`` is asked before every gradient step (a node shutting down).

        Raises:
            ValueError: shapes do not match the task, or no transitions.
            TrainingCancelled: ``should_stop`` returned True; the networks may be part-way updated
                (``version`` is unchanged).
        """
        start = time.perf_counter()
        cfg = self.config
        real = tuple(torch.as_tensor(np.asarray(a), dtype=torch.float32, device=self.device)
                     for a in (obs, action, next_obs))
        n = real[0].shape[0]
        if n == 0:
            raise ValueError("value update: no transitions to learn from")
        if real[0].shape != (n, self.obs_dim) or real[1].shape != (n, self.act_dim) or \
                real[2].shape != (n, self.obs_dim):
            raise ValueError(f"value update: expected (N, {self.obs_dim}), (N, {self.act_dim}), "
                             f"(N, {self.obs_dim}); got {[tuple(t.shape) for t in real]}")
        self.features.fit(real[0])
        length = rollout_length(cfg, episode)
        step = one_step_model(model) if model is not None else None
        if step is not None and length > 0 and cfg.real_fraction < 1.0:
            idx = torch.randint(n, (cfg.rollout_starts,), generator=self.generator, device=self.device)
            self._branch(step, real[0][idx], length)
        new = n if new_transitions is None else new_transitions
        updates = max(cfg.min_updates, int(round(cfg.updates_per_step * new)))
        critic_loss = actor_loss = mean_q = float("nan")
        for _ in range(updates):
            if should_stop is not None and should_stop():
                raise TrainingCancelled("value update cancelled")
            o, a, o2 = self._sample(real, cfg.batch_size)
            with torch.no_grad():
                r, d = self._rewards_dones(o, a, o2)
                a2, logp2 = self.policy(o2, generator=self.generator)
                alpha = self.log_alpha.exp()
                target_q = self.q_values(o2, a2, target=True).min(0).values - alpha * logp2
                # After a termination the episode sits in an absorbing state worth
                # termination_reward / (1 - discount) (0 by default: no bootstrap), as the objective counts.
                y = r + cfg.discount * ((1 - d) * target_q + d * self._absorbing_value)
            q = self.q_values(o, a)
            loss_q = F.mse_loss(q, y.unsqueeze(0).expand_as(q))
            self.critic_opt.zero_grad(set_to_none=True)
            loss_q.backward()
            self.critic_opt.step()

            new_a, logp = self.policy(o, generator=self.generator)
            q_pi = self.q_values(o, new_a).min(0).values
            loss_pi = (self.log_alpha.exp().detach() * logp - q_pi).mean()
            self.actor_opt.zero_grad(set_to_none=True)
            loss_pi.backward()
            self.actor_opt.step()
            loss_alpha = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
            self.alpha_opt.zero_grad(set_to_none=True)
            loss_alpha.backward()
            self.alpha_opt.step()

            with torch.no_grad():
                for p, tp in zip(self.critic.parameters(), self.target.parameters()):
                    tp.lerp_(p, cfg.tau)
            critic_loss, actor_loss, mean_q = float(loss_q.detach()), float(loss_pi.detach()), float(q.detach().mean())
        self.critic.zero_grad(set_to_none=True)  # actor steps leave critic gradients behind
        self.trained = self.trained or updates > 0
        self.version += 1
        return ValueUpdateReport(seconds=time.perf_counter() - start, updates=updates, rollout_length=length,
                                 model_transitions=int(self._model_obs.shape[0]), critic_loss=critic_loss,
                                 actor_loss=actor_loss, mean_q=mean_q, temperature=float(self.log_alpha.detach().exp()))

    # -- persistence (no pickle) ----------------------------------------
    def _modules(self) -> dict[str, nn.Module]:
        return {"features": self.features, "critic": self.critic, "target": self.target, "actor": self.actor}

    def metadata(self) -> dict:
        """JSON-serializable description that :func:`make_value_learner` rebuilds the networks from."""
        return {"learner": self.name, "config": to_dict(self.config), "obs_dim": self.obs_dim,
                "act_dim": self.act_dim, "version": int(self.version), "trained": bool(self.trained)}

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The feature statistics, critics, target critics, actor and temperature as named arrays
        (what planning needs and what training continues from; not the Adam moments or the
        model-rollout buffer)."""
        arrays = {f"{part}.{key}": value.detach().cpu().numpy()
                  for part, module in self._modules().items() for key, value in module.state_dict().items()}
        arrays["log_alpha"] = self.log_alpha.detach().cpu().numpy().reshape(1)
        return arrays

    def array_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every array :meth:`state_arrays` gives for this configuration."""
        shapes = {f"{part}.{key}": tuple(value.shape)
                  for part, module in self._modules().items() for key, value in module.state_dict().items()}
        shapes["log_alpha"] = (1,)
        return shapes

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray], *, trained: bool = True, version: int = 0) -> None:
        """Inverse of :meth:`state_arrays` (the optimizers' moments start over).

        Raises:
            ValueError: a name is missing or unknown, or a shape does not match this configuration.
        """
        expected = self.array_shapes()
        missing, unknown = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
        if missing or unknown:
            raise ValueError(f"value arrays do not match the learner: missing {missing}, unknown {unknown}")
        for name, shape in expected.items():
            if tuple(np.shape(arrays[name])) != shape:
                raise ValueError(f"value array {name} has shape {tuple(np.shape(arrays[name]))}, the learner "
                                 f"needs {shape}")
        with torch.no_grad():
            for part, module in self._modules().items():
                module.load_state_dict({key[len(part) + 1:]: torch.as_tensor(np.asarray(value))
                                        for key, value in arrays.items() if key.startswith(part + ".")})
            self.log_alpha.copy_(torch.as_tensor(np.asarray(arrays["log_alpha"]), dtype=torch.float32).reshape(()))
        self.trained, self.version = bool(trained), int(version)

    # -- export ---------------------------------------------------------
    @torch.no_grad()
    def to_policy_network(self):
        """The deterministic actor ``mid + half * tanh(mean(obs))`` as an exactly equal
        :class:`~mbrl_ros.export.onnx_policy.PolicyNetwork` (the ``export-policy`` format, no DAgger).

        The feature standardization of the sin/cos entries, which PolicyNetwork feeds raw,
        is folded into the first layer; the last layer keeps only the mean head.
        """
        from mbrl_ros.export.onnx_policy import PolicyConfig, PolicyNetwork

        cfg = self.config
        net = PolicyNetwork(self.obs_dim, self.spec.action_low, self.spec.action_high,
                            PolicyConfig(hidden_layers=cfg.hidden_layers, hidden_units=cfg.hidden_units,
                                         activation="silu", angle_features=bool(self.spec.angle_indices)),
                            angle_indices=tuple(self.spec.angle_indices))
        plain = self.features.other.cpu()
        n_plain = plain.numel()
        mean, std = self.features.mean.cpu(), self.features.std.cpu()
        net.obs_mean.zero_()
        net.obs_std.fill_(1.0)
        net.obs_mean[plain] = mean[:n_plain]
        net.obs_std[plain] = std[:n_plain]
        # The policy's features are z' = [z_plain, raw angles]; ours are z = (z' - m') / s'.
        shift = torch.cat([torch.zeros(n_plain), mean[n_plain:]])
        scale = torch.cat([torch.ones(n_plain), std[n_plain:]])
        weights = [w[0].detach().cpu() for w in self.actor.weights]
        biases = [b[0, 0].detach().cpu() for b in self.actor.biases]
        first = weights[0]
        weights[0], biases[0] = first / scale[:, None], biases[0] - (shift / scale) @ first
        weights[-1], biases[-1] = weights[-1][:, :self.act_dim], biases[-1][:self.act_dim]
        for layer, w, b in zip(net.layers, weights, biases):
            layer.weight.copy_(w.T)
            layer.bias.copy_(b)
        return net


def make_value_learner(name: str, config: Mapping[str, Any] | None, *, spec, reward_fn: Callable,
                       termination_fn: Callable | None = None, device: torch.device | str = "cpu",
                       seed: int = 0):
    """Build the registered value learner ``name`` with its config (a mapping or its dataclass)."""
    cls = VALUE_LEARNERS.get(name)
    return cls(config or {}, spec, reward_fn, termination_fn, device=device, seed=seed)


def value_learner_for(task, learning, config: Mapping[str, Any] | None, *, seed: int):
    """The value learner of a run with ``learning.terminal_value``: ``learning.value_learner`` on the
    task's reward and termination, on ``learning.device`` (the loop's and ``model_learner``'s)."""
    return make_value_learner(learning.value_learner, config, spec=task.spec, reward_fn=task.reward,
                              termination_fn=task.termination_fn, device=learning.device, seed=seed)


class ValueTraining:
    """When and on what a value learner trains in a learning run (the in-process loop and
    ``model_learner`` alike): after every episode end whose :class:`RetrainSchedule` retrains the
    model (none after the last episode, none in the seed episodes), right after that retrain, on
    all real transitions so far and rollouts of the retrained model; ``updates_per_step`` counts
    the transitions that are new since the previous update.

    Args:
        values: the value learner.
        schedule: the run's retrain schedule.
        trained_on: transitions the learner has already been trained on (a resumed run).
    """

    def __init__(self, values, schedule: RetrainSchedule, trained_on: int = 0):
        self.values, self.schedule, self.trained_on = values, schedule, int(trained_on)

    def after_episode(self, episodes_done: int, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray,
                      model, should_stop: Callable[[], bool] | None = None) -> ValueUpdateReport | None:
        """Train now that ``episodes_done`` episodes have ended and ``model`` was retrained on
        ``(obs, action, next_obs)``; None when the schedule says no."""
        if not self.schedule.after_episode(episodes_done, len(obs)):
            return None
        report = self.values.update(obs, action, next_obs, model=model, episode=episodes_done - 1,
                                    new_transitions=len(obs) - self.trained_on, should_stop=should_stop)
        self.trained_on = len(obs)
        return report


def plan_with_values(objective, planner, values, model, horizon: int) -> None:
    """Make ``planner`` (and its ``objective``) plan with ``values`` on ``model``: the critic as the
    discounted terminal value, the actor's plans as proposals; ``values`` None: plain returns,
    no proposals (as without ``learning.terminal_value``)."""
    if values is None:
        objective.terminal_value, objective.discount, planner.proposal_fn = None, 1.0, None
        return
    objective.terminal_value, objective.discount = values.terminal_value, values.config.discount
    planner.proposal_fn = values.proposals(model, horizon)


__all__ = ["VALUE_LEARNERS", "EnsembleMLP", "SacMbpoConfig", "SacMbpoValueLearner", "ValueTraining",
           "ValueUpdateReport", "make_value_learner", "one_step_model", "plan_with_values", "rollout_length",
           "value_learner_for"]
