"""sim_bridge with a physics profile: the stand-in runs, its physics is published, truth stays noise-free."""
import json

import numpy as np
import pytest

from mbrl_ros.nodes.conversions import command_message, stamp_to_ns
from mbrl_ros.nodes.sim_bridge import SimBridgeNode
from mbrl_ros.ros.compat import msg, qos_profile_latched

EPISODE = {"task": "pendulum_swingup", "pendulum_swingup.episode_length": 5, "start_delay": 0.0,
           "linger": 0.5, "reset_gap": 1.0, "step_timeout": 0.5}


def test_stand_in_physics_is_logged_and_ground_truth_is_noise_free(graph, wait_for, tmp_path):
    pub = graph.publisher("std_msgs/msg/Float64MultiArray", "/effort_controller/commands")
    states = []

    def on_state(message):
        states.append(message)
        pub.publish(command_message([1.0], stamp_to_ns(message.header.stamp)))

    graph.probe.create_subscription(msg("sensor_msgs/msg/JointState"), "/joint_states", on_state, 10)
    truth = graph.collect("sensor_msgs/msg/JointState", "/sim_bridge/ground_truth")
    physics = graph.collect("std_msgs/msg/String", "/sim_bridge/physics", qos_profile_latched)
    node = graph.start(SimBridgeNode, **EPISODE, **{"learning.episodes": 2}, physics_profile="stand_in",
                       output_dir=str(tmp_path))
    wait_for(lambda: not graph.context.ok(), timeout=30.0, what="the stand-in's two episodes")
    assert node.exit_code == 0 and len(states) == 12 and len(truth) == 12
    assert node.task.physics.model.body_mass[1] == pytest.approx(1.2 * 1.1)   # pole 1.1 kg (rod + bob), +20%
    values = json.loads(physics[-1].data)
    assert values["episode"] == 1 and values["body_mass.pole"] == 1.2 and values["actuation_delay"] == 0.01
    measured = np.array([s.position[0] for s in states])
    true = np.array([t.position[0] for t in truth])
    assert 0 < np.abs(measured - true).max() < 0.01          # 1.5 mrad encoder noise on the measurement only
    progress = (tmp_path / "progress.csv").read_text().splitlines()
    assert "physics.body_mass.pole" in progress[0] and len(progress) == 3
