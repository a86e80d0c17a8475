"""px4_msgs types spoken by PX4 over uXRCE-DDS, registered from their ``.msg`` text.

px4_msgs is not a standard ROS package, so its definitions are vendored here
and added to the message registry at import (:func:`register`): after
``import mbrl_ros.robots.px4.msgs`` the module-level
:func:`mbrl_ros.ros.messages.message_class` knows ``px4_msgs/msg/...``.

Which definitions
-----------------
The set matches the px4_msgs **1.17.0** release (PX4 v1.17.0, 2026-03-22,
the px4_msgs package indexed on docs.ros.org for Humble/Kilted/Rolling). Each
text comes from PX4/PX4-Autopilot (``msg/`` and ``msg/versioned/``; PX4/px4_msgs
is a generated mirror of those folders); the commit of every text is in
:data:`SOURCES`. Comments differ between PX4 commits, fields do not: for every
type except VehicleStatus the RIHS01 hash computed here equals the hash
rosidl generated for a px4_msgs build (see ``test/robots/test_px4_msgs.py``).

Versioned messages carry ``uint32 MESSAGE_VERSION = N``. The ROS type name
stays ``px4_msgs/msg/Name`` for every version; PX4's DDS client appends
``_vN`` to the *topic* when ``N > 0`` (``/fmu/out/vehicle_status_v3``), and
PX4's translation node bridges applications built against other versions.
Use :func:`px4_topic` to get the right name. Versions vendored here
(and on PX4-Autopilot main as far as a 2026 code index shows, for reference):

* VehicleOdometry: version 0 (main: 0; a version 1 adding ``float32[3]
  acceleration`` exists on a branch, commit bdf3ca90).
* OffboardControlMode, VehicleThrustSetpoint, VehicleTorqueSetpoint: unversioned.
* ActuatorMotors, TrajectorySetpoint: version 0 (main: 0).
* VehicleCommand: version 0 (main: 1, same fields; ``param1`` of
  DO_SET_SAFETY_SWITCH_STATE inverted).
* VehicleStatus: version 3, topic ``vehicle_status_v3`` (main: 4 or later;
  4 adds ``bool accepts_offboard_setpoints``; PX4 v1.16 used version 1).

VehicleCommand's upstream text lists ~140 constants; only
those an offboard client needs are kept (constants never reach the wire or
the type hash, so bytes and RIHS01 are those of the full text). Every other
text is verbatim.

Frames: PX4 uses NED world / FRD body; see :mod:`mbrl_ros.robots.frames`.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from mbrl_ros.ros import messages

__all__ = [
    "MSG_TEXTS",
    "MsgSource",
    "PX4_TOPICS",
    "SOURCES",
    "message_version",
    "px4_topic",
    "register",
]

PX4_AUTOPILOT = "PX4/PX4-Autopilot"


@dataclasses.dataclass(frozen=True)
class MsgSource:
    """Where a vendored ``.msg`` text was taken from.

    Attributes:
        repo: GitHub ``owner/name``.
        path: File path inside the repository.
        commit: Commit the text was read at.
        note: What differs from the file, if anything.
    """

    repo: str
    path: str
    commit: str
    note: str = "verbatim"


VEHICLE_ODOMETRY = """\
# Vehicle odometry data
#
# Fits ROS REP 147 for aerial vehicles

uint32 MESSAGE_VERSION = 0

uint64 timestamp         # [us] Time since system start
uint64 timestamp_sample  # [us] Timestamp sample

uint8 pose_frame              # [@enum POSE_FRAME] Position and orientation frame of reference
uint8 POSE_FRAME_UNKNOWN = 0  # Unknown frame
uint8 POSE_FRAME_NED     = 1  # North-East-Down (NED) navigation frame. Aligned with True North.
uint8 POSE_FRAME_FRD     = 2  # Forward-Right-Down (FRD) frame. Constant arbitrary heading offset from True North. Z is down.

float32[3] position  # [m] [@frame local frame] [@invalid NaN If invalid/unknown] Position. Origin is position of GC at startup.
float32[4] q         # [-] [@invalid NaN First value if invalid/unknown] Attitude (expressed as a quaternion) relative to pose reference frame at current location. Follows the Hamiltonian convention (w, x, y, z, right-handed, passive rotations from body to world)

