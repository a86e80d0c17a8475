"""Time, Duration, clocks and rcutils-style logging of the runtime."""
from __future__ import annotations

import time

import pytest

from mbrl_ros.ros.runtime import Clock, ClockType, Duration, ROSClock, Time
from mbrl_ros.ros.runtime import logging as ros_logging
from mbrl_ros.ros.runtime.arguments import parse_ros_args


def test_time_and_duration_arithmetic():
    t = Time(seconds=1.5, clock_type=ClockType.ROS_TIME)
    assert t.nanoseconds == 1_500_000_000 and t.seconds_nanoseconds() == (1, 500_000_000)
    later = t + Duration(seconds=0.25)
    assert (later - t) == Duration(nanoseconds=250_000_000)
    assert later > t and (later - Duration(seconds=0.25)) == t
    msg = later.to_msg()
    assert (msg.sec, msg.nanosec) == (1, 750_000_000)
    assert Time.from_msg(msg) == later
    with pytest.raises(TypeError):
        _ = t < Time(seconds=2)  # ROS time vs system time
    with pytest.raises(ValueError):
        Time(seconds=-1)
    assert Duration(seconds=-1.5).to_msg().sec == -2  # floor, nanosec stays positive


def test_clocks():
    assert isinstance(Clock(clock_type=ClockType.ROS_TIME), ROSClock)
    steady = Clock(clock_type=ClockType.STEADY_TIME)
    assert abs(steady.now().nanoseconds - time.monotonic_ns()) < 1e8
    ros = ROSClock()
    assert not ros.ros_time_is_active
    ros._set_ros_time_is_active(True)
    ros.set_ros_time_override(Time(seconds=42, clock_type=ClockType.ROS_TIME))
    assert ros.now() == Time(seconds=42, clock_type=ClockType.ROS_TIME)
    assert ros.sleep_for(Duration(seconds=1), timeout_sec=0.05) is False  # sim time does not advance
    assert steady.sleep_for(Duration(seconds=0.01)) is True


@pytest.fixture
def lines():
    captured = []
    ros_logging.set_output_sink(captured.append)
    yield captured
    ros_logging.set_output_sink(None)
    ros_logging.set_logger_level("", ros_logging.LoggingSeverity.INFO)
    ros_logging.set_logger_level("quiet", ros_logging.LoggingSeverity.UNSET)


def test_logger_format_levels_and_filters(lines):
    logger = ros_logging.get_logger("ns.node")
    logger.info("hello")
    logger.debug("hidden")
    assert len(lines) == 1 and lines[0].startswith("[INFO] [") and lines[0].endswith("] [ns.node]: hello")
    for _ in range(3):
        logger.warning("once", once=True)
        logger.error("skip", skip_first=True)
        logger.info("throttled", throttle_duration_sec=10.0)
    assert [line.split(": ", 1)[1] for line in lines[1:]] == ["once", "throttled", "skip", "skip"]
    child = logger.get_child("sub")
    assert child.name == "ns.node.sub"


def test_log_level_arguments(lines):
    args = parse_ros_args(["--ros-args", "--log-level", "quiet:=error", "--log-level", "debug"])
    for name, level in args.log_levels.items():
        ros_logging.set_logger_level(name, level)
    ros_logging.get_logger("quiet.child").warning("dropped")
    ros_logging.get_logger("loud").debug("kept")
    assert [line.split(": ", 1)[1] for line in lines] == ["kept"]
    assert ros_logging.get_logger("quiet.child").get_effective_level() == ros_logging.LoggingSeverity.ERROR
