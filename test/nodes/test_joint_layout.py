"""Joint <-> observation layout of every registered MuJoCo task."""
import numpy as np
import pytest

from mbrl_ros.nodes.joint_layout import JointLayout, JointLayoutError, joint_layout
from mbrl_ros.tasks import make_task

EXPECTED = {
    "pendulum_swingup": (("hinge",), 0),
    "cartpole_swingup": (("slider", "hinge"), 0),
    "reacher": (("shoulder", "elbow"), 2),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_layout_matches_the_task_observation(name):
    task = make_task(name)
    layout = joint_layout(task)
    names, extra = EXPECTED[name]
    assert layout.joint_names == names and layout.extra_dim == extra
    obs, _ = task.reset(seed=3)
    positions, velocities, extra_values = layout.split(obs)
    np.testing.assert_array_equal(layout.observation(positions, velocities, extra_values), obs)
    np.testing.assert_array_equal(positions, task.physics.qpos)
    np.testing.assert_array_equal(velocities, task.physics.qvel)


def test_ros_joint_names_can_replace_the_mjcf_names():
    layout = joint_layout(make_task("cartpole_swingup"), ["cart_joint", "pole_joint"])
    assert layout.joint_names == ("cart_joint", "pole_joint")
    with pytest.raises(JointLayoutError, match="2"):
        joint_layout(make_task("cartpole_swingup"), ["only_one"])
    with pytest.raises(JointLayoutError, match="repeat"):
        joint_layout(make_task("cartpole_swingup"), ["a", "a"])


def test_layout_checks_sizes():
    layout = JointLayout(("a",), obs_dim=4)
    with pytest.raises(ValueError, match="extra"):
        layout.observation([0.0], [0.0])
    np.testing.assert_array_equal(layout.observation([1.0], [2.0], [3.0, 4.0]), [1, 2, 3, 4])
    with pytest.raises(JointLayoutError):
        JointLayout(("a", "b"), obs_dim=3)
