"""A double integrator registered as a gym-style task, shared by the distillation tests."""
import types

import numpy as np
import pytest

from mbrl_ros.tasks import TASKS, make_task, register_gym_task


class DoubleIntegrator:
    """``x = [position, velocity]``, one force-like action in [-1, 1], control period ``DT``."""

    DT = 0.1
    A = np.array([[1.0, DT], [0.0, 1.0]])
    B = np.array([0.5 * DT * DT, DT])

    class action_space:  # noqa: N801 (the gym attribute name)
        low, high = np.array([-1.0]), np.array([1.0])

    def reset(self, seed=None):
        self.x = np.random.default_rng(seed).uniform(-1.5, 1.5, size=2)
        return self.x.copy(), {}

    def step(self, action):
        self.x = self.A @ self.x + self.B * float(action[0])
        return self.x.copy(), -float(self.x @ self.x), False, False, {}


def register_double_integrator(name: str, episode_length: int):
    """Register the double integrator as task ``name`` (reward: minus the squared state) and build it."""
    register_gym_task(name, DoubleIntegrator, lambda o, a, n: -(n ** 2).sum(-1), control_period=DoubleIntegrator.DT,
                      episode_length=episode_length, observation_names=("x", "v"), action_names=("u",),
                      overwrite=True)
    return make_task(name)


@pytest.fixture(scope="module")
def double_integrator():
    """``.register(name, episode_length) -> task`` and the dynamics ``.A``, ``.B``; the tasks are
    unregistered after the module."""
    names = []

    def register(name: str, episode_length: int):
        names.append(name)
        return register_double_integrator(name, episode_length)

    yield types.SimpleNamespace(register=register, A=DoubleIntegrator.A, B=DoubleIntegrator.B)
    for name in names:
        TASKS.unregister(name)
