"""The robot launch files end to end against their stand-ins, through `mbrl-ros launch ... sim:=true`.

Each run is short (2 episodes of 2-3 s in real time; no retraining, so no run waits on one) and checks what the robot side received, in the robot's own format, from the
stand-in's summary (px4_sim, crazyflie_sim) or log (sim_bridge), plus a clean exit (code 0, the
stand-in ends the launch) with no process left behind.

Every run is a load test: a CPU hog (one busy-loop process per core, started and stopped here)
spins from the moment all nodes are built (imports done; starting it earlier only slows the
start-up) until the launch ends, so the bounds hold on a busy machine rather than assuming a
quiet one. The bounds are the robots' own: PX4 leaves offboard after 0.5 s without
offboard_control_mode. What holds them is the bridges' and stand-ins' real-time scheduling
(mbrl_ros.nodes.scheduling); bench/px4_heartbeat_load.py measures the margin.
"""
from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest
from cpu_load import cpu_hog
from launch_runs import run_launch

from mbrl_ros.launcher.process_tree import running_pids
from mbrl_ros.ros.runtime.testing import isolated_domain

#: Node processes of each robot launch with sim:=true (stand-in, bridge or estimator, learner, planner).
NODES_PER_LAUNCH = 4

SMALL_BUDGET = """\
/**:
  ros__parameters:
    learning: {horizon: 8, max_train_epochs: 20}
    pets_ensemble: {hidden_units: 32, hidden_layers: 2}
    icem: {population: 24}
    train_every_transitions: 0
    episode_length: 100
    pendulum_swingup: {episode_length: 60}
"""


def launch_robot(tmp_path: Path, launch_file: str, *args: str, timeout_s: float = 150) -> tuple[int, str, set[int]]:
    params = tmp_path / "small.yaml"
    params.write_text(SMALL_BUDGET)
    hog_seen: dict = {}

    @contextlib.contextmanager
    def load():
        with cpu_hog(max_s=timeout_s + 60) as hog:
            yield
            hog_seen.update(running=hog.running(), cpu_s=hog.cpu_seconds())

    with isolated_domain():
        code, text, seen = run_launch(tmp_path, launch_file, "sim:=true", "episodes:=2", f"params_file:={params}",
                                      *args, timeout_s=timeout_s, linger_s=5, load=load, load_when=nodes_up)
    if code == 0:  # a failed launch is reported by check_clean with its own log
        assert hog_seen["running"] and hog_seen["cpu_s"] > 0, f"the CPU hog ended early, no load: {hog_seen}"
    return code, text, seen


def nodes_up(text: str) -> bool:
    """Every node of the launch is built (each logs its scheduling once built, before it spins)."""
    return text.count("]: scheduling: ") >= NODES_PER_LAUNCH


def summary(text: str, node: str) -> dict:
    match = re.search(rf"{node} summary: (\{{.*\}})", text)
    assert match, f"no summary from {node}:\n{text[-4000:]}"
    return json.loads(match.group(1))


def check_clean(code: int, text: str, seen: set[int], nodes: tuple[str, ...]) -> None:
    assert code == 0, text[-4000:]
    assert len(seen) >= len(nodes), f"expected {len(nodes)} node processes, saw {seen}"
    assert not running_pids(seen), f"processes left behind: {running_pids(seen)}"
    for name in nodes:
        assert f"[{name}]" in text, f"no output from {name}"
    assert "Traceback" not in text, text[-4000:]


@pytest.mark.parametrize("setpoint", ["thrust_torque", "motors"])
def test_px4_launch_against_stand_in(tmp_path, setpoint):
    code, text, seen = launch_robot(tmp_path, "px4.launch.yaml", f"setpoint:={setpoint}", "arm:=true")
    check_clean(code, text, seen, ("px4_sim", "px4_bridge", "model_learner", "mpc_planner"))
    s = summary(text, "px4_sim")
    # arm:=true: the bridge switched PX4 to offboard (DO_SET_MODE 1, 6) and armed it (400, 1).
    assert [176, 1.0, 6.0] in s["vehicle_commands"] and [400, 1.0, 0.0] in s["vehicle_commands"], s
    # The heartbeat streamed at >= 2 Hz while flying (10 Hz configured): never a gap that trips
    # PX4's offboard-loss failsafe (0.5 s), CPU hog or not.
    assert s["offboard_control_mode"] >= 20 and 0.0 < s["heartbeat_max_gap_s"] < 0.5, s
    assert "[px4_bridge]: scheduling: " in text, "px4_bridge did not report its scheduling"
    assert s["invalid_setpoints"] == 0, s
    # States flowed to the planner and its commands flew the vehicle most of the time.
    assert s["commanded_steps"] >= 100, s
    if setpoint == "thrust_torque":
        assert s["thrust_setpoints"] >= 100 and s["torque_setpoints"] >= 100 and s["actuator_motors"] == 0, s
        assert -1.0 <= s["thrust_z_min"] <= s["thrust_z_max"] <= 0.0, s  # NED: thrust points up = -z
        assert s["thrust_z_min"] < s["thrust_z_max"], s  # exploration varies the thrust
    else:
        assert s["actuator_motors"] >= 100 and s["thrust_setpoints"] == 0, s


def test_crazyflie_launch_against_stand_in(tmp_path):
    code, text, seen = launch_robot(tmp_path, "crazyflie.launch.yaml", "cf_name:=cf7")
    check_clean(code, text, seen, ("crazyflie_sim", "crazyflie_bridge", "model_learner", "mpc_planner"))
    s = summary(text, "crazyflie_sim")
    assert s["full_state_setpoints"] >= 100 and s["invalid_setpoints"] == 0, s
    assert s["commanded_steps"] >= 100, s
    # Setpoints follow the (exploring, so falling) drone: finite heights that change.
    assert s["setpoint_z_min"] < s["setpoint_z_max"] < 3.0, s


def test_robot_arm_launch_against_sim_bridge(tmp_path):
    code, text, seen = launch_robot(tmp_path, "robot_arm.launch.yaml", "task:=pendulum_swingup",
                                  "controller:=arm_effort_controller")
    check_clean(code, text, seen, ("sim_bridge", "state_estimator", "model_learner", "mpc_planner"))
    assert "commands on /arm_effort_controller/commands" in text
    last = re.findall(r"episode 1: return \S+ after (\d+) steps \((\d+) missed so far\)", text)
    assert last, text[-4000:]
    steps, missed = 120, int(last[-1][1])
    # Real time: a step without a fresh command is a miss; the planner answered most steps.
    assert missed < steps // 2, text[-4000:]
