"""mbrl_ros: model-based reinforcement learning for ROS 2.

The math lives in :mod:`mbrl_ros.models`, :mod:`mbrl_ros.planning`,
:mod:`mbrl_ros.tasks` and :mod:`mbrl_ros.learning`; none of them imports ROS.
"""
__version__ = "0.1.0"
