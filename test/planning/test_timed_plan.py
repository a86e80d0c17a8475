"""TimedPlan: which action of a plan applies to a state's stamp (the planner node's control side)."""
import numpy as np
import pytest

from mbrl_ros.planning.timed_plan import TimedPlan

PERIOD = 20_000_000  # 50 Hz


def plan():
    return TimedPlan(np.arange(6, dtype=float).reshape(3, 2), stamp_ns=1_000_000_000, period_ns=PERIOD)


def test_action_at_rounds_the_stamp_to_the_nearest_control_period():
    p = plan()
    assert p.action_at(p.stamp_ns)[0] == 0 and p.action_at(p.stamp_ns)[1].tolist() == [0.0, 1.0]
    assert p.action_at(p.stamp_ns + PERIOD * 0.4)[0] == 0  # jitter within half a period: the same step
    index, action = p.action_at(p.stamp_ns + PERIOD * 1.6)
    assert index == 2 and action.tolist() == [4.0, 5.0]


def test_outside_the_plan_there_is_no_action_but_the_index_tells_how_far():
    p = plan()
    assert p.action_at(p.stamp_ns + 3 * PERIOD) == (3, None)  # past the horizon: the caller's safe command
    assert p.action_at(p.stamp_ns - PERIOD) == (-1, None)  # a state older than the plan's start


def test_take_next_steps_through_the_plan_once():
    p = plan()
    assert [a.tolist() if a is not None else None for a in (p.take_next() for _ in range(4))] == \
        [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], None]


def test_bad_plans_are_refused():
    with pytest.raises(ValueError, match="period_ns"):
        TimedPlan(np.zeros((2, 1)), 0, 0)
    with pytest.raises(ValueError, match=r"\(H, A\)"):
        TimedPlan(np.zeros(3), 0, PERIOD)
