"""sim_bridge and model_learner with a run directory: resume (continue) or replace, never merge."""
import csv
import hashlib
import math

import numpy as np
import pytest
from ros_graph import learner_inputs

from mbrl_ros.learning.archive import LearnerArchive
from mbrl_ros.learning.run_directory import RunDirectoryError
from mbrl_ros.nodes.model_learner import ModelLearnerNode
from mbrl_ros.nodes.sim_bridge import SimBridgeNode
from mbrl_ros.ros.compat import msg

from test_model_learner_node import SMALL_MODEL, play_episode
from test_sim_bridge_node import EPISODE, controller


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def one_episode_run(out, *, episode_length=6):
    """A run directory as a launch of one ``episode_length``-step episode leaves it."""
    from mbrl_ros.config import from_dict, to_dict
    from mbrl_ros.learning import LearningConfig
    from mbrl_ros.learning.report import write_params_yaml
    from mbrl_ros.learning.run_config import resolve_run_parameters

    values = resolve_run_parameters("pendulum_swingup",
                                    overrides=[f"pendulum_swingup.episode_length:={episode_length}"]).values
    write_params_yaml(out, {**values, "learning": to_dict(from_dict(LearningConfig, values["learning"]))})
    LearnerArchive(out, 2, 1).save_transitions(np.zeros((5, 2)), np.zeros((5, 1)), np.ones((5, 2)), episodes=1)
    (out / "progress.csv").write_text("episode,kind,env_steps,episode_return,train_epochs,missed_steps_total\n"
                                      f"0,random,{episode_length},-1.5,0,2\n")


def test_sim_bridge_resume_refuses_no_run(graph, tmp_path):
    with pytest.raises(RunDirectoryError, match="has no run to resume"):
        graph.start(SimBridgeNode, **EPISODE, resume=True, output_dir=str(tmp_path / "none"))
    assert not (tmp_path / "none").exists()
    with pytest.raises(RunDirectoryError, match="needs an output_dir"):
        graph.start(SimBridgeNode, **EPISODE, resume=True)


def test_sim_bridge_resume_refuses_another_task_config(graph, tmp_path):
    out = tmp_path / "run"
    one_episode_run(out, episode_length=9)
    before = digests(out)
    with pytest.raises(RunDirectoryError, match=r"\(pendulum_swingup.episode_length: 9 -> 6\)"):
        graph.start(SimBridgeNode, **EPISODE, resume=True, output_dir=str(out))
    assert digests(out) == before


def test_sim_bridge_resume_numbers_episodes_on(graph, tmp_path, wait_for):
    out = tmp_path / "run"
    one_episode_run(out)
    controller(graph, lambda stamp, index: [([1.0], stamp)])
    node = graph.start(SimBridgeNode, **EPISODE, **{"learning.episodes": 3}, resume=True, output_dir=str(out))
    wait_for(lambda: not graph.context.ok(), timeout=20.0, what="the bridge to finish its episodes")
    assert node.exit_code == 0
    rows = list(csv.DictReader((out / "progress.csv").open()))
    assert [int(r["episode"]) for r in rows] == [0, 1, 2]
    assert [int(r["env_steps"]) for r in rows] == [6, 12, 18]
    assert float(rows[0]["episode_return"]) == -1.5  # the earlier run's row, kept
    assert [int(r["missed_steps_total"]) for r in rows] == [2, 2, 2]
    assert [r["kind"] for r in rows] == ["random", "mpc", "mpc"]


def test_sim_bridge_without_resume_replaces_the_reports(graph, tmp_path, wait_for):
    out = tmp_path / "run"
    one_episode_run(out)
    (out / "summary.json").write_text("{}")
    controller(graph, lambda stamp, index: [([1.0], stamp)])
    graph.start(SimBridgeNode, **EPISODE, **{"learning.episodes": 1}, output_dir=str(out))
    wait_for(lambda: not graph.context.ok(), timeout=20.0, what="the bridge to finish its episode")
    rows = list(csv.DictReader((out / "progress.csv").open()))
    assert len(rows) == 1 and float(rows[0]["episode_return"]) != -1.5


def test_learner_without_resume_starts_over(graph, tmp_path):
    archive = LearnerArchive(tmp_path, 2, 1)
    archive.save_transitions(np.zeros((5, 2)), np.zeros((5, 1)), np.ones((5, 2)), episodes=1)
    archive.append_training_row({"version": 1, "episodes": 1})
    node = graph.start(ModelLearnerNode, single_threaded=True, **SMALL_MODEL, data_dir=str(tmp_path), resume=False)
    assert node.data.size == 0 and node.version == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_learner_resume_makes_up_the_missed_retrain(graph, latched, tmp_path, wait_for):
    """A run of 1 episode (learning.episodes 1: no retrain after it) continued to 2 episodes retrains
    after episode 1 before it reports the episode processed."""
    first = graph.start(ModelLearnerNode, single_threaded=True, **SMALL_MODEL, **{"learning.episodes": 1},
                        data_dir=str(tmp_path), persist_period=0.05)
    states, commands, ends = learner_inputs(graph)
    play_episode(graph, states, commands, 1_000_000_000, 20)
    wait_for(lambda: first.data.size == 20, what="20 transitions")
    ends.publish(msg("std_msgs/msg/Float64")(data=1.0))
    wait_for(lambda: (LearnerArchive(tmp_path, 2, 1).load_transitions() or (0, 0, 0, 0))[3] == 1,
             what="the episode end persisted")
    assert first.version == 0 and not (tmp_path / "model.npz").exists()
    first.stop()

    processed = graph.collect("std_msgs/msg/Int32", "/model_learner/processed_episodes", latched)
    again = graph.start(ModelLearnerNode, single_threaded=True, **SMALL_MODEL, **{"learning.episodes": 2},
                        data_dir=str(tmp_path))
    assert again.data.size == 20
    wait_for(lambda: again.version == 1 and processed and processed[-1].data == 1, timeout=30.0,
             what="the missed retrain, then episode 1 processed")
    assert not math.isnan(again.health.get("holdout_mse"))
    assert again.health.get("trained_after_episodes") == 1
