"""mpc_planner on the runtime: exploration, live model swaps, rejected inputs, safe commands."""
import threading

import numpy as np
import pytest

from mbrl_ros.models.onnx_backend import OnnxEnsembleModel
from mbrl_ros.nodes.conversions import (
    bytes_message,
    command_to_action,
    float64_matrix,
    joint_state_message,
    labelled_values,
    stamp_to_ns,
)
from mbrl_ros.learning.model_payload import encode_model
from mbrl_ros.nodes.planner import PlannerNode

FAST_PLANNER = {"task": "pendulum_swingup", "planner": "icem", "learning.horizon": 5, "icem.population": 16,
                "icem.min_population": 8, "icem.num_elites": 4, "icem.iterations": 1, "max_state_age": 0.0,
                "state_timeout": 60.0}
LIMIT = 3.0  # pendulum torque limit, N*m


def start(graph, latched, wait_for, **overrides):
    node = graph.start(PlannerNode, **{**FAST_PLANNER, **overrides})
    commands = graph.collect("std_msgs/msg/Float64MultiArray", "/effort_controller/commands")
    states = graph.publisher("sensor_msgs/msg/JointState", "/mbrl/state")
    models = graph.publisher("std_msgs/msg/UInt8MultiArray", "/mbrl/model", latched)
    wait_for(lambda: states.get_subscription_count() > 0 and models.get_subscription_count() > 0,
             what="the planner's subscriptions")
    return node, commands, states, models


def model_message(node, trained_model, **metadata):
    spec = node.task.spec
    values = {"version": 1, "task": spec.name, "episodes": 1, "transitions": 32, "metrics": {}, **metadata}
    return bytes_message(encode_model(trained_model(spec), **values))


def test_one_tagged_command_per_state_and_live_model_swap(graph, latched, wait_for, trained_model):
    node, commands, states, models = start(graph, latched, wait_for)
    paths = graph.collect("nav_msgs/msg/Path", "/mpc_planner/plan")
    spreads = graph.collect("std_msgs/msg/Float64MultiArray", "/mpc_planner/plan_spread")
    for k in range(5):
        states.publish(joint_state_message(1_000_000_000 + k * 50_000_000, ["hinge"], [0.1 * k], [0.0]))
        wait_for(lambda: len(commands) == k + 1, what=f"the command for state {k}")
    actions = [command_to_action(c, 1) for c in commands]
    assert [tag for _, tag in actions] == [1_000_000_000 + k * 50_000_000 for k in range(5)]
    values = [a[0] for a, _ in actions]
    assert all(-LIMIT <= v <= LIMIT for v in values) and len(set(values)) == 5   # uniform exploration
    assert node.health.get("commands.explore") == 5

    models.publish(model_message(node, trained_model, version=7))
    wait_for(lambda: node._pending_model is not None, what="the model check")
    states.publish(joint_state_message(2_000_000_000, ["hinge"], [0.0], [0.0]))
    wait_for(lambda: len(commands) == 6, what="a planned command")
    assert node.model_version == 7 and node.health.get("commands.plan") == 1
    assert isinstance(node.model, OnnxEnsembleModel)  # 1 thread on the CPU: ONNX Runtime plans (auto)
    assert command_to_action(commands[-1], 1)[1] == 2_000_000_000
    wait_for(lambda: len(paths) == 1, what="the planned path")
    assert len(paths[0].poses) == 5 and stamp_to_ns(paths[0].poses[0].header.stamp) == 2_050_000_000
    wait_for(lambda: len(spreads) == 1, what="the plan's spread")
    spread = float64_matrix(spreads[0])          # (horizon, path entries): std over the particles
    assert spread.shape == (5, 1) and np.all(spread >= 0) and spread[-1, 0] > 0

    # One at a time: the latched topic keeps depth 1, so a second sample sent at once can replace the first.
    models.publish(bytes_message(b"garbage"))
    wait_for(lambda: node.health.rejected_total("model") == 1, what="the rejected garbage model")
    models.publish(model_message(node, trained_model, task="cartpole_swingup"))
    wait_for(lambda: node.health.rejected_total("model") == 2, what="two rejected models")
    assert node.health.get("rejected.model.decode") == 1 and node.health.get("rejected.model.task") == 1
    states.publish(joint_state_message(2_050_000_000, ["hinge"], [0.0], [0.0]))
    wait_for(lambda: len(commands) == 7, what="a command with the kept model")
    assert node.model_version == 7


