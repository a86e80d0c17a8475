"""NodeHealth: counters, throttled rejection logs, DiagnosticArray content."""
from mbrl_ros.nodes.diagnostics import NodeHealth
from mbrl_ros.ros.compat import Node, msg


def test_counters_throttling_and_published_status(graph, wait_for):
    node = graph.add(Node("health_check", context=graph.context))
    lines = []
    health = NodeHealth(node, throttle_s=60.0)
    node.get_logger().warning = lambda text, **_: lines.append(text)
    arrays = graph.collect("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics")
    for _ in range(3):
        health.reject("state", "non_finite", "NaN in positions")
    health.reject("state", "stale", "old")
    health.count("commands", 2)
    health.set("plan_ms", 12.3456789)
    assert health.rejected_total() == 4 and health.rejected_total("state") == 4
    assert lines == ["rejected state (non_finite): NaN in positions [1 so far]",
                     "rejected state (stale): old [1 so far]"]

    wait_for(lambda: graph.probe.count_subscribers("/diagnostics") > 0, what="the subscription")
    health.publish("warn", "4 rejected")
    wait_for(lambda: len(arrays) == 1, what="a DiagnosticArray")
    status, = arrays[0].status
    status_cls = msg("diagnostic_msgs/msg/DiagnosticStatus")
    assert status.name == "health_check" and status.message == "4 rejected" and status.level == status_cls.WARN
    values = {kv.key: kv.value for kv in status.values}
    assert values == {"commands": "2", "plan_ms": "12.3457", "rejected.state.non_finite": "3",
                      "rejected.state.stale": "1"}
