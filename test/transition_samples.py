"""Transitions for fitting models in tests: uniform random actions from one reset of a task."""
import numpy as np


def random_walk(task, steps: int, seed: int = 0) -> list[np.ndarray]:
    """``[obs (steps, O), action (steps, A), next_obs (steps, O)]`` of ``steps`` uniform random actions
    from ``task.reset(seed=0)`` (episode ends are not checked: keep ``steps`` below the episode length)."""
    rng = np.random.default_rng(seed)
    obs, _ = task.reset(seed=0)
    rows = []
    for _ in range(steps):
        act = rng.uniform(task.spec.action_low, task.spec.action_high)
        nxt = task.step(act)[0]
        rows.append((obs, act, nxt))
        obs = nxt
    return [np.array(x) for x in zip(*rows)]