uint8 velocity_frame               # [@enum VELOCITY_FRAME] Reference frame of the velocity data
uint8 VELOCITY_FRAME_UNKNOWN  = 0  # Unknown frame
uint8 VELOCITY_FRAME_NED      = 1  # NED navigation frame at current position.
uint8 VELOCITY_FRAME_FRD      = 2  # FRD navigation frame at current position. Constant arbitrary heading offset from True North. Z is down.
uint8 VELOCITY_FRAME_BODY_FRD = 3  # FRD body-fixed frame

float32[3] velocity          # [m/s] [@frame @velocity_frame] [@invalid NaN If invalid/unknown] Velocity.
float32[3] angular_velocity  # [rad/s] [@frame @VELOCITY_FRAME_BODY_FRD] [@invalid NaN If invalid/unknown] Angular velocity in body-fixed frame

float32[3] position_variance     # [m^2] Variance of position error
float32[3] orientation_variance  # [rad^2] Variance of orientation/attitude error (expressed in body frame)
float32[3] velocity_variance     # [m^2/s^2] Variance of velocity error

uint8 reset_counter  # [-] Reset counter. Counts reset events on attitude, velocity and position.
int8 quality         # [-] [@invalid 0] Quality. Unused.

# TOPICS vehicle_odometry vehicle_mocap_odometry vehicle_visual_odometry
# TOPICS estimator_odometry
"""

OFFBOARD_CONTROL_MODE = """\
# Off-board control mode

uint64 timestamp\t\t# time since system start (microseconds)

bool position
bool velocity
bool acceleration
bool attitude
bool body_rate
bool thrust_and_torque
bool direct_actuator
"""

VEHICLE_THRUST_SETPOINT = """\
# Vehicle thrust setpoint
#
# This is the thrust setpoint provided by the controller and fed into the control allocator.

uint64 timestamp        # [us] Time since system start
uint64 timestamp_sample # [us] Timestamp of the data sample on which this message is based

float32[3] xyz          # [-] [@range -1, 1] Thrust setpoint along X, Y, Z body axis. If set to NAN the motors affecting this axis are stopped.

# TOPICS vehicle_thrust_setpoint
# TOPICS vehicle_thrust_setpoint_virtual_fw vehicle_thrust_setpoint_virtual_mc
"""

VEHICLE_TORQUE_SETPOINT = """
uint64 timestamp        # time since system start (microseconds)
uint64 timestamp_sample # timestamp of the data sample on which this message is based (microseconds)

float32[3] xyz          # torque setpoint about X, Y, Z body axis (normalized)
"""

ACTUATOR_MOTORS = """\
# Motor control message
#
# Normalised thrust setpoint for up to 12 motors.
# Published by the vehicle's allocation and consumed by the ESC protocol drivers e.g. PWM, DSHOT, UAVCAN.

uint32 MESSAGE_VERSION = 0

uint64 timestamp # [us] Time since system start.
uint64 timestamp_sample # [us] Sampling timestamp of the data this control response is based on.

uint16 reversible_flags # Bitset indicating which motors are configured to be reversible

uint8 ACTUATOR_FUNCTION_MOTOR1 = 101

uint8 NUM_CONTROLS = 12
float32[12] control # [@range -1, 1] Normalized thrust. where 1 means maximum positive thrust, -1 maximum negative (if not supported by the output, <0 maps to NaN). NaN maps to disarmed (stop the motors).
"""

TRAJECTORY_SETPOINT = """\
# Trajectory setpoint in NED frame
# Input to PID position controller.
# Needs to be kinematically consistent and feasible for smooth flight.
# setting a value to NaN means the state should not be controlled

uint32 MESSAGE_VERSION = 0

uint64 timestamp # time since system start (microseconds)

# NED local world frame
float32[3] position # in meters
float32[3] velocity # in meters/second
float32[3] acceleration # in meters/second^2
float32[3] jerk # in meters/second^3 (for logging only)

float32 yaw # euler angle of desired attitude in radians -PI..+PI
float32 yawspeed # angular velocity around NED frame z-axis in radians/second
"""

# Upstream lists every MAVLink command here; the constants kept are the ones an
# offboard client sends. Field lines are verbatim.
VEHICLE_COMMAND = """\
# Vehicle Command uORB message. Used for commanding a mission / action / etc.
# Follows the MAVLink COMMAND_INT / COMMAND_LONG definition

