"""Sampling MPC planner interface, the trajectory objective, and shared machinery.

A planner optimizes an action sequence ``(H, A)`` against an objective that
maps a start observation and ``N`` candidate sequences ``(N, H, A)`` to ``N``
predicted returns. Planners are anytime: :meth:`Planner.plan` takes a
``deadline`` (``time.perf_counter()`` seconds) and returns the best plan found
when it runs out of time. Warm starts are explicit: :meth:`Planner.shift`
moves the kept plan one control step forward, :meth:`Planner.reset` drops it.
"""
from __future__ import annotations

import abc
import dataclasses
import math
import time
from typing import Callable, Mapping

import torch

from mbrl_ros.config import from_dict
from mbrl_ros.models.base import RolloutModel
from mbrl_ros.registry import Registry

#: Planner name -> planner class (constructor ``(config, action_low, action_high, horizon, objective, ...)``).
PLANNERS: Registry = Registry("planner")

RewardFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
#: ``(obs (..., O), action (..., A), next_obs (..., O)) -> {term: w_i * cost_i (...)}`` whose values sum to
#: minus the reward (``Task.weighted_cost_terms``).
TermCostsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Mapping[str, torch.Tensor]]
Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Return given to sequences whose prediction is not finite, so they are never chosen.
INVALID_RETURN = -1e10


