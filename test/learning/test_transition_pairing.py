"""How model_learner pairs states and commands into transitions (pure logic, no ROS)."""
import numpy as np
import pytest

from mbrl_ros.learning.pairing import TransitionPairing

PERIOD = 50_000_000  # 0.05 s in ns


def obs(x):
    return np.array([float(x), 0.0])


def summary(transitions):
    return [(o[0], a[0], n[0]) for o, a, n in transitions]


def test_lockstep_tagged_commands_pair_exactly():
    pairing = TransitionPairing(PERIOD)
    out = []
    for k in range(4):
        out += pairing.add_state(obs(k), k * PERIOD)
        out += pairing.add_command([10.0 + k], tag_ns=k * PERIOD)
    out += pairing.add_state(obs(4), 4 * PERIOD)
    assert summary(out) == [(k, 10.0 + k, k + 1) for k in range(4)]


@pytest.mark.parametrize("order", ["states_first", "commands_first", "interleaved"])
def test_tagged_pairing_does_not_depend_on_how_the_two_streams_interleave(order):
    pairing = TransitionPairing(PERIOD, max_pending=100)
    states = [("s", k) for k in range(6)]
    commands = [("c", k) for k in range(5)]
    events = {"states_first": states + commands, "commands_first": commands + states,
              "interleaved": [e for pair in zip(states, commands) for e in pair] + states[5:]}[order]
    out = []
    for kind, k in events:
        if kind == "s":
            out += pairing.add_state(obs(k), k * PERIOD)
        else:
            out += pairing.add_command([10.0 + k], tag_ns=k * PERIOD)
    assert summary(out) == [(k, 10.0 + k, k + 1) for k in range(5)]


def test_a_state_without_its_command_gets_the_held_one():
    pairing = TransitionPairing(PERIOD)
    out = pairing.add_state(obs(0), 0)
    out += pairing.add_command([1.0], tag_ns=0)
    out += pairing.add_state(obs(1), PERIOD)              # (s0, 1.0, s1)
    out += pairing.add_state(obs(2), 2 * PERIOD)          # no command for s1 yet: waits
    assert summary(out) == [(0, 1.0, 1)]
    out += pairing.add_command([3.0], tag_ns=2 * PERIOD)  # s1 was skipped: the simulator held 1.0
    out += pairing.add_state(obs(3), 3 * PERIOD)
    assert summary(out) == [(0, 1.0, 1), (1, 1.0, 2), (2, 3.0, 3)]


def test_waiting_is_bounded():
    pairing = TransitionPairing(PERIOD, max_pending=2)
    out = pairing.add_state(obs(0), 0) + pairing.add_command([1.0], tag_ns=0)
    for k in range(1, 5):
        out += pairing.add_state(obs(k), k * PERIOD)      # nobody answers s1, s2, ...
    assert summary(out) == [(0, 1.0, 1), (1, 1.0, 2)]


def test_the_first_command_for_a_state_wins():
    pairing = TransitionPairing(PERIOD)
    pairing.add_state(obs(0), 0)
    pairing.add_command([0.0], tag_ns=0)                 # e.g. a safe command
    pairing.add_command([5.0], tag_ns=0)
    assert summary(pairing.add_state(obs(1), PERIOD)) == [(0, 0.0, 1)]


def test_untagged_commands_are_held():
    pairing = TransitionPairing(PERIOD)
    pairing.add_command([7.0], tag_ns=None)
    pairing.add_state(obs(0), 0)
    assert summary(pairing.add_state(obs(1), PERIOD)) == [(0, 7.0, 1)]
    assert summary(pairing.add_state(obs(2), 2 * PERIOD)) == [(1, 7.0, 2)]
    pairing.add_command([8.0], tag_ns=None)
    assert summary(pairing.add_state(obs(3), 3 * PERIOD)) == [(2, 8.0, 3)]


def test_gaps_and_missing_commands_drop_the_pair():
    pairing = TransitionPairing(PERIOD, max_gap_factor=1.5, min_gap_factor=0.5)
    pairing.add_state(obs(0), 0)
    assert pairing.add_state(obs(1), PERIOD) == []                    # no command seen yet
    pairing.add_command([1.0], tag_ns=None)
    assert pairing.add_state(obs(2), 3 * PERIOD) == []                # 2 periods apart: a gap
    assert pairing.add_state(obs(3), 4 * PERIOD) == []                # the held command was forgotten
    pairing.add_command([1.0], tag_ns=None)
    assert pairing.add_state(obs(4), 4 * PERIOD + PERIOD // 4) == []  # too close
    assert pairing.dropped == {"no_command": 2, "gap": 2}


def test_a_gap_releases_pairs_still_waiting():
    pairing = TransitionPairing(PERIOD)
    pairing.add_state(obs(0), 0)
    pairing.add_command([1.0], tag_ns=0)
    pairing.add_state(obs(1), PERIOD)
    pairing.add_state(obs(2), 2 * PERIOD)                             # waits for the command of s1
    assert summary(pairing.add_state(obs(9), 100 * PERIOD)) == [(1, 1.0, 2)]


def test_out_of_order_states_are_refused():
    pairing = TransitionPairing(PERIOD)
    pairing.add_state(obs(0), PERIOD)
    with pytest.raises(ValueError):
        pairing.add_state(obs(1), PERIOD)
    with pytest.raises(ValueError):
        pairing.add_state(obs(1), 0)


def test_extra_entries_stay_constant_within_a_transition():
    pairing = TransitionPairing(PERIOD, extra_dim=2)
    pairing.add_command([0.0], tag_ns=None)
    pairing.add_state(np.array([0.0, 0.0, 0.3, 0.4]), 0)
    (o, _, n), = pairing.add_state(np.array([0.1, 1.0, 9.0, 9.0]), PERIOD)   # new target arrived early
    np.testing.assert_array_equal(n, [0.1, 1.0, 0.3, 0.4])
    np.testing.assert_array_equal(o[2:], n[2:])


def test_an_unanswered_first_pair_does_not_hold_up_untagged_data():
    pairing = TransitionPairing(PERIOD)
    pairing.add_state(obs(0), 0)
    out = pairing.add_state(obs(1), PERIOD)             # no command yet: may wait for a tagged one
    pairing.add_command([2.0], tag_ns=None)             # an untagged controller starts
    out += pairing.add_state(obs(2), 2 * PERIOD)
    assert summary(out) == [(1, 2.0, 2)]                # (s0, s1) had no command and is dropped
    assert pairing.dropped == {"no_command": 1}
