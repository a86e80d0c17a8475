"""The ROS 2 side of mbrl_ros: a small wire-compatible runtime on Cyclone DDS for hosts without rclpy.

:mod:`mbrl_ros.ros.messages` generates the message classes and their CDR encoding.
"""