class TrajectoryObjective:
    """Mean predicted return of action sequences under a rollout model.

    ``returns[n] = mean_p sum_h reward(o[n,p,h], a[n,h], o[n,p,h+1])`` with ``o[.,.,0]``
    the start observation. Non-finite predictions score :data:`INVALID_RETURN`.

    Optional parts (all off by default, which keeps the sum above exactly):
    ``termination_fn`` replaces the reward of every step after a particle's first predicted
    termination (the terminating step itself counts) by ``termination_reward`` (0 by default:
    those steps count nothing; a task whose rewards are costs charges a crash with its
    ``spec.termination_reward``, as its episode return does); ``terminal_value`` adds
    ``discount^H * V(o[n,p,H])`` for particles that never terminated, and for terminated ones
    the absorbing value ``discount^H * termination_reward / (1 - discount)`` (what the value
    targets of :mod:`mbrl_ros.learning.value` bootstrap from at a termination), and then the
    rewards are discounted too: ``sum_h discount^h r_h`` (TD-MPC's objective).

    Example: H = 4, rewards ``(-1, -1, -1, -1)``, termination predicted at step 1 (0-based),
    ``termination_reward = -5``: the return is ``-1 - 1 - 5 - 5 = -12``.

    Args:
        model: any :class:`RolloutModel` (ensemble, oracle, analytic).
        reward_fn: batched reward ``(..., O), (..., A), (..., O) -> (...)``.
        generator: random source for sampled propagation.
        termination_fn: batched ``(..., O), (..., A), (..., O) -> bool (...)`` (``Task.termination_fn``).
        terminal_value: batched value of the last predicted observations ``(..., O) -> (...)``.
        discount: per-step discount used with ``terminal_value`` (0 < discount <= 1; below 1 when
            ``termination_reward`` is not 0, else the absorbing value is infinite).
        termination_reward: reward of every step after a predicted termination
            (``task.spec.termination_reward``); used only with ``termination_fn``.
        term_costs_fn: the reward split into weighted cost terms (``Task.weighted_cost_terms``), for
            :meth:`predicted_term_costs`; never used while optimizing.
    """

    def __init__(self, model: RolloutModel, reward_fn: RewardFn, generator: torch.Generator | None = None, *,
                 termination_fn: RewardFn | None = None,
                 terminal_value: Callable[[torch.Tensor], torch.Tensor] | None = None, discount: float = 1.0,
                 term_costs_fn: TermCostsFn | None = None, termination_reward: float = 0.0):
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        if not math.isfinite(termination_reward):
            raise ValueError(f"termination_reward must be finite, got {termination_reward}")
        if terminal_value is not None and termination_reward != 0.0 and discount >= 1.0:
            raise ValueError("a terminal value with termination_reward != 0 needs discount < 1 (the value of "
                             "the state after a termination, termination_reward / (1 - discount), is infinite)")
        self.termination_reward = float(termination_reward)
        self.model = model
        self.reward_fn = reward_fn
        self.generator = generator
        self.termination_fn = termination_fn
        self.terminal_value = terminal_value
        self.discount = float(discount)
        self.term_costs_fn = term_costs_fn
        self.model_evaluations = 0  # transitions predicted so far (for throughput accounting)

    @torch.no_grad()
    def __call__(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        n, horizon, _ = actions.shape
        if self.termination_fn is None and self.terminal_value is None:
            returns = self.model.returns(obs, actions, self.reward_fn, generator=self.generator)
            self.model_evaluations += n * self.model.num_particles * horizon
        else:  # the fused path knows no termination or value: score the predicted trajectories here
            traj = self.model.rollout(obs, actions, generator=self.generator)  # (N, P, H, O)
            self.model_evaluations += n * traj.shape[1] * horizon
            returns = self._extended_returns(*self._transitions(obs, actions, traj))
        return torch.nan_to_num(returns, nan=INVALID_RETURN, posinf=INVALID_RETURN, neginf=INVALID_RETURN)

    @staticmethod
    def _transitions(obs: torch.Tensor, actions: torch.Tensor,
                     traj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(before, actions, after)`` ``(N, P, H, .)`` of predicted trajectories ``traj`` (N, P, H, O)."""
        n, particles = traj.shape[:2]
        start = obs.to(traj.dtype).reshape(1, 1, 1, -1).expand(n, particles, 1, -1)
        before = torch.cat([start, traj[:, :, :-1]], dim=2)
        acts = actions.to(traj.dtype).unsqueeze(1).expand(-1, particles, -1, -1)
        return before, acts, traj

    def _mask_and_discount(self, values: torch.Tensor, before: torch.Tensor, acts: torch.Tensor,
                           traj: torch.Tensor, after_termination: float = 0.0
                           ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-step ``values`` ``(..., N, P, H)`` replaced by ``after_termination`` after a particle's
        first predicted termination and discounted when there is a terminal value; also
        ``alive_after`` ``(N, P, H)`` (or None)."""
        alive_after = None
        if self.termination_fn is not None:
            done = self.termination_fn(before, acts, traj).to(torch.bool)
            alive_after = torch.cumprod((~done).to(values.dtype), dim=-1)  # alive after step h
            alive_before = torch.cat([torch.ones_like(alive_after[..., :1]), alive_after[..., :-1]], dim=-1)
            values = values * alive_before
            if after_termination != 0.0:
                values = values + after_termination * (1.0 - alive_before)
        if self.terminal_value is not None:
            horizon = values.shape[-1]
            values = values * self.discount ** torch.arange(horizon, dtype=values.dtype, device=values.device)
        return values, alive_after

    def _extended_returns(self, before: torch.Tensor, acts: torch.Tensor, traj: torch.Tensor) -> torch.Tensor:
        """Returns ``(N,)`` with termination and/or the terminal value (see the class docstring)."""
        rewards, alive_after = self._mask_and_discount(self.reward_fn(before, acts, traj), before, acts, traj,
                                                       self.termination_reward)
        if self.terminal_value is None:
            return rewards.sum(-1).mean(-1)
        horizon = rewards.shape[-1]
        value = self.terminal_value(traj[:, :, -1]).to(rewards.dtype)  # (N, P)
        if alive_after is not None:
            alive = alive_after[..., -1]
            value = value * alive
            if self.termination_reward != 0.0:  # the absorbing state after a termination
                if self.discount >= 1.0:  # also when plan_with_values set the terminal value later
                    raise ValueError("a terminal value with termination_reward != 0 needs discount < 1 (the "
                                     "state after a termination is worth termination_reward / (1 - discount))")
                value = value + (1.0 - alive) * self.termination_reward / (1.0 - self.discount)
        return (rewards.sum(-1) + self.discount ** horizon * value).mean(-1)

    @torch.no_grad()
    def predicted_plan(self, obs, actions) -> tuple[torch.Tensor, dict[str, float]]:
        """A chosen plan's predicted particles ``(P, H, O)`` from ``obs (O,)`` under ``actions (H, A)``
        (one rollout of the model) and its weighted cost terms (:meth:`predicted_term_costs`)."""
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        actions_t = torch.as_tensor(actions, dtype=torch.float32)
        actions_t = actions_t.reshape(1, *actions_t.shape[-2:])
        trajectory = self.model.rollout(obs_t, actions_t)
        return trajectory[0], self.predicted_term_costs(obs_t, actions_t, trajectory)

    @torch.no_grad()
    def predicted_term_costs(self, obs: torch.Tensor, actions: torch.Tensor,
                             trajectory: torch.Tensor | None = None) -> dict[str, float]:
        """What each weighted cost term contributes to the chosen plan's predicted cost.

        Computed once per plan (not while optimizing): ``sum_h w_i * cost_i`` along the plan's
        predicted trajectory, with the objective's termination mask and discount, averaged over the
        particles. Without termination or terminal value, the values sum to ``-predicted return``.

        Args:
            obs: start observation ``(O,)``.
            actions: the plan ``(H, A)``.
            trajectory: its predicted observations ``(1, P, H, O)`` if already rolled out; else the
                model rolls it out here.
        Returns:
            Term name -> cost (higher is worse), for the terms with a non-zero weight.
        Raises:
            ValueError: the objective was built without ``term_costs_fn``.
        """
        if self.term_costs_fn is None:
            raise ValueError("predicted_term_costs needs a TrajectoryObjective built with term_costs_fn "
                             "(e.g. task.weighted_cost_terms)")
        actions = actions.reshape(1, *actions.shape[-2:])
        if trajectory is None:
            trajectory = self.model.rollout(obs, actions, generator=self.generator)
        before, acts, traj = self._transitions(torch.as_tensor(obs), torch.as_tensor(actions), trajectory)
        terms = self.term_costs_fn(before, acts, traj)
        if not terms:
            return {}
        stacked, _ = self._mask_and_discount(torch.stack(list(terms.values())), before, acts, traj)  # (K, 1, P, H)
        totals = stacked.sum(-1).mean(-1)[:, 0]
        return {name: float(v) for name, v in zip(terms, totals)}


@dataclasses.dataclass
class PlanResult:
    """Outcome of one :meth:`Planner.plan` call.

    Attributes:
        actions: ``(H, A)`` plan; ``actions[0]`` is applied now.
        predicted_return: objective value of ``actions`` (mean over particles).
        iterations: optimizer iterations completed before the deadline.
        seconds: wall time spent.
        deadline_hit: True if the deadline cut the optimization short.
    """

    actions: torch.Tensor
    predicted_return: float
    iterations: int
    seconds: float
    deadline_hit: bool


class Planner(abc.ABC):
    """Sampling-based MPC optimizer over action sequences ``(H, A)``.

    Args:
        config: the planner's typed config (a mapping is validated into it).
        action_low, action_high: actuator limits ``(A,)``.
        horizon: planning horizon H (steps).
        objective: maps ``(obs (O,), actions (N, H, A))`` to returns ``(N,)``.
        device: torch device.
        seed: seed of the planner's own random generator.
        nominal_action: ``(A,)`` action inside the bounds that plans start from (:meth:`reset`)
            and are extended with (:meth:`shift`), e.g. a quadrotor's hover thrust
            (``TaskSpec.nominal_action``); ``None``: the middle of the bounds.
    """

    Config: type = None  # set by subclasses

    def __init__(self, config, action_low, action_high, horizon: int, objective: Objective, *,
                 device: torch.device | str = "cpu", seed: int = 0, nominal_action=None):
        if self.Config is None:
            raise TypeError(f"{type(self).__name__} must define a Config dataclass")
        self.config = config if isinstance(config, self.Config) else from_dict(self.Config, config or {})
        self.device = torch.device(device)
        self.low = torch.as_tensor(action_low, dtype=torch.float32, device=self.device).reshape(-1)
        self.high = torch.as_tensor(action_high, dtype=torch.float32, device=self.device).reshape(-1)
        if self.low.shape != self.high.shape or not bool((self.low < self.high).all()):
            raise ValueError("action_low and action_high must have the same shape with low < high")
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.horizon = int(horizon)
        self.act_dim = self.low.shape[0]
        self.objective = objective
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self._mid = (self.low + self.high) / 2
        if nominal_action is None:
            self.nominal = self._mid.clone()
        else:
            self.nominal = torch.as_tensor(nominal_action, dtype=torch.float32, device=self.device).reshape(-1)
            if self.nominal.shape != self.low.shape:
                raise ValueError(f"nominal_action must have one entry per action ({self.act_dim}), "
                                 f"got shape {tuple(self.nominal.shape)}")
            eps = 1e-6 * (self.high - self.low)  # float32 rounding of a nominal action on a bound
            if not bool(((self.nominal >= self.low - eps) & (self.nominal <= self.high + eps)).all()):
                raise ValueError(f"nominal_action {self.nominal.tolist()} must lie within the action bounds "
                                 f"{self.low.tolist()} .. {self.high.tolist()}")
            self.nominal = torch.minimum(torch.maximum(self.nominal, self.low), self.high)
        self._half_range = (self.high - self.low) / 2
        #: Optional ``obs (O,) -> (K, H, A)`` candidate plans (a learned actor rolled through the model,
        #: TD-MPC2 style) scored with the warm start before each plan: the best becomes the sampling
        #: mean when it beats the warm start, and the plan returned when it beats the optimizer's.
        self.proposal_fn: Callable[[torch.Tensor], torch.Tensor | None] | None = None
        self._iteration_start: float | None = None
        self._iteration_seconds = 0.0  # duration of the last optimizer iteration (deadline prediction)
        self.reset()

    # -- warm start -----------------------------------------------------
    def reset(self) -> None:
        """Forget the warm start (new episode): the plan becomes the nominal action at every step."""
        self.mean = self.nominal.expand(self.horizon, -1).clone()
        self._after_reset()

    def _after_reset(self) -> None:
        """Hook for planner-specific state."""

    def shift(self, steps: int = 1) -> None:
        """Advance the warm start by ``steps`` control steps (after applying ``actions[0]``).

        The freed steps at the end of the plan get the nominal action.
        """
        if steps <= 0:
            return
        steps = min(steps, self.horizon)
        self.mean = torch.cat([self.mean[steps:], self.nominal.expand(steps, -1)], dim=0)
        self._after_shift(steps)

    def _after_shift(self, steps: int) -> None:
        """Hook for planner-specific warm-start state."""

    # -- optimization ---------------------------------------------------
    def plan(self, obs, deadline: float | None = None) -> PlanResult:
        """Optimize from ``obs`` (O,) until done or ``deadline`` (perf_counter seconds)."""
        start = time.perf_counter()
        obs = torch.as_tensor(obs, dtype=torch.float32, device=self.device).reshape(-1)
        if not bool(torch.isfinite(obs).all()):
            raise ValueError(f"plan: observation is not finite: {obs.tolist()}")
        self._iteration_start, self._iteration_seconds = None, 0.0
        proposal = self._seed_with_proposals(obs) if self.proposal_fn is not None else None
        actions, value, iterations, hit = self._optimize(obs, deadline)
        if proposal is not None and proposal[1] > float(value):
            actions, value = proposal
        actions = torch.minimum(torch.maximum(actions, self.low), self.high)
        return PlanResult(actions=actions, predicted_return=float(value), iterations=iterations,
                          seconds=time.perf_counter() - start, deadline_hit=hit)

    def _seed_with_proposals(self, obs: torch.Tensor) -> tuple[torch.Tensor, float] | None:
        """Score :attr:`proposal_fn`'s plans against the warm start; returns the best proposal and its value."""
        proposals = self.proposal_fn(obs)
        if proposals is None or proposals.shape[0] == 0:
            return None
        if proposals.shape[1:] != (self.horizon, self.act_dim):
            raise ValueError(f"proposal_fn returned shape {tuple(proposals.shape)}, expected "
                             f"(K, {self.horizon}, {self.act_dim})")
        candidates = self.clamp(torch.cat([self.mean.unsqueeze(0), proposals.to(self.mean)], dim=0))
        returns = self.objective(obs, candidates)
        best = int(torch.argmax(returns[1:])) + 1
        if float(returns[best]) > float(returns[0]):
            self.mean = candidates[best].clone()
        return candidates[best].clone(), float(returns[best])

    @abc.abstractmethod
    def _optimize(self, obs: torch.Tensor, deadline: float | None) -> tuple[torch.Tensor, float, int, bool]:
        """Return ``(actions (H, A), predicted return, iterations done, deadline hit)``."""

    def clamp(self, actions: torch.Tensor) -> torch.Tensor:
        """Clip ``(..., A)`` to the action bounds in place and return it."""
        return torch.clamp_(actions, min=self.low, max=self.high)

    def out_of_time(self, deadline: float | None) -> bool:
        """Called before each iteration: True if the next one would end past ``deadline``.

        The next iteration is predicted to take as long as the previous one of the
        same plan did, so a plan does not start an iteration it cannot finish. The
        first iteration runs unless the deadline has already passed: nothing is known
        about its cost yet, and a prediction carried over from a slow plan could
        otherwise starve every later plan of its first iteration.
        """
        now = time.perf_counter()
        if self._iteration_start is not None:
            self._iteration_seconds = now - self._iteration_start
        self._iteration_start = now
        return deadline is not None and now + self._iteration_seconds >= deadline


def make_planner(name: str, config: Mapping | None, *, action_low, action_high, horizon: int,
                 objective: Objective, device: torch.device | str = "cpu", seed: int = 0,
                 nominal_action=None) -> Planner:
    """Build a registered planner by name, validating its config.

    ``nominal_action`` (``(A,)`` or None) is what plans start from and are extended with;
    pass the task's ``spec.nominal_action``.
    """
    cls = PLANNERS.get(name)
    return cls(config or {}, action_low, action_high, horizon, objective, device=device, seed=seed,
               nominal_action=nominal_action)
