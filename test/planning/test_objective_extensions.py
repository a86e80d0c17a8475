"""TrajectoryObjective's optional termination and terminal value, and planners' proposal seeding."""
import pytest
import torch

from mbrl_ros.models.base import RolloutModel
from mbrl_ros.planning import PLANNERS, TrajectoryObjective, make_planner


class Integrator(RolloutModel):
    """1-D x_{h+1} = x_h + a_h, deterministic, one particle."""

    def rollout(self, obs, actions, generator=None):
        return (obs.reshape(1, 1, 1, 1) + torch.cumsum(actions, dim=1).unsqueeze(1)).double()


def reward(obs, action, next_obs):
    return next_obs[..., 0]


def beyond(obs, action, next_obs):
    return next_obs[..., 0] > 2.5


ACTIONS = torch.tensor([[[1.0], [1.0], [1.0], [-1.0], [-1.0]]])  # x: 1, 2, 3, 2, 1


def test_default_objective_is_the_plain_sum():
    obj = TrajectoryObjective(Integrator(), reward)
    assert float(obj(torch.zeros(1), ACTIONS)[0]) == pytest.approx(9.0)


def test_termination_zeroes_rewards_after_the_first_predicted_termination():
    obj = TrajectoryObjective(Integrator(), reward, termination_fn=beyond)
    # The terminating step (x = 3) counts; x = 2 and 1 afterwards do not, though x came back.
    assert float(obj(torch.zeros(1), ACTIONS)[0]) == pytest.approx(1 + 2 + 3)
    never = torch.tensor([[[1.0], [1.0], [-1.0], [-1.0], [0.0]]])
    assert float(obj(torch.zeros(1), never)[0]) == pytest.approx(1 + 2 + 1 + 0 + 0)


def test_terminal_value_is_discounted_and_dropped_after_termination():
    value = lambda obs: 10.0 * obs[..., 0]  # noqa: E731
    obj = TrajectoryObjective(Integrator(), reward, terminal_value=value, discount=0.5)
    expected = 1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 2 + 0.0625 * 1 + 0.5 ** 5 * 10 * 1
    assert float(obj(torch.zeros(1), ACTIONS)[0]) == pytest.approx(expected)
    both = TrajectoryObjective(Integrator(), reward, termination_fn=beyond, terminal_value=value, discount=0.5)
    assert float(both(torch.zeros(1), ACTIONS)[0]) == pytest.approx(1 + 0.5 * 2 + 0.25 * 3)
    with pytest.raises(ValueError, match="discount"):
        TrajectoryObjective(Integrator(), reward, discount=0.0)


def test_steps_after_a_termination_get_the_termination_reward():
    # x: 1, 2, 3 (terminates at step 2, 0-based), then two steps charged -5 each instead of x = 2, 1.
    obj = TrajectoryObjective(Integrator(), reward, termination_fn=beyond, termination_reward=-5.0)
    assert float(obj(torch.zeros(1), ACTIONS)[0]) == pytest.approx(1 + 2 + 3 - 5 - 5)
    # A termination on the last step leaves nothing to charge; none at all: the plain sum.
    last = torch.tensor([[[1.0], [0.0], [0.0], [0.0], [2.0]]])  # x: 1, 1, 1, 1, 3
    assert float(obj(torch.zeros(1), last)[0]) == pytest.approx(1 + 1 + 1 + 1 + 3)
    never = torch.tensor([[[1.0], [1.0], [-1.0], [-1.0], [0.0]]])
    assert float(obj(torch.zeros(1), never)[0]) == pytest.approx(1 + 2 + 1 + 0 + 0)
    # Costs: a sequence that crashes early no longer beats one that keeps paying a small cost.
    cost = lambda o, a, n: -0.1 * torch.ones_like(n[..., 0])  # noqa: E731
    early = torch.tensor([[[3.0], [0.0], [0.0], [0.0], [0.0]]])  # x = 3 at step 0
    stay = torch.zeros(1, 5, 1)
    plain = TrajectoryObjective(Integrator(), cost, termination_fn=beyond)
    charged = TrajectoryObjective(Integrator(), cost, termination_fn=beyond, termination_reward=-1.0)
    assert float(plain(torch.zeros(1), early)[0]) == pytest.approx(-0.1)  # beats staying (-0.5) without a charge
    assert float(plain(torch.zeros(1), stay)[0]) == pytest.approx(-0.5)
    assert float(charged(torch.zeros(1), early)[0]) == pytest.approx(-0.1 - 4 * 1.0)  # loses with it
    assert float(charged(torch.zeros(1), stay)[0]) == pytest.approx(-0.5)