def test_cost_terms_of_each_plan_are_published_by_name(graph, latched, wait_for, trained_model):
    node, commands, states, models = start(graph, latched, wait_for)
    costs = graph.collect("std_msgs/msg/Float64MultiArray", "/mpc_planner/cost_terms")
    models.publish(model_message(node, trained_model))
    wait_for(lambda: node._pending_model is not None, what="the model check")
    for k in range(2):
        states.publish(joint_state_message(1_000_000_000 + k * 50_000_000, ["hinge"], [0.2 * k], [0.0]))
        wait_for(lambda: len(costs) == k + 1, what=f"the cost terms of plan {k}")
    horizon = FAST_PLANNER["learning.horizon"]
    for message in costs:
        terms = labelled_values(message)
        assert list(terms) == ["tip_distance", "action"]  # velocity has weight 0: left out
        assert all(np.isfinite(v) for v in terms.values())
        # Per step, 1.0 * -exp(-d^2/s^2) is in [-1, 0] and 0.01 * (u/u_max)^2 in [0, 0.01].
        assert -horizon <= terms["tip_distance"] <= 0.0 and 0.0 <= terms["action"] <= 0.01 * horizon


def test_bad_states_get_no_command(graph, latched, wait_for, check_bad_states_get_no_command):
    node, commands, states, _ = start(graph, latched, wait_for)
    check_bad_states_get_no_command(node, commands, states)


def test_safe_command_when_states_stop(graph, latched, wait_for):
    node, commands, states, _ = start(graph, latched, wait_for, state_timeout=0.2)
    states.publish(joint_state_message(5_000_000_000, ["hinge"], [0.0], [0.0]))
    wait_for(lambda: len(commands) >= 2, timeout=5.0, what="a safe command after the timeout")
    action, tag = command_to_action(commands[1], 1)
    assert action.tolist() == [0.0] and tag == 5_000_000_000
    assert node.health.get("commands.safe") >= 1


def test_timer_trigger_follows_the_plan_at_the_control_rate(graph, latched, wait_for, trained_model):
    node, commands, states, models = start(graph, latched, wait_for, trigger="timer", explore=False)
    models.publish(model_message(node, trained_model))
    wait_for(lambda: node._pending_model is not None, what="the model check")
    states.publish(joint_state_message(1, ["hinge"], [0.0], [0.0]))
    wait_for(lambda: len(commands) >= 4, timeout=5.0, what="timer commands")
    sent = [command_to_action(c, 1) for c in commands[:4]]
    assert all(tag is None for _, tag in sent)                 # timer commands answer no single state
    with node._lock:
        plan = node._plan.actions[:, 0].tolist()
    assert [a[0] for a, _ in sent] == pytest.approx(plan[:4])  # the plan, one action per tick
    assert all(np.isfinite(a).all() for a, _ in sent)


def test_state_async_answers_every_state_at_once_from_the_newest_plan(graph, latched, wait_for, trained_model):
    node, commands, states, models = start(graph, latched, wait_for, trigger="state_async")
    period, horizon = 50_000_000, FAST_PLANNER["learning.horizon"]
    stamps = iter(range(1_000_000_000, 10_000_000_000, period))

    def answer(stamp):
        count = len(commands)
        states.publish(joint_state_message(stamp, ["hinge"], [0.0], [0.0]))
        wait_for(lambda: len(commands) == count + 1, what=f"the command for the state at {stamp}")
        action, tag = command_to_action(commands[-1], 1)
        assert tag == stamp
        return float(action[0])

    for _ in range(3):
        answer(next(stamps))                                   # no model yet: exploration
    assert node.health.get("commands.explore") == 3

    # A planner stuck in its first plan on the model: every state is still answered at once.
    release = threading.Event()
    real_plan = node.planner.plan
    node.planner.plan = lambda obs, deadline=None: (release.wait(10.0), real_plan(obs, deadline))[1]
    models.publish(model_message(node, trained_model))
    wait_for(lambda: node._pending_model is not None, what="the model check")
    answer(next(stamps))
    wait_for(lambda: node.model is not None, what="the planning thread to take the model")
    for _ in range(3):
        answer(next(stamps))
    assert node.health.get("commands.explore") == 7 and node._plan is None

    release.set()
    wait_for(lambda: node._plan is not None, what="the first plan")
    node.stop()                                                # freeze the newest plan
    with node._lock:
        plan = node._plan
    sent = [(stamp, answer(stamp)) for stamp in [next(stamps) for _ in range(horizon + 1)]]
    for stamp, value in sent:
        index = (stamp - plan.stamp_ns) // period              # the plan's action for the state's time
        assert value == pytest.approx(plan.actions[index, 0] if index < horizon else 0.0), index
    assert node.health.get("commands.plan") >= 1 and node.health.get("commands.plan_exhausted") >= 1