uint32 MESSAGE_VERSION = 0

uint64 timestamp # Time since system start [us]

uint16 VEHICLE_CMD_NAV_RETURN_TO_LAUNCH = 20 # Return to launch location. |Unused|Unused|Unused|Unused|Unused|Unused|Unused|
uint16 VEHICLE_CMD_NAV_LAND = 21 # Land at location. |Unused|Unused|Unused|Desired yaw angle.|Latitude|Longitude|Altitude|
uint16 VEHICLE_CMD_NAV_TAKEOFF = 22 # Takeoff from ground / hand. |Unused (FW pitch from FW_TKO_PITCH_MIN)|Unused|Unused|Yaw angle in NED if yaw source available, ignored otherwise [deg] [@range 0,360]|Latitude (WGS-84)|Longitude (WGS-84)|Altitude AMSL [m]|
uint16 VEHICLE_CMD_DO_SET_MODE = 176 # Set system mode. |Mode, as defined by ENUM MAV_MODE|Unused|Unused|Unused|Unused|Unused|Unused|
uint16 VEHICLE_CMD_DO_FLIGHTTERMINATION = 185 # Terminate flight immediately. |Flight termination activated if > 0.5|Unused|Unused|Unused|Unused|Unused|Unused|
uint16 VEHICLE_CMD_COMPONENT_ARM_DISARM = 400 # Arms / Disarms a component. |1 to arm, 0 to disarm [enum ARMING_ACTION]||Unused|Unused|Unused|Unused|Unused|

# PX4 vehicle commands (beyond 16 bit mavlink commands)
uint32 VEHICLE_CMD_PX4_INTERNAL_START = 65537 # Start of PX4 internal only vehicle commands (> UINT16_MAX)
uint32 VEHICLE_CMD_SET_NAV_STATE = 100001 # Change mode by specifying nav_state directly. |nav_state|Unused|Unused|Unused|Unused|Unused|Unused|

# used as param1 in ARM_DISARM command
int8 ARMING_ACTION_DISARM = 0
int8 ARMING_ACTION_ARM = 1

uint8 ORB_QUEUE_LENGTH = 8

float32 param1 # Parameter 1, as defined by MAVLink uint16 VEHICLE_CMD enum.
float32 param2 # Parameter 2, as defined by MAVLink uint16 VEHICLE_CMD enum.
float32 param3 # Parameter 3, as defined by MAVLink uint16 VEHICLE_CMD enum.
float32 param4 # Parameter 4, as defined by MAVLink uint16 VEHICLE_CMD enum.
float64 param5 # Parameter 5, as defined by MAVLink uint16 VEHICLE_CMD enum.
float64 param6 # Parameter 6, as defined by MAVLink uint16 VEHICLE_CMD enum.
float32 param7 # Parameter 7, as defined by MAVLink uint16 VEHICLE_CMD enum.
uint32 command # Command ID
uint8 target_system # System which should execute the command.
uint8 target_component # Component which should execute the command, 0 for all components.
uint8 source_system # System sending the command.
uint16 source_component\t# Component / mode executor sending the command.
uint8 confirmation # 0: First transmission of this command. 1-255: Confirmation transmissions (e.g. for kill command).
bool from_external

uint16 COMPONENT_MODE_EXECUTOR_START = 1000

# TOPICS vehicle_command gimbal_v1_command vehicle_command_mode_executor
"""

VEHICLE_STATUS = """\
# Encodes the system state of the vehicle published by commander

uint32 MESSAGE_VERSION = 3

uint64 timestamp # time since system start (microseconds)

uint64 armed_time # Arming timestamp (microseconds)
uint64 takeoff_time # Takeoff timestamp (microseconds)

uint8 arming_state
uint8 ARMING_STATE_DISARMED = 1
uint8 ARMING_STATE_ARMED    = 2

uint8 latest_arming_reason
uint8 latest_disarming_reason
uint8 ARM_DISARM_REASON_STICK_GESTURE = 1
uint8 ARM_DISARM_REASON_RC_SWITCH = 2
uint8 ARM_DISARM_REASON_COMMAND_INTERNAL = 3
uint8 ARM_DISARM_REASON_COMMAND_EXTERNAL = 4
uint8 ARM_DISARM_REASON_MISSION_START = 5
uint8 ARM_DISARM_REASON_LANDING = 6
uint8 ARM_DISARM_REASON_PREFLIGHT_INACTION = 7
uint8 ARM_DISARM_REASON_KILL_SWITCH = 8
uint8 ARM_DISARM_REASON_RC_BUTTON = 13
uint8 ARM_DISARM_REASON_FAILSAFE = 14

