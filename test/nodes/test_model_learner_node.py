"""model_learner on the runtime: transitions from topics, training per episode, latched models."""
import math
import threading
import time

import torch

from ros_graph import learner_inputs

from mbrl_ros.models.training import TrainingCancelled
from mbrl_ros.nodes.conversions import command_message, joint_state_message, message_bytes
from mbrl_ros.nodes.model_learner import ModelLearnerNode
from mbrl_ros.learning.model_payload import decode_model, decode_value, model_version
from mbrl_ros.ros.compat import DurabilityPolicy, QoSProfile, ReliabilityPolicy, msg

SMALL_MODEL = {"task": "pendulum_swingup", "pets_ensemble.ensemble_size": 2, "pets_ensemble.num_elites": 2,
               "pets_ensemble.num_particles": 2, "pets_ensemble.hidden_units": 8, "learning.max_train_epochs": 2,
               "settle_time": 0.0}
PERIOD_NS = 50_000_000


def play_episode(graph, states, commands, start_ns, steps, *, tagged=True, period_ns=PERIOD_NS):
    """Publish ``steps + 1`` states ``period_ns`` apart, each answered by a command (tagged with its stamp)."""
    for k in range(steps + 1):
        stamp = start_ns + k * period_ns
        states.publish(joint_state_message(stamp, ["hinge"], [0.01 * k], [0.2]))
        if k < steps:
            commands.publish(command_message([math.sin(k)], stamp if tagged else None))


def test_trains_after_each_episode_and_publishes_latched_models(graph, latched, tmp_path, wait_for):
    model_file = tmp_path / "model.npz"
    node = graph.start(ModelLearnerNode, single_threaded=True, **SMALL_MODEL, **{"learning.seed_episodes": 2},
                       model_path=str(model_file))
    processed = graph.collect("std_msgs/msg/Int32", "/model_learner/processed_episodes", latched)
    states, commands, ends = learner_inputs(graph)

    play_episode(graph, states, commands, 1_000_000_000, 20)
    wait_for(lambda: node.data.size == 20, what="20 transitions")
    ends.publish(msg("std_msgs/msg/Float64")(data=1.0))
    wait_for(lambda: processed and processed[-1].data == 1, what="episode 1 processed")
    assert node.version == 0                                   # seed_episodes = 2: no model yet

    states.publish(joint_state_message(2_000_000_000, ["hinge"], [math.nan], [0.0]))
    play_episode(graph, states, commands, 3_000_000_000, 10, tagged=False)
    wait_for(lambda: node.data.size == 30, what="the second episode's transitions")
    ends.publish(msg("std_msgs/msg/Float64")(data=2.0))
    wait_for(lambda: processed[-1].data == 2, timeout=30.0, what="episode 2 processed (after training)")
    assert node.version == 1
    assert node.health.get("rejected.state.non_finite") == 1
    assert node.pairing.dropped == {"gap": 1}                   # the 1 s between the episodes

    models = graph.collect("std_msgs/msg/UInt8MultiArray", "/mbrl/model", latched)  # a late subscriber
    wait_for(lambda: len(models) == 1, what="the latched model")
    model = decode_model(message_bytes(models[0]), node.task.spec)
    assert model_version(model) == 1
    assert model.extra_metadata["transitions"] == 30 and model.extra_metadata["episodes"] == 2
    assert set(model.extra_metadata["metrics"]) >= {"holdout_mse", "epochs", "train_seconds"}
    assert model_file.read_bytes() == message_bytes(models[0])


