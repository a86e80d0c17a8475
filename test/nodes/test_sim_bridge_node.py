"""sim_bridge on the runtime: lockstep stepping, misses, stale commands, episodes, sensor model."""
import numpy as np
import pytest

from mbrl_ros.nodes.conversions import command_message, stamp_to_ns
from mbrl_ros.nodes.sim_bridge import SimBridgeNode
from mbrl_ros.ros.compat import DurabilityPolicy, QoSProfile, ReliabilityPolicy, msg
from mbrl_ros.tasks import make_task

EPISODE = {"task": "pendulum_swingup", "pendulum_swingup.episode_length": 6, "start_delay": 0.0,
           "linger": 0.5, "reset_gap": 1.0}
RETURNS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)


def controller(graph, answer):
    """A fake controller: ``answer(stamp_ns, index)`` -> list of (action, tag) to publish per joint state."""
    states = []
    pub = graph.publisher("std_msgs/msg/Float64MultiArray", "/effort_controller/commands")

    def on_state(message):
        stamp = stamp_to_ns(message.header.stamp)
        states.append(message)
        for action, tag in answer(stamp, len(states) - 1):
            pub.publish(command_message(action, tag))

    graph.probe.create_subscription(msg("sensor_msgs/msg/JointState"), "/joint_states", on_state, 10)
    return states


def test_lockstep_episodes_misses_and_stale_commands(graph, wait_for):
    def answer(stamp, index):
        if index in (2, 6, 13):
            # 2: no answer, the bridge waits, then misses; 6, 13: the last state of an episode,
            # which the bridge does not wait for.
            return []
        if index == 3:
            return [([-3.0], stamp - 1), ([1.0], stamp)]  # a stale tag first, then the right one
        return [([1.0], stamp)]

    states = controller(graph, answer)
    truth = graph.collect("sensor_msgs/msg/JointState", "/sim_bridge/ground_truth")
    rewards = graph.collect("std_msgs/msg/Float64", "/sim_bridge/reward")
    clock = graph.collect("rosgraph_msgs/msg/Clock", "/clock")
    returns = graph.collect("std_msgs/msg/Float64", "/sim_bridge/episode_return", RETURNS_QOS)
    node = graph.start(SimBridgeNode, **EPISODE, **{"learning.episodes": 2, "step_timeout": 0.3})
    wait_for(lambda: not graph.context.ok(), timeout=20.0, what="the bridge to finish its episodes")

    assert node.exit_code == 0
    assert len(returns) == 2 and len(rewards) == 12 and len(states) == 14 and len(clock) == 14
    assert node.health.get("missed_steps") == 1 and node.health.get("stale_commands") == 1
    reward_values = [r.data for r in rewards]
    assert returns[0].data == pytest.approx(sum(reward_values[:6]))
    assert returns[1].data == pytest.approx(sum(reward_values[6:]))
    stamps = np.array([stamp_to_ns(s.header.stamp) for s in states]) / 1e9
    # 7 states per episode 0.05 s apart; the second episode starts after a 1 s reset gap.
    np.testing.assert_allclose(np.diff(stamps[:7]), 0.05)
    assert stamps[7] - stamps[6] == pytest.approx(1.0)
    assert [s.name for s in states[:1]] == [["hinge"]]
    # Episode e starts like mbrl-ros train's (seed * 100003 + e); no noise: measured == truth.
    task = make_task("pendulum_swingup")
    for episode, first in ((0, 0), (1, 7)):
        obs, _ = task.reset(seed=episode)
        assert list(truth[first].position) + list(truth[first].velocity) == pytest.approx(obs.tolist())
        assert states[first].position == truth[first].position


def test_sensor_noise_quantization_and_latency(graph, wait_for):
    states = controller(graph, lambda stamp, index: [([0.0], stamp)])
    truth = graph.collect("sensor_msgs/msg/JointState", "/sim_bridge/ground_truth")
    node = graph.start(SimBridgeNode, **EPISODE, **{"learning.episodes": 1, "latency_steps": 2,
                                                     "position_quantization": 0.01, "velocity_noise_std": 0.5,
                                                     "step_timeout": 2.0})
    wait_for(lambda: not graph.context.ok(), timeout=20.0, what="the bridge to finish")
    assert node.health.get("missed_steps") == 0
    assert len(truth) == 7 and len(states) == 5          # the last two measurements were still in flight
    for k, measured in enumerate(states):
        true = truth[k]                                   # measurement k is published 2 steps late
        assert measured.header.stamp == true.header.stamp
        assert measured.position[0] == pytest.approx(round(true.position[0] / 0.01) * 0.01)
    velocity_error = [m.velocity[0] - t.velocity[0] for m, t in zip(states, truth)]
    assert 0.0 < np.std(velocity_error) < 2.0


