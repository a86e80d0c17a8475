"""PX4 autopilots over uXRCE-DDS: ``bridge`` (px4_bridge), ``sim`` (px4_sim stand-in), ``msgs`` (px4_msgs)."""