def test_trains_every_n_transitions_without_episodes(graph, wait_for):
    node = graph.start(ModelLearnerNode, single_threaded=True, **SMALL_MODEL, train_every_transitions=15,
                       episode_end_topic="")
    states = graph.publisher("sensor_msgs/msg/JointState", "/mbrl/state", 100)
    commands = graph.publisher("std_msgs/msg/Float64MultiArray", "/effort_controller/commands", 100)
    models = graph.collect("std_msgs/msg/UInt8MultiArray", "/mbrl/model", QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    wait_for(lambda: states.get_subscription_count() and commands.get_subscription_count(),
             what="the learner's subscriptions")
    play_episode(graph, states, commands, 1_000_000_000, 16)
    wait_for(lambda: len(models) == 1, timeout=30.0, what="a model after 15 transitions")
    play_episode(graph, states, commands, 3_000_000_000, 16)    # after a gap: 16 more transitions
    wait_for(lambda: len(models) == 2, timeout=30.0, what="a second model after 15 more")
    decoded = [decode_model(message_bytes(m), node.task.spec) for m in models]
    assert [model_version(m) for m in decoded] == [1, 2]
    assert decoded[1].extra_metadata["transitions"] >= 30


def test_stop_abandons_a_retrain_in_progress_and_keeps_the_previous_model(graph, latched, wait_for):
    # Improvements never count (threshold 1.0), so this retrain runs exactly `patience` = 10000
    # epochs: about a minute here (5-12 ms per epoch), far beyond the 5 s a launcher waits
    # between SIGINT and SIGTERM.
    node = graph.start(ModelLearnerNode, single_threaded=True,
                       **{**SMALL_MODEL, "learning.max_train_epochs": 100000, "pets_ensemble.patience": 10000,
                          "pets_ensemble.improvement_threshold": 1.0})
    processed = graph.collect("std_msgs/msg/Int32", "/model_learner/processed_episodes", latched)
    models = graph.collect("std_msgs/msg/UInt8MultiArray", "/mbrl/model", latched)
    states, commands, ends = learner_inputs(graph)

    started, outcome = threading.Event(), []
    fit = node.model.fit
    before = {k: v.clone() for k, v in node.model.state_dict().items()}

    def watched_fit(*args, **kwargs):
        started.set()
        try:
            report = fit(*args, **kwargs)
        except BaseException as exc:
            outcome.append(exc)
            raise
        outcome.append(report)
        return report

    node.model.fit = watched_fit
    play_episode(graph, states, commands, 1_000_000_000, 20)
    wait_for(lambda: node.data.size == 20, what="20 transitions")
    ends.publish(msg("std_msgs/msg/Float64")(data=1.0))
    assert started.wait(10.0), "the retrain did not start"
    time.sleep(0.5)                                             # well into it

    begin = time.monotonic()
    node.stop()
    elapsed = time.monotonic() - begin
    assert not node._thread.is_alive()
    assert elapsed < 5.0, f"stop() took {elapsed:.1f} s"
    assert len(outcome) == 1 and isinstance(outcome[0], TrainingCancelled), outcome
    # The model from before the retrain stays, and nothing was published for it.
    assert node.version == 0 and not node.model.trained
    after = node.model.state_dict()
    assert [k for k in before if not torch.equal(after[k], before[k])] == []
    assert node.health.get("training_errors") == 0
    time.sleep(0.2)
    assert models == [] and [m.data for m in processed] == [0]


SMALL_VALUE = {"learning.terminal_value": True, "sac_mbpo.hidden_units": 8, "sac_mbpo.hidden_layers": 1,
               "sac_mbpo.min_updates": 5, "sac_mbpo.batch_size": 16, "sac_mbpo.rollout_starts": 8}


def test_terminal_value_trains_a_critic_that_travels_inside_each_model_and_is_resumed(graph, latched, tmp_path,
                                                                                      wait_for):
    params = {**SMALL_MODEL, **SMALL_VALUE, "learning.episodes": 3, "data_dir": str(tmp_path)}
    node = graph.start(ModelLearnerNode, single_threaded=True, **params)
    processed = graph.collect("std_msgs/msg/Int32", "/model_learner/processed_episodes", latched)
    states, commands, ends = learner_inputs(graph)
    for episode, (start_ns, steps) in enumerate(((1_000_000_000, 20), (3_000_000_000, 12), (5_000_000_000, 6))):
        play_episode(graph, states, commands, start_ns, steps)
        wait_for(lambda: node.data.size == (20, 32, 38)[episode], what=f"episode {episode}'s transitions")
        ends.publish(msg("std_msgs/msg/Float64")(data=1.0))
        wait_for(lambda: processed and processed[-1].data == episode + 1, timeout=30.0,
                 what=f"episode {episode} processed")
    # Retrains (and critic updates) after episodes 1 and 2, not after the last: the loop's rule.
    assert node.version == 2 and node.values.version == 2
    # updates_per_step 1: one gradient step per new transition (20, then 12), at least min_updates 5.
    assert [int(row["value_updates"]) for row in node.archive.training_rows] == [20, 12]
    models = graph.collect("std_msgs/msg/UInt8MultiArray", "/mbrl/model", latched)
    wait_for(lambda: len(models) == 1, what="the latched model")
    spec = node.task.spec
    model = decode_model(message_bytes(models[0]), spec)
    critic = decode_value(message_bytes(models[0]), model, spec, reward_fn=node.task.reward)
    assert model_version(model) == 2 and critic.version == 2
    probe = torch.randn(5, spec.obs_dim)
    assert torch.equal(critic.terminal_value(probe), node.values.terminal_value(probe))
    assert node.health.get("value_version") == 2

    node.stop()  # a restarted learner takes over the critic saved with the model
    again = graph.start(ModelLearnerNode, single_threaded=True, **params)
    assert again.version == 2 and again.values.version == 2 and again._value_training.trained_on == 38
    assert torch.equal(again.values.terminal_value(probe), node.values.terminal_value(probe))


def test_action_repeat_pairs_states_one_held_period_apart(graph, wait_for):
    """learning.action_repeat 3: sim_bridge sends a state per held command, 3 control periods apart;
    each pair is one transition (with action_repeat 1 the same stream would be all gaps)."""
    node = graph.start(ModelLearnerNode, single_threaded=True, **SMALL_MODEL,
                       **{"learning.action_repeat": 3, "learning.seed_episodes": 5})
    states, commands, _ends = learner_inputs(graph)
    play_episode(graph, states, commands, 1_000_000_000, 8, period_ns=3 * PERIOD_NS)
    wait_for(lambda: node.data.size == 8, what="8 held transitions")
    obs, action, next_obs = node.data.arrays()
    assert obs[:, 0].tolist() == [0.01 * k for k in range(8)] and next_obs[:, 0].tolist() == [0.01 * k for k in range(1, 9)]
    assert action[:, 0].tolist() == [math.sin(k) for k in range(8)]
    assert dict(node.pairing.dropped) == {}
