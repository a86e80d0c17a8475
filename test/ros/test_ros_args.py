"""--ros-args parsing, parameter files, and name resolution/remapping (no DDS traffic)."""
from __future__ import annotations

import textwrap

import pytest

from mbrl_ros.ros.runtime import Context, Node
from mbrl_ros.ros.runtime.arguments import (
    load_params_file,
    node_pattern_matches,
    parse_param_rule,
    parse_ros_args,
    remove_ros_args,
)
from mbrl_ros.ros.runtime.exceptions import (
    InvalidNamespaceException,
    InvalidNodeNameException,
    InvalidROSArgsError,
    InvalidTopicNameException,
    UnknownROSArgsError,
)
from mbrl_ros.ros.runtime.names import RemapRule, expand_topic_name
from mbrl_ros.ros.runtime.testing import isolated_domain


def test_flags_inside_ros_args_sections_only():
    args = parse_ros_args(
        ["prog", "--foo", "--ros-args", "-r", "a:=b", "-p", "x:=1", "--", "-p", "--ros-args", "--log-level", "debug"]
    )
    assert args.remap_rules == [RemapRule("topic", "a", "b")]
    assert args.parameter_overrides == {"/**": {"x": 1}}
    assert args.log_levels == {"": 10}
    assert args.non_ros_args == ["prog", "--foo", "-p"]


def test_remove_ros_args_keeps_program_arguments():
    argv = ["prog", "--rate", "5", "--ros-args", "-r", "__node:=x", "--", "tail", "--ros-args", "-p", "a:=1"]
    assert remove_ros_args(argv) == ["prog", "--rate", "5", "tail"]


@pytest.mark.parametrize(
    "text, name, value",
    [
        ("a:=1", "a", 1),
        ("a:=1.0", "a", 1.0),
        ("a:=1e3", "a", 1000.0),
        ("a:=true", "a", True),
        ("a:=hello", "a", "hello"),
        ("a:='1'", "a", "1"),
        ("ns.b:=[1.0, 2.5]", "ns.b", [1.0, 2.5]),
        ("a:=[a, b]", "a", ["a", "b"]),
    ],
)
def test_param_values_are_yaml_typed(text, name, value):
    parsed = parse_param_rule(text)
    assert parsed == (name, value)
    assert type(parsed[1]) is type(value)


@pytest.mark.parametrize("text", ["a=1", "1a:=2", "a:=[1, 2.0]", "a:=[]", "a:={b: 1}"])
def test_bad_param_rules_are_rejected(text):
    with pytest.raises(InvalidROSArgsError):
        parse_ros_args(["--ros-args", "-p", text])


def test_unknown_and_incomplete_ros_args_error_clearly():
    with pytest.raises(UnknownROSArgsError, match="--bogus"):
        parse_ros_args(["prog", "--ros-args", "--bogus", "-r", "a:=b"])
    with pytest.raises(InvalidROSArgsError, match="trailing -r"):
        parse_ros_args(["prog", "--ros-args", "-r"])
    with pytest.raises(InvalidROSArgsError, match="remap rule"):
        parse_ros_args(["--ros-args", "-r", "a"])
    with pytest.raises(InvalidROSArgsError, match="log level"):
        parse_ros_args(["--ros-args", "--log-level", "loud"])
    # Logging flags rcl knows are accepted.
    parse_ros_args(["--ros-args", "--disable-rosout-logs", "--enable-stdout-logs", "-e", "/enc"])


def test_remap_rule_forms():
    rules = parse_ros_args(
        ["--ros-args", "-r", "__node:=n2", "-r", "__ns:=/robot", "-r", "talker:chatter:=/x", "-r", "rostopic://a:=b"]
    ).remap_rules
    assert rules == [
        RemapRule("node", "__node", "n2"),
        RemapRule("namespace", "__ns", "/robot"),
        RemapRule("topic", "chatter", "/x", "talker"),
        RemapRule("topic", "a", "b"),
    ]
    with pytest.raises(InvalidROSArgsError):
        parse_ros_args(["--ros-args", "-r", "__ns:=relative"])
    with pytest.raises(InvalidROSArgsError):
        parse_ros_args(["--ros-args", "-r", "__node:=bad-name"])


