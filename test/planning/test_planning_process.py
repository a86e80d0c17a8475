"""Planning in a child process: the shared-memory plan slot (seqlock) and the child's plans."""
import time

import numpy as np
import pytest

from mbrl_ros.models.ensemble import EnsembleConfig, EnsembleDynamics
from mbrl_ros.planning.process import PlanningProcess, PlanningSetup, PlanSlot
from mbrl_ros.tasks import make_task


def _pendulum_setup() -> PlanningSetup:
    return PlanningSetup(task="pendulum_swingup", task_config={}, planner="icem", planner_config={},
                         learning={"horizon": 5}, seed=0, deadline_s=1.0, period_ns=50_000_000,
                         backend="torch", threads=1)


def _handed_over(preparer, timeout: float = 30.0):
    """Wait for the preparer's next prepared ``(model, values)``."""
    deadline = time.monotonic() + timeout
    while True:
        prepared = preparer.take()
        if prepared is not None:
            return prepared
        assert time.monotonic() < deadline, "the preparer never handed the model over"
        time.sleep(0.01)


def test_slot_is_empty_until_written_then_gives_the_newest_plan_as_a_copy():
    slot = PlanSlot(horizon=4, act_dim=2)
    try:
        assert slot.read() is None
        slot.write(np.arange(8.0).reshape(4, 2), 123, plans=1, iterations=3, deadline_hit=False,
                   plan_seconds=0.01, predicted_return=-2.5)
        first = slot.read()
        assert (first.seq, first.stamp_ns, first.plans, first.iterations, first.deadline_hit) == (2, 123, 1, 3, False)
        assert first.actions.tolist() == np.arange(8.0).reshape(4, 2).tolist()
        assert (first.plan_seconds, first.predicted_return) == (0.01, -2.5)
        slot.write(np.ones((1, 2)), 456, plans=2, iterations=1, deadline_hit=True, plan_seconds=0.02,
                   predicted_return=0.0)  # a one-step plan (a safe command)
        second = slot.read()
        assert second.seq == 4 and second.actions.shape == (1, 2) and second.deadline_hit
        assert first.actions[0].tolist() == [0.0, 1.0]  # the earlier read was a copy
        reader = PlanSlot(4, 2, name=slot.name)  # another process attaches by name
        assert reader.read().stamp_ns == 456
        reader.close()
    finally:
        slot.close()


def test_a_write_in_progress_is_never_read():
    slot = PlanSlot(horizon=2, act_dim=1)
    try:
        slot.write(np.zeros((2, 1)), 1, plans=1, iterations=1, deadline_hit=False, plan_seconds=0.0,
                   predicted_return=0.0)
        slot._ints[0] += 1  # what a writer interrupted halfway leaves: an odd sequence number
        assert slot.read(retries=3) is None
    finally:
        slot._ints[0] += 1
        slot.close()


def test_the_child_plans_on_the_newest_state_with_the_model_it_was_sent():
    task = make_task("pendulum_swingup")
    spec = task.spec
    cfg = EnsembleConfig(ensemble_size=2, num_elites=2, num_particles=2, hidden_layers=2, hidden_units=16,
                         max_epochs=2)
    model = EnsembleDynamics(spec.obs_dim, spec.act_dim, cfg, angle_indices=spec.angle_indices)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(100, spec.obs_dim))
    model.fit(obs, rng.uniform(-1, 1, (100, 1)), obs + 0.1)
    setup = PlanningSetup(task="pendulum_swingup", task_config={}, planner="icem",
                          planner_config={"population": 16, "min_population": 8, "num_elites": 4},
                          learning={"horizon": 5}, seed=0, deadline_s=1.0, period_ns=50_000_000,
                          backend="onnx", threads=1)
    process = PlanningProcess(setup, 5, spec.act_dim)
    try:
        # Models (1.6 MB pickles) from another thread while states stream in: the two never share a pipe,
        # so neither corrupts the other's messages (they once did, on one pipe).
        import threading

        sender = threading.Thread(target=lambda: [process.submit_model(model.to_bytes()) for _ in range(3)])
        sender.start()
        for i in range(50):
            process.submit_state(obs[i % len(obs)], 10 ** 8 + i)
        sender.join()
        stamp, deadline = 10 ** 9, time.monotonic() + 120  # a spawned child imports torch first
        plan = None
        while plan is None or plan.stamp_ns < stamp - 50_000_000:
            assert time.monotonic() < deadline and process.alive, "no plan from the planning process"
            stamp += 50_000_000
            process.submit_state(obs[0], stamp)
            time.sleep(0.05)
            plan = process.latest()
        assert plan.actions.shape == (5, 1) and np.all(np.abs(plan.actions) <= spec.action_high[0])
        assert plan.plans >= 1 and plan.iterations >= 1
    finally:
        process.stop()
    assert not process.alive
    with pytest.raises(RuntimeError, match="planning process is gone"):
        process.submit_state(obs[0], stamp)


