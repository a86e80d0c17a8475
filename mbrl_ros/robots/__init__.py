"""Real robots: one package per robot (its bridge node, its stand-in, its messages) and what they share.

* :mod:`mbrl_ros.robots.px4`: PX4 over uXRCE-DDS. ``bridge`` (``px4_bridge``: odometry ->
  state, commands -> setpoints with the offboard heartbeat), ``sim`` (``px4_sim``: a stand-in that
  speaks PX4's topics, types and QoS), ``msgs`` (the px4_msgs types, registered from their ``.msg``
  text).
* :mod:`mbrl_ros.robots.crazyflie`: Crazyswarm2. ``bridge`` (``crazyflie_bridge``), ``sim``
  (``crazyflie_sim``), ``msgs`` (``crazyflie_interfaces/msg/FullState``).
* :mod:`mbrl_ros.robots.quadrotor`: what every quadrotor robot shares: ``bridge`` (the base of the
  bridges), ``stand_in`` (the base of the stand-ins), ``interfaces`` (task -> robot units:
  thrusts, rates, the mixer).
* :mod:`mbrl_ros.robots.frames`: PX4 NED/FRD <-> ROS ENU/FLU conversions (numpy only).

Bridges and stand-ins are ROS nodes (thin adapters, like :mod:`mbrl_ros.nodes`); the message
modules register their types in the default registry when imported; ``frames`` and
``quadrotor.interfaces`` import no ROS code. A new robot gets a package of its own here, with
its executables in setup.py's ``console_scripts``.
"""
