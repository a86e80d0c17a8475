"""A ROS graph per test: its own DDS domain (100..232, localhost only), context and executor."""
from __future__ import annotations

import pytest
import torch
from ros_graph import RosGraph, wait_for

from mbrl_ros.ros.runtime.testing import isolated_domain


@pytest.fixture
def graph():
    torch.set_num_threads(1)
    with isolated_domain():
        ros = RosGraph()
        try:
            yield ros
        finally:
            ros.close()


@pytest.fixture(name="wait_for")
def wait_for_fixture():
    """:func:`wait_for`, for tests (they do not import this module)."""
    return wait_for


@pytest.fixture(scope="session")
def trained_model():
    """Factory of a tiny trained ensemble for a task spec: ``trained_model(spec, seed=0)``."""
    return train_small_model


SMALL_ENSEMBLE = dict(ensemble_size=2, num_elites=2, hidden_layers=1, hidden_units=8, num_particles=2,
                      max_epochs=2, batch_size=16)


def train_small_model(spec, seed=0):
    import numpy as np

    from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics

    model = EnsembleDynamics(spec.obs_dim, spec.act_dim, EnsembleConfig(**SMALL_ENSEMBLE),
                             angle_indices=spec.angle_indices, seed=seed)
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(32, spec.obs_dim))
    act = rng.uniform(-1, 1, size=(32, spec.act_dim))
    model.fit(obs, act, obs + 0.01 * rng.normal(size=obs.shape), max_epochs=2)
    return model


@pytest.fixture
def latched():
    from mbrl_ros.ros.compat import qos_profile_latched

    return qos_profile_latched




@pytest.fixture
def check_bad_states_get_no_command():
    """``check(node, commands, states)``: a command node (mpc_planner, policy_controller) on the
    pendulum rejects a NaN, an unknown joint, a missing velocity and an older stamp, each counted,
    and answers only the good state."""
    from mbrl_ros.nodes.conversions import joint_state_message

    def check(node, commands, states) -> None:
        states.publish(joint_state_message(1_000_000_000, ["hinge"], [float("nan")], [0.0]))
        states.publish(joint_state_message(1_000_000_000, ["elbow"], [0.0], [0.0]))
        states.publish(joint_state_message(1_000_000_000, ["hinge"], [0.0]))          # no velocity
        states.publish(joint_state_message(1_000_000_000, ["hinge"], [0.0], [0.0]))   # good
        states.publish(joint_state_message(900_000_000, ["hinge"], [0.0], [0.0]))     # older
        wait_for(lambda: node.health.rejected_total("state") == 4, what="four rejections")
        wait_for(lambda: len(commands) == 1, what="one command")
        assert {k.rsplit(".", 1)[1] for k in node.health.snapshot() if k.startswith("rejected.state.")} == {
            "non_finite", "missing_joint", "missing_velocity", "out_of_order"}

    return check


SMALL_VALUE = dict(hidden_units=8, hidden_layers=1, min_updates=5, batch_size=16, rollout_starts=8,
                   num_proposals=3)


@pytest.fixture(scope="session")
def trained_values():
    """Factory of a tiny value learner (sac_mbpo) trained a few steps on a task's random transitions
    and rollouts of ``model``: ``trained_values(task, model, seed=0)``."""
    def make(task, model, seed=0):
        import numpy as np

        from mbrl_ros.learning.value import make_value_learner

        spec = task.spec
        values = make_value_learner("sac_mbpo", SMALL_VALUE, spec=spec, reward_fn=task.reward,
                                    termination_fn=task.termination_fn, seed=seed)
        rng = np.random.default_rng(seed)
        obs = rng.normal(size=(32, spec.obs_dim))
        act = rng.uniform(spec.action_low, spec.action_high, size=(32, spec.act_dim))
        values.update(obs, act, obs + 0.01 * rng.normal(size=obs.shape), model=model, episode=1)
        return values

    return make
