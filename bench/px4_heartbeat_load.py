"""PX4 offboard heartbeat under a CPU hog on every core (goal: largest gap < 0.3 s in every run).

What runs, per run: ``mbrl-ros launch px4.launch.yaml sim:=true arm:=true`` (px4_sim, px4_bridge,
model_learner, mpc_planner on their own DDS domain; small model and planner budget as
test/integration/test_robot_launch.py, ``--episodes`` episodes of ``--episode-length`` steps at
50 Hz) while ``--hogs`` busy-loop processes (default: one per core, at this script's nice value)
spin; as in the test they start once every node is built (imports done) and are killed when
the launch has exited, so they cover every flight.

What is measured, by px4_sim (the PX4 stand-in, a separate process): the largest gap between two
/fmu/in/offboard_control_mode messages while the vehicle flies (PX4 leaves offboard after 0.5 s
without one), the steps flown in failsafe (no heartbeat within 0.5 s, or no setpoint within its
command_timeout) in all and after arming ("armed fs": the ones before are the bridge's 1 s
arm_delay at the start of the first episode, by design) and the commanded ones. Also printed: each node's scheduling as it logged it,
the CPU seconds the hogs got (so the load was real) and the load average before and after, and
from px4_bridge's exit line: the largest gap it sent while controlling ("sent gap": the heartbeat
thread's own timing) and how often it stopped the stream on purpose because the planner's
commands were older than command_timeout ("cmd stops": the planner, not the heartbeat, was late;
each such stop shows in px4_sim's gap as at least 0.2 s).

``--baseline-runs N`` adds N runs with ``scheduling.enabled: false`` on every node (everything at
normal priority, the heartbeat thread still on) in the same session, under the same hog, as the
comparison.

Example (~1 minute per run on 2 shared cores; run it under the bench lock):
    flock /tmp/mbrl_bench.lock python bench/px4_heartbeat_load.py --runs 5 --json bench/results/px4_heartbeat_load.json
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test"))  # the launch runner and CPU hog that the integration tests use

from cpu_load import cpu_hog  # noqa: E402
from launch_runs import run_launch  # noqa: E402

from mbrl_ros.ros.runtime.testing import isolated_domain  # noqa: E402

PARAMS = """\
/**:
  ros__parameters:
    learning: {{horizon: 8, max_train_epochs: 20}}
    pets_ensemble: {{hidden_units: 32, hidden_layers: 2}}
    icem: {{population: 24}}
    train_every_transitions: 0
    episode_length: {episode_length}
{extra}"""
SCHEDULING_OFF = "    scheduling: {enabled: false}\n"
PLANNER_NICE = "mpc_planner:\n  ros__parameters:\n    scheduling: {{nice: {nice}}}\n"
NODES = 4  # px4_sim, px4_bridge, model_learner, mpc_planner


def nodes_up(text: str) -> bool:
    """Every node is built: each logs its scheduling once (the hog starts then, as in the test)."""
    return text.count("]: scheduling: ") >= NODES


def one_run(workdir: Path, args: argparse.Namespace, scheduling_on: bool) -> dict:
    params = workdir / "params.yaml"
    text = PARAMS.format(episode_length=args.episode_length, extra="" if scheduling_on else SCHEDULING_OFF)
    if args.planner_nice is not None:
        text += PLANNER_NICE.format(nice=args.planner_nice)
    params.write_text(text)
    load_before = os.getloadavg()[0]
    measured: dict = {"running": False, "cpu": 0.0, "wall": float("nan")}

    @contextlib.contextmanager
    def load():
        started = time.monotonic()
        with cpu_hog(args.hogs, max_s=args.timeout + 60) as hog:
            yield
            measured.update(running=hog.running(), cpu=hog.cpu_seconds(), wall=time.monotonic() - started)

    run_started = time.monotonic()
    with isolated_domain():
        code, text, _ = run_launch(workdir, "px4.launch.yaml", "sim:=true", "arm:=true", f"episodes:={args.episodes}",
                                   f"setpoint:={args.setpoint}", f"params_file:={params}", timeout_s=args.timeout,
                                   linger_s=5, load=load, load_when=nodes_up)
    hog_running, hog_cpu, wall = measured["running"], measured["cpu"], measured["wall"]
    run_wall = time.monotonic() - run_started
    match = re.search(r"px4_sim summary: (\{.*\})", text)
    if code != 0 or not match:
        (workdir / "failed.log").write_text(text)
        raise RuntimeError(f"launch failed (exit {code}); log in {workdir / 'failed.log'}:\n{text[-3000:]}")
    summary = json.loads(match.group(1))
    scheduling = dict(re.findall(r"\[(\w+)\]: scheduling: ([^\n]*)", text))
    sent = re.search(r"\[px4_bridge\]: heartbeat: (\d+) sent, largest gap while controlling ([\d.]+) s, "
                     r"(\d+) overrun\(s\); stopped (\d+) time\(s\): odometry stale (\d+), commands stale (\d+)", text)
    if not sent:
        raise RuntimeError(f"no heartbeat line from px4_bridge:\n{text[-3000:]}")
    return {"scheduling": "on" if scheduling_on else "off", "exit_code": code,
            "heartbeat_max_gap_s": summary["heartbeat_max_gap_s"], "failsafe_steps": summary["failsafe_steps"],
            "unarmed_steps": summary["unarmed_steps"],
            "failsafe_armed": summary["failsafe_steps"] - summary["unarmed_steps"],
            "commanded_steps": summary["commanded_steps"], "steps": summary["steps"],
            "offboard_control_mode": summary["offboard_control_mode"],
            "bridge_max_gap_s": float(sent.group(2)), "bridge_overruns": int(sent.group(3)),
            "stops_commands_stale": int(sent.group(6)), "stops_odometry_stale": int(sent.group(5)), "overruns": summary.get("overruns", 0),
            "hog_running_at_end": hog_running, "hog_cpu_s": round(hog_cpu, 1), "wall_s": round(run_wall, 1),
            "hog_wall_s": round(wall, 1), "hog_cores": round(hog_cpu / wall, 2),
            "loadavg_1m_before": round(load_before, 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2), "node_scheduling": scheduling}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs with the shipped scheduling")
    parser.add_argument("--baseline-runs", type=int, default=0, help="runs with scheduling.enabled false")
    parser.add_argument("--hogs", type=int, default=None, help="busy-loop processes (default: one per core)")
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--episode-length", type=int, default=250, help="steps per episode (50 Hz)")
    parser.add_argument("--setpoint", default="thrust_torque", choices=("thrust_torque", "motors"))
    parser.add_argument("--timeout", type=float, default=240.0, help="SIGINT to the launch after this (s)")
    parser.add_argument("--bound", type=float, default=0.3, help="goal for the largest heartbeat gap (s)")
    parser.add_argument("--planner-nice", type=int, default=None,
                        help="mpc_planner's scheduling.nice (default: its own, 0)")
    parser.add_argument("--json", type=Path, default=None, help="write the rows and the verdict here")
    args = parser.parse_args()

    hogs = args.hogs or os.cpu_count()
    print(f"# px4 heartbeat under load: {hogs} hog process(es) on {os.cpu_count()} core(s), nice "
          f"{os.getpriority(os.PRIO_PROCESS, 0)}, {args.episodes} x {args.episode_length} steps at 50 Hz, "
          f"setpoint {args.setpoint}, planner nice {'default' if args.planner_nice is None else args.planner_nice}; "
          f"python {sys.version.split()[0]}")
    print(f"# uptime before: {Path('/proc/loadavg').read_text().strip()} (1, 5, 15 min load, runnable/total)")
    rows = []
    plan = [True] * args.runs + [False] * args.baseline_runs
    header = (f"{'run':>3} {'sched':>5} {'max gap s':>9} {'failsafe':>8} {'armed fs':>8} {'commanded':>9} {'steps':>5} "
              f"{'heartbeats':>10} {'sent gap':>8} {'cmd stops':>9} {'hog cores':>9} {'load 1m':>7} {'wall s':>6}")
    print(header)
    for index, scheduling_on in enumerate(plan):
        with tempfile.TemporaryDirectory(prefix="px4_load_") as tmp:
            row = one_run(Path(tmp), args, scheduling_on)
        row["run"] = index
        rows.append(row)
        print(f"{index:>3} {row['scheduling']:>5} {row['heartbeat_max_gap_s']:>9.4f} {row['failsafe_steps']:>8} "
              f"{row['failsafe_armed']:>8} {row['commanded_steps']:>9} {row['steps']:>5} {row['offboard_control_mode']:>10} "
              f"{row['bridge_max_gap_s']:>8.4f} {row['stops_commands_stale']:>9} {row['hog_cores']:>9.2f} {row['loadavg_1m_after']:>7.2f} {row['wall_s']:>6.1f}", flush=True)
        if index == 0 or not scheduling_on and plan[index - 1]:
            for node, line in sorted(row["node_scheduling"].items()):
                print(f"#   {node}: {line}")
    print(f"# uptime after: {Path('/proc/loadavg').read_text().strip()}")
    verdict = {}
    for label in ("on", "off"):
        gaps = [r["heartbeat_max_gap_s"] for r in rows if r["scheduling"] == label]
        if gaps:
            failsafe = [r["failsafe_steps"] for r in rows if r["scheduling"] == label]
            armed = [r["failsafe_armed"] for r in rows if r["scheduling"] == label]
            verdict[label] = {"runs": len(gaps), "max_gap_s": max(gaps), "all_below_bound": max(gaps) < args.bound,
                              "failsafe_steps": failsafe, "failsafe_steps_after_arming": armed, "hogs_ran_throughout": all(
                                  r["hog_running_at_end"] for r in rows if r["scheduling"] == label)}
            print(f"# scheduling {label}: largest gap {max(gaps):.4f} s over {len(gaps)} run(s) "
                  f"({'all below' if max(gaps) < args.bound else 'NOT all below'} {args.bound} s); failsafe steps "
                  f"{failsafe}, of them after arming {armed}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows,
                                         "verdict": verdict}, indent=2))
    return 0 if verdict.get("on", {}).get("all_below_bound", True) else 1


if __name__ == "__main__":
    sys.exit(main())
