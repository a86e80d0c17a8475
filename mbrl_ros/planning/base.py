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
import time
from typing import Callable, Mapping

import torch

from mbrl_ros.config import from_dict
from mbrl_ros.models.base import RolloutModel
from mbrl_ros.registry import Registry

#: Planner name -> planner class (constructor ``(config, action_low, action_high, horizon, objective, ...)``).
PLANNERS: Registry = Registry("planner")

RewardFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Return given to sequences whose prediction is not finite, so they are never chosen.
INVALID_RETURN = -1e10


class TrajectoryObjective:
    """Mean predicted return of action sequences under a rollout model.

    ``returns[n] = mean_p sum_h reward(o[n,p,h], a[n,h], o[n,p,h+1])`` with ``o[.,.,0]``
    the start observation. Non-finite predictions score :data:`INVALID_RETURN`.

    Args:
        model: any :class:`RolloutModel` (ensemble, oracle, analytic).
        reward_fn: batched reward ``(..., O), (..., A), (..., O) -> (...)``.
        generator: random source for sampled propagation.
    """

    def __init__(self, model: RolloutModel, reward_fn: RewardFn, generator: torch.Generator | None = None):
        self.model = model
        self.reward_fn = reward_fn
        self.generator = generator
        self.model_evaluations = 0  # transitions predicted so far (for throughput accounting)

    @torch.no_grad()
    def __call__(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        n, horizon, _ = actions.shape
        returns = self.model.returns(obs, actions, self.reward_fn, generator=self.generator)
        self.model_evaluations += n * self.model.num_particles * horizon
        return torch.nan_to_num(returns, nan=INVALID_RETURN, posinf=INVALID_RETURN, neginf=INVALID_RETURN)


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
        actions, value, iterations, hit = self._optimize(obs, deadline)
        actions = torch.minimum(torch.maximum(actions, self.low), self.high)
        return PlanResult(actions=actions, predicted_return=float(value), iterations=iterations,
                          seconds=time.perf_counter() - start, deadline_hit=hit)

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
