"""Distill an MPC expert into a :class:`~mbrl_ros.export.onnx_policy.PolicyNetwork` with DAgger.

Ross, Gordon & Bagnell, "A Reduction of Imitation Learning and Structured
Prediction to No-Regret Online Learning" (DAgger), AISTATS 2011:

1. label recorded states (and optionally expert roll-outs) with the expert and
   fit the policy to them (behaviour cloning);
2. for ``i = 1 .. iterations``: roll out in the task, executing at each step the
   expert's action with probability ``beta_i`` and the policy's otherwise;
   label every visited state with the expert; add them to the data set; refit
   the policy on everything collected.

Executing mostly the policy is the point: it visits the states its own errors
lead to, and the expert says what to do there, which behaviour cloning alone
never learns. The expert is any function ``obs (O,) -> action (A,)``; an MPC
planner becomes one with :class:`MPCExpert`.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from mbrl_ros.config import from_dict, param
from mbrl_ros.export.onnx_policy import PolicyConfig, PolicyNetwork
from mbrl_ros.tasks import make_task
from mbrl_ros.tasks.base import Task

#: ``expert(observation (O,)) -> action (A,)``; an optional ``reset()`` is called at each episode start.
ExpertFn = Callable[[np.ndarray], np.ndarray]


class MPCExpert:
    """A planner as an expert: ``plan(obs)``, take ``actions[0]``, ``shift()`` the warm start.

    The warm start assumes consecutive calls see consecutive states of one
    episode, which holds for DAgger roll-outs (the label of every visited state
    is asked in order) and for recorded episodes labelled in time order.

    Args:
        planner: a :class:`~mbrl_ros.planning.base.Planner`.
        deadline_s: seconds per plan (None: all iterations).
        label: ``first``: the plan's first action (what the MPC executes); ``mean``: the first
            entry of the planner's sampling mean after the plan (sampling planners: an average
            over the elites, so labels carry less sampling noise than the single best sequence).
    """

    LABELS = ("first", "mean")

    def __init__(self, planner, deadline_s: float | None = None, label: str = "first"):
        if label not in self.LABELS:
            raise ValueError(f"label must be one of {self.LABELS}, got {label!r}")
        if label == "mean" and not hasattr(planner, "mean"):
            raise ValueError(f"label='mean' needs a sampling planner with a .mean plan; "
                             f"{type(planner).__name__} has none (use label='first')")
        self.planner = planner
        self.deadline_s = deadline_s
        self.label = label

    def reset(self) -> None:
        self.planner.reset()

    def __call__(self, observation: np.ndarray) -> np.ndarray:
        deadline = None if self.deadline_s is None else time.perf_counter() + self.deadline_s
        result = self.planner.plan(observation, deadline)
        first = result.actions[0] if self.label == "first" else self.planner.mean[0]
        action = first.detach().cpu().double().numpy().copy()
        self.planner.shift()
        return action


@dataclasses.dataclass(frozen=True)
class DAggerConfig:
    """Settings of one distillation run."""

    iterations: int = param(4, "DAgger iterations after the first fit on expert-labelled data", low=0, high=1000)
    episodes_per_iteration: int = param(2, "roll-outs in the task per iteration", low=1, high=10000)
    max_episode_steps: int = param(0, "steps per roll-out (0: the task's episode_length)", low=0, high=1_000_000)
    beta: float = param(0.5, "mixing coefficient of the first DAgger iteration: probability that a step "
                             "executes the expert's action instead of the policy's", low=0.0, high=1.0)
    beta_decay: float = param(0.5, "beta is multiplied by this every further iteration "
                                   "(beta_i = beta * beta_decay^(i - 1))", low=0.0, high=1.0)
    expert_episodes: int = param(0, "pure-expert roll-outs labelled before the first fit, besides the "
                                    "recorded states", low=0, high=10000)
    epochs: int = param(100, "passes over the aggregated data per fit", low=1, high=100000)
    batch_size: int = param(128, "minibatch size", low=1, high=1 << 20)
    learning_rate: float = param(3e-3, "Adam learning rate", low=1e-7, high=1.0)
    weight_decay: float = param(0.0, "L2 weight decay", low=0.0, high=1.0)
    validation_episodes: int = param(0, "after every fit, run the policy alone on this many fixed validation "
                                        "episodes and return the best policy of all iterations (Ross et al. "
                                        "pick the best policy of the sequence by validation); 0: the last fit",
                                     low=0, high=10000)
    policy: PolicyConfig = param(PolicyConfig(), "architecture of the distilled policy")


@dataclasses.dataclass
class DAggerIteration:
    """What one iteration did (iteration 0: the fit on recorded states and expert roll-outs).

    Attributes:
        beta: probability of executing the expert's action (1 for expert roll-outs of iteration 0).
        steps, expert_steps: environment steps taken, and how many executed the expert's action.
        mean_return: mean episode return of the roll-outs (nan without roll-outs).
        policy_expert_rmse: RMS of ``policy(s) - expert(s)`` over the states visited in this
            iteration, before refitting (action units): DAgger's on-policy imitation error.
        dataset_size: labelled states after aggregation.
        train_loss: final training loss (mean squared error in half-ranges of the bounds).
        validation_return: mean return of the refitted policy alone on the validation episodes
            (nan without ``validation_episodes``).
    """

    iteration: int
    beta: float
    steps: int
    expert_steps: int
    mean_return: float
    policy_expert_rmse: float
    dataset_size: int
    train_loss: float
    validation_return: float = float("nan")


@dataclasses.dataclass
class DistillResult:
    """The distilled policy, the aggregated data set and the per-iteration history.

    ``best_iteration``: the iteration whose fit ``policy`` is (the last one without validation).
    """

    policy: PolicyNetwork
    observations: np.ndarray  # (N, O)
    actions: np.ndarray  # (N, A) expert labels
    history: list[DAggerIteration]
    best_iteration: int = -1


def _episodes(data, width: int, what: str) -> list[np.ndarray]:
    if data is None:
        return []
    items = [data] if isinstance(data, np.ndarray) and data.ndim == 2 else list(data)
    out = []
    for item in items:
        array = np.asarray(item, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != width:
            raise ValueError(f"{what} must be (N, {width}) arrays (one per episode), got {array.shape}")
        out.append(array)
    return out


def _label(expert: ExpertFn, observation: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    action = np.asarray(expert(observation), dtype=np.float64).reshape(-1)
    if action.shape != low.shape or not np.all(np.isfinite(action)):
        raise ValueError(f"the expert returned {action!r} for observation {observation.tolist()}; "
                         f"expected a finite action of shape {low.shape}")
    return np.clip(action, low, high)


def _reset(expert: ExpertFn) -> None:
    reset = getattr(expert, "reset", None)
    if callable(reset):
        reset()


def _fit(policy: PolicyNetwork, observations: np.ndarray, actions: np.ndarray, cfg: DAggerConfig,
         generator: torch.Generator) -> float:
    """Refit on all data (warm-started from the current weights); returns the last epoch's loss."""
    policy.fit_normalization(observations)
    obs = torch.as_tensor(observations, dtype=torch.float32)
    # Targets in half-ranges, so every action entry weighs the same whatever its units.
    target = (torch.as_tensor(actions, dtype=torch.float32) - policy.action_mid) / policy.action_half_range
    optim = torch.optim.Adam(policy.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    n = obs.shape[0]
    batch = min(cfg.batch_size, n)
    loss_value = float("nan")
    policy.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for begin in range(0, n, batch):
            rows = order[begin:begin + batch]
            pred = (policy(obs[rows]) - policy.action_mid) / policy.action_half_range
            loss = torch.mean((pred - target[rows]) ** 2)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total += float(loss.detach()) * rows.numel()
        loss_value = total / n
    policy.eval()
    return loss_value


def distill_policy(expert: ExpertFn, task: Task | str, *, config: DAggerConfig | Mapping | None = None,
                   recorded_observations: np.ndarray | Sequence[np.ndarray] | None = None,
                   recorded_actions: np.ndarray | Sequence[np.ndarray] | None = None,
                   task_config: Mapping | None = None, policy: PolicyNetwork | None = None, seed: int = 0,
                   on_iteration: Callable[[DAggerIteration], None] | None = None) -> DistillResult:
    """DAgger from ``expert`` into a :class:`PolicyNetwork` on ``task``.

    Args:
        expert: ``obs (O,) -> action (A,)`` (e.g. :class:`MPCExpert`); labels are clipped to the bounds.
        task: a :class:`~mbrl_ros.tasks.base.Task` or a registered task name (built with ``task_config``).
        config: :class:`DAggerConfig` or a mapping of its fields.
        recorded_observations: states to label first, ``(N, O)`` or one array per episode in
            time order (the expert is reset before each).
        recorded_actions: the expert's actions for those states when already known (e.g. the
            MPC episodes of the learning loop); the expert is then not asked.
        policy: a policy to continue from (default: a new one for the task's spec).
        seed: seeds the policy, the mixing draws, the roll-outs' starts and the minibatches.
        on_iteration: called with each :class:`DAggerIteration`.
    Returns:
        :class:`DistillResult`.
    """
    cfg = config if isinstance(config, DAggerConfig) else from_dict(DAggerConfig, config or {})
    if isinstance(task, str):
        task = make_task(task, task_config or {})
    spec = task.spec
    low, high = np.asarray(spec.action_low, dtype=np.float64), np.asarray(spec.action_high, dtype=np.float64)
    policy = policy if policy is not None else PolicyNetwork.from_spec(spec, cfg.policy, seed=seed)
    if policy.obs_dim != spec.obs_dim or policy.act_dim != spec.act_dim:
        raise ValueError(f"the policy maps {policy.obs_dim} -> {policy.act_dim} but task {spec.name!r} has "
                         f"{spec.obs_dim} observations and {spec.act_dim} actions")
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    max_steps = cfg.max_episode_steps or spec.episode_length
    observations: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    history: list[DAggerIteration] = []
    episode_counter = 0

    def roll_out(beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, int]:
        """One episode mixing expert and policy; returns visited states, labels, policy actions."""
        nonlocal episode_counter
        obs, _ = task.reset(seed=seed * 100003 + episode_counter)
        episode_counter += 1
        _reset(expert)
        visited, expert_actions, policy_actions, total, expert_steps = [], [], [], 0.0, 0
        for step in range(1, max_steps + 1):
            label = _label(expert, obs, low, high)
            mine = policy.act(obs)
            use_expert = rng.random() < beta
            expert_steps += int(use_expert)
            visited.append(obs)
            expert_actions.append(label)
            policy_actions.append(mine)
            obs, reward, terminated, truncated, _ = task.step(label if use_expert else mine)
            total += reward
            if terminated:  # the crash charge of the steps left (TaskSpec.termination_reward)
                total += spec.termination_reward * (max_steps - step)
            if terminated or truncated:
                break
        return np.array(visited), np.array(expert_actions), np.array(policy_actions), total, expert_steps

    best: dict = {"return": -math.inf, "state": None, "iteration": -1}

    def validate(iteration: int) -> float:
        """Mean return of the policy alone on the fixed validation starts; keeps the best weights."""
        if not cfg.validation_episodes or not observations:
            return float("nan")
        returns = []
        for k in range(cfg.validation_episodes):
            obs, _ = task.reset(seed=seed * 100003 + 50_000 + k)  # apart from the roll-outs' starts
            total = 0.0
            for step in range(1, max_steps + 1):
                obs, reward, terminated, truncated, _ = task.step(policy.act(obs))
                total += reward
                if terminated:
                    total += spec.termination_reward * (max_steps - step)
                if terminated or truncated:
                    break
            returns.append(total)
        value = float(np.mean(returns))
        if value > best["return"]:
            best.update({"return": value, "state": copy.deepcopy(policy.state_dict()), "iteration": iteration})
        return value

    def record(iteration: int, beta: float, rollouts, loss: float, rmse: float) -> None:
        steps = sum(len(r[0]) for r in rollouts)
        entry = DAggerIteration(
            iteration=iteration, beta=beta, steps=steps, expert_steps=sum(r[4] for r in rollouts),
            mean_return=float(np.mean([r[3] for r in rollouts])) if rollouts else float("nan"),
            policy_expert_rmse=rmse, dataset_size=sum(len(o) for o in observations), train_loss=loss,
            validation_return=validate(iteration))
        history.append(entry)
        if on_iteration is not None:
            on_iteration(entry)

    # Iteration 0: recorded states (labelled now unless labels were given) and expert roll-outs.
    recorded = _episodes(recorded_observations, spec.obs_dim, "recorded_observations")
    given = _episodes(recorded_actions, spec.act_dim, "recorded_actions")
    if given and [len(a) for a in given] != [len(o) for o in recorded]:
        raise ValueError("recorded_actions must have the same episodes and lengths as recorded_observations")
    for index, episode in enumerate(recorded):
        if given:
            observations.append(episode)
            labels.append(np.clip(given[index], low, high))
            continue
        _reset(expert)
        observations.append(episode)
        labels.append(np.array([_label(expert, o, low, high) for o in episode]).reshape(len(episode), -1))
    expert_rollouts = [roll_out(1.0) for _ in range(cfg.expert_episodes)]
    for visited, expert_actions, *_ in expert_rollouts:
        observations.append(visited)
        labels.append(expert_actions)
    loss = float("nan")
    if observations:
        loss = _fit(policy, np.concatenate(observations), np.concatenate(labels), cfg, generator)
    record(0, 1.0, expert_rollouts, loss, float("nan"))

    for iteration in range(1, cfg.iterations + 1):
        beta = cfg.beta * cfg.beta_decay ** (iteration - 1)
        rollouts = [roll_out(beta) for _ in range(cfg.episodes_per_iteration)]
        visited = np.concatenate([r[0] for r in rollouts])
        expert_actions = np.concatenate([r[1] for r in rollouts])
        policy_actions = np.concatenate([r[2] for r in rollouts])
        rmse = float(math.sqrt(np.mean((policy_actions - expert_actions) ** 2)))
        observations.append(visited)
        labels.append(expert_actions)
        loss = _fit(policy, np.concatenate(observations), np.concatenate(labels), cfg, generator)
        record(iteration, beta, rollouts, loss, rmse)
    all_obs = np.concatenate(observations) if observations else np.empty((0, spec.obs_dim))
    all_act = np.concatenate(labels) if labels else np.empty((0, spec.act_dim))
    best_iteration = history[-1].iteration
    if best["state"] is not None:
        policy.load_state_dict(best["state"])
        best_iteration = best["iteration"]
    return DistillResult(policy=policy, observations=all_obs, actions=all_act, history=history,
                         best_iteration=best_iteration)
