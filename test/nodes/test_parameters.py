"""Config dataclasses as ROS parameters: declared with descriptions, read back validated."""
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mbrl_ros
from mbrl_ros.config import ConfigError, param
from mbrl_ros.learning import LearningConfig
from mbrl_ros.nodes.parameters import declare_config, refuse_unknown_parameters, unused_parameters
from mbrl_ros.nodes.shared_parameters import declare_learning, declare_task
from mbrl_ros.ros.compat import Node, Parameter
from mbrl_ros.ros.runtime.testing import isolated_domain


@dataclasses.dataclass(frozen=True)
class Inner:
    gain: float = param(1.0, "a gain", low=0.0, high=10.0)


@dataclasses.dataclass(frozen=True)
class Example:
    rate: float = param(20.0, "control rate in Hz", low=1.0, high=1000.0)
    name: str = param("icem", "a name", choices=("icem", "cem"))
    joints: list[str] = param([], "joint names")
    weights: dict[str, float] = param({"a": 1.0, "b": 0.5}, "weight per term")
    inner: Inner = param(Inner(), "nested settings")


def make_node(graph, **overrides):
    parameters = [Parameter(k, value=v) for k, v in overrides.items()]
    return graph.add(Node("configured", context=graph.context, parameter_overrides=parameters))


def test_defaults_descriptions_and_overrides(graph):
    node = make_node(graph, rate=50, joints=["a", "b"], **{"weights.b": 2.0, "inner.gain": 3})
    config = declare_config(node, Example)
    assert config == Example(rate=50.0, name="icem", joints=["a", "b"], weights={"a": 1.0, "b": 2.0},
                             inner=Inner(gain=3.0))
    assert isinstance(config.rate, float)                     # a YAML int is fine for a float field
    assert node.describe_parameter("rate").description == "control rate in Hz"
    assert node.describe_parameter("weights.a").description == "weight per term"
    assert node.get_parameter("inner.gain").value == 3


def test_prefix_and_default_overrides(graph):
    node = make_node(graph, **{"icem.rate": 5.0})
    config = declare_config(node, Example, prefix="icem", defaults={"name": "cem", "rate": 7.0})
    assert (config.rate, config.name) == (5.0, "cem")          # -p beats the given defaults
    assert node.has_parameter("icem.inner.gain")


@pytest.mark.parametrize("overrides, match", [
    ({"rate": 0.5}, "rate: 0.5 is below the minimum 1.0"),
    ({"name": "mppi"}, "name: 'mppi' is not one of"),
    ({"rate": "fast"}, "rate: expected a number"),
    ({"inner.gain": 11.0}, "inner.gain: 11.0 is above the maximum"),
])
def test_bad_values_raise_config_errors_naming_the_parameter(graph, overrides, match):
    with pytest.raises(ConfigError, match=match):
        declare_config(make_node(graph, **overrides), Example)


def test_unused_parameters_are_reported_for_owned_sections_only(graph):
    node = make_node(graph, ratee=1.0, **{"icem.populaton": 3, "learning.episodes": 4, "pets_ensemble.x": 1,
                                          "task": "pendulum_swingup"})
    declare_config(node, Example)
    declare_config(node, Example, prefix="icem")
    assert unused_parameters(node, ["", "icem"]) == ["icem.populaton", "ratee"]


def test_unknown_parameters_are_refused_with_the_valid_names(graph):
    node = make_node(graph, ratee=1.0, **{"icem.populaton": 3, "learning.episodes": 4})
    declare_config(node, Example)
    declare_config(node, Example, prefix="icem")
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) icem.populaton, ratee; valid names: .*icem.rate.*"
                                          r"\brate\b"):
        refuse_unknown_parameters(node, ["", "icem"])
    assert refuse_unknown_parameters(make_node(graph, **{"learning.episodes": 4}), [""]) == []
    # A name another node declares (a params_file given to every node of a launch) is left to it.
    assert refuse_unknown_parameters(make_node(graph, episode_length=7, train_every_transitions=5), [""]) == []


def test_shared_task_and_learning_sections(graph):
    node = make_node(graph, **{"pendulum_swingup.episode_length": 7, "pendulum_swingup.cost_weights.action": 0.5,
                               "learning.horizon": 9})
    task = declare_task(node, "pendulum_swingup")
    assert task.spec.episode_length == 7 and task.cost_weights["action"] == 0.5
    learning = declare_learning(node)
    assert learning == LearningConfig(horizon=9)


def test_a_node_with_bad_parameters_exits_with_code_2():
    repo = Path(mbrl_ros.__file__).resolve().parent.parent
    with isolated_domain():
        result = subprocess.run([sys.executable, "-m", "mbrl_ros.nodes.planner", "--ros-args", "-p", "planner:=nope"],
                                capture_output=True, text=True, timeout=60, cwd=repo,
                                env={**os.environ, "PYTHONPATH": str(repo)})
    assert result.returncode == 2, result.stderr
    assert "invalid parameters: unknown planner 'nope'" in result.stderr


def test_node_parameter_files_match_the_node_configs():
    from mbrl_ros.config import from_dict, load_ros_params
    from mbrl_ros.estimation import ESTIMATORS
    from mbrl_ros.nodes.model_learner import ModelLearnerConfig
    from mbrl_ros.nodes.planner import PlannerNodeConfig
    from mbrl_ros.nodes.sim_bridge import SimBridgeConfig
    from mbrl_ros.nodes.state_estimator import StateEstimatorNodeConfig
    from mbrl_ros.package_data import share_path

    files = {"sim_bridge.yaml": SimBridgeConfig, "state_estimator.yaml": StateEstimatorNodeConfig,
             "model_learner.yaml": ModelLearnerConfig, "planner.yaml": PlannerNodeConfig}
    for name, config_cls in files.items():
        values = load_ros_params(share_path("config", "nodes", name))
        sections = {k: v for k, v in values.items() if isinstance(v, dict)}
        from_dict(config_cls, {k: v for k, v in values.items() if k not in sections})  # names, types, bounds
        for section, section_values in sections.items():
            from_dict(ESTIMATORS.get(section).Config, section_values)
