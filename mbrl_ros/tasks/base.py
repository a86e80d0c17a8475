"""Task interface: an episodic environment plus a batched, differentiable reward.

A task is what a planner optimizes and what the learning loop runs. Physics
(a MuJoCo model, a user's simulator or a real robot) is kept apart from the
task definition (observation layout, reward terms, bounds, episode length).
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, Mapping

import numpy as np
import torch

from mbrl_ros.tasks.costs import CASADI, TORCH, CostTerm, evaluate, weighted_sum, weighted_terms, with_weights
from mbrl_ros.tasks.layout import ObsLayout


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """Static description of a task.

    Attributes:
        name: registry name, e.g. ``"cartpole_swingup"``.
        observation_names: one name per observation entry (units in the name's docs).
        action_names: one name per action entry.
        action_low, action_high: actuator limits, same length as ``action_names``.
        control_period: seconds between two actions.
        episode_length: steps per episode (``truncated`` becomes True at that step).
        angle_indices: observation entries that are angles in rad (models encode them as sin/cos).
        nominal_action: the action to expect when nothing happens (a quadrotor's hover thrust),
            same length as ``action_names`` and inside the bounds; planners start and extend their
            plans with it and exploration centres on it. ``None``: the middle of the bounds.
        observation_groups: ``(name, member names)`` pairs naming runs of adjacent observation
            entries (a quadrotor's ``position``: ``x, y, z``); see :attr:`layout`.
        termination_reward: reward credited for every step an episode had left when it
            terminated early (:attr:`Task.termination_fn`): the episode return adds
            :meth:`termination_charge`, and planners score the steps after a predicted
            termination with it. 0 (the default) counts nothing after a termination, right for
            positive rewards, where ending early already loses reward. Tasks whose rewards are
            negative costs need it below their worst per-step reward, else an early crash sums
            less cost than a full episode and returns rank crashing above control.
    """

    name: str
    observation_names: tuple[str, ...]
    action_names: tuple[str, ...]
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    control_period: float
    episode_length: int
    angle_indices: tuple[int, ...] = ()
    nominal_action: tuple[float, ...] | None = None
    observation_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    termination_reward: float = 0.0

    def __post_init__(self):
        if len(self.action_low) != len(self.action_names) or len(self.action_high) != len(self.action_names):
            raise ValueError(f"{self.name}: action bounds must have one entry per action")
        if any(lo >= hi for lo, hi in zip(self.action_low, self.action_high)):
            raise ValueError(f"{self.name}: every action_low must be below action_high")
        if self.control_period <= 0 or self.episode_length <= 0:
            raise ValueError(f"{self.name}: control_period and episode_length must be positive")
        if any(not 0 <= i < len(self.observation_names) for i in self.angle_indices):
            raise ValueError(f"{self.name}: angle_indices out of range")
        if self.nominal_action is not None:
            if len(self.nominal_action) != len(self.action_names):
                raise ValueError(f"{self.name}: nominal_action has {len(self.nominal_action)} entries, "
                                 f"expected one per action ({len(self.action_names)})")
            if any(not lo <= v <= hi for v, lo, hi in zip(self.nominal_action, self.action_low, self.action_high)):
                raise ValueError(f"{self.name}: nominal_action {self.nominal_action} must lie within the "
                                 f"action bounds {self.action_low} .. {self.action_high}")
        if not np.isfinite(self.termination_reward):
            raise ValueError(f"{self.name}: termination_reward must be finite, got {self.termination_reward}")
        try:
            self.layout
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from exc

    def termination_charge(self, steps: int) -> float:
        """What an episode that terminated after ``steps`` steps adds to its return:
        ``termination_reward * (episode_length - steps)`` (0 for a full-length episode)."""
        return float(self.termination_reward) * max(self.episode_length - int(steps), 0)

    @property
    def layout(self) -> ObsLayout:
        """Observation entries and groups by name: ``obs[..., spec.layout["theta"]]``."""
        return ObsLayout(self.observation_names, self.observation_groups)

    @property
    def obs_dim(self) -> int:
        return len(self.observation_names)

    @property
    def act_dim(self) -> int:
        return len(self.action_names)

    def nominal(self) -> np.ndarray:
        """The nominal action ``(A,)`` (float64): ``nominal_action``, else the middle of the bounds."""
        if self.nominal_action is not None:
            return np.asarray(self.nominal_action, dtype=np.float64)
        return (np.asarray(self.action_low, dtype=np.float64) + np.asarray(self.action_high, dtype=np.float64)) / 2

    def safe_action(self) -> np.ndarray:
        """The command a node sends when it knows nothing better (no state, no plan): the declared
        ``nominal_action`` (a quadrotor's hover thrust), else zeros, clipped to the bounds ``(A,)``."""
        base = np.zeros(len(self.action_low)) if self.nominal_action is None else self.nominal()
        return np.clip(base, self.action_low, self.action_high)

    def action_bounds(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """``(low, high)`` float32 tensors of shape ``(A,)``."""
        return (torch.tensor(self.action_low, dtype=torch.float32, device=device),
                torch.tensor(self.action_high, dtype=torch.float32, device=device))


class Task(abc.ABC):
    """An episodic control task with a Gymnasium-style step API.

    Subclasses implement :meth:`reset` and :meth:`step`, and declare their cost as
    :attr:`costs` (a list of :class:`~mbrl_ros.tasks.costs.CostTerm`, which gives
    :meth:`cost_terms` in torch and :meth:`casadi_cost_terms` in CasADi from one formula each)
    or override :meth:`cost_terms`. The batched :meth:`reward` is what planners optimize; :meth:`step` must
    return exactly ``reward(obs, action, next_obs)`` for the transition it made,
    so a planner with a perfect model optimizes the true return.
    """

    spec: TaskSpec

    #: Optional batched termination ``(obs (..., O), action (..., A), next_obs (..., O)) -> bool (...)``:
    #: True where the transition ends the episode (the pole fell, the robot left its workspace).
    #: Planners score every step after the first predicted termination with
    #: ``spec.termination_reward`` (0 by default) and the terminal value with its absorbing value,
    #: value targets bootstrap from that absorbing value there, episode returns add
    #: ``spec.termination_charge`` (see :class:`TaskSpec`), and simulated tasks report it as ``terminated``.
    termination_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    #: Declared cost terms with their default weights (class attribute); an instance holds them with
    #: its configured weights. Empty: the subclass overrides :meth:`cost_terms`.
    costs: tuple[CostTerm, ...] = ()

    def __init__(self, cost_weights: Mapping[str, float]):
        if type(self).costs:
            self.costs = with_weights(type(self).costs, cost_weights, getattr(self, "name", type(self).__name__))
        self._cost_weights = {name: float(w) for name, w in cost_weights.items()}

    def _weights(self) -> dict[str, float]:
        """Weight per term: from :attr:`costs` when declared (0 for a disabled term), else as given."""
        if self.costs:
            return {term.name: term.effective_weight for term in self.costs}
        return self._cost_weights

    # -- episode API ----------------------------------------------------
    @abc.abstractmethod
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode. Returns ``(observation (O,), info)``; same seed, same start."""

    @abc.abstractmethod
    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply ``action`` (A,) (clipped to the bounds) for one control period.

        Returns ``(observation, reward, terminated, truncated, info)``.
        """

    def close(self) -> None:
        """Release resources (viewers, files)."""

    # -- reward ---------------------------------------------------------
    def cost_terms(self, obs: torch.Tensor, action: torch.Tensor,
                   next_obs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unweighted named costs, each of shape ``(...)`` for inputs ``(..., O)``, ``(..., A)``."""
        if not self.costs:
            raise NotImplementedError(f"{type(self).__name__}: declare `costs` or override cost_terms()")
        return evaluate(self.costs, TORCH, self, self.spec.layout, obs, action, next_obs)

    def casadi_cost_terms(self, obs, action, next_obs) -> dict:
        """:meth:`cost_terms` of one transition in CasADi: ``(O, 1)``, ``(A, 1)``, ``(O, 1)`` -> scalars.

        Terms without a CasADi form are left out when their weight is 0.

        Raises:
            UnsupportedCostError: a weighted term has no CasADi form, or no terms are declared.
        """
        from mbrl_ros.tasks.costs import UnsupportedCostError

        if not self.costs:
            raise UnsupportedCostError(f"{self.spec.name}: its cost has no CasADi form (no declared `costs`)")
        return evaluate(self.costs, CASADI, self, self.spec.layout, obs, action, next_obs)

    @property
    def cost_weights(self) -> dict[str, float]:
        """Weight per cost term (a weight of 0 disables the term)."""
        return dict(self._weights())

    def weighted_cost_terms(self, obs: torch.Tensor, action: torch.Tensor,
                            next_obs: torch.Tensor) -> dict[str, torch.Tensor]:
        """``w_i * cost_i`` ``(...)`` per term with a non-zero weight; ``reward`` is minus their sum."""
        return weighted_terms(self.cost_terms(obs, action, next_obs), self._weights(), self.spec.name)

    def reward(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """Batched reward ``-sum_i w_i * cost_i``: shape ``(...)`` for ``(..., O)`` inputs."""
        total = weighted_sum(self.cost_terms(obs, action, next_obs), self._weights(), self.spec.name)
        if total is None:
            return torch.zeros(obs.shape[:-1], dtype=obs.dtype, device=obs.device)
        return -total

    def terminated_numpy(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> bool:
        """:attr:`termination_fn` for one transition given as numpy arrays (False without one)."""
        if self.termination_fn is None:
            return False
        with torch.no_grad():
            done = self.termination_fn(torch.as_tensor(obs, dtype=torch.float64),
                                       torch.as_tensor(action, dtype=torch.float64),
                                       torch.as_tensor(next_obs, dtype=torch.float64))
        return bool(done)

    def reward_numpy(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> float:
        """:meth:`reward` for one transition given as numpy arrays."""
        with torch.no_grad():
            r = self.reward(torch.as_tensor(obs, dtype=torch.float64),
                            torch.as_tensor(action, dtype=torch.float64),
                            torch.as_tensor(next_obs, dtype=torch.float64))
        return float(r)

    def clip_action(self, action: np.ndarray) -> np.ndarray:
        """Validate shape and finiteness, then clip to the actuator limits."""
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (self.spec.act_dim,):
            raise ValueError(f"{self.spec.name}: expected an action of shape ({self.spec.act_dim},), "
                             f"got {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"{self.spec.name}: action contains NaN or inf: {action}")
        return np.clip(action, self.spec.action_low, self.spec.action_high)


class SimulatedTask(Task):
    """A task whose simulator state can be read and written (needed by the oracle model).

    ``physics_state_from_obs`` lets the oracle planner roll the true physics from
    the observation a controller sees; tasks whose observation does not determine
    the state raise ``NotImplementedError``.
    """

    @abc.abstractmethod
    def rollout(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Roll the true simulator open-loop from ``obs`` (O,).

        Args:
            obs: start observation, shape ``(O,)``.
            actions: ``(N, H, A)`` action sequences (clipped to the bounds).
        Returns:
            ``(N, H, O)`` observations after each action.
        """
