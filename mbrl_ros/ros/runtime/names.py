"""ROS name rules: validation, expansion of relative/private names, and remap matching.

Follows rcl (``rcl/expand_topic_name.c``, ``rcl/remap.c``) and rmw
(``validate_full_topic_name.c``, ``validate_namespace.c``, ``validate_node_name.c``):

* ``foo`` -> ``<ns>/foo``; ``~/foo`` (and ``~``) -> ``<ns>/<node>/foo``; ``/foo`` stays;
  ``{node}``, ``{ns}`` and ``{namespace}`` are substituted.
* A remap rule ``[node:]from:=to`` matches when ``from``, expanded for the node, equals the
  expanded name; the first matching rule wins, node-local rules before global ones.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from mbrl_ros.ros.runtime.exceptions import (
    InvalidNamespaceException,
    InvalidNodeNameException,
    InvalidTopicNameException,
)

MAX_NODE_NAME_LENGTH = 255
_TOKEN = re.compile(r"[A-Za-z0-9_]*")
_NODE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SUBSTITUTION = re.compile(r"\{([^{}]*)\}")
_SUBSTITUTIONS = ("node", "ns", "namespace")


def validate_node_name(node_name: str) -> bool:
    """Raise :class:`InvalidNodeNameException` unless ``node_name`` is a valid node name."""
    if not node_name:
        raise InvalidNodeNameException(node_name, "node name must not be empty", 0)
    if len(node_name) > MAX_NODE_NAME_LENGTH:
        raise InvalidNodeNameException(node_name, f"node name is longer than {MAX_NODE_NAME_LENGTH}", 0)
    if node_name[0].isdigit():
        raise InvalidNodeNameException(node_name, "node name must not start with a number", 0)
    for index, char in enumerate(node_name):
        if not (char.isascii() and (char.isalnum() or char == "_")):
            raise InvalidNodeNameException(
                node_name, "node name must only contain alphanumerics or underscores", index
            )
    return True


def _validate_absolute(name: str, exc: type, what: str, allow_root: bool) -> None:
    if not name:
        raise exc(name, f"{what} must not be empty", 0)
    if not name.startswith("/"):
        raise exc(name, f"{what} must be absolute (start with '/')", 0)
    if name == "/":
        if allow_root:
            return
        raise exc(name, f"{what} must not end with a forward slash", 0)
    if name.endswith("/"):
        raise exc(name, f"{what} must not end with a forward slash", len(name) - 1)
    position = 1
    for token in name[1:].split("/"):
        if not token:
            raise exc(name, f"{what} must not contain repeated forward slashes", position)
        bad = _TOKEN.fullmatch(token)
        if bad is None:
            offset = next(i for i, c in enumerate(token) if not (c.isascii() and (c.isalnum() or c == "_")))
            raise exc(name, f"{what} must only contain alphanumerics, underscores or forward slashes", position + offset)
        if token[0].isdigit():
            raise exc(name, f"{what} tokens must not start with a number", position)
        position += len(token) + 1


def validate_namespace(namespace: str) -> bool:
    """Raise :class:`InvalidNamespaceException` unless ``namespace`` is a valid absolute namespace."""
    _validate_absolute(namespace, InvalidNamespaceException, "namespace", allow_root=True)
    return True


def validate_full_topic_name(name: str) -> bool:
    """Raise :class:`InvalidTopicNameException` unless ``name`` is a valid fully qualified topic."""
    _validate_absolute(name, InvalidTopicNameException, "topic name", allow_root=False)
    return True


def validate_topic_name(name: str) -> bool:
    """Raise :class:`InvalidTopicNameException` unless ``name`` is a valid (maybe relative) topic name."""
    if not isinstance(name, str) or not name:
        raise InvalidTopicNameException(str(name), "topic name must not be empty", 0)
    if name.endswith("/"):
        raise InvalidTopicNameException(name, "topic name must not end with a forward slash", len(name) - 1)
    if "~" in name[1:]:
        raise InvalidTopicNameException(name, "'~' is only allowed at the start of a name", name.index("~", 1))
    if name.startswith("~") and len(name) > 1 and name[1] != "/":
        raise InvalidTopicNameException(name, "'~' must be followed by a forward slash", 1)
    depth = 0
    for index, char in enumerate(name):
        if char == "{":
            if depth:
                raise InvalidTopicNameException(name, "nested '{' in substitution", index)
            depth = 1
        elif char == "}":
            if not depth:
                raise InvalidTopicNameException(name, "unmatched '}'", index)
            depth = 0
        elif not (char.isascii() and (char.isalnum() or char in "_/~")) and not depth:
            raise InvalidTopicNameException(
                name, "topic name must only contain alphanumerics, underscores, '/', '~' and '{}'", index
            )
    if depth:
        raise InvalidTopicNameException(name, "unmatched '{'", name.rindex("{"))
    if "//" in name:
        raise InvalidTopicNameException(name, "topic name must not contain repeated forward slashes", name.index("//"))
    return True


def node_fqn(node_name: str, namespace: str) -> str:
    """``/ns/node`` (``/node`` in the root namespace)."""
    return ("" if namespace == "/" else namespace) + "/" + node_name


def expand_topic_name(topic_name: str, node_name: str, node_namespace: str) -> str:
    """Fully qualified form of ``topic_name`` for a node (no remapping).

    Raises:
        InvalidTopicNameException: the name or the expanded name is invalid, or it
            uses an unknown ``{substitution}``.
    """
    validate_topic_name(topic_name)
    name = topic_name
    if name.startswith("~"):
        name = node_fqn(node_name, node_namespace) + name[1:]

    def substitute(match: re.Match) -> str:
        key = match.group(1)
        if key == "node":
            return node_name
        if key in ("ns", "namespace"):
            return node_namespace
        raise InvalidTopicNameException(topic_name, f"unknown substitution '{{{key}}}'", match.start())

    name = _SUBSTITUTION.sub(substitute, name)
    if not name.startswith("/"):
        name = ("" if node_namespace == "/" else node_namespace) + "/" + name
    name = re.sub("/+", "/", name)
    validate_full_topic_name(name)
    return name


def normalize_namespace(namespace: str | None) -> str:
    """rcl's reading of a namespace argument: ``None``/``""`` -> ``/``; ``ns`` -> ``/ns``."""
    if not namespace:
        return "/"
    if not namespace.startswith("/"):
        namespace = "/" + namespace
    validate_namespace(namespace)
    return namespace


@dataclass(frozen=True)
class RemapRule:
    """One ``[node_name:]match:=replacement`` rule of ``-r``.

    ``kind`` is ``"node"`` (``__node``/``__name``), ``"namespace"`` (``__ns``) or
    ``"topic"`` (topic and service names).
    """

    kind: str
    match: str
    replacement: str
    node_name: str | None = None

    def applies_to(self, node_name: str) -> bool:
        return self.node_name is None or self.node_name == node_name


def first_topic_remap(rules: list[RemapRule], expanded_name: str, node_name: str, node_namespace: str) -> str | None:
    """Replacement of the first topic rule that matches ``expanded_name`` for this node, else ``None``."""
    for rule in rules:
        if rule.kind != "topic" or not rule.applies_to(node_name):
            continue
        if expand_topic_name(rule.match, node_name, node_namespace) == expanded_name:
            return expand_topic_name(rule.replacement, node_name, node_namespace)
    return None
