"""ament_python package that also installs with plain pip (no ROS needed)."""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mbrl_ros"


def share_files(folder):
    """Every file under ``folder`` as ament data_files entries that keep the tree."""
    entries = {}
    for path in glob(os.path.join(folder, "**", "*"), recursive=True):
        if os.path.isfile(path):
            target = os.path.join("share", PACKAGE, os.path.dirname(path))
            entries.setdefault(target, []).append(path)
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, PACKAGE + ".*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        *share_files("launch"),
        *share_files("config"),
        *share_files("sim"),
    ],
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "torch>=2.2",
        "mujoco>=3.1.6",
        "casadi>=3.6",
        "onnxruntime>=1.17",
        "onnx>=1.15",
        "pyyaml>=6",
        "cyclonedds==11.0.1",
        "rosbags>=0.10",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "foxglove-sdk>=0.30",
        "imageio>=2.30",
        "imageio-ffmpeg>=0.5",
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-timeout>=2", "mcap-ros2-support>=0.5", "hypothesis>=6", "websockets>=12"],
    },
    zip_safe=False,
    maintainer="mbrl_ros maintainers",
    maintainer_email="maintainers@mbrl-ros.dev",
    description="Model-based RL for ROS 2: ensembles, sampling MPC, online learning, ONNX export.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "mbrl-ros = mbrl_ros.cli:main",
            "sim_bridge = mbrl_ros.nodes.sim_bridge:main",
            "state_estimator = mbrl_ros.nodes.state_estimator:main",
            "rigid_body_estimator = mbrl_ros.nodes.rigid_body_estimator:main",
            "model_learner = mbrl_ros.nodes.model_learner:main",
            "mpc_planner = mbrl_ros.nodes.planner:main",
            "policy_controller = mbrl_ros.nodes.policy_controller:main",
            "px4_bridge = mbrl_ros.robots.px4.bridge:main",
            "px4_sim = mbrl_ros.robots.px4.sim:main",
            "crazyflie_bridge = mbrl_ros.robots.crazyflie.bridge:main",
            "crazyflie_sim = mbrl_ros.robots.crazyflie.sim:main",
            "bag_recorder = mbrl_ros.nodes.bag_recorder:main",
            "viz = mbrl_ros.nodes.viz:main",
        ],
    },
)