uint64 nav_state_timestamp # time when current nav_state activated

uint8 nav_state_user_intention                  # Mode that the user selected (might be different from nav_state in a failsafe situation)

uint8 nav_state                                 # Currently active mode
uint8 NAVIGATION_STATE_MANUAL = 0               # Manual mode
uint8 NAVIGATION_STATE_ALTCTL = 1               # Altitude control mode
uint8 NAVIGATION_STATE_POSCTL = 2               # Position control mode
uint8 NAVIGATION_STATE_AUTO_MISSION = 3         # Auto mission mode
uint8 NAVIGATION_STATE_AUTO_LOITER = 4          # Auto loiter mode
uint8 NAVIGATION_STATE_AUTO_RTL = 5             # Auto return to launch mode
uint8 NAVIGATION_STATE_POSITION_SLOW = 6
uint8 NAVIGATION_STATE_FREE5 = 7
uint8 NAVIGATION_STATE_ALTITUDE_CRUISE = 8      # Altitude with Cruise mode
uint8 NAVIGATION_STATE_FREE3 = 9
uint8 NAVIGATION_STATE_ACRO = 10                # Acro mode
uint8 NAVIGATION_STATE_FREE2 = 11
uint8 NAVIGATION_STATE_DESCEND = 12             # Descend mode (no position control)
uint8 NAVIGATION_STATE_TERMINATION = 13         # Termination mode
uint8 NAVIGATION_STATE_OFFBOARD = 14
uint8 NAVIGATION_STATE_STAB = 15                # Stabilized mode
uint8 NAVIGATION_STATE_FREE1 = 16
uint8 NAVIGATION_STATE_AUTO_TAKEOFF = 17        # Takeoff
uint8 NAVIGATION_STATE_AUTO_LAND = 18           # Land
uint8 NAVIGATION_STATE_AUTO_FOLLOW_TARGET = 19  # Auto Follow
uint8 NAVIGATION_STATE_AUTO_PRECLAND = 20       # Precision land with landing target
uint8 NAVIGATION_STATE_ORBIT = 21               # Orbit in a circle
uint8 NAVIGATION_STATE_AUTO_VTOL_TAKEOFF = 22   # Takeoff, transition, establish loiter
uint8 NAVIGATION_STATE_EXTERNAL1 = 23
uint8 NAVIGATION_STATE_EXTERNAL2 = 24
uint8 NAVIGATION_STATE_EXTERNAL3 = 25
uint8 NAVIGATION_STATE_EXTERNAL4 = 26
uint8 NAVIGATION_STATE_EXTERNAL5 = 27
uint8 NAVIGATION_STATE_EXTERNAL6 = 28
uint8 NAVIGATION_STATE_EXTERNAL7 = 29
uint8 NAVIGATION_STATE_EXTERNAL8 = 30
uint8 NAVIGATION_STATE_MAX = 31

uint8 executor_in_charge                        # Current mode executor in charge (0=Autopilot)
uint8 nav_state_display                         # User-visible nav state sent via MAVLink (executor state if active, otherwise nav_state)

uint32 valid_nav_states_mask                    # Bitmask for all valid nav_state values
uint32 can_set_nav_states_mask                  # Bitmask for all modes that a user can select

uint8 hil_state
uint8 HIL_STATE_OFF = 0
uint8 HIL_STATE_ON = 1

# Current vehicle locomotion method. A vehicle can have different methods (e.g. VTOL transitions from RW to FW method)
uint8 vehicle_type
uint8 VEHICLE_TYPE_UNSPECIFIED = 0
uint8 VEHICLE_TYPE_ROTARY_WING = 1
uint8 VEHICLE_TYPE_FIXED_WING = 2
uint8 VEHICLE_TYPE_ROVER = 3

