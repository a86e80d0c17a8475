"""Gradient-based nonlinear MPC: CasADi multiple shooting solved by IPOPT.

Bock and Plitt, "A multiple shooting algorithm for direct solution of optimal
control problems", IFAC 1984; Waechter and Biegler, "On the implementation of
an interior-point filter line-search algorithm for large-scale nonlinear
programming" (IPOPT), Math. Prog. 2006; Andersson et al., "CasADi", Math. Prog.
Comp. 2019.

The NLP over states ``x_0..x_H (O each)`` and actions ``u_0..u_{H-1} (A each)``::

    min  -sum_h r(x_h, u_h, x_{h+1}) + w_rate * sum_{h>=1} |(u_h - u_{h-1}) / half_range|^2
    s.t. x_{h+1} = f(x_h, u_h; p)      (dynamics, one equality block per step)
         x_0 = obs                      (a variable fixed by its bounds)
         low <= u_h <= high             (variable bounds)

``f`` is the objective's model in CasADi (:mod:`mbrl_ros.planning.casadi_models`:
the mean network of a learned ensemble, or an analytic model) with its numbers
in the parameter vector ``p``; the NLP is built once per model structure and
reused when the model is retrained or swapped for one of the same shape.
``r`` is the task's reward written with CasADi ops (see :func:`casadi_reward_of`).

Warm start: the previous solution (states, actions and, optionally, multipliers)
shifted by :meth:`shift`.

Deadline: IPOPT's options are fixed when the solver is built, so a plan's deadline
is not passed as ``max_cpu_time`` (a configured cap per plan) but enforced by an
intermediate callback at the point where IPOPT checks its own time limit: between
two iterations, stopping when the next one (estimated by the previous one) would
end past the deadline. The iterate reached is returned with ``deadline_hit``; so
is the iterate of a solve that reached ``max_iter`` or ``max_cpu_time``.

Failures (IPOPT error statuses, non-finite numbers) return the warm start (the
shifted previous plan, or mid-range actions after a reset) and count in
``solver_failures``; the returned actions are always finite.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import casadi
import numpy as np
import torch

from mbrl_ros.config import param
from mbrl_ros.planning.base import PLANNERS, Planner
from mbrl_ros.planning.casadi_models import CasadiDynamics, casadi_dynamics

#: ``reward(obs (O,1), action (A,1), next_obs (O,1)) -> scalar`` built from CasADi ops (SX or MX).
CasadiReward = Callable[[object, object, object], object]

#: MX dynamics with at most this many parameters are expanded to SX scalar graphs (fast for small
#: models); larger ones (a 5 x 3 x 200 ensemble has 4e5) keep MX's dense matrix products, whose
#: expansion would take seconds to build and run 3-4x slower.
EXPAND_MAX_PARAMETERS = 5000

#: IPOPT statuses of a solve stopped by its iteration or time cap (not a failure).
BUDGET_STATUSES = ("Maximum_Iterations_Exceeded", "Maximum_CpuTime_Exceeded", "Maximum_WallTime_Exceeded")


class UnsupportedRewardError(TypeError):
    """The objective's reward has no CasADi form."""


