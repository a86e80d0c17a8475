"""State estimators: known answers on irregular stamps, rejection of bad input, conformance."""
import numpy as np
import pytest

from mbrl_ros.config import ConfigError
from mbrl_ros.estimation import (
    ESTIMATORS,
    EstimatorInputError,
    FiniteDifferenceEstimator,
    make_estimator,
    wrap_to_pi,
)
from mbrl_ros.registry import UnknownComponentError

IRREGULAR_STAMPS = np.array([0.0, 0.013, 0.05, 0.051, 0.09, 0.17, 0.2])


@pytest.mark.parametrize("order", [1, 2])
def test_constant_velocity_is_exact_on_irregular_stamps(order):
    v = np.array([0.7, -2.5])
    p0 = np.array([0.3, 1.0])
    est = make_estimator("finite_difference", {"order": order}, num_joints=2)
    states = [est.update(t, p0 + v * t) for t in 10.0 + IRREGULAR_STAMPS]
    np.testing.assert_allclose(states[0], np.concatenate([p0 + v * 10.0, [0.0, 0.0]]))  # starts at rest
    for t, state in zip(10.0 + IRREGULAR_STAMPS[1:], states[1:]):
        np.testing.assert_allclose(state[:2], p0 + v * t, rtol=0, atol=1e-12)
        np.testing.assert_allclose(state[2:], v, rtol=0, atol=1e-9)


def test_second_order_is_exact_for_constant_acceleration():
    a, v0 = 3.0, -1.0
    est = make_estimator("finite_difference", {"order": 2}, num_joints=1)
    states = [est.update(t, [v0 * t + 0.5 * a * t ** 2]) for t in IRREGULAR_STAMPS]
    for t, state in zip(IRREGULAR_STAMPS[2:], states[2:]):
        assert state[1] == pytest.approx(v0 + a * t, abs=1e-9)


def test_first_order_under_constant_acceleration_is_the_average_velocity():
    a = 2.0
    est = make_estimator("finite_difference", {"order": 1}, num_joints=1)
    est.update(0.0, [0.0])
    state = est.update(0.1, [0.5 * a * 0.1 ** 2])
    assert state[1] == pytest.approx(a * 0.05)


def test_start_without_rest_assumption_waits_for_two_samples():
    est = make_estimator("finite_difference", {"start_at_rest": False}, num_joints=1)
    assert est.update(1.0, [0.0]) is None
    np.testing.assert_allclose(est.update(1.5, [1.0]), [1.0, 2.0])


def test_gap_longer_than_max_dt_restarts_the_history():
    est = make_estimator("finite_difference", {"max_dt": 0.2}, num_joints=1)
    est.update(0.0, [0.0])
    assert est.update(0.1, [0.1])[1] == pytest.approx(1.0)
    # 5 s later the pendulum is somewhere else (a reset): no velocity of (3.0 - 0.1) / 5 s.
    np.testing.assert_allclose(est.update(5.1, [3.0]), [3.0, 0.0])
    assert est.update(5.2, [3.2])[1] == pytest.approx(2.0)


def test_smoothing_blends_with_the_previous_velocity():
    est = make_estimator("finite_difference", {"smoothing": 0.5}, num_joints=1)
    est.update(0.0, [0.0])            # v = 0 (at rest)
    assert est.update(0.1, [0.1])[1] == pytest.approx(0.5)     # 0.5 * 1 + 0.5 * 0
    assert est.update(0.2, [0.2])[1] == pytest.approx(0.75)


@pytest.mark.parametrize("name", ["finite_difference", "passthrough"])
def test_duplicate_and_out_of_order_stamps_are_rejected_without_changing_the_state(name):
    est = make_estimator(name, {}, num_joints=1)
    est.update(1.0, [0.0], [0.0])
    est.update(1.1, [0.1], [1.0])
    with pytest.raises(EstimatorInputError) as dup:
        est.update(1.1, [5.0], [5.0])
    assert dup.value.reason == "duplicate_stamp"
    with pytest.raises(EstimatorInputError) as old:
        est.update(1.05, [5.0], [5.0])
    assert old.value.reason == "out_of_order"
    assert est.last_stamp == 1.1
    # The rejected samples left no trace: the next difference uses (1.1, 0.1).
    state = est.update(1.2, [0.2], [1.0])
    assert state[1] == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["finite_difference", "passthrough"])