uint8 FAILSAFE_DEFER_STATE_DISABLED = 0
uint8 FAILSAFE_DEFER_STATE_ENABLED = 1
uint8 FAILSAFE_DEFER_STATE_WOULD_FAILSAFE = 2 # Failsafes deferred, but would trigger a failsafe

bool failsafe # true if system is in failsafe state (e.g.:RTL, Hover, Terminate, ...)
bool failsafe_and_user_took_over # true if system is in failsafe state but the user took over control
uint8 failsafe_defer_state # one of FAILSAFE_DEFER_STATE_*

# Link loss
bool gcs_connection_lost              # datalink to GCS lost
uint8 gcs_connection_lost_counter     # counts unique GCS connection lost events
bool high_latency_data_link_lost # Set to true if the high latency data link (eg. RockBlock Iridium 9603 telemetry module) is lost

# VTOL flags
bool is_vtol             # True if the system is VTOL capable
bool is_vtol_tailsitter  # True if the system performs a 90\u00b0 pitch down rotation during transition from MC to FW
bool in_transition_mode  # True if VTOL is doing a transition
bool in_transition_to_fw # True if VTOL is doing a transition from MC to FW

# MAVLink identification
uint8 system_type  # system type, contains mavlink MAV_TYPE
uint8 system_id\t   # system id, contains MAVLink's system ID field
uint8 component_id # subsystem / component id, contains MAVLink's component ID field

bool safety_button_available # Set to true if a safety button is connected
bool safety_off # Set to true if safety is off

bool power_input_valid                            # set if input power is valid
bool usb_connected                                # set to true (never cleared) once telemetry received from usb link

bool open_drone_id_system_present
bool open_drone_id_system_healthy

bool parachute_system_present
bool parachute_system_healthy

bool traffic_avoidance_system_present

bool rc_calibration_in_progress
bool calibration_enabled

