"""State estimators: joint measurements -> full state (no ROS imports).

Built-in: ``finite_difference`` (velocities from positions over irregular
stamps), ``passthrough`` (measured velocities), ``joint_kf`` (Kalman filter
for encoders) and ``rigid_body_ekf`` (IMU + pose EKF). Add one by subclassing
:class:`StateEstimator` with a ``Config`` dataclass and registering it in
:data:`ESTIMATORS`.

Example:
    estimator = make_estimator("finite_difference", {"order": 2}, num_joints=1)
    state = estimator.update(0.05, [0.1])      # (2,) [position, velocity] or None
"""
from mbrl_ros.estimation.base import (
    ESTIMATORS,
    AngleUnwrapper,
    EstimatorInputError,
    StateEstimator,
    make_estimator,
    wrap_to_pi,
)
from mbrl_ros.estimation.finite_difference import (  # noqa: E402  (registration)
    FiniteDifferenceConfig,
    FiniteDifferenceEstimator,
    PassthroughEstimator,
)
from mbrl_ros.estimation.joint_kalman import JointKalmanConfig, JointKalmanFilter  # noqa: E402  (registration)
from mbrl_ros.estimation.rigid_body_ekf import RigidBodyEKF, RigidBodyEKFConfig, RigidBodyEstimate  # noqa: E402

__all__ = ["ESTIMATORS", "AngleUnwrapper", "EstimatorInputError", "StateEstimator", "make_estimator",
           "wrap_to_pi", "FiniteDifferenceConfig", "FiniteDifferenceEstimator", "PassthroughEstimator",
           "JointKalmanConfig", "JointKalmanFilter", "RigidBodyEKF", "RigidBodyEKFConfig", "RigidBodyEstimate"]
