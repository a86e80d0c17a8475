"""train-from-bag: a recorded stream gives exactly model_learner's transitions, and a usable model."""
import json
import math
import time

import numpy as np
import pytest

from mbrl_ros.learning.initial_model import load_initial_model
from mbrl_ros.nodes.bag_recorder import BagRecorderNode
from mbrl_ros.nodes.conversions import bytes_message, command_message, joint_state_message
from mbrl_ros.nodes.model_learner import ModelLearnerNode
from mbrl_ros.learning.model_payload import encode_model
from mbrl_ros.recording.replay import transitions_from_bag
from mbrl_ros.tasks import make_task

PERIOD_NS = 50_000_000
TOPICS = ["/mbrl/state:sensor_msgs/msg/JointState", "/effort_controller/commands:std_msgs/msg/Float64MultiArray",
          "/mbrl/model:std_msgs/msg/UInt8MultiArray:latched"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, trained_model):
    """A bag and the learner's transitions for the same stream (two episodes, the second with gaps)."""
    from mbrl_ros.ros.runtime.testing import isolated_domain
    from ros_graph import RosGraph, wait_for

    bag = tmp_path_factory.mktemp("bags") / "bag"
    spec = make_task("pendulum_swingup").spec
    with isolated_domain():
        graph = RosGraph()
        try:
            learner = graph.start(ModelLearnerNode, single_threaded=True, task="pendulum_swingup",
                                  **{"learning.seed_episodes": 100})
            recorder = graph.start(BagRecorderNode, topics=TOPICS, path=str(bag))
            states = graph.publisher("sensor_msgs/msg/JointState", "/mbrl/state", 100)
            commands = graph.publisher("std_msgs/msg/Float64MultiArray", "/effort_controller/commands", 100)
            from mbrl_ros.ros.compat import qos_profile_latched

            models = graph.publisher("std_msgs/msg/UInt8MultiArray", "/mbrl/model", qos_profile_latched)
            wait_for(lambda: states.get_subscription_count() == 2 and commands.get_subscription_count() == 2
                     and models.get_subscription_count() == 1, what="learner and recorder subscriptions")
            model = trained_model(spec)
            models.publish(bytes_message(encode_model(model, version=1, task=spec.name, episodes=1, transitions=30,
                                                      metrics={"holdout_mse": 0.5})))
            start = 1_000_000_000
            for episode, steps in enumerate((30, 25)):
                for k in range(steps + 1):
                    stamp = start + k * PERIOD_NS
                    states.publish(joint_state_message(stamp, ["hinge"], [0.05 * k + episode], [math.cos(k)]))
                    # Tagged commands pair the same in any arrival order (the planner tags them); in
                    # episode 1 some are missing, so pairs take the command held since.
                    if k < steps and (episode == 0 or k % 7 != 3):
                        commands.publish(command_message([2.0 * math.sin(k)], stamp))
                start += (steps + 20) * PERIOD_NS
            wait_for(lambda: recorder.bag.counts["/mbrl/state"] == 57
                     and recorder.bag.counts["/effort_controller/commands"] == 51, timeout=20.0,
                     what="the recorded stream")
            sizes = []

            def settled():  # the learner has taken everything once its size stops changing
                sizes.append(learner.data.size)
                time.sleep(0.05)
                return len(sizes) > 10 and len(set(sizes[-10:])) == 1
            wait_for(settled, what="the learner to take the stream")
            recorder.stop()
            with learner._lock:
                arrays = learner.data.arrays()
        finally:
            graph.close()
    return bag, arrays


def test_replay_gives_exactly_the_learner_s_transitions(recorded):
    bag, (obs, action, next_obs) = recorded
    replay = transitions_from_bag(bag, make_task("pendulum_swingup"))
    r_obs, r_action, r_next = replay.data.arrays()
    np.testing.assert_array_equal(r_obs, obs)
    np.testing.assert_array_equal(r_action, action)
    np.testing.assert_array_equal(r_next, next_obs)
    assert replay.episode.tolist() == [0] * 30 + [1] * 24 and replay.dropped == {"gap": 1}
    assert len(replay.models) == 1


class _Result:
    def __init__(self, returncode, captured):
        self.returncode, self.stdout, self.stderr = returncode, captured.out, captured.err


@pytest.fixture
def cli(capsys):
    """``mbrl-ros train-from-bag ARGS`` in this process (exit code, stdout, stderr)."""
    from mbrl_ros.cli import main

    def run(*args):
        capsys.readouterr()
        code = main(["train-from-bag", *map(str, args)])
        return _Result(code, capsys.readouterr())
    return run


SMALL = ["-p", "pets_ensemble.hidden_units:=16", "-p", "pets_ensemble.max_epochs:=5"]


def test_train_from_bag_writes_a_model_usable_as_initial_model(recorded, tmp_path, cli):
    bag, _ = recorded
    out = tmp_path / "model"
    proc = cli(bag, "--task", "pendulum_swingup", "--out", out, "--episodes", "1", *SMALL)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["transitions"] == 54 and summary["trained_on"] == 30 and summary["eval_transitions"] == 24
    assert summary["online_model_version"] == 1 and np.isfinite(summary["eval_error_ratio"])
    model = load_initial_model(out / "model.npz", make_task("pendulum_swingup").spec)
    assert model.extra_metadata["source"] == "mbrl-ros train-from-bag" and model.config.hidden_units == 16


def test_bad_bags_and_other_tasks_exit_2_and_overwrite_nothing(recorded, tmp_path, cli):
    bag, _ = recorded
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.npz").write_bytes(b"previous model")
    proc = cli(tmp_path / "missing", "--task", "pendulum_swingup", "--out", out)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for f in bag.iterdir():
        data = f.read_bytes()
        (corrupt / f.name).write_bytes(data if f.suffix == ".yaml" else data[: len(data) // 3])
    proc = cli(corrupt, "--task", "pendulum_swingup", "--out", out)
    assert proc.returncode == 2 and "bag" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli(bag, "--task", "cartpole_swingup", "--out", out)
    assert proc.returncode == 2, proc.stderr
    assert "was recorded for task pendulum_swingup, not 'cartpole_swingup'" in proc.stderr
    assert (out / "model.npz").read_bytes() == b"previous model" and sorted(p.name for p in out.iterdir()) == [
        "model.npz"]
