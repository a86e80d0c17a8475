"""Unit tests for the YAML launch interpreter: known files in, known command lines out."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from mbrl_ros import package_data
from mbrl_ros.launcher import (
    ExecutableNotFoundError,
    LaunchArgumentError,
    LaunchFileError,
    SubstitutionError,
    UnsupportedLaunchConstructError,
    find_launch_file,
    format_plan,
    list_launch_arguments,
    load_launch_file,
    main,
    parse_launch_arguments,
    resolve_executable,
)
from mbrl_ros.launcher.yaml_launch import Substitution, parse_substitutions, prefix_namespace

FIXTURES = Path(__file__).parent / "fixtures"
ENV = {"HOME": "/home/robot", "PATH": "/usr/bin"}


def fake_resolver(package: str, executable: str) -> list[str]:
    return [f"/opt/{package}/lib/{executable}"]


def write(tmp_path: Path, text: str, name: str = "test.launch.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def plan(tmp_path: Path, text: str, arguments=(), environ=None):
    """Interpret ``text`` as a launch file, with parameter files written to tmp_path/params."""
    path = write(tmp_path, text)
    return load_launch_file(path, arguments, resolver=fake_resolver, environ=ENV if environ is None else environ,
                            params_dir=tmp_path / "params")


def read_params(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text())


# --------------------------------------------------------------------------- substitutions


def test_substitution_parser_handles_nesting_quotes_and_escapes():
    assert parse_substitutions("plain text") == ["plain text"]
    assert parse_substitutions("a $(var x) b") == ["a ", Substitution("var", (("x",),)), " b"]
    assert parse_substitutions("$(env X '')") == [Substitution("env", (("X",), ()))]
    nested = parse_substitutions("""$(eval "'$(var planner)' == 'icem'")""")
    assert nested == [Substitution("eval", (("'", Substitution("var", (("planner",),)), "' == 'icem'"),))]
    assert parse_substitutions(r"cost\$(var x)") == ["cost$(var x)"]
    assert parse_substitutions("$(dirname)/x.yaml") == [Substitution("dirname", ()), "/x.yaml"]
    for bad in ("$(var x", "$()", "$(eval max(1,2))", "$(var 'x)"):
        with pytest.raises(SubstitutionError):
            parse_substitutions(bad)


def test_substitutions_evaluate_var_env_optenv_eval_dirname(tmp_path):
    result = plan(tmp_path, """
        launch:
          - arg: {name: planner, default: icem}
          - let: {name: horizon, value: "$(eval '2 * 15')"}
          - executable:
              cmd: >-
                echo $(var planner) $(var missing fallback) $(env HOME) $(env NOPE 'a b')
                $(optenv NOPE) [$(optenv NOPE dflt)] $(var horizon) $(dirname) $(filename)
                $(eval "'$(var planner)' == 'icem'") $(eval 'floor(2.7)')
    """)
    (spec,) = result.processes
    assert spec.cmd == [
        "echo", "icem", "fallback", "/home/robot", "a b", "", "[dflt]", "30", str(tmp_path),
        str(tmp_path / "test.launch.yaml"), "True", "2",
    ]


def test_missing_var_and_env_are_errors_naming_the_file(tmp_path):
    with pytest.raises(SubstitutionError, match=r"launch configuration 'nope' is not set"):
        plan(tmp_path, "launch:\n  - let: {name: x, value: $(var nope)}\n")
    with pytest.raises(SubstitutionError, match=r"test.launch.yaml.*environment variable 'NOPE' is not set"):
        plan(tmp_path, "launch:\n  - let: {name: x, value: $(env NOPE)}\n")


def test_find_pkg_share_resolves_mbrl_ros_only(tmp_path, monkeypatch):
    monkeypatch.setattr(package_data, "share_dir", lambda: Path("/share/mbrl_ros"))
    result = plan(tmp_path, "launch:\n  - executable: {cmd: 'cat $(find-pkg-share mbrl_ros)/config/x.yaml'}\n")
    assert result.processes[0].cmd == ["cat", "/share/mbrl_ros/config/x.yaml"]
    with pytest.raises(SubstitutionError, match="package nav2_bringup is not available without ROS 2"):
        plan(tmp_path, "launch:\n  - let: {name: x, value: $(find-pkg-share nav2_bringup)}\n")


def test_unsupported_substitution_is_named(tmp_path):
    with pytest.raises(SubstitutionError, match=r"\$\(command\) is not supported.*supported: var, env"):
        plan(tmp_path, "launch:\n  - let: {name: x, value: $(command ls)}\n")


def test_prefix_namespace_matches_launch_ros():
    assert prefix_namespace(None, None) is None
    assert prefix_namespace(None, "ns") == "/ns"
    assert prefix_namespace("/a", "b/") == "/a/b"
    assert prefix_namespace("/a", "/b") == "/b"
    assert prefix_namespace("/", "b") == "/b"
    assert prefix_namespace("/a", None) == "/a"
    assert prefix_namespace(None, "") == "/"


# --------------------------------------------------------------------------- nodes


def test_node_command_line_is_built_like_launch_ros(tmp_path):
    params_file = tmp_path / "gains.yaml"
    params_file.write_text("/**:\n  ros__parameters:\n    kp: 1.0\n")
    result = plan(tmp_path, f"""
        launch:
          - arg: {{name: task, default: pendulum_swingup}}
          - node:
              pkg: mbrl_ros
              exec: sim_node
              name: sim
              namespace: robot
              args: --episodes 3 --label "two words" $(var task)
              ros_args: --log-level debug
              param:
                - {{name: task, value: $(var task)}}
                - {{name: rate_hz, value: 50.0}}
                - from: {params_file}
                - {{name: verbose, value: true}}
              remap:
                - {{from: /joint_states, to: /sim/joint_states}}
                - {{from: cmd, to: $(var task)/cmd}}
    """)
    (spec,) = result.processes
    params = tmp_path / "params"
    assert spec.cmd == [
        "/opt/mbrl_ros/lib/sim_node", "--episodes", "3", "--label", "two words", "pendulum_swingup",
        "--ros-args", "--log-level", "debug",
        "--ros-args", "-r", "__node:=sim", "-r", "__ns:=/robot",
        "--params-file", str(params / "01_sim.yaml"),
        "--params-file", str(params_file),
        "--params-file", str(params / "02_sim.yaml"),
        "-r", "/joint_states:=/sim/joint_states", "-r", "cmd:=pendulum_swingup/cmd",
    ]
    assert (spec.name, spec.node_name, spec.namespace) == ("sim", "sim", "/robot")
    # Name and namespace given: the section is the node's full name, as launch_ros writes it.
    assert read_params(spec.params_files[0]) == {
        "/robot/sim": {"ros__parameters": {"task": "pendulum_swingup", "rate_hz": 50.0}}}
    assert read_params(spec.params_files[2]) == {"/robot/sim": {"ros__parameters": {"verbose": True}}}
    assert spec.env == {} and spec.unset_env == ()
    assert not spec.required and not spec.respawn


def test_node_without_name_or_namespace(tmp_path):
    result = plan(tmp_path, """
        launch:
          - node: {exec: /usr/bin/talker, param: [{name: rate, value: 2}]}
          - node: {exec: /usr/bin/talker}
    """)
    first, second = result.processes
    assert first.cmd == ["/usr/bin/talker", "--ros-args", "--params-file", str(tmp_path / "params/01_talker.yaml")]
    assert read_params(first.params_files[0]) == {"/**": {"ros__parameters": {"rate": 2}}}
    assert second.cmd == ["/usr/bin/talker", "--ros-args"]
    assert (first.name, second.name) == ("talker", "talker-2")


def test_parameter_values_are_typed_like_the_ros2_frontend(tmp_path):
    result = plan(tmp_path, """
        launch:
          - let: {name: pop, value: "64"}
          - let: {name: std, value: "0.5"}
          - let: {name: flag, value: "true"}
          - let: {name: gains, value: "[1.0, 2.0]"}
          - node:
              exec: /bin/node
              name: n
              param:
                - {name: plain_text, value: "1.0"}
                - {name: yaml_float, value: 1.0}
                - {name: yaml_int, value: 3}
                - {name: yaml_bool, value: false}
                - {name: yaml_list, value: [1, 2]}
                - {name: str_list, value: [a, b]}
                - {name: from_var_int, value: $(var pop)}
                - {name: from_var_float, value: $(var std)}
                - {name: from_var_bool, value: $(var flag)}
                - {name: from_var_list, value: $(var gains)}
                - {name: var_in_text, value: "icem_$(var pop)"}
                - {name: typed_str, value: $(var pop), type: str}
                - {name: typed_float, value: $(var pop), type: float}
                - {name: typed_list, value: "$(var gains)", type: list_of_float}
                - name: icem
                  param:
                    - {name: horizon, value: 30}
                    - name: noise
                      param: [{name: beta, value: 2.0}]
    """)
    (spec,) = result.processes
    assert read_params(spec.params_files[0])["/**"]["ros__parameters"] == {
        "plain_text": "1.0",
        "yaml_float": 1.0,
        "yaml_int": 3,
        "yaml_bool": False,
        "yaml_list": [1, 2],
        "str_list": ["a", "b"],
        "from_var_int": 64,
        "from_var_float": 0.5,
        "from_var_bool": True,
        "from_var_list": [1.0, 2.0],
        "var_in_text": "icem_64",
        "typed_str": "64",
        "typed_float": 64.0,
        "typed_list": [1.0, 2.0],
        "icem.horizon": 30,
        "icem.noise.beta": 2.0,
    }
    text = Path(spec.params_files[0]).read_text()
    assert "plain_text: '1.0'" in text and "typed_str: '64'" in text  # strings stay strings for rcl


@pytest.mark.parametrize("param, message", [
    ("{name: p, value: [1, 2.5]}", "mixes types"),
    ("{name: p, value: []}", "empty list"),
    ("{name: p, value: {a: 1}}", "not parameter values"),
    ("{name: p, value: 1, type: str}", "is not a str"),
    ("{name: p, value: 'x', type: float}", "not a valid float"),
    ("{name: p, value: 'x', type: complex}", "unknown parameter type"),
    ("{name: p, value: '$(var empty)'}", "empty/null under YAML rules"),
    ("{name: p}", "needs a 'value'"),
    ("{name: p, from: x.yaml}", "cannot be used together"),
    ("{from: /does/not/exist.yaml}", "does not exist"),
])
def test_invalid_parameters_are_rejected(tmp_path, param, message):
    with pytest.raises(LaunchFileError, match=message):
        plan(tmp_path, f"""
            launch:
              - let: {{name: empty, value: ''}}
              - node: {{exec: /bin/node, param: [{param}]}}
        """)


def test_params_file_with_allow_substs(tmp_path):
    (tmp_path / "p.yaml").write_text("/**:\n  ros__parameters:\n    task: $(var task)\n")
    result = plan(tmp_path, """
        launch:
          - let: {name: task, value: reacher}
          - node: {exec: /bin/node, param: [{from: $(dirname)/p.yaml, allow_substs: true}]}
    """)
    assert read_params(result.processes[0].params_files[0]) == {"/**": {"ros__parameters": {"task": "reacher"}}}


def test_process_attributes(tmp_path):
    result = plan(tmp_path, """
        launch:
          - node:
              exec: /bin/node
              name: n
              on_exit: shutdown
              respawn: 'false'
              sigterm_timeout: 1.5
              sigkill_timeout: '2'
              launch-prefix: nice -n 5
              output: screen
              cwd: /
              env: [{name: EXTRA, value: $(var x 1)}]
          - executable:
              cmd: $(env HOME)/bin/run --flag
              respawn: true
              respawn_delay: 0.5
    """)
    node, executable = result.processes
    assert node.cmd == ["nice", "-n", "5", "/bin/node", "--ros-args", "-r", "__node:=n"]
    assert node.required and not node.respawn and node.cwd == "/"
    assert (node.sigterm_timeout, node.sigkill_timeout) == (1.5, 2.0)
    assert node.env == {"EXTRA": "1"}
    assert executable.name == "run" and executable.cmd == ["/home/robot/bin/run", "--flag"]
    assert executable.respawn and executable.respawn_delay == 0.5 and not executable.required
    with pytest.raises(LaunchFileError, match="on_exit must be 'shutdown'"):
        plan(tmp_path, "launch:\n  - executable: {cmd: ls, on_exit: restart}\n")


# --------------------------------------------------------------------------- arguments


def test_arguments_defaults_overrides_and_choices(tmp_path):
    text = """
        launch:
          - arg: {name: task, description: "Task to run."}
          - arg: {name: planner, default: icem, choice: [{value: icem}, {value: mppi}]}
          - arg: {name: model, default: $(var planner)_model, choices: [icem_model, mppi_model, oracle]}
          - executable: {cmd: echo $(var task) $(var planner) $(var model)}
    """
    result = plan(tmp_path, text, ["task:=reacher"])
    assert result.processes[0].cmd == ["echo", "reacher", "icem", "icem_model"]
    assert [a.name for a in result.arguments] == ["task", "planner", "model"]
    assert result.arguments[1].choices == ("icem", "mppi") and result.arguments[0].default is None
    result = plan(tmp_path, text, {"task": "reacher", "planner": "mppi", "model": "oracle"})
    assert result.processes[0].cmd == ["echo", "reacher", "mppi", "oracle"]
    with pytest.raises(LaunchArgumentError, match=r"'task' \(Task to run.\) has no default and was not given: "
                                                  r"pass task:=VALUE"):
        plan(tmp_path, text)
    with pytest.raises(LaunchArgumentError, match=r"unknown launch argument\(s\) tsak.*declared arguments: "
                                                  r"model, planner, task"):
        plan(tmp_path, text, ["task:=reacher", "tsak:=reacher"])
    with pytest.raises(LaunchArgumentError, match="'planner' is 'cem', which is not one of: icem, mppi"):
        plan(tmp_path, text, ["task:=reacher", "planner:=cem"])


def test_missing_argument_error_mentions_unknown_ones(tmp_path):
    with pytest.raises(LaunchArgumentError, match=r"note: unknown launch argument\(s\) taks"):
        plan(tmp_path, "launch:\n  - arg: {name: task}\n", ["taks:=reacher"])


def test_parse_launch_arguments():
    assert parse_launch_arguments(["a:=1", "b:=x:=y", "c:="]) == {"a": "1", "b": "x:=y", "c": ""}
    with pytest.raises(LaunchArgumentError, match="name:=value"):
        parse_launch_arguments(["task=reacher"])


def test_list_launch_arguments():
    arguments = list_launch_arguments(FIXTURES / "processes.launch.yaml")
    assert [(a.name, a.default) for a in arguments] == [
        ("python", None), ("with_grandchild", "true"), ("with_stubborn", "true"), ("stubborn_sigterm_timeout", "1.0")]


# --------------------------------------------------------------------------- groups and includes


def test_groups_scope_configurations_environment_and_namespaces(tmp_path):
    result = plan(tmp_path, """
        launch:
          - let: {name: where, value: top}
          - group:
              - push-ros-namespace: {namespace: robot}
              - let: {name: where, value: inner}
              - set_env: {name: INNER, value: "1"}
              - node: {exec: /bin/a, name: a}
              - node: {exec: /bin/b, name: b, namespace: arm}
              - node: {exec: /bin/c, name: c, namespace: /absolute}
              - group:
                  - push_ros_namespace: {namespace: sub}
                  - node: {exec: /bin/d, name: d}
          - node: {exec: /bin/e, name: e}
          - group:
              scoped: false
              children:
                - let: {name: leaked, value: "yes"}
          - group:
              forwarding: false
              keep: [{name: kept, value: $(var where)}]
              children:
                - executable: {cmd: echo $(var kept) $(var where fallback) $(env INNER unset)}
          - executable: {cmd: echo $(var where) $(var leaked) $(env INNER unset)}
    """)
    namespaces = {spec.name: spec.namespace for spec in result.processes if spec.node_name}
    assert namespaces == {"a": "/robot", "b": "/robot/arm", "c": "/absolute", "d": "/robot/sub", "e": None}
    assert result.processes[0].env == {"INNER": "1"} and result.processes[4].env == {}
    assert result.processes[5].cmd == ["echo", "top", "fallback", "unset"]
    assert result.processes[6].cmd == ["echo", "top", "yes", "unset"]
    assert "ros_namespace" not in result.configurations


def test_include_passes_arguments_and_resolves_dirname_per_file():
    result = load_launch_file(FIXTURES / "parent.launch.yaml", resolver=fake_resolver, environ=ENV)
    try:
        left, right, planner = result.processes
        controller_params = str(FIXTURES / "sub" / "controller.yaml")
        assert left.cmd[:7] == ["/opt/mbrl_ros/lib/controller_node", "--ros-args", "-r", "__node:=left_arm",
                                "-r", "__ns:=/left", "--params-file"]
        assert left.cmd[7] == controller_params
        # The include's second argument sees the first one (they are set in order).
        assert left.cmd[-2:] == ["-r", "/commands:=/left_arm/commands"]
        # Scoped groups: the first include's arguments are gone for the second one.
        assert right.namespace == "/right" and right.cmd[-2:] == ["-r", "/commands:=/commands"]
        assert read_params(right.params_files[1]) == {"/right/right_arm": {"ros__parameters": {"robot": "right_arm"}}}
        assert planner.cmd[:4] == ["/opt/mbrl_ros/lib/planner_node", "--ros-args", "-r", "__node:=planner"]
        assert [a.name for a in result.arguments] == ["planner", "robot", "topic", "robot", "topic"]
        params_dir = result.params_dir
        assert params_dir is not None and params_dir.is_dir()
    finally:
        result.cleanup()
    assert not params_dir.exists()


def test_include_is_not_a_scope_and_checks_required_arguments(tmp_path):
    write(tmp_path, "launch:\n  - arg: {name: robot}\n  - let: {name: set_inside, value: x}\n", "inner.launch.yaml")
    result = plan(tmp_path, """
        launch:
          - include: {file: $(dirname)/inner.launch.yaml, arg: [{name: robot, value: r1}]}
          - executable: {cmd: echo $(var robot) $(var set_inside)}
    """)
    assert result.processes[0].cmd == ["echo", "r1", "x"]  # as in ROS 2: an include leaks
    with pytest.raises(LaunchArgumentError, match=r"inner.launch.yaml requires argument 'robot'"):
        plan(tmp_path, "launch:\n  - include: {file: $(dirname)/inner.launch.yaml}\n")


def test_include_relative_path_error_suggests_dirname(tmp_path, monkeypatch):
    write(tmp_path, "launch: []\n", "inner.launch.yaml")
    monkeypatch.chdir("/")
    with pytest.raises(LaunchFileError, match=r"write file: '\$\(dirname\)/inner.launch.yaml'"):
        plan(tmp_path, "launch:\n  - include: {file: inner.launch.yaml}\n")
    monkeypatch.chdir(tmp_path)
    assert plan(tmp_path, "launch:\n  - include: inner.launch.yaml\n").processes == []
    with pytest.raises(UnsupportedLaunchConstructError, match="only YAML launch files"):
        plan(tmp_path, "launch:\n  - include: {file: robot.launch.py}\n".replace("robot.launch.py", __file__))


def test_include_cycle_is_an_error(tmp_path):
    with pytest.raises(LaunchFileError, match="cycle"):
        plan(tmp_path, "launch:\n  - include: {file: $(filename)}\n")


# --------------------------------------------------------------------------- conditions and environment


def test_if_and_unless(tmp_path):
    text = """
        launch:
          - arg: {name: gui, default: "false"}
          - executable: {cmd: echo with_gui, if: $(var gui)}
          - executable: {cmd: echo headless, unless: $(var gui)}
          - group:
              if: $(eval "'$(var gui)' == 'true'")
              children:
                - arg: {name: gui_only}
    """
    assert [s.cmd for s in plan(tmp_path, text).processes] == [["echo", "headless"]]
    # An argument behind a false condition is still a known name.
    assert [s.cmd for s in plan(tmp_path, text, ["gui_only:=1"]).processes] == [["echo", "headless"]]
    with pytest.raises(LaunchArgumentError, match="gui_only"):
        plan(tmp_path, text, ["gui:=true"])
    with pytest.raises(LaunchFileError, match="must be one of true, false, 1, 0"):
        plan(tmp_path, text, ["gui:=yes"])


def test_environment_actions(tmp_path):
    result = plan(tmp_path, """
        launch:
          - set_env: {name: ROS_DOMAIN_ID, value: "42"}
          - append_env: {name: PATH, value: /opt/bin}
          - append_env: {name: PATH, value: /first, prepend: true}
          - append_env: {name: NEW, value: a, separator: ","}
          - unset_env: {name: HOME}
          - executable: {cmd: echo $(env ROS_DOMAIN_ID) $(optenv HOME gone)}
    """)
    (spec,) = result.processes
    assert spec.cmd == ["echo", "42", "gone"]
    assert spec.env == {"ROS_DOMAIN_ID": "42", "PATH": "/first:/usr/bin:/opt/bin", "NEW": "a"}
    assert spec.unset_env == ("HOME",)
    assert spec.command_line() == "env -u HOME PATH=/first:/usr/bin:/opt/bin ROS_DOMAIN_ID=42 NEW=a echo 42 gone"


def test_log_messages_are_collected(tmp_path):
    result = plan(tmp_path, "launch:\n  - log: {message: 'task is $(var t default)'}\n")
    assert result.messages == ["[INFO] [launch.user]: task is default"]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("text, error, message", [
    ("launch:\n  - timer: {period: '1', children: []}\n", UnsupportedLaunchConstructError,
     r"test.launch.yaml: `timer` \(launch\[0\]\) is not supported"),
    ("launch:\n  - node: {exec: x, emulate_tty: true}\n", UnsupportedLaunchConstructError,
     r"'emulate_tty' of `node` are unknown or not supported"),
    ("launch:\n  - executable: {cmd: x, shell: true}\n", UnsupportedLaunchConstructError, "shell: true"),
    ("launch:\n  - arg: {name: rate, default: 1.0}\n", LaunchFileError,
     r"'default' must be a string, got float 1.0; ROS 2 launch rejects this too, quote it: default: '1.0'"),
    ("launch:\n  - node: {exec: x, name: 2bad}\n", LaunchFileError, "node name '2bad' is invalid"),
    ("launch:\n  - node: {exec: x, namespace: 'a//b'}\n", LaunchFileError, "namespace '/a//b' is invalid"),
    ("launch:\n  - node: {exec: x, if: '1', unless: '0'}\n", LaunchFileError, "cannot be used together"),
    ("launch:\n  - node: x\n", LaunchFileError, "expected a mapping of attributes"),
    ("launch:\n  - {node: {exec: x}, arg: {name: y}}\n", LaunchFileError, "exactly one key"),
    ("nodes: []\n", LaunchFileError, "exactly one top-level key, 'launch'"),
    ("launch: [\n", LaunchFileError, "not valid YAML"),
])
def test_malformed_or_unsupported_files_fail_clearly(tmp_path, text, error, message):
    with pytest.raises(error, match=message):
        plan(tmp_path, text)


def test_generated_parameter_files_are_removed_on_error(tmp_path):
    path = write(tmp_path, "launch:\n  - node: {exec: x, param: [{name: a, value: 1}]}\n  - timer: {}\n")
    import tempfile
    before = set(Path(tempfile.gettempdir()).glob("mbrl_ros_launch_*"))
    with pytest.raises(UnsupportedLaunchConstructError):
        load_launch_file(path, environ=ENV)
    assert set(Path(tempfile.gettempdir()).glob("mbrl_ros_launch_*")) == before


# --------------------------------------------------------------------------- executables and files


def test_resolve_executable_runs_console_scripts_with_this_python():
    cmd = resolve_executable("mbrl_ros", "mbrl-ros")
    assert cmd[:2] == [sys.executable, "-c"]
    assert "from mbrl_ros.cli import main" in cmd[2]
    done = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "usage: mbrl-ros" in done.stdout
    with pytest.raises(ExecutableNotFoundError, match="package turtlesim is not available without ROS 2"):
        resolve_executable("turtlesim", "turtlesim_node")
    with pytest.raises(ExecutableNotFoundError, match=r"no executable 'nope_node' \(console_scripts: .*mbrl-ros"):
        resolve_executable("mbrl_ros", "nope_node")


def test_node_of_another_package_fails_with_its_location(tmp_path):
    path = write(tmp_path, "launch:\n  - node: {pkg: turtlesim, exec: turtlesim_node}\n")
    with pytest.raises(ExecutableNotFoundError, match=r"`node` \(launch\[0\]\): package turtlesim is not available"):
        load_launch_file(path, environ=ENV)


def test_find_launch_file_looks_in_the_share_directory(tmp_path, monkeypatch):
    (tmp_path / "launch").mkdir()
    (tmp_path / "launch" / "sim.launch.yaml").write_text("launch: []\n")
    monkeypatch.setattr(package_data, "share_dir", lambda: tmp_path)
    monkeypatch.chdir("/")
    assert find_launch_file("sim.launch.yaml") == tmp_path / "launch" / "sim.launch.yaml"
    with pytest.raises(LaunchFileError, match=r"available: sim.launch.yaml"):
        find_launch_file("real.launch.yaml")
    # `ros2 launch PACKAGE FILE` habits work too.
    assert main(["mbrl_ros", "sim.launch.yaml", "--print"]) == 0


def test_main_print_and_errors(tmp_path, capsys):
    fixture = str(FIXTURES / "processes.launch.yaml")
    assert main([fixture, "python:=/usr/bin/python3", "with_stubborn:=false", "--print"]) == 0
    out = capsys.readouterr().out
    assert f"/usr/bin/python3 {FIXTURES / 'child.py'} --ros-args -r __node:=talker" in out
    assert "-r __node:=parent -r __ns:=/family" in out and "stubborn" not in out
    assert main([fixture, "-s"]) == 0
    assert "'python':" in capsys.readouterr().out
    assert main([fixture]) == 2
    assert "mbrl-ros launch: error:" in capsys.readouterr().err
    assert main(["turtlesim", "multisim.launch.py"]) == 2
    assert "package turtlesim is not available without ROS 2" in capsys.readouterr().err


def test_format_plan_lists_every_process(tmp_path):
    result = plan(tmp_path, "launch:\n  - node: {exec: /bin/a, name: a, namespace: ns, on_exit: shutdown}\n")
    assert format_plan(result).splitlines()[1:] == [
        "[a] node /ns/a (on_exit: shutdown)", "  /bin/a --ros-args -r __node:=a -r __ns:=/ns"]


def test_resolved_executable_ignores_modules_in_the_working_directory(tmp_path):
    """A stray struct.py where the launch runs must not shadow the standard library in a node."""
    import subprocess
    import sys as _sys

    from mbrl_ros.launcher.yaml_launch import resolve_executable

    (tmp_path / "struct.py").write_text("raise ImportError('shadowed the standard library')\n")
    cmd = resolve_executable("mbrl_ros", "mbrl-ros")
    assert cmd[0] == _sys.executable
    proc = subprocess.run(cmd + ["list"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "planners:" in proc.stdout