def _small_model(spec, seed=0):
    cfg = EnsembleConfig(ensemble_size=2, num_elites=2, num_particles=2, hidden_layers=2, hidden_units=16,
                         max_epochs=2)
    model = EnsembleDynamics(spec.obs_dim, spec.act_dim, cfg, angle_indices=spec.angle_indices, seed=seed)
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(100, spec.obs_dim))
    model.fit(obs, rng.uniform(-1, 1, (100, spec.act_dim)), obs + 0.1)
    return model


def test_models_are_prepared_off_the_planning_loop_and_a_bad_one_is_reported_once():
    from mbrl_ros.planning.process import _ModelPreparer

    task = make_task("pendulum_swingup")
    preparer = _ModelPreparer(_pendulum_setup(), task, 5)
    try:
        assert preparer.take() is None  # nothing submitted: nothing new, and take never blocks
        model = _small_model(task.spec)
        preparer.submit(model.to_bytes())
        model_prepared, values = _handed_over(preparer)
        assert model_prepared.obs_dim == task.spec.obs_dim and values is None  # no critic in the payload
        assert preparer.take() is None  # handed over once
        preparer.submit(b"not a model")
        deadline = time.monotonic() + 30
        with pytest.raises(Exception, match="(?i)model|npz|zip|pickle|load"):
            while time.monotonic() < deadline:
                preparer.take()
                time.sleep(0.01)
        assert preparer.take() is None  # the error is reported once; the preparer keeps running
    finally:
        preparer.stop()


def test_a_critic_in_the_payload_is_prepared_with_its_model_and_planned_with():
    """The child's preparer decodes a payload's critic (model_learner with learning.terminal_value), and
    plan_with_values gives the child's planner its terminal value and the actor's proposals."""
    from mbrl_ros.learning.model_payload import encode_model
    from mbrl_ros.learning.value import make_value_learner, plan_with_values
    from mbrl_ros.planning import TrajectoryObjective, make_planner
    from mbrl_ros.planning.process import _ModelPreparer

    import torch

    task = make_task("pendulum_swingup")
    spec = task.spec
    model = _small_model(spec)
    values = make_value_learner("sac_mbpo", {"hidden_units": 8, "min_updates": 3, "batch_size": 8,
                                             "rollout_starts": 4, "num_proposals": 3},
                                spec=spec, reward_fn=task.reward, seed=0)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(16, spec.obs_dim))
    values.update(obs, rng.uniform(-1, 1, size=(16, 1)), obs + 0.01, model=model, episode=1)
    payload = encode_model(model, version=3, task=spec.name, episodes=1, transitions=16, metrics={}, values=values)
    preparer = _ModelPreparer(_pendulum_setup(), task, 5)
    try:
        preparer.submit(payload)
        prepared = _handed_over(preparer)
    finally:
        preparer.stop()
    planning_model, child_values = prepared
    assert child_values.version == values.version == 1
    probe = torch.as_tensor(obs[:4], dtype=torch.float32)
    assert torch.equal(child_values.terminal_value(probe), values.terminal_value(probe))
    objective = TrajectoryObjective(planning_model, task.reward)
    planner = make_planner("icem", {}, action_low=spec.action_low, action_high=spec.action_high, horizon=5,
                           objective=objective)
    plan_with_values(objective, planner, child_values, planning_model, 5)
    assert objective.discount == values.config.discount and objective.terminal_value is not None
    assert planner.proposal_fn(torch.zeros(spec.obs_dim)).shape == (3, 5, spec.act_dim)
    plan_with_values(objective, planner, None, planning_model, 5)  # a model without a critic: as before
    assert objective.terminal_value is None and objective.discount == 1.0 and planner.proposal_fn is None


def test_a_payload_that_cannot_be_prepared_leaves_the_child_planning_on_the_previous_model():
    task = make_task("pendulum_swingup")
    spec = task.spec
    setup = PlanningSetup(task="pendulum_swingup", task_config={}, planner="icem",
                          planner_config={"population": 16, "min_population": 8, "num_elites": 4},
                          learning={"horizon": 5}, seed=0, deadline_s=1.0, period_ns=50_000_000,
                          backend="torch", threads=1)
    process = PlanningProcess(setup, 5, spec.act_dim)
    obs = np.zeros(spec.obs_dim)

    def plan_after(stamp, timeout=120.0):
        deadline = time.monotonic() + timeout  # a spawned child imports torch first
        while True:
            assert time.monotonic() < deadline and process.alive, "no new plan from the planning process"
            process.submit_state(obs, stamp)
            time.sleep(0.05)
            plan = process.latest()
            if plan is not None and plan.stamp_ns >= stamp:
                return plan
            stamp += 50_000_000

    try:
        process.submit_model(_small_model(spec).to_bytes())
        first = plan_after(10 ** 9)
        process.submit_model(b"truncated")
        later = plan_after(first.stamp_ns + 10 ** 9)
        assert later.plans > first.plans and process.alive
    finally:
        process.stop()