@dataclasses.dataclass(frozen=True)
class NMPCConfig:
    """IPOPT and cost settings of ``nmpc``."""

    max_iter: int = param(100, "IPOPT iteration cap per plan (max_iter)", low=1, high=100000)
    tol: float = param(1e-6, "IPOPT convergence tolerance (tol)", low=1e-14, high=1.0)
    max_cpu_time: float = param(10.0, "IPOPT CPU-time cap per plan in s (max_cpu_time); a plan deadline "
                                "stops the solver earlier", low=1e-3, high=1e6)
    linear_solver: str = param("mumps", "IPOPT linear solver (ma27/ma57/... need the HSL library)",
                               choices=("mumps", "ma27", "ma57", "ma77", "ma86", "ma97"))
    hessian_approximation: str = param("exact", "exact second derivatives, or limited-memory (L-BFGS: "
                                       "iterations 3x cheaper on an MLP ensemble, but 4-10x more of them)",
                                       choices=("exact", "limited-memory"))
    action_rate_weight: float = param(0.0, "weight of sum_h |(u_h - u_{h-1}) / half_range|^2 in the cost",
                                      low=0.0, high=1e6)
    warm_start_duals: bool = param(True, "also warm-start IPOPT's multipliers from the shifted previous "
                                   "solution and start at a small barrier parameter (warm_start_init_point, "
                                   "mu_init 1e-4): 4-6 instead of 11-15 iterations per plan on cartpole")
    expand: bool = param(True, f"expand small MX dynamics (<= {EXPAND_MAX_PARAMETERS} parameters) to SX "
                         "scalar graphs; large networks keep MX matrix products")
    print_level: int = param(0, "IPOPT print_level (0 silent, 5 per-iteration log)", low=0, high=12)


def casadi_reward_of(reward_fn) -> CasadiReward:
    """The CasADi form of a torch reward callable.

    Looked up, in order: an attribute ``reward_fn.casadi_reward`` (a :data:`CasadiReward`), then,
    for a bound ``Task.reward``, the task's ``casadi_cost_terms`` weighted with its
    ``cost_weights`` exactly as ``Task.reward`` does: ``-sum_i w_i * cost_i`` (zero weights skipped).

    Raises:
        UnsupportedRewardError: neither exists.
    """
    explicit = getattr(reward_fn, "casadi_reward", None)
    if callable(explicit):
        return explicit
    task = getattr(reward_fn, "__self__", None)
    if task is not None and callable(getattr(task, "casadi_cost_terms", None)) and hasattr(task, "cost_weights"):
        weights = task.cost_weights
        name = getattr(getattr(task, "spec", None), "name", type(task).__name__)

        def reward(obs, action, next_obs):
            terms = task.casadi_cost_terms(obs, action, next_obs)
            missing = set(weights) - set(terms)
            if missing:
                raise KeyError(f"{name}: weights given for unknown cost terms {sorted(missing)}")
            total = 0
            for term, weight in weights.items():
                if weight != 0.0:
                    total = total + weight * terms[term]
            return -total

        return reward
    raise UnsupportedRewardError(
        f"nmpc needs the reward in CasADi: {getattr(reward_fn, '__qualname__', type(reward_fn).__name__)} is "
        f"neither a task's reward with casadi_cost_terms nor carries a .casadi_reward; pass casadi_reward= "
        f"to NMPCPlanner")


class _DeadlineStop(casadi.Callback):
    """IPOPT intermediate callback: stop when the next iteration would end past the deadline.

    An iteration's duration is estimated by the previous one (the first by the setup and
    first evaluations since the solve began); IPOPT checks ``max_cpu_time`` at the same point.
    """

    def __init__(self, n_x: int, n_g: int, n_p: int):
        casadi.Callback.__init__(self)
        self._sizes = {"x": n_x, "lam_x": n_x, "g": n_g, "lam_g": n_g, "lam_p": n_p, "f": 1}
        self.deadline: float | None = None
        self.stopped = False
        self._last = 0.0
        self.construct("nmpc_deadline", {})

    def arm(self, deadline: float | None) -> None:
        self.deadline, self.stopped, self._last = deadline, False, time.perf_counter()

    def get_n_in(self):
        return casadi.nlpsol_n_out()

    def get_n_out(self):
        return 1

    def get_name_in(self, i):
        return casadi.nlpsol_out(i)

    def get_name_out(self, i):
        return "stop"

    def get_sparsity_in(self, i):
        return casadi.Sparsity.dense(self._sizes.get(casadi.nlpsol_out(i), 0), 1)

    def eval(self, arg):
        now = time.perf_counter()
        step, self._last = now - self._last, now
        if self.deadline is not None and now + step >= self.deadline:
            self.stopped = True
            return [1]
        return [0]


