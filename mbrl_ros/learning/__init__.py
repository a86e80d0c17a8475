"""Learning loops that tie tasks, models and planners together (no ROS imports)."""
from mbrl_ros.learning.loop import EpisodeRecord, LearningConfig, LearningRun, TransitionBuffer, run_learning

__all__ = ["EpisodeRecord", "LearningConfig", "LearningRun", "TransitionBuffer", "run_learning"]
