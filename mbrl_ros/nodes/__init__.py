"""ROS 2 nodes: thin adapters between topics and the core library (one module per node).

The nodes reproduce the in-process PETS loop (:mod:`mbrl_ros.learning.loop`) over topics::

    sim_bridge ──/joint_states──▶ state_estimator ──/mbrl/state──┬──▶ mpc_planner
        ▲   (or a ros2_control robot)                            └──▶ model_learner
        │                                                                  │
        └──────────── /<controller>/commands ◀── mpc_planner ◀─/mbrl/model─┘
                       (model_learner listens too)

    sim_bridge also publishes /clock, ~/ground_truth, ~/reward, ~/episode_return and
    ~/observation_extra; every node publishes /diagnostics.

Executables (``setup.py`` console scripts): ``sim_bridge``, ``state_estimator``,
``model_learner``, ``mpc_planner``. Each node reads one typed config dataclass from its
ROS parameters (see :mod:`mbrl_ros.nodes.parameters`) plus the sections of the components
it runs (``<task>.*``, ``<planner>.*``, ``<model>.*``, ``<estimator>.*``, ``learning.*``),
so the params files of ``mbrl-ros train`` work unchanged.

Nodes import ROS only through :mod:`mbrl_ros.ros.compat`; the math stays in the core.
"""
