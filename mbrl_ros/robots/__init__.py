"""Real-robot interfaces: vendored message definitions and frame conventions.

* :mod:`mbrl_ros.robots.px4_msgs`: px4_msgs types PX4 speaks over uXRCE-DDS
  (``/fmu/out/vehicle_odometry``, ``/fmu/in/*``), registered from their ``.msg`` text.
* :mod:`mbrl_ros.robots.crazyflie_msgs`: Crazyswarm2's ``crazyflie_interfaces/msg/FullState``.
* :mod:`mbrl_ros.robots.frames`: PX4 NED/FRD <-> ROS ENU/FLU conversions (numpy only).

The message modules register their types in the default registry when imported;
``frames`` imports no message code.
"""
