"""mbrl-lib's PETS CEM agent timed per action (runs in the bench's own venv, not mbrl_ros's).

bench/planner_latency.py starts this script with the interpreter given by ``--mbrl-python``
(e.g. ``.bench-venv/bin/python`` with ``pip install mbrl==0.2.0 --no-deps`` and its light
imports) and reads one JSON line from its stdout. It builds mbrl-lib's own objects at its PETS
cartpole configuration: GaussianMLP (ensemble 7, 4 hidden layers of 200, SiLU, fixed_model
propagation), OneDTransitionRewardModel (delta targets, input normalization), ModelEnv with
mbrl-lib's ``cartpole_pets`` reward, and a TrajectoryOptimizerAgent with CEMOptimizer (pop 350,
5 iterations, elite ratio 0.1, alpha 0.1, horizon 15, 20 particles). The weights are as
initialized (the cost does not depend on them); the normalizer is fitted on random data.
Nothing here re-implements mbrl-lib: every object is mbrl-lib's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--actions", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--population", type=int, default=350)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--horizon", type=int, default=15)
    parser.add_argument("--particles", type=int, default=20)
    parser.add_argument("--ensemble", type=int, default=7)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=200)
    args = parser.parse_args()
    try:
        import gymnasium as gym
        import mbrl
        import mbrl.env.reward_fns as reward_fns
        import mbrl.env.termination_fns as termination_fns
        import mbrl.models
        import mbrl.planning
        import mbrl.types
        import omegaconf
        import torch
    except ImportError as exc:
        print(json.dumps({"error": f"mbrl-lib does not import: {type(exc).__name__}: {exc}"}))
        return 0
    torch.set_num_threads(args.threads)
    obs_dim, act_dim = 4, 1
    observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)

    class _Spaces:  # ModelEnv reads only the spaces of the env
        pass

    env = _Spaces()
    env.observation_space, env.action_space = observation_space, action_space
    net = mbrl.models.GaussianMLP(in_size=obs_dim + act_dim, out_size=obs_dim, device="cpu",
                                  num_layers=args.layers, ensemble_size=args.ensemble, hid_size=args.hidden,
                                  propagation_method="fixed_model")
    dynamics = mbrl.models.OneDTransitionRewardModel(net, target_is_delta=True, normalize=True,
                                                     learned_rewards=False)
    rng = np.random.default_rng(0)
    n = 1000
    batch = mbrl.types.TransitionBatch(rng.normal(size=(n, obs_dim)).astype(np.float32),
                                       rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
                                       rng.normal(size=(n, obs_dim)).astype(np.float32),
                                       np.zeros(n, np.float32), np.zeros(n, bool), np.zeros(n, bool))
    dynamics.update_normalizer(batch)
    model_env = mbrl.models.ModelEnv(env, dynamics, termination_fns.no_termination, reward_fns.cartpole_pets,
                                     generator=torch.Generator().manual_seed(0))
    agent_cfg = omegaconf.OmegaConf.create({
        "_target_": "mbrl.planning.TrajectoryOptimizerAgent", "planning_horizon": args.horizon,
        "replan_freq": 1, "verbose": False, "action_lb": "???", "action_ub": "???",
        # hydra-core 1.3 instantiates nested configs eagerly; the agent fills the bounds itself.
        "_recursive_": False,
        "optimizer_cfg": {"_target_": "mbrl.planning.CEMOptimizer", "num_iterations": args.iterations,
                          "elite_ratio": 0.1, "population_size": args.population, "alpha": 0.1,
                          "device": "cpu", "lower_bound": "???", "upper_bound": "???",
                          "return_mean_elites": True, "clipped_normal": False}})
    agent = mbrl.planning.create_trajectory_optim_agent_for_model(model_env, agent_cfg,
                                                                  num_particles=args.particles)
    times = []
    states = rng.normal(size=(args.warmup + args.actions, obs_dim)).astype(np.float32)
    for i, state in enumerate(states):
        start = time.perf_counter()
        action = agent.act(state)
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
        if not np.all(np.isfinite(action)):
            print(json.dumps({"error": f"mbrl-lib returned a non-finite action {action}"}))
            return 1
    times = np.array(times)
    evals = args.population * args.particles * args.horizon * args.iterations
    print(json.dumps({"library": f"mbrl-lib {mbrl.__version__}", "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "actions": len(times),
                      "p50_s": float(np.median(times)), "p99_s": float(np.percentile(times, 99)),
                      "mean_s": float(times.mean()), "evals_per_action": evals,
                      "evals_per_s": evals / float(times.mean())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