def test_position_only_encoders_per_joint_and_actuation_delay(graph, wait_for):
    """Cart-pole with a per-joint encoder profile and commands acting one control period late."""
    commands = {}

    def answer(stamp, index):
        commands[index] = 10.0 if index == 0 else 0.0      # one push at the start
        return [([commands[index]], stamp)]

    states = controller(graph, answer)
    truth = graph.collect("sensor_msgs/msg/JointState", "/sim_bridge/ground_truth")
    node = graph.start(SimBridgeNode, task="cartpole_swingup", start_delay=0.0, linger=0.5,
                       **{"cartpole_swingup.episode_length": 4, "learning.episodes": 1,
                          "position_quantization": [0.001, 0.1], "publish_velocity": False,
                          "actuation_delay_steps": 1, "step_timeout": 2.0})
    wait_for(lambda: not graph.context.ok(), timeout=20.0, what="the bridge to finish")
    assert node.health.get("missed_steps") == 0 and len(states) == 5
    for measured, true in zip(states, truth):
        assert list(measured.velocity) == []
        assert measured.position[0] == pytest.approx(round(true.position[0] / 0.001) * 0.001)
        assert measured.position[1] == pytest.approx(round(true.position[1] / 0.1) * 0.1)
    # The push given at step 0 acts during step 1 (the safe command 0 during step 0).
    task = make_task("cartpole_swingup")
    task.reset(seed=0)
    for k, force in enumerate([0.0, 10.0, 0.0]):
        obs = task.step(np.array([force]))[0]
        assert list(truth[k + 1].position) + list(truth[k + 1].velocity) == pytest.approx(obs.tolist())


def test_realtime_waits_for_a_controller_before_the_first_episode(graph, wait_for):
    """Real time does not start the first episode uncontrolled while the graph still connects."""
    import time

    states = graph.collect("sensor_msgs/msg/JointState", "/joint_states")
    started = time.monotonic()
    node = graph.start(SimBridgeNode, **{**EPISODE, "realtime": True, "learning.episodes": 1,
                                         "start_timeout": 30.0})
    time.sleep(1.0)
    assert states == [], "the bridge stepped before any command publisher existed"
    graph.publisher("std_msgs/msg/Float64MultiArray", "/effort_controller/commands")  # a controller appears
    wait_for(lambda: len(states) >= 7, timeout=20.0, what="the episode's states")
    wait_for(lambda: not graph.context.ok(), timeout=20.0, what="the bridge to finish")
    assert node.exit_code == 0 and time.monotonic() - started >= 1.0


def test_action_repeat_over_ros_gives_the_in_process_loops_transitions(graph, wait_for):
    """learning.action_repeat 3 on sim_bridge and model_learner: each command is held 3 physics
    steps, a state follows each hold, and the learner pairs exactly the transitions that
    run_episode_outcome (the in-process loop) stores for the same policy and episode seeds: the
    held transitions, without the last hold that the episode's end cuts short (20 = 6 x 3 + 2)."""
    from mbrl_ros.learning.loop import run_episode_outcome
    from mbrl_ros.nodes.joint_layout import state_layout
    from mbrl_ros.nodes.model_learner import ModelLearnerNode

    repeat, length, episodes = 3, 20, 2
    run = {"task": "pendulum_swingup", "pendulum_swingup.episode_length": length, "learning.action_repeat": repeat,
           "learning.episodes": episodes}
    task = make_task("pendulum_swingup", {"episode_length": length})
    layout = state_layout(task)

    def policy(obs):  # deterministic, inside the torque limits
        return np.array([2.5 * np.sin(3.0 * obs[0] + obs[1])])

    def answer(stamp, _index):
        message = states[-1]
        return [(policy(layout.observation(np.array(message.position), np.array(message.velocity), None)), stamp)]

    states = controller(graph, answer)
    rewards = graph.collect("std_msgs/msg/Float64", "/sim_bridge/reward")
    learner = graph.start(ModelLearnerNode, single_threaded=True, **run, state_topic="/joint_states",
                          settle_time=0.0, **{"learning.seed_episodes": 5})  # collects only
    bridge = graph.start(SimBridgeNode, **{**EPISODE, **run, "step_timeout": 5.0})
    wait_for(lambda: not graph.context.ok(), timeout=30.0, what="the bridge to finish its episodes")

    expected = []
    outcomes = [run_episode_outcome(task, episode, policy, lambda *t: expected.append(t), action_repeat=repeat)
                for episode in range(episodes)]
    assert bridge.exit_code == 0 and bridge.health.get("missed_steps") == 0
    assert len(states) == episodes * (1 + 6)          # the reset state, then one per full hold
    assert len(rewards) == bridge.health.get("steps") == episodes * length == sum(o.steps for o in outcomes)
    assert bridge.episode_returns == pytest.approx([o.planning_return for o in outcomes], abs=1e-12)
    stamps = np.array([stamp_to_ns(s.header.stamp) for s in states[:7]]) / 1e9
    np.testing.assert_allclose(np.diff(stamps), 3 * 0.05)
    assert len(expected) == learner.data.size == episodes * 6
    obs, action, next_obs = learner.data.arrays()
    np.testing.assert_array_equal(obs, np.array([t[0] for t in expected]))
    np.testing.assert_array_equal(action, np.array([t[1] for t in expected]))
    np.testing.assert_array_equal(next_obs, np.array([t[2] for t in expected]))
