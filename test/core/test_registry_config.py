"""Registries and typed configs: known answers and error messages."""
import dataclasses

import pytest

from mbrl_ros.config import ConfigError, flatten, from_dict, load_ros_params, merge, param, to_dict, unflatten
from mbrl_ros.registry import Registry, UnknownComponentError


@dataclasses.dataclass(frozen=True)
class Inner:
    gain: float = param(1.0, "a gain", low=0.0, high=10.0)


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str = param("a", "a name", choices=("a", "b"))
    count: int = param(3, "a count", low=1)
    inner: Inner = dataclasses.field(default_factory=Inner)
    weights: dict[str, float] = param({"x": 1.0}, "weights")


def test_registry_register_get_unregister():
    reg = Registry("widget")
    reg.register("one", 1)

    @reg.register("two")
    def two():
        return 2

    assert reg.get("two") is two and reg.names() == ["one", "two"] and "one" in reg
    with pytest.raises(ValueError, match="already registered"):
        reg.register("one", 11)
    reg.register("one", 11, overwrite=True)
    assert reg.unregister("one") == 11 and "one" not in reg
    with pytest.raises(UnknownComponentError, match="unknown widget 'three'; registered: two"):
        reg.get("three")
    with pytest.raises(ValueError, match="identifier"):
        reg.register("bad name", 3)


def test_from_dict_nested_dotted_and_validation():
    cfg = from_dict(Outer, {"name": "b", "inner.gain": 2, "count": 4.0})
    assert cfg == Outer(name="b", count=4, inner=Inner(gain=2.0))
    assert isinstance(cfg.inner.gain, float) and isinstance(cfg.count, int)
    assert to_dict(cfg) == {"name": "b", "count": 4, "inner": {"gain": 2.0}, "weights": {"x": 1.0}}
    for bad, match in [({"name": "c"}, "not one of"), ({"count": 0}, "below the minimum"),
                       ({"inner": {"gain": 11}}, "inner.gain"), ({"count": "3"}, "integer"),
                       ({"cont": 1}, "valid: count, inner, name, weights"), ({"count": True}, "integer"),
                       ({"inner": {"gain": float("nan")}}, "finite")]:
        with pytest.raises(ConfigError, match=match):
            from_dict(Outer, bad)


def test_flatten_unflatten_merge_do_not_mutate():
    nested = {"a": {"b": 1, "c": {"d": 2}}}
    assert flatten(nested) == {"a.b": 1, "a.c.d": 2}
    assert unflatten(flatten(nested)) == nested
    base = {"a": {"b": 1}}
    merged = merge(base, {"a": {"c": 2}})
    assert merged == {"a": {"b": 1, "c": 2}} and base == {"a": {"b": 1}}


def test_load_ros_params_node_section_beats_wildcard(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("/**:\n  ros__parameters:\n    a: 1\n    b: {c: 2}\n"
                    "planner:\n  ros__parameters:\n    a: 5\n")
    assert load_ros_params(path) == {"a": 1, "b": {"c": 2}}
    assert load_ros_params(path, "/planner") == {"a": 5, "b": {"c": 2}}
    path.write_text("/**:\n  params: {}\n")
    with pytest.raises(ConfigError, match="ros__parameters"):
        load_ros_params(path)
    path.write_text("a: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_ros_params(path)