def test_a_terminated_particle_gets_the_absorbing_terminal_value():
    value = lambda obs: 10.0 * obs[..., 0]  # noqa: E731
    obj = TrajectoryObjective(Integrator(), reward, termination_fn=beyond, terminal_value=value, discount=0.5,
                              termination_reward=-2.0)
    # Steps 0..2 discounted, steps 3, 4 charged -2 (discounted), the value past H: -2 / (1 - 0.5).
    expected = 1 + 0.5 * 2 + 0.25 * 3 + 0.125 * -2 + 0.0625 * -2 + 0.5 ** 5 * (-2 / 0.5)
    assert float(obj(torch.zeros(1), ACTIONS)[0]) == pytest.approx(expected)
    with pytest.raises(ValueError, match="discount < 1"):
        TrajectoryObjective(Integrator(), reward, termination_fn=beyond, terminal_value=value, discount=1.0,
                            termination_reward=-2.0)
    with pytest.raises(ValueError, match="finite"):
        TrajectoryObjective(Integrator(), reward, termination_reward=float("nan"))


def test_termination_is_per_particle():
    class TwoParticles(RolloutModel):
        num_particles = 2

        def rollout(self, obs, actions, generator=None):
            path = torch.cumsum(actions, dim=1).unsqueeze(1)
            return torch.cat([path, 2 * path], dim=1).double()  # the second particle moves twice as far

    obj = TrajectoryObjective(TwoParticles(), reward, termination_fn=beyond)
    actions = torch.ones(1, 3, 1)  # particle 0: 1, 2, 3 -> 6; particle 1: 2, 4 (ends) -> 6
    assert float(obj(torch.zeros(1), actions)[0]) == pytest.approx((6 + 6) / 2)


@pytest.mark.parametrize("name", sorted(n for n in PLANNERS.names() if n != "nmpc"))
def test_a_better_proposal_is_returned_and_seeds_the_mean(name):
    # Reward: stay at x = 0.9 * H; the proposal of constant 0.9 reaches it, tiny samples around 0 do not.
    horizon = 4
    target = lambda o, a, n: -(n[..., 0] - 0.9 * torch.arange(1, horizon + 1, dtype=n.dtype)) ** 2  # noqa: E731
    obj = TrajectoryObjective(Integrator(), target)
    configs = {"icem": {"population": 8, "min_population": 4, "num_elites": 2, "iterations": 1, "init_std": 1e-4},
               "cem": {"population": 8, "num_elites": 2, "iterations": 1, "init_std": 1e-4},
               "mppi": {"population": 8, "iterations": 1, "noise_std": 1e-4},
               "random_shooting": {"population": 8}}
    planner = make_planner(name, configs.get(name, {}), action_low=[-1.0], action_high=[1.0], horizon=horizon,
                           objective=obj, seed=0)
    proposal = torch.full((2, horizon, 1), 0.9)
    proposal[1] = -0.9
    planner.proposal_fn = lambda obs: proposal
    result = planner.plan(torch.zeros(1))
    if name != "random_shooting":  # it samples uniformly, so it may find as good a plan by chance
        torch.testing.assert_close(result.actions, proposal[0])
    assert result.predicted_return >= float(obj(torch.zeros(1), proposal[:1])[0]) - 1e-9
    planner.proposal_fn = lambda obs: torch.zeros(1, horizon + 1, 1)
    with pytest.raises(ValueError, match="proposal_fn returned shape"):
        planner.plan(torch.zeros(1))


def split_costs(obs, action, next_obs):
    """Weighted costs whose sum is minus :func:`reward`: 0.5 x and 0.5 x."""
    return {"half": -0.5 * next_obs[..., 0], "other_half": -0.5 * next_obs[..., 0]}


def test_predicted_term_costs_split_the_plan_return():
    obj = TrajectoryObjective(Integrator(), reward, term_costs_fn=split_costs)
    costs = obj.predicted_term_costs(torch.zeros(1), ACTIONS[0])
    assert costs == pytest.approx({"half": -4.5, "other_half": -4.5})  # x: 1, 2, 3, 2, 1
    assert sum(costs.values()) == pytest.approx(-float(obj(torch.zeros(1), ACTIONS)[0]))
    # With termination, the steps after the first predicted one do not count, as in the return.
    masked = TrajectoryObjective(Integrator(), reward, termination_fn=beyond, term_costs_fn=split_costs)
    assert masked.predicted_term_costs(torch.zeros(1), ACTIONS[0]) == pytest.approx({"half": -3.0,
                                                                                      "other_half": -3.0})
    given = Integrator().rollout(torch.zeros(1), ACTIONS)
    assert obj.predicted_term_costs(torch.zeros(1), ACTIONS[0], given) == costs


def test_predicted_term_costs_need_a_term_costs_fn():
    with pytest.raises(ValueError, match="term_costs_fn"):
        TrajectoryObjective(Integrator(), reward).predicted_term_costs(torch.zeros(1), ACTIONS[0])