@pytest.mark.parametrize("positions, velocities, reason", [
    ([0.0, 1.0], [0.0], "wrong_length"),
    ([0.0], [0.0, 1.0], "wrong_length"),
    ([np.nan], [0.0], "non_finite"),
    ([0.0], [np.inf], "non_finite"),
])
def test_bad_measurements_are_rejected(name, positions, velocities, reason):
    est = make_estimator(name, {}, num_joints=1)
    with pytest.raises(EstimatorInputError) as err:
        est.update(0.0, positions, velocities)
    assert err.value.reason == reason
    assert est.last_stamp is None


def test_non_finite_stamp_is_rejected():
    est = make_estimator("finite_difference", {}, num_joints=1)
    with pytest.raises(EstimatorInputError) as err:
        est.update(float("nan"), [0.0])
    assert err.value.reason == "non_finite"


def test_passthrough_needs_velocities_and_passes_them_through():
    est = make_estimator("passthrough", {}, num_joints=2)
    with pytest.raises(EstimatorInputError) as err:
        est.update(0.0, [0.0, 1.0])
    assert err.value.reason == "missing_velocity"
    np.testing.assert_array_equal(est.update(0.0, [0.5, 1.0], [2.0, -3.0]), [0.5, 1.0, 2.0, -3.0])


def test_continuous_joints_are_unwrapped_before_differencing():
    # A joint turning at +2 rad/s reported wrapped into [-pi, pi), as many drivers do.
    est = make_estimator("finite_difference", {}, num_joints=2, continuous_joints=[0])
    stamps = np.arange(0.0, 3.0, 0.05)
    true = 2.0 + 2.0 * stamps
    for t, q in zip(stamps, true):
        state = est.update(t, [wrap_to_pi(q), q])
    assert state[0] == pytest.approx(true[-1])       # unwrapped, continuous
    assert state[2] == pytest.approx(2.0)            # no 2 pi / dt spike at the seam
    assert state[1] == pytest.approx(true[-1])       # joint 1 was never wrapped


def test_reset_forgets_history():
    est = make_estimator("finite_difference", {}, num_joints=1)
    est.update(1.0, [0.0])
    est.reset()
    np.testing.assert_allclose(est.update(0.5, [2.0]), [2.0, 0.0])  # an earlier stamp is fine after reset


def test_registry_and_config_errors():
    assert {"finite_difference", "passthrough"} <= set(ESTIMATORS.names())
    with pytest.raises(UnknownComponentError, match="finite_difference"):
        make_estimator("kalman_typo", {}, num_joints=1)
    with pytest.raises(ConfigError, match="order"):
        make_estimator("finite_difference", {"order": 3}, num_joints=1)
    with pytest.raises(ConfigError, match="unknown parameter"):
        make_estimator("finite_difference", {"ordr": 1}, num_joints=1)
    with pytest.raises(ValueError, match="num_joints"):
        FiniteDifferenceEstimator({}, 0)
    with pytest.raises(ValueError, match="continuous_joints"):
        FiniteDifferenceEstimator({}, 1, continuous_joints=[1])


@pytest.mark.parametrize("name", sorted(ESTIMATORS.names()))
def test_every_estimator_returns_a_fresh_state_of_the_right_shape(name):
    est = make_estimator(name, {}, num_joints=3)
    positions, velocities = np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.0])
    state = None
    for t in (0.0, 0.05, 0.1):
        state = est.update(t, positions + velocities * t, velocities)
    assert state is not None and state.shape == (6,) and state.dtype == np.float64
    before = state.copy()
    positions[:] = 99.0  # the estimator must not keep a view of the caller's arrays
    est.update(0.15, positions, velocities)
    np.testing.assert_array_equal(state, before)
