"""Crazyflies through Crazyswarm2: ``bridge`` (crazyflie_bridge), ``sim`` (crazyflie_sim stand-in), ``msgs``."""