def test_params_file_sections_and_flattening(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(
        textwrap.dedent(
            """
            /**:
              ros__parameters:
                rate: 10.0
                planner: {name: cem, horizon: 20}
            controller:
              ros__parameters:
                rate: 50.0
            robot:
              arm:
                ros__parameters:
                  gains: [1.0, 2.0]
            """
        )
    )
    table = load_params_file(str(path))
    assert table == {
        "/**": {"rate": 10.0, "planner.name": "cem", "planner.horizon": 20},
        "/controller": {"rate": 50.0},
        "/robot/arm": {"gains": [1.0, 2.0]},
    }
    args = parse_ros_args(["--ros-args", "--params-file", str(path)])
    assert args.overrides_for("/controller") == {"rate": 50.0, "planner.name": "cem", "planner.horizon": 20}
    assert args.overrides_for("/robot/arm")["gains"] == [1.0, 2.0]
    # A section named after the node only matches it in the root namespace, as in rclpy.
    assert args.overrides_for("/ns/controller")["rate"] == 10.0


def test_params_file_errors(tmp_path):
    with pytest.raises(InvalidROSArgsError, match="Couldn't read params file"):
        parse_ros_args(["--ros-args", "--params-file", str(tmp_path / "missing.yaml")])
    bad = tmp_path / "bad.yaml"
    bad.write_text("node:\n  rate: 1\n")
    with pytest.raises(InvalidROSArgsError, match="not under 'ros__parameters'"):
        load_params_file(str(bad))


@pytest.mark.parametrize(
    "pattern, fqn, matches",
    [
        ("/**", "/a/b/node", True),
        ("/*", "/node", True),
        ("/*", "/ns/node", False),
        ("/*/node", "/ns/node", True),
        ("/**/node", "/a/b/node", True),
        ("node", "/node", True),
        ("/ns/node", "/ns/node", True),
        ("/ns/node", "/ns/other", False),
    ],
)
def test_node_pattern_matching(pattern, fqn, matches):
    assert node_pattern_matches(pattern, fqn) is matches


@pytest.mark.parametrize(
    "name, expected",
    [
        ("chatter", "/ns/chatter"),
        ("/chatter", "/chatter"),
        ("~/state", "/ns/my_node/state"),
        ("~", "/ns/my_node"),
        ("{node}/out", "/ns/my_node/out"),
        ("{ns}/out", "/ns/out"),
    ],
)
def test_topic_expansion(name, expected):
    assert expand_topic_name(name, "my_node", "/ns") == expected


def test_topic_expansion_in_root_namespace():
    assert expand_topic_name("chatter", "n", "/") == "/chatter"
    assert expand_topic_name("~/x", "n", "/") == "/n/x"


@pytest.mark.parametrize("name", ["", "a//b", "a/", "1abc", "a b", "a~b", "{bogus}/x", "a/{node"])
def test_invalid_topic_names(name):
    with pytest.raises(InvalidTopicNameException):
        expand_topic_name(name, "n", "/")


@pytest.fixture
def offline_context():
    """A context on a private domain; these tests create nodes but exchange no data."""
    with isolated_domain():
        context = Context()
        yield context
        context.try_shutdown()


def _node(context, name, argv, **kwargs):
    context.try_shutdown()
    context.init(["prog", *argv])
    return Node(name, context=context, **kwargs)


def test_node_name_namespace_and_topic_remaps(offline_context):
    node = _node(
        offline_context,
        "talker",
        ["--ros-args", "-r", "__node:=speaker", "-r", "__ns:=/robot", "-r", "chatter:=/global_chat", "-r", "~/x:=y"],
    )
    assert node.get_name() == "speaker"
    assert node.get_namespace() == "/robot"
    assert node.get_fully_qualified_name() == "/robot/speaker"
    assert node.resolve_topic_name("chatter") == "/global_chat"
    assert node.resolve_topic_name("chatter", only_expand=True) == "/robot/chatter"
    assert node.resolve_topic_name("~/x") == "/robot/y"
    assert node.resolve_topic_name("other") == "/robot/other"
    assert node.get_logger().name == "robot.speaker"


def test_node_specific_rules_and_local_args_win(offline_context):
    node = _node(
        offline_context,
        "a",
        ["--ros-args", "-r", "b:__node:=not_me", "-r", "a:out:=/for_a", "-r", "out:=/global"],
        cli_args=["--ros-args", "-r", "out:=/local", "-r", "__ns:=/local_ns"],
    )
    assert node.get_fully_qualified_name() == "/local_ns/a"
    assert node.resolve_topic_name("out") == "/local"
    other = Node("b", context=offline_context, use_global_arguments=True)
    assert other.get_name() == "not_me"
    third = Node("a", context=offline_context, namespace="robot")
    assert third.resolve_topic_name("out") == "/for_a"
    assert third.get_namespace() == "/robot"


def test_invalid_node_names_and_unknown_cli_args(offline_context):
    offline_context.init(["prog"])
    with pytest.raises(InvalidNodeNameException):
        Node("bad-name", context=offline_context)
    with pytest.raises(InvalidNamespaceException):
        Node("ok", namespace="/a//b", context=offline_context)
    with pytest.raises(UnknownROSArgsError):
        Node("ok", context=offline_context, cli_args=["--ros-args", "--nope"])
