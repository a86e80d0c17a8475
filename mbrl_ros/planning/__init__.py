"""Sampling MPC planners (no ROS imports). Each registers itself in :data:`PLANNERS`."""
from mbrl_ros.planning.base import PLANNERS, Planner, PlanResult, TrajectoryObjective, make_planner
from mbrl_ros.planning import cem, icem, mppi, random_shooting  # noqa: F401  (registration)
from mbrl_ros.planning import nmpc  # noqa: F401  (registration; CasADi + IPOPT)

__all__ = ["PLANNERS", "Planner", "PlanResult", "TrajectoryObjective", "make_planner"]