bool pre_flight_checks_pass\t\t# true if all checks necessary to arm pass
"""

#: ``.msg`` text of every vendored type, by ROS type name.
MSG_TEXTS: dict[str, str] = {
    "px4_msgs/msg/VehicleOdometry": VEHICLE_ODOMETRY,
    "px4_msgs/msg/OffboardControlMode": OFFBOARD_CONTROL_MODE,
    "px4_msgs/msg/VehicleThrustSetpoint": VEHICLE_THRUST_SETPOINT,
    "px4_msgs/msg/VehicleTorqueSetpoint": VEHICLE_TORQUE_SETPOINT,
    "px4_msgs/msg/ActuatorMotors": ACTUATOR_MOTORS,
    "px4_msgs/msg/TrajectorySetpoint": TRAJECTORY_SETPOINT,
    "px4_msgs/msg/VehicleCommand": VEHICLE_COMMAND,
    "px4_msgs/msg/VehicleStatus": VEHICLE_STATUS,
}

#: Upstream file and commit of every text in :data:`MSG_TEXTS`.
SOURCES: dict[str, MsgSource] = {
    "px4_msgs/msg/VehicleOdometry": MsgSource(
        PX4_AUTOPILOT, "msg/versioned/VehicleOdometry.msg", "a0cff329fb611d6ee0b56aff1a102499314b5439"
    ),
    "px4_msgs/msg/OffboardControlMode": MsgSource(
        PX4_AUTOPILOT, "msg/OffboardControlMode.msg", "1e944a5a8cc08b2bd95dc978ce006eb5a1980128"
    ),
    "px4_msgs/msg/VehicleThrustSetpoint": MsgSource(
        PX4_AUTOPILOT, "msg/VehicleThrustSetpoint.msg", "014866564299bf6818138f8591403a208571f100"
    ),
    "px4_msgs/msg/VehicleTorqueSetpoint": MsgSource(
        PX4_AUTOPILOT, "msg/VehicleTorqueSetpoint.msg", "94a1177964563279e7d2f8b2ed9bfb5d32850d85",
        "verbatim; later commits only append '# TOPICS' comment lines",
    ),
    "px4_msgs/msg/ActuatorMotors": MsgSource(
        PX4_AUTOPILOT, "msg/versioned/ActuatorMotors.msg", "01b8d51824217fa92e2134ebd73aa267681914d1"
    ),
    "px4_msgs/msg/TrajectorySetpoint": MsgSource(
        PX4_AUTOPILOT, "msg/versioned/TrajectorySetpoint.msg", "1009c6e1969d809abecbe71b306d892678038c83"
    ),
    "px4_msgs/msg/VehicleCommand": MsgSource(
        PX4_AUTOPILOT, "msg/versioned/VehicleCommand.msg", "032c6b9d6e62486c38ec1b23d48ecbd4ceeb9e8f",
        "fields verbatim; 12 of its ~140 constants kept (the ones an offboard client uses)",
    ),
    "px4_msgs/msg/VehicleStatus": MsgSource(
        PX4_AUTOPILOT, "msg/px4_msgs_old/msg/VehicleStatusV3.msg", "4947e765179f025d623b66c76d79fb1d5365129e",
        "verbatim; PX4 archived its VehicleStatus.msg of version 3 under this name when it moved to 4",
    ),
}

#: PX4 uXRCE-DDS topics (without version suffix) and their types.
#: ``/fmu/out/*`` are published best effort; ``offboard_control_mode`` must be
#: streamed (>= 2 Hz) for PX4 to enter and stay in offboard mode.
PX4_TOPICS: dict[str, tuple[str, str]] = {
    "vehicle_odometry": ("/fmu/out/vehicle_odometry", "px4_msgs/msg/VehicleOdometry"),
    "vehicle_status": ("/fmu/out/vehicle_status", "px4_msgs/msg/VehicleStatus"),
    "offboard_control_mode": ("/fmu/in/offboard_control_mode", "px4_msgs/msg/OffboardControlMode"),
    "vehicle_thrust_setpoint": ("/fmu/in/vehicle_thrust_setpoint", "px4_msgs/msg/VehicleThrustSetpoint"),
    "vehicle_torque_setpoint": ("/fmu/in/vehicle_torque_setpoint", "px4_msgs/msg/VehicleTorqueSetpoint"),
    "actuator_motors": ("/fmu/in/actuator_motors", "px4_msgs/msg/ActuatorMotors"),
    "trajectory_setpoint": ("/fmu/in/trajectory_setpoint", "px4_msgs/msg/TrajectorySetpoint"),
    "vehicle_command": ("/fmu/in/vehicle_command", "px4_msgs/msg/VehicleCommand"),
}


def register(registry: messages.MessageRegistry | None = None) -> dict[str, type]:
    """Register every vendored px4_msgs type; return the classes by type name.

    Registering the same texts again is a no-op.

    Args:
        registry: Registry to add to; default: :func:`messages.default_registry`.

    Raises:
        ValueError: the registry already holds a different definition under one
            of these names (e.g. another px4_msgs version).
    """
    registry = registry if registry is not None else messages.default_registry()
    return {name: registry.register_msg_text(name, text) for name, text in MSG_TEXTS.items()}


def message_version(typename: str, registry: messages.MessageRegistry | None = None) -> int:
    """``MESSAGE_VERSION`` of a registered px4_msgs type (0 for unversioned types)."""
    registry = registry if registry is not None else messages.default_registry()
    return int(getattr(registry.message_class(typename), "MESSAGE_VERSION", 0))


def px4_topic(
    key: str,
    namespace: str = "",
    versions: Mapping[str, int] | None = None,
    registry: messages.MessageRegistry | None = None,
) -> str:
    """Full ROS topic of a PX4 uXRCE-DDS topic, with PX4's ``_vN`` suffix.

    Args:
        key: A key of :data:`PX4_TOPICS` (``"vehicle_status"``).
        namespace: PX4's ``UXRCE_DDS_NS`` / multi-vehicle prefix (``"px4_1"``), or ``""``.
        versions: Message version per type name, to talk to a PX4 built with
            other versions; default: the registered definitions.
        registry: Registry holding the definitions; default: the default registry.

    Returns:
        E.g. ``"/px4_1/fmu/out/vehicle_status_v3"``; version 0 adds no suffix.

    Raises:
        KeyError: unknown ``key``.
    """
    if key not in PX4_TOPICS:
        raise KeyError(f"unknown PX4 topic {key!r}; known: {sorted(PX4_TOPICS)}")
    topic, typename = PX4_TOPICS[key]
    version = versions[typename] if versions and typename in versions else message_version(typename, registry)
    prefix = "/" + namespace.strip("/") if namespace.strip("/") else ""
    return f"{prefix}{topic}_v{version}" if version > 0 else f"{prefix}{topic}"


register()