def test_planning_process_answers_states_from_the_plans_of_its_child(graph, latched, wait_for, trained_model):
    node, commands, states, models = start(graph, latched, wait_for, trigger="state_async", planning_process=True)
    paths = graph.collect("nav_msgs/msg/Path", "/mpc_planner/plan")
    costs = graph.collect("std_msgs/msg/Float64MultiArray", "/mpc_planner/cost_terms")
    assert node._process is not None and node._process.alive and not node._thread.is_alive()
    # This process only answers states: run_node gives it the control path's real-time priority.
    from mbrl_ros.nodes.scheduling import CONTROL_PATH_DEFAULTS

    assert node.scheduling_defaults == CONTROL_PATH_DEFAULTS and CONTROL_PATH_DEFAULTS["realtime_priority"] > 0
    period = 50_000_000
    stamps = iter(range(1_000_000_000, 10 ** 12, period))

    def answer(stamp):
        count = len(commands)
        states.publish(joint_state_message(stamp, ["hinge"], [0.0], [0.0]))
        wait_for(lambda: len(commands) == count + 1, what=f"the command for the state at {stamp}")
        action, tag = command_to_action(commands[-1], 1)
        assert tag == stamp and abs(action[0]) <= LIMIT

    answer(next(stamps))  # no model yet: exploration
    assert node.health.get("commands.explore") == 1
    models.publish(model_message(node, trained_model))
    wait_for(lambda: node.health.get("models_swapped") == 1, what="the model check")

    def planned():
        answer(next(stamps))
        return node.health.get("commands.plan") >= 1

    wait_for(planned, timeout=180.0, what="a command from the child's plan (a spawned child imports torch first)")
    assert node.health.get("plans") >= 1 and node._plan is not None
    # The child's plans come back as ~/plan and ~/cost_terms too (rolled out in the child).
    wait_for(lambda: len(paths) >= 1 and len(costs) >= 1, what="the child's predicted path and cost terms")
    horizon = FAST_PLANNER["learning.horizon"]
    assert len(paths[0].poses) == horizon
    terms = labelled_values(costs[0])
    assert list(terms) == ["tip_distance", "action"] and -horizon <= terms["tip_distance"] <= 0.0
    process = node._process
    node.stop()
    assert not process.alive


def test_planning_process_needs_state_async(graph, latched, wait_for):
    from mbrl_ros.config import ConfigError

    with pytest.raises(ConfigError, match="planning_process needs trigger state_async"):
        graph.start(PlannerNode, **{**FAST_PLANNER, "trigger": "state", "planning_process": True})


def test_a_critic_in_the_payload_is_planned_with_and_a_model_without_one_as_before(graph, latched, wait_for,
                                                                                  trained_model, trained_values):
    """learning.terminal_value over ROS: the critic and actor inside a model's payload become the
    terminal value and proposals (as in the in-process loop); with learning.action_repeat 2 the
    plan's steps are held periods of 2 x 0.05 s."""
    import torch

    node, commands, states, models = start(graph, latched, wait_for, **{"learning.action_repeat": 2})
    paths = graph.collect("nav_msgs/msg/Path", "/mpc_planner/plan")
    spec = node.task.spec
    model = trained_model(spec)
    values = trained_values(node.task, model)
    models.publish(bytes_message(encode_model(model, version=3, task=spec.name, episodes=1, transitions=32,
                                              metrics={}, values=values)))
    wait_for(lambda: node._pending_model is not None, what="the model check")
    states.publish(joint_state_message(1_000_000_000, ["hinge"], [0.1], [0.0]))
    wait_for(lambda: len(commands) == 1, what="a command planned with the critic")
    assert node.model_version == 3 and node.values.version == 1 and node.health.get("value_version") == 1
    probe = torch.randn(4, spec.obs_dim)
    assert torch.equal(node.objective.terminal_value(probe), values.terminal_value(probe))
    assert node.objective.discount == values.config.discount
    assert node.planner.proposal_fn(torch.zeros(spec.obs_dim)).shape == (3, 5, 1)  # num_proposals 3
    wait_for(lambda: len(paths) == 1, what="the planned path")
    assert [stamp_to_ns(p.header.stamp) for p in paths[0].poses[:2]] == [1_100_000_000, 1_200_000_000]

    models.publish(model_message(node, trained_model, version=4))  # no critic: plain returns again
    wait_for(lambda: node._pending_model is not None, what="the second model's check")
    states.publish(joint_state_message(1_100_000_000, ["hinge"], [0.1], [0.0]))
    wait_for(lambda: len(commands) == 2, what="a command planned without a critic")
    assert node.model_version == 4 and node.values is None and node.health.get("value_version") == -1
    assert node.objective.terminal_value is None and node.objective.discount == 1.0
    assert node.planner.proposal_fn is None
