"""Learning loops that tie tasks, models and planners together (no ROS imports)."""
from mbrl_ros.learning.loop import EpisodeRecord, LearningConfig, LearningRun, TransitionBuffer, run_learning
from mbrl_ros.learning.pairing import TransitionPairing
from mbrl_ros.learning.schedule import RetrainSchedule

__all__ = ["EpisodeRecord", "LearningConfig", "LearningRun", "RetrainSchedule", "TransitionBuffer",
           "TransitionPairing", "run_learning"]
