"""The oracle: the true simulator used as a planner's model.

Planning with :class:`OracleModel` measures what a planner achieves with a
perfect model, the upper bound a learned model is compared against.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from mbrl_ros.models import MODELS
from mbrl_ros.models.base import RolloutModel
from mbrl_ros.tasks.base import SimulatedTask, TaskSpec


class OracleModel(RolloutModel):
    """Predicts with the task's own simulator (``SimulatedTask.rollout``): deterministic, one particle.

    Args:
        task: the simulated task; its live episode is not disturbed.
        device: where the returned tensors live.
    """

    num_particles = 1

    def __init__(self, task: SimulatedTask, device: torch.device | str = "cpu"):
        if not isinstance(task, SimulatedTask):
            raise TypeError(f"the oracle model needs a SimulatedTask (one whose state can be set), "
                            f"got {type(task).__name__}")
        self.task = task
        self.spec = task.spec
        self.device = torch.device(device)

    def rollout(self, obs: torch.Tensor, actions: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """True trajectories ``(N, 1, H, O)`` float32 for ``obs (O,)`` and ``actions (N, H, A)``.

        Actions are clipped to the task's bounds; ``generator`` is unused.
        """
        obs_np = torch.as_tensor(obs).detach().to("cpu", torch.float64).numpy()
        actions_np = torch.as_tensor(actions).detach().to("cpu", torch.float64).numpy()
        if actions_np.ndim != 3 or actions_np.shape[-1] != self.spec.act_dim:
            raise ValueError(f"oracle: expected actions of shape (N, H, {self.spec.act_dim}), "
                             f"got {tuple(actions_np.shape)}")
        actions_np = np.clip(actions_np, self.spec.action_low, self.spec.action_high)
        trajectories = self.task.rollout(obs_np.reshape(-1), actions_np)
        return torch.as_tensor(trajectories, dtype=torch.float32).unsqueeze(1).to(self.device)


def make_oracle(spec: TaskSpec, config: Mapping[str, Any] | None = None, task: Any = None,
                device: torch.device | str = "cpu", seed: int = 0) -> OracleModel:
    """Registry factory for ``model: oracle`` (``config`` and ``seed`` are unused; the task is required)."""
    if task is None:
        raise ValueError("model 'oracle' needs the task itself (task=...), not only its spec")
    if not isinstance(task, SimulatedTask):
        raise TypeError(f"model 'oracle' needs a SimulatedTask; task {spec.name!r} is a "
                        f"{type(task).__name__}, whose state cannot be set from an observation")
    if task.spec != spec:
        raise ValueError(f"model 'oracle': spec {spec.name!r} does not match the task's spec {task.spec.name!r}")
    if config:
        raise ValueError(f"model 'oracle' has no parameters, got {sorted(config)}")
    return OracleModel(task, device=device)


MODELS.register("oracle", make_oracle)