@PLANNERS.register("nmpc")
class NMPCPlanner(Planner):
    """Multiple-shooting NMPC with IPOPT on the objective's model (see the module docstring).

    Args:
        config, action_low, action_high, horizon, objective, device, seed: as :class:`Planner`;
            ``objective`` must expose ``.model`` (a model :func:`casadi_dynamics` accepts; it may
            be set later, before the first plan) and ``.reward_fn``.
        casadi_reward: the reward in CasADi; default :func:`casadi_reward_of` ``(objective.reward_fn)``.

    Attributes:
        solver_failures: plans that fell back to the warm start because IPOPT failed (error status or
            non-finite numbers); such a plan reports ``predicted_return = -inf``.
        last_status: IPOPT's return status of the latest plan, ``"deadline"`` when the deadline
            stopped it, or why IPOPT was not called.

    The NLP is built in the constructor when the objective already has a model, else at the first
    plan, and again only when a model of another structure is set.
    """

    Config = NMPCConfig

    def __init__(self, config, action_low, action_high, horizon, objective, *, device="cpu", seed=0,
                 nominal_action=None, casadi_reward: CasadiReward | None = None):
        self._states: np.ndarray | None = None
        self._lam_x: np.ndarray | None = None
        self._lam_g: np.ndarray | None = None
        super().__init__(config, action_low, action_high, horizon, objective, device=device, seed=seed,
                         nominal_action=nominal_action)
        if casadi_reward is None:
            reward_fn = getattr(objective, "reward_fn", None)
            if reward_fn is None:
                raise UnsupportedRewardError("nmpc needs an objective with .model and .reward_fn (a "
                                             "TrajectoryObjective) or an explicit casadi_reward=")
            casadi_reward = casadi_reward_of(reward_fn)
        self._casadi_reward = casadi_reward
        self._low_np = self.low.cpu().double().numpy()
        self._high_np = self.high.cpu().double().numpy()
        self.solver_failures = 0
        self.last_status = "not solved yet"
        self._model = None
        self._dyn: CasadiDynamics | None = None
        self._structure = None
        self._solver = None
        self._params_np: np.ndarray | None = None
        self._params_dm: casadi.DM | None = None
        if getattr(objective, "model", None) is not None:
            self._use_model()  # build now: the first plan should not pay for it

    @property
    def predicted_states(self) -> torch.Tensor | None:
        """``(H+1, O)`` states of the latest solution (shifted along with the plan), or None."""
        if self._states is None:
            return None
        return torch.as_tensor(self._states, dtype=torch.float32, device=self.device)

    # -- warm start -----------------------------------------------------
    def _after_reset(self) -> None:
        self._states = self._lam_x = self._lam_g = None

    def _after_shift(self, steps: int) -> None:
        if self._states is not None:
            self._states = np.concatenate([self._states[steps:], np.repeat(self._states[-1:], steps, 0)])
        if self._lam_x is not None:
            o, a, h = self._obs_dim, self.act_dim, self.horizon
            lam_states = self._lam_x[: o * (h + 1)].reshape(h + 1, o)
            lam_actions = self._lam_x[o * (h + 1):].reshape(h, a)
            self._lam_x = np.concatenate([lam_states[steps:], np.zeros((steps, o)),
                                          lam_actions[steps:], np.zeros((steps, a))], axis=None)
            self._lam_g = np.concatenate([self._lam_g[o * steps:], np.zeros(o * steps)])

    # -- NLP ------------------------------------------------------------
    def _reward_function(self, obs_dim: int) -> casadi.Function:
        obs, act, nxt = casadi.SX.sym("obs", obs_dim), casadi.SX.sym("action", self.act_dim), casadi.SX.sym(
            "next_obs", obs_dim)
        value = casadi.SX(self._casadi_reward(obs, act, nxt))
        if value.shape != (1, 1):
            raise ValueError(f"nmpc: the CasADi reward must be a scalar, got shape {value.shape}")
        return casadi.Function("reward", [obs, act, nxt], [value], ["obs", "action", "next_obs"], ["reward"])

    def _build(self, dyn: CasadiDynamics) -> None:
        """Build the NLP and IPOPT solver for ``dyn``'s structure (once per structure)."""
        cfg = self.config
        o, a, h = dyn.obs_dim, self.act_dim, self.horizon
        step = dyn.function
        n_p = sum(rows * cols for rows, cols in dyn.parameter_shapes)
        if cfg.expand and step.is_a("MXFunction") and n_p <= EXPAND_MAX_PARAMETERS:
            step = step.expand()
        # The parameters are data: without is_diff_in, CasADi's derivatives of the steps include
        # dense (O x P) Jacobian blocks for them, which cost seconds for an MLP ensemble.
        inputs = [casadi.MX.sym(step.name_in(i), step.sparsity_in(i)) for i in range(step.n_in())]
        step = casadi.Function("step", inputs, [step(*inputs)],
                               {"is_diff_in": [True, True] + [False] * (step.n_in() - 2)})
        reward = self._reward_function(o)
        states, actions = casadi.MX.sym("X", o, h + 1), casadi.MX.sym("U", a, h)
        p = casadi.MX.sym("p", n_p)
        params = dyn.split(p)  # sliced once per evaluation, shared by every step
        w = casadi.vertcat(casadi.vec(states), casadi.vec(actions))
        # One call node per step: CasADi's Jacobian of these is about 2x cheaper than of step.map(h).
        predicted = casadi.horzcat(*[step(states[:, k], actions[:, k], *params) for k in range(h)])
        stage = reward.map(h)(states[:, :h], actions, states[:, 1:])
        total_reward = casadi.sum2(stage)
        cost = -total_reward
        if cfg.action_rate_weight > 0 and h > 1:
            scale = casadi.DM(self._half_range.cpu().double().numpy())
            rate = (actions[:, 1:] - actions[:, :-1]) / casadi.repmat(scale, 1, h - 1)
            cost = cost + cfg.action_rate_weight * casadi.sumsqr(rate)
        constraints = casadi.vec(predicted - states[:, 1:])
        self._deadline_stop = _DeadlineStop(w.shape[0], constraints.shape[0], n_p)
        options = {
            "print_time": False, "error_on_fail": False, "calc_lam_p": False,
            "iteration_callback": self._deadline_stop,
            "ipopt": {"max_iter": cfg.max_iter, "tol": cfg.tol, "max_cpu_time": cfg.max_cpu_time,
                      "print_level": cfg.print_level, "sb": "yes", "linear_solver": cfg.linear_solver,
                      "hessian_approximation": cfg.hessian_approximation},
        }
        if cfg.warm_start_duals:
            options["ipopt"].update({"warm_start_init_point": "yes", "warm_start_bound_push": 1e-6,
                                     "warm_start_mult_bound_push": 1e-6, "mu_init": 1e-4})
        self._solver = casadi.nlpsol("nmpc", "ipopt", {"x": w, "p": p, "f": cost, "g": constraints}, options)
        self._return_of = casadi.Function("predicted_return", [w], [total_reward])
        x0 = casadi.MX.sym("x0", o)
        traj = [x0]
        for k in range(h):
            traj.append(step(traj[-1], actions[:, k], *params))
        self._rollout = casadi.Function("rollout", [x0, actions, p], [casadi.horzcat(*traj)])
        self._obs_dim, self._n_w, self._n_g = o, int(w.shape[0]), int(constraints.shape[0])
        self._structure = dyn.structure
        self._after_reset()

    def _use_model(self) -> CasadiDynamics:
        model = getattr(self.objective, "model", None)
        if model is None:
            raise RuntimeError("nmpc: the objective has no model yet (set objective.model before planning)")
        if model is not self._model:
            dyn = casadi_dynamics(model)
            if dyn.act_dim != self.act_dim:
                raise ValueError(f"nmpc: the model takes {dyn.act_dim} actions, the planner has {self.act_dim}")
            if dyn.structure != self._structure or self._solver is None:
                self._build(dyn)
            self._model, self._dyn = model, dyn
        return self._dyn

    # -- optimization ---------------------------------------------------
    def _fallback(self, status: str):
        """Count a failure; keep and return the warm start (always finite)."""
        self.solver_failures += 1
        self.last_status = status
        self._states = self._lam_x = self._lam_g = None
        return self.mean.clone(), float("-inf")

    def _optimize(self, obs, deadline):
        dyn = self._use_model()
        o, h = self._obs_dim, self.horizon
        if obs.shape[0] != o:
            raise ValueError(f"nmpc: observation has {obs.shape[0]} entries, the model expects {o}")
        if self.out_of_time(deadline):
            self.last_status = "deadline passed before solving"
            return self.mean.clone(), float("-inf"), 0, True
        params = dyn.flat_parameters()
        if not np.all(np.isfinite(params)):
            actions, value = self._fallback("non-finite model parameters")
            return actions, value, 0, False
        if self._params_np is None or not np.array_equal(params, self._params_np):
            # numpy -> DM costs ~70 ms for an ensemble's 4e5 numbers: convert once per weight change.
            self._params_np, self._params_dm = params, casadi.DM(params)
        params = self._params_dm
        obs_np = obs.cpu().double().numpy()
        guess_actions = self.mean.cpu().double().numpy()  # (H, A)
        if self._states is None:
            rolled = np.asarray(self._rollout(obs_np, guess_actions.T, params)).T  # (H+1, O)
            self._states = rolled if np.all(np.isfinite(rolled)) else np.repeat(obs_np[None], h + 1, 0)
        states = self._states.copy()
        states[0] = obs_np
        w0 = np.concatenate([states.reshape(-1), guess_actions.reshape(-1)])
        lbx = np.concatenate([obs_np, np.full(o * h, -np.inf), np.tile(self._low_np, h)])
        ubx = np.concatenate([obs_np, np.full(o * h, np.inf), np.tile(self._high_np, h)])
        args = dict(x0=w0, lbx=lbx, ubx=ubx, lbg=0.0, ubg=0.0, p=params)
        if self.config.warm_start_duals and self._lam_x is not None:
            args.update(lam_x0=self._lam_x, lam_g0=self._lam_g)
        self._deadline_stop.arm(deadline)
        try:
            solution = self._solver(**args)
        except RuntimeError as exc:  # CasADi raises on evaluation errors it cannot hand to IPOPT
            actions, value = self._fallback(f"solver error: {exc}")
            return actions, value, 0, False
        stats = self._solver.stats()
        iterations = int(stats.get("iter_count", 0))
        status = str(stats.get("return_status", "unknown"))
        timed_out = self._deadline_stop.stopped
        w = np.asarray(solution["x"]).reshape(-1)
        # A solve cut short by a budget returns its iterate, like a sampler's best-so-far; its actions
        # are within bounds even where the states do not yet meet the dynamics.
        usable = bool(stats.get("success")) or timed_out or status in BUDGET_STATUSES
        if not usable or not np.all(np.isfinite(w)):
            actions, value = self._fallback(f"{status} (non-finite iterate)" if usable else status)
            return actions, value, iterations, timed_out
        self.last_status = "deadline" if self._deadline_stop.stopped else status
        u = np.clip(w[o * (h + 1):].reshape(h, self.act_dim), self._low_np, self._high_np)
        self._states = w[: o * (h + 1)].reshape(h + 1, o)
        self._lam_x = np.asarray(solution["lam_x"]).reshape(-1)
        self._lam_g = np.asarray(solution["lam_g"]).reshape(-1)
        self.mean = torch.as_tensor(u, dtype=torch.float32, device=self.device)
        value = float(self._return_of(w))
        return self.mean.clone(), value, iterations, timed_out
