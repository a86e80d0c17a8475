"""initial_model in mpc_planner and model_learner: the carried model plans first, then is fine-tuned."""
import math

import numpy as np
import torch

from ros_graph import learner_inputs

from mbrl_ros.models.onnx_backend import for_planning
from mbrl_ros.models.ensemble import EnsembleDynamics
from mbrl_ros.nodes.conversions import command_message, command_to_action, joint_state_message, message_bytes
from mbrl_ros.nodes.model_learner import ModelLearnerNode
from mbrl_ros.learning.model_payload import decode_model
from mbrl_ros.nodes.planner import PlannerNode
from mbrl_ros.planning import TrajectoryObjective, make_planner
from mbrl_ros.ros.compat import msg
from mbrl_ros.tasks import make_task

PLANNER = {"task": "pendulum_swingup", "planner": "icem", "learning.horizon": 5, "icem.population": 16,
           "icem.min_population": 8, "icem.num_elites": 4, "icem.iterations": 1, "max_state_age": 0.0,
           "state_timeout": 60.0, "deadline_fraction": 100.0, "learning.planning_backend": "torch", "seed": 3}


def test_planner_plans_with_the_preloaded_model_before_any_model_arrives(graph, wait_for, trained_model, tmp_path):
    spec = make_task("pendulum_swingup").spec
    carried = trained_model(spec, seed=5)
    path = carried.save(tmp_path / "sim_model.npz", {"task": spec.name, "version": 4})
    node = graph.start(PlannerNode, **PLANNER, initial_model=str(path))
    commands = graph.collect("std_msgs/msg/Float64MultiArray", "/effort_controller/commands")
    states = graph.publisher("sensor_msgs/msg/JointState", "/mbrl/state")
    wait_for(lambda: states.get_subscription_count() > 0, what="the planner's state subscription")
    assert node.model_version == 4
    states.publish(joint_state_message(1_000_000_000, ["hinge"], [0.3], [-0.1]))
    wait_for(lambda: len(commands) == 1, what="the first command")
    assert node.health.get("commands.plan") == 1 and node.health.get("commands.explore") == 0
    # The same planner, seed and model offline give the very same first action.
    task = make_task("pendulum_swingup")
    model = for_planning(EnsembleDynamics.load(path), "torch")
    objective = TrajectoryObjective(model, task.reward, generator=torch.Generator().manual_seed(3))
    planner = make_planner("icem", {"population": 16, "min_population": 8, "num_elites": 4, "iterations": 1},
                           action_low=spec.action_low, action_high=spec.action_high, horizon=5,
                           objective=objective, seed=3, nominal_action=spec.nominal_action)
    expected = planner.plan(np.array([0.3, -0.1]), None).actions[0].numpy()
    action, tag = command_to_action(commands[0], 1)
    assert tag == 1_000_000_000
    np.testing.assert_allclose(action, np.clip(expected, -3.0, 3.0), rtol=1e-6, atol=1e-7)


def test_planning_process_plans_with_the_preloaded_model_before_any_model_arrives(graph, wait_for, trained_model,
                                                                                  tmp_path):
    spec = make_task("pendulum_swingup").spec
    path = trained_model(spec, seed=5).save(tmp_path / "sim_model.npz", {"task": spec.name, "version": 2})
    node = graph.start(PlannerNode, **{**PLANNER, "trigger": "state_async", "planning_process": True,
                                       "initial_model": str(path)})
    try:
        commands = graph.collect("std_msgs/msg/Float64MultiArray", "/effort_controller/commands")
        states = graph.publisher("sensor_msgs/msg/JointState", "/mbrl/state")
        wait_for(lambda: states.get_subscription_count() > 0, what="the planner's state subscription")
        assert node.model_version == 2 and node.model is None  # the child plans, this process answers
        stamps = iter(range(1_000_000_000, 10 ** 13, 50_000_000))

        def planned():
            count = len(commands)
            states.publish(joint_state_message(next(stamps), ["hinge"], [0.3], [-0.1]))
            wait_for(lambda: len(commands) > count, what="a command")
            return node.health.get("commands.plan") >= 1

        wait_for(planned, timeout=180.0, what="a command planned on the carried model (the child imports torch)")
        assert node.health.get("models_swapped") in (None, 0)  # no model ever came on the topic
    finally:
        node.stop()


SMALL = {"task": "pendulum_swingup", "learning.max_train_epochs": 20, "settle_time": 0.0,
         "learning.seed_episodes": 3}


def test_learner_fine_tunes_the_carried_model_after_the_first_episode(graph, latched, wait_for, trained_model,
                                                                       tmp_path):
    spec = make_task("pendulum_swingup").spec
    path = trained_model(spec, seed=6).save(tmp_path / "sim_model.npz", {"task": spec.name})
    node = graph.start(ModelLearnerNode, single_threaded=True, **SMALL, initial_model=str(path))
    carried = {k: v.clone() for k, v in node.model.state_dict().items()}
    assert all(torch.equal(v, EnsembleDynamics.load(path).state_dict()[k]) for k, v in carried.items())
    models = graph.collect("std_msgs/msg/UInt8MultiArray", "/mbrl/model", latched)
    states, commands, ends = learner_inputs(graph)
    for k in range(41):
        stamp = 1_000_000_000 + k * 50_000_000
        states.publish(joint_state_message(stamp, ["hinge"], [0.05 * k], [math.cos(0.2 * k)]))
        if k < 40:
            commands.publish(command_message([math.sin(k)], stamp))
    wait_for(lambda: node.data.size == 40, what="40 transitions")
    ends.publish(msg("std_msgs/msg/Float64")(data=1.0))
    # seed_episodes is 3, but a carried model is fine-tuned after the first episode.
    wait_for(lambda: len(models) == 1, timeout=30.0, what="the fine-tuned model")
    model = decode_model(message_bytes(models[0]), spec)
    assert model.extra_metadata["version"] == 1
    assert model.extra_metadata["metrics"]["initial_model"] == str(path)
    tuned = model.state_dict()
    assert torch.equal(tuned["input_norm.mean"], carried["input_norm.mean"])   # normalization kept
