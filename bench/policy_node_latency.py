"""State-to-command latency of policy_controller in a running launch, over DDS, in real time.

What runs: launch/sim.launch.yaml through ``python -m mbrl_ros.cli launch`` with
``planner:=policy realtime:=true`` and the distilled policy (default
bench/results/distill_policy_2x64_f64io.onnx: bench/distill_policy.py's 2x64 policy,
re-exported with float64 input/output by policy_from_onnx): sim_bridge steps
cartpole_swingup on the wall clock at the task's rate, state_estimator relays /joint_states to
/mbrl/state, policy_controller answers each state with ONNX Runtime (one thread), and
model_learner keeps learning from the data in the background (retraining capped at
``--train-epochs`` after each episode, as in bench/ros_latency.py).

Measured by an observer node in this process (bench/ros_latency.py's ``LatencyObserver``), for
every command, found through its tag (the stamp of the joint state it answers):

* node latency (the headline): command DDS source timestamp minus the /mbrl/state source
  timestamp: one DDS delivery into policy_controller, its state callback (validation, ONNX
  inference, clamping) up to ``publish()``.
* sensor latency: command source timestamp minus the /joint_states source timestamp: the same
  plus the hop through state_estimator (the whole stack, as bench/ros_latency.py measures it).

Both are reported over all states, and over the states that arrived while model_learner was
not training (training keeps one of the two cores busy after each episode).

Example (about 45 s; writes bench/results/policy_node_latency.json):
    python bench/policy_node_latency.py --episodes 3
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment_header  # noqa: E402
from ros_latency import LatencyObserver, LoadMonitor, spin, split_episodes, stats_ms  # noqa: E402

from mbrl_ros.export.onnx_policy import load_policy_onnx  # noqa: E402
from mbrl_ros.launcher.process_tree import descendant_pids, running_pids  # noqa: E402
from mbrl_ros.ros.compat import SingleThreadedExecutor, rclpy_api  # noqa: E402
from mbrl_ros.ros.runtime.testing import isolated_domain  # noqa: E402
from mbrl_ros.tasks import make_task  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default=str(REPO / "bench/results/distill_policy_2x64_f64io.onnx"))
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--train-epochs", type=int, default=30, help="model_learner's max_train_epochs")
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--out", default=str(REPO / "bench/results/policy_node_latency.json"))
    args = parser.parse_args()
    policy = load_policy_onnx(args.policy)  # fails early, with the reason, on a bad file
    task = make_task(policy.task)
    period_ns = round(task.spec.control_period * 1e9)
    header = environment_header("policy_controller (onnxruntime, 1 thread) on the mbrl_ros runtime / Cyclone DDS", 1)
    print(header, flush=True)
    work = Path(tempfile.mkdtemp(prefix="policy_latency_"))
    params = work / "params.yaml"
    params.write_text(f"model_learner:\n  ros__parameters:\n    learning: {{max_train_epochs: {args.train_epochs}}}\n")
    command = [sys.executable, "-m", "mbrl_ros.cli", "launch", "sim.launch.yaml", f"task:={policy.task}",
               "planner:=policy", f"policy_file:={Path(args.policy).resolve()}", "realtime:=true",
               f"episodes:={args.episodes}", f"params_file:={params}", f"output_dir:={work / 'out'}"]
    print(f"# {' '.join(command[1:])}\n# log: {work / 'launch.log'}", flush=True)
    seen: set[int] = set()
    with isolated_domain():
        rclpy_api.init(args=[])
        observer = LatencyObserver("effort_controller")
        executor = SingleThreadedExecutor()
        executor.add_node(observer)
        spinner = threading.Thread(target=spin, args=(executor,), daemon=True)
        spinner.start()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        with (work / "launch.log").open("w") as log:
            launcher = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work, env=env)
        monitor = LoadMonitor(launcher.pid)
        started = time.monotonic()
        try:
            while launcher.poll() is None and time.monotonic() - started < args.timeout:
                seen |= descendant_pids(launcher.pid)
                monitor.sample()
                time.sleep(0.5)
        finally:
            if launcher.poll() is None:
                launcher.send_signal(signal.SIGINT)
            code = launcher.wait(timeout=60)
            deadline = time.monotonic() + 10
            while running_pids(seen) and time.monotonic() < deadline:
                time.sleep(0.1)
            left_behind = running_pids(seen)
            executor.shutdown(timeout_sec=5.0)
            observer.destroy_node()
            rclpy_api.try_shutdown()
            spinner.join(timeout=5.0)

    with observer.lock:
        episodes = split_episodes(list(observer.joint), period_ns)
        node, sensor, node_quiet, sensor_quiet, unanswered = [], [], [], [], []
        for episode, stamps in enumerate(episodes):
            for step, stamp in enumerate(stamps):
                cmd, joint, state = observer.command.get(stamp), observer.joint[stamp], observer.state.get(stamp)
                if cmd is None or state is None or not (cmd[0] and joint[0] and state[0]):
                    if cmd is None:  # where: (episode, step, whether /mbrl/state carried it)
                        unanswered.append((episode, step, state is not None))
                    continue
                node.append(cmd[0] - state[0])
                sensor.append(cmd[0] - joint[0])
                if not observer.training_at(joint[1], seed_episodes=1):
                    node_quiet.append(cmd[0] - state[0])
                    sensor_quiet.append(cmd[0] - joint[0])
    log_text = (work / "launch.log").read_text(errors="replace")
    report = {
        "policy": str(args.policy), "task": policy.task, "control_period_s": task.spec.control_period,
        "episodes": len(episodes), "states": sum(len(e) for e in episodes), "unanswered_states": len(unanswered),
        "unanswered_at_episode_step_relayed": unanswered,
        "node_latency_state_to_command": stats_ms(node), "sensor_latency_joint_states_to_command": stats_ms(sensor),
        "node_latency_learner_idle": stats_ms(node_quiet), "sensor_latency_learner_idle": stats_ms(sensor_quiet),
        "load": monitor.window(monitor.samples[0]["wall_ns"], monitor.samples[-1]["wall_ns"]) if monitor.samples else {},
        "launch_exit_code": code, "processes_left_behind": sorted(left_behind),
        "environment": [header, environment_header("(end)", 1)], "command": " ".join(command[1:]),
        "returns": [line.split("return ", 1)[1].split(" ")[0] for line in log_text.splitlines()
                    if "[sim_bridge]" in line and ": return " in line],
    }
    for key in ("node_latency_state_to_command", "sensor_latency_joint_states_to_command",
                "node_latency_learner_idle", "sensor_latency_learner_idle"):
        s = report[key]
        if s.get("n"):
            print(f"{key:40s} n={s['n']:5d} p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms  max {s['max_ms']:.3f} ms")
    print(f"states {report['states']}, unanswered {len(unanswered)} (episode, step, relayed by the estimator: "
          f"{unanswered}), episode returns {report['returns']}, launch exit code {code}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    if left_behind or not node or code != 0:
        print(f"FAILED: exit code {code}, left behind {sorted(left_behind)}, {len(node)} commands measured")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
