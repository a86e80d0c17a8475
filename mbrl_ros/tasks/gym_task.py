"""Use your own Gymnasium-style environment as an mbrl_ros task, without editing the package.

Gymnasium is not needed: any object with the Gymnasium API works (duck typing):

* ``env.reset(seed=None) -> (obs, info)``
* ``env.step(action) -> (obs, reward, terminated, truncated, info)``
* ``env.action_space.low`` / ``.high`` (or pass ``action_low`` / ``action_high``)
* optionally ``env.observation_space.shape`` and ``env.close()``

Planners never see the environment's own reward; they optimize the batched
``reward_fn`` you give, which must compute the same quantity from
``(obs, action, next_obs)`` tensors with any leading dimensions.

Example (a 1-D double integrator that should stop at x = 0)::

    import numpy as np
    import torch
    from mbrl_ros.tasks import make_task, register_gym_task

    class Box:                      # stands in for gymnasium.spaces.Box
        def __init__(self, low, high):
            self.low, self.high = np.asarray(low, float), np.asarray(high, float)

    class DoubleIntegrator:
        dt = 0.1
        action_space = Box([-1.0], [1.0])

        def reset(self, seed=None):
            self.rng = np.random.default_rng(seed)
            self.state = self.rng.uniform(-1, 1, size=2)      # [x (m), v (m/s)]
            return self.state.copy(), {}

        def step(self, action):
            x, v = self.state
            v = v + self.dt * float(action[0])
            self.state = np.array([x + self.dt * v, v])
            return self.state.copy(), -float(self.state @ self.state), False, False, {}

    def reward(obs, action, next_obs):           # (..., 2), (..., 1), (..., 2) -> (...)
        return -(next_obs ** 2).sum(-1)

    register_gym_task("double_integrator", DoubleIntegrator, reward,
                      control_period=0.1, episode_length=50,
                      observation_names=("x", "v"), action_names=("force",))
    task = make_task("double_integrator")
    obs, _ = task.reset(seed=0)

Named cost terms (nav2-style critics, each with a weight that can be tuned
from YAML) work too: let ``reward_fn`` return a mapping of *costs* (higher is
worse) and pass ``cost_weights`` with the same names::

    def costs(obs, action, next_obs):
        return {"position": next_obs[..., 0] ** 2, "effort": (action ** 2).sum(-1)}

    register_gym_task("double_integrator_terms", DoubleIntegrator, costs,
                      control_period=0.1, episode_length=50,
                      cost_weights={"position": 1.0, "effort": 0.01})

Or declare the terms as :class:`~mbrl_ros.tasks.costs.CostTerm` s, each formula written once
against ``t.ops`` and reading observations by name: the task then has a CasADi form too (for the
``nmpc`` planner) and no ``cost_weights`` are needed (each term carries its default weight)::

    from mbrl_ros.tasks.costs import CostTerm

    terms = [CostTerm("position", lambda t: t.next["x"] ** 2, weight=1.0),
             CostTerm("effort", lambda t: t.ops.sumsq(t.action), weight=0.01)]
    register_gym_task("double_integrator_costs", DoubleIntegrator, terms,
                      control_period=0.1, episode_length=50, observation_names=("x", "v"))
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from mbrl_ros.config import ConfigError, from_dict, param
from mbrl_ros.tasks.base import Task, TaskSpec
from mbrl_ros.tasks.costs import CostTerm, with_weights

#: ``reward_fn(obs (..., O), action (..., A), next_obs (..., O))``: a reward tensor ``(...)``,
#: or a mapping of named cost tensors ``(...)`` when ``cost_weights`` are given.
RewardFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], "torch.Tensor | Mapping[str, torch.Tensor]"]


def declared_terms(reward_fn: Any) -> tuple[CostTerm, ...]:
    """``reward_fn`` as cost terms when it is a non-empty sequence of :class:`CostTerm`, else ``()``."""
    if isinstance(reward_fn, (list, tuple)) and reward_fn and all(isinstance(t, CostTerm) for t in reward_fn):
        return tuple(reward_fn)
    return ()

#: The single cost term of a task whose ``reward_fn`` returns a reward tensor.
REWARD_TERM = "reward"


@dataclasses.dataclass(frozen=True)
class GymTaskConfig:
    """Parameters of a registered Gymnasium-style task that ``make_task`` may override."""

    cost_weights: dict[str, float] = param({}, "Weight per cost term; terms left out keep their "
                                           "registered weight.")
    episode_length: int = param(0, "Control steps per episode; 0 keeps the registered length.",
                                low=0, high=1_000_000)
    termination_reward: float = param(float("nan"), "Reward per step left after an early termination "
                                      "(TaskSpec.termination_reward); nan keeps the registered value.")


def _space_bounds(env: Any) -> tuple[np.ndarray, np.ndarray]:
    space = getattr(env, "action_space", None)
    low, high = getattr(space, "low", None), getattr(space, "high", None)
    if low is None or high is None:
        raise TypeError("the environment has no action_space with low/high; "
                        "pass action_low and action_high to register_gym_task")
    return np.asarray(low, dtype=np.float64).reshape(-1), np.asarray(high, dtype=np.float64).reshape(-1)


class GymTask(Task):
    """A :class:`Task` around one Gymnasium-style environment instance.

    Not a :class:`SimulatedTask`: its state cannot be set from an observation,
    so the oracle model cannot use it; learned models can.

    Args:
        name: task name used in messages and the spec.
        env: the environment (see the module docstring for the API it needs).
        reward_fn: batched reward, or named costs (then ``cost_weights`` is required), or a list
            of :class:`~mbrl_ros.tasks.costs.CostTerm` (``cost_weights`` then overrides theirs).
        control_period: seconds between two actions of the environment.
        episode_length: steps after which ``truncated`` is True.
        observation_names, action_names: defaults ``obs_0, ...`` / ``action_0, ...``.
        angle_indices: observation entries that are angles in rad.
        cost_weights: weight per cost name returned by ``reward_fn`` (default ``{"reward": 1.0}``,
            the single term of a ``reward_fn`` that returns a reward tensor).
        action_low, action_high: bounds when the env has no ``action_space``.
        termination_fn: optional batched ``(obs, action, next_obs) -> bool (...)`` the planners use to
            predict the env's ``terminated`` (see :attr:`Task.termination_fn`).
        termination_reward: reward per step left after an early termination
            (:attr:`TaskSpec.termination_reward`; 0: nothing).
    """

    def __init__(self, name: str, env: Any, reward_fn: RewardFn, *, control_period: float,
                 episode_length: int, observation_names: Sequence[str] | None = None,
                 action_names: Sequence[str] | None = None, angle_indices: Sequence[int] = (),
                 cost_weights: Mapping[str, float] | None = None,
                 action_low: Sequence[float] | None = None, action_high: Sequence[float] | None = None,
                 termination_fn: Callable | None = None, termination_reward: float = 0.0):
        for method in ("reset", "step"):
            if not callable(getattr(env, method, None)):
                raise TypeError(f"{name}: the environment has no {method}() method (Gymnasium API needed)")
        terms = declared_terms(reward_fn)
        if not terms and not callable(reward_fn):
            raise TypeError(f"{name}: reward_fn must be callable or a list of CostTerm")
        if terms:
            unknown = sorted(set(cost_weights or {}) - {t.name for t in terms})
            if unknown:
                raise ConfigError(f"{name}: unknown cost term(s) {unknown}; terms: {[t.name for t in terms]}")
            terms = with_weights(terms, cost_weights or {}, name)
            weights = {t.name: t.weight for t in terms}
        else:
            weights = dict(cost_weights) if cost_weights is not None else {REWARD_TERM: 1.0}
        for term, weight in weights.items():
            if not np.isfinite(weight) or weight < 0:
                raise ConfigError(f"{name}: cost weight {term!r} must be a finite number >= 0, got {weight!r}")
        super().__init__(weights)
        self.costs = terms
        self.env = env
        self.reward_fn = reward_fn
        if termination_fn is not None and not callable(termination_fn):
            raise TypeError(f"{name}: termination_fn must be callable (obs, action, next_obs) -> bool tensor")
        self.termination_fn = termination_fn

        if action_low is None or action_high is None:
            low, high = _space_bounds(env)
            low = low if action_low is None else np.asarray(action_low, dtype=np.float64).reshape(-1)
            high = high if action_high is None else np.asarray(action_high, dtype=np.float64).reshape(-1)
        else:
            low = np.asarray(action_low, dtype=np.float64).reshape(-1)
            high = np.asarray(action_high, dtype=np.float64).reshape(-1)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError(f"{name}: action bounds must be finite, got low={low}, high={high}")

        obs_dim = self._observation_dim(env, observation_names)
        observation_names = tuple(observation_names or (f"obs_{i}" for i in range(obs_dim)))
        action_names = tuple(action_names or (f"action_{i}" for i in range(low.shape[0])))
        if len(observation_names) != obs_dim:
            raise ValueError(f"{name}: {len(observation_names)} observation_names for {obs_dim} observations")
        self.spec = TaskSpec(
            name=name,
            observation_names=observation_names,
            action_names=action_names,
            action_low=tuple(float(v) for v in low),
            action_high=tuple(float(v) for v in high),
            control_period=float(control_period),
            episode_length=int(episode_length),
            angle_indices=tuple(int(i) for i in angle_indices),
            termination_reward=float(termination_reward),
        )
        self._obs: np.ndarray | None = None
        self._steps = 0
        self._done = False

    @staticmethod
    def _observation_dim(env: Any, observation_names: Sequence[str] | None) -> int:
        shape = getattr(getattr(env, "observation_space", None), "shape", None)
        if shape is not None:
            return int(np.prod(shape))
        if observation_names is not None:
            return len(observation_names)
        # Last resort: look at one observation (the next reset(seed=...) reseeds the env anyway).
        obs, _ = env.reset(seed=0)
        return int(np.asarray(obs).size)

    def _as_obs(self, obs: Any) -> np.ndarray:
        obs = np.array(obs, dtype=np.float64).reshape(-1)  # np.array copies: the env may reuse its buffer
        if obs.shape != (self.spec.obs_dim,):
            raise ValueError(f"{self.spec.name}: the environment returned an observation of shape "
                             f"{obs.shape}, expected ({self.spec.obs_dim},)")
        return obs

    # -- episode API ----------------------------------------------------
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed)
        self._obs = self._as_obs(obs)
        self._steps = 0
        self._done = False
        return self._obs.copy(), dict(info or {})

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Step the environment; the reward is ``reward_fn`` on the transition.

        ``info["env_reward"]`` keeps the environment's own reward.

        Raises:
            RuntimeError: before :meth:`reset` or after the episode ended.
            ValueError: wrong action shape, NaN or inf.
        """
        if self._obs is None:
            raise RuntimeError(f"{self.spec.name}: call reset() before step()")
        if self._done:
            raise RuntimeError(f"{self.spec.name}: the episode has ended; call reset()")
        action = self.clip_action(action)
        result = self.env.step(action.copy())
        if not isinstance(result, tuple) or len(result) != 5:
            raise TypeError(f"{self.spec.name}: env.step must return (obs, reward, terminated, truncated, "
                            f"info) as in Gymnasium >= 0.26")
        next_obs, env_reward, terminated, truncated, info = result
        obs, next_obs = self._obs, self._as_obs(next_obs)
        self._obs = next_obs
        self._steps += 1
        reward = self.reward_numpy(obs, action, next_obs)
        terminated = bool(terminated)
        truncated = bool(truncated) or self._steps >= self.spec.episode_length
        self._done = terminated or truncated
        info = dict(info or {})
        info.update(env_reward=float(env_reward), action=action.copy(), step=self._steps)
        return next_obs.copy(), reward, terminated, truncated, info

    def close(self) -> None:
        close = getattr(self.env, "close", None)
        if callable(close):
            close()

    # -- reward ---------------------------------------------------------
    def cost_terms(self, obs: torch.Tensor, action: torch.Tensor,
                   next_obs: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.costs:
            return super().cost_terms(obs, action, next_obs)
        out = self.reward_fn(obs, action, next_obs)
        terms = dict(out) if isinstance(out, Mapping) else {REWARD_TERM: -torch.as_tensor(out)}
        if set(terms) != set(self._cost_weights):
            raise KeyError(f"{self.spec.name}: reward_fn gave cost terms {sorted(terms)} but the weights "
                           f"name {sorted(self._cost_weights)}; a reward_fn returning named costs needs "
                           f"cost_weights with the same names")
        return terms


def register_gym_task(name: str, env_factory: Callable[[], Any], reward_fn: RewardFn, *,
                      control_period: float, episode_length: int,
                      observation_names: Sequence[str] | None = None,
                      action_names: Sequence[str] | None = None, angle_indices: Sequence[int] = (),
                      cost_weights: Mapping[str, float] | None = None,
                      action_low: Sequence[float] | None = None, action_high: Sequence[float] | None = None,
                      termination_fn: Callable | None = None, termination_reward: float = 0.0,
                      overwrite: bool = False) -> None:
    """Register a Gymnasium-style environment as task ``name`` (see the module docstring).

    ``env_factory()`` is called once per ``make_task(name, config)``; ``config``
    may override ``episode_length``, ``termination_reward`` and entries of ``cost_weights``.

    Args:
        name: registry name (an identifier).
        env_factory: no-argument callable returning a new environment.
        reward_fn: batched torch reward ``(obs, action, next_obs) -> (...)``, named costs, or a list
            of :class:`~mbrl_ros.tasks.costs.CostTerm`.
        control_period: seconds between two actions.
        episode_length: steps per episode.
        observation_names, action_names, angle_indices: see :class:`~mbrl_ros.tasks.base.TaskSpec`.
        cost_weights: weight per named cost (only when ``reward_fn`` returns a mapping).
        action_low, action_high: bounds when the env has no ``action_space``.
        termination_fn: optional batched termination (see :class:`GymTask`).
        termination_reward: reward per step left after an early termination (see :class:`GymTask`).
        overwrite: replace an existing registration of ``name``.
    """
    from mbrl_ros.tasks import register_task

    if not callable(env_factory):
        raise TypeError(f"{name}: env_factory must be a callable returning an environment")
    terms = declared_terms(reward_fn)
    if terms:
        default_weights = {**{t.name: t.weight for t in terms}, **(cost_weights or {})}
    else:
        default_weights = dict(cost_weights) if cost_weights is not None else {REWARD_TERM: 1.0}

    def factory(config: Mapping[str, Any] | None = None) -> GymTask:
        values = from_dict(GymTaskConfig, config or {}, prefix=f"{name}.")
        unknown = sorted(set(values.cost_weights) - set(default_weights))
        if unknown:
            raise ConfigError(f"{name}: unknown cost term(s) {unknown}; terms: {sorted(default_weights)}")
        return GymTask(name, env_factory(), reward_fn, control_period=control_period,
                       episode_length=values.episode_length or episode_length,
                       observation_names=observation_names, action_names=action_names,
                       angle_indices=angle_indices,
                       cost_weights={**default_weights, **values.cost_weights},
                       action_low=action_low, action_high=action_high, termination_fn=termination_fn,
                       termination_reward=(termination_reward if np.isnan(values.termination_reward)
                                           else values.termination_reward))

    register_task(name, factory, overwrite=overwrite)
