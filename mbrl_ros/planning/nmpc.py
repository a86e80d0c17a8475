"""Gradient-based nonlinear MPC: CasADi multiple shooting solved by IPOPT or SQP (qrqp), compiled to C.

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

Real time (issue 11): three things make a solve take milliseconds instead of seconds.

* **Distillation** (``distill``): a learned ensemble's mean network is large (5 x 3x200: 4e5
  numbers, ~0.6 s per IPOPT iteration in CasADi). Above ``distill_above_parameters`` the planner
  fits a small MLP to it (:class:`~mbrl_ros.planning.casadi_models.DistilledEnsembleMean`) and
  plans on that; it refits when the ensemble's weights change (:attr:`NMPCPlanner.distill_reports`).
* **Code generation** (``codegen``): the NLP's functions (objective, constraints, Jacobian,
  Lagrangian Hessian) are generated as C, compiled with the system compiler and cached by a hash
  of the source (:mod:`mbrl_ros.planning.casadi_compile`); retraining does not recompile.
* **Warm start and a time cap**: the previous solution (states, actions and, optionally,
  multipliers) shifted by :meth:`shift`; each solve stops at ``max_solve_time`` or the plan's
  deadline, whichever is first.

Deadline: solver options are fixed when the solver is built, so a plan's deadline is enforced
by an intermediate callback at the point where IPOPT checks its own time limit: between two
iterations, stopping when the next one (estimated by the previous one) would end past the
deadline. The iterate reached is returned with ``deadline_hit``; so is the iterate of a solve
that reached ``max_iter`` or a time cap, when it meets the dynamics (``feasibility_tol``) and at
least one iteration was done.

Fallback: a failure (solver error status, non-finite numbers; counted in ``solver_failures``) or a
time-out whose iterate is not usable hands the plan to the sampling planner named by
``fallback`` (icem by default), warm-started from the shifted NMPC plan and given what is left of
the deadline; both are counted in :attr:`NMPCPlanner.fallbacks`. With ``fallback: none`` the warm
start itself (the shifted previous plan, or the nominal actions after a reset) is returned. The
returned actions are always finite.
"""
from __future__ import annotations

import collections
import dataclasses
import time
from typing import Callable

import casadi
import numpy as np
import torch

from mbrl_ros.config import param
from mbrl_ros.planning.base import PLANNERS, Planner, make_planner
from mbrl_ros.planning.casadi_compile import CompileError, compiled_nlpsol, find_compiler
from mbrl_ros.tasks.costs import weighted_sum
from mbrl_ros.planning.casadi_models import (CasadiDynamics, DistilledEnsembleMean, DistillReport, casadi_dynamics,
                                             parameter_count, torch_ensemble_of, weights_fingerprint)

#: ``reward(obs (O,1), action (A,1), next_obs (O,1)) -> scalar`` built from CasADi ops (SX or MX).
CasadiReward = Callable[[object, object, object], object]

#: MX dynamics with at most this many parameters are expanded to SX scalar graphs (fast for small
#: models); larger ones (a 5 x 3 x 200 ensemble has 4e5) keep MX's dense matrix products, whose
#: expansion would take seconds to build and run 3-4x slower.
EXPAND_MAX_PARAMETERS = 5000

#: The same bound when the NLP is compiled: the scalar code of an expanded network's second
#: derivatives grows with its size (2x16 distilled, 470 parameters: 1.6 MB of C, 0.3 ms per
#: Lagrangian Hessian on cartpole, H 20; 2x64, 4900 parameters: 15 MB, which gcc did not compile
#: in 5 minutes), while MX keeps one matrix-product loop per layer.
EXPAND_MAX_PARAMETERS_COMPILED = 1000

#: Solver statuses of a solve stopped by its iteration or time cap (not a failure).
BUDGET_STATUSES = ("Maximum_Iterations_Exceeded", "Maximum_CpuTime_Exceeded", "Maximum_WallTime_Exceeded",
                   "User_Requested_Stop")


class UnsupportedRewardError(TypeError):
    """The objective's reward has no CasADi form."""


@dataclasses.dataclass(frozen=True)
class NMPCConfig:
    """Solver, cost, compilation, distillation and fallback settings of ``nmpc``."""

    solver: str = param("ipopt", "NLP solver: ipopt (interior point, MUMPS) or sqpmethod (SQP with CasADi's "
                        "qrqp active-set QP solver, Hessian regularized to be convex)",
                        choices=("ipopt", "sqpmethod"))
    max_iter: int = param(100, "solver iteration cap per plan (max_iter)", low=1, high=100000)
    tol: float = param(1e-6, "convergence tolerance (IPOPT tol; sqpmethod tol_pr and tol_du)", low=1e-14, high=1.0)
    max_solve_time: float = param(1.0, "wall-clock cap per solve in s (a plan deadline stops it earlier); the "
                                  "solver stops between iterations when the next would end past it",
                                  low=1e-6, high=1e6)
    max_cpu_time: float = param(10.0, "IPOPT CPU-time cap per plan in s (max_cpu_time)", low=1e-3, high=1e6)
    linear_solver: str = param("mumps", "IPOPT linear solver (ma27/ma57/... need the HSL library)",
                               choices=("mumps", "ma27", "ma57", "ma77", "ma86", "ma97"))
    hessian_approximation: str = param("exact", "exact second derivatives, or limited-memory (L-BFGS: "
                                       "iterations 3x cheaper on an MLP ensemble, but 4-10x more of them)",
                                       choices=("exact", "limited-memory"))
    action_rate_weight: float = param(0.0, "weight of sum_h |(u_h - u_{h-1}) / half_range|^2 in the cost",
                                      low=0.0, high=1e6)
    warm_start_duals: bool = param(True, "also warm-start the multipliers from the shifted previous solution "
                                   "(IPOPT: warm_start_init_point and mu_init 1e-4): 4-6 instead of 11-15 "
                                   "IPOPT iterations per plan on cartpole")
    expand: bool = param(True, f"expand small MX dynamics (<= {EXPAND_MAX_PARAMETERS} parameters, "
                         f"<= {EXPAND_MAX_PARAMETERS_COMPILED} when compiled) to SX scalar graphs; large "
                         "networks keep MX matrix products")
    print_level: int = param(0, "IPOPT print_level (0 silent, 5 per-iteration log); sqpmethod prints its "
                             "iterations when > 0", low=0, high=12)
    feasibility_tol: float = param(1e-3, "largest dynamics residual |f(x_h, u_h) - x_{h+1}| of a solve cut short "
                                   "(time cap, deadline, iteration cap) whose plan is still used; above it the "
                                   "fallback plans", low=0.0, high=1e6)
    fallback_time: float = param(0.03, "time in s the fallback may plan after a solve timed out, when the "
                                 "plan has no deadline of its own (with one, the fallback gets what is left of "
                                 "it)", low=0.0, high=1e6)
    fallback: str = param("icem", "registered sampling planner (with its default config) that plans when the "
                          "solver fails or times out without a usable iterate; none: keep the shifted "
                          "previous plan")
    codegen: str = param("auto", "compile the NLP's functions to C with the system compiler, cached by a hash of "
                         "the source: auto (when the compiler exists, else CasADi's interpreter), on (fail "
                         "without it), off", choices=("auto", "on", "off"))
    compiler: str = param("gcc", "C compiler for codegen")
    compile_flags: str = param("-O1", "compiler flags for codegen (-O1: ~2x faster to compile than -O2 for "
                               "the same speed on these straight-line functions)")
    cache_dir: str = param("", "directory of compiled NLPs; empty: $MBRL_ROS_CASADI_CACHE, else "
                           "~/.cache/mbrl_ros/casadi (never the repository)")
    distill: str = param("auto", "plan on a small MLP fitted to a PETS ensemble's mean network: auto (when the "
                         "mean network has more than distill_above_parameters numbers), always, never",
                         choices=("auto", "always", "never"))
    distill_above_parameters: int = param(20000, "size of the ensemble mean network above which auto distills",
                                          low=0, high=10**9)
    distill_hidden_units: int = param(16, "hidden units per layer of the distilled network", low=1, high=4096)
    distill_hidden_layers: int = param(2, "hidden layers of the distilled network", low=1, high=16)
    distill_activation: str = param("silu", "activation of the distilled network",
                                    choices=("silu", "tanh", "relu"))
    distill_samples: int = param(20000, "training inputs drawn for distillation", low=100, high=10**7)
    distill_steps: int = param(3000, "Adam steps (minibatches of 512) per distillation", low=1, high=10**6)
    distill_spread: float = param(2.0, "non-angle inputs are drawn with this many of the data's standard "
                                  "deviations (the ensemble's input normalizer) around its mean",
                                  low=0.01, high=100.0)


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
            total = weighted_sum(task.casadi_cost_terms(obs, action, next_obs), weights, name)
            return 0.0 if total is None else -total

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
    """Multiple-shooting NMPC on the objective's model (see the module docstring).

    Args:
        config, action_low, action_high, horizon, objective, device, seed, nominal_action: as
            :class:`Planner`; ``objective`` must expose ``.model`` (a model :func:`casadi_dynamics`
            accepts; it may be set later, before the first plan) and ``.reward_fn``.
        casadi_reward: the reward in CasADi; default :func:`casadi_reward_of` ``(objective.reward_fn)``.
        fallback_planner: the planner that plans when the solver fails or times out; default one
            built by name from ``config.fallback`` with its default config on the same objective.

    Attributes:
        solver_failures: plans whose solve failed (error status or non-finite numbers).
        fallbacks: plans handed to the fallback, by reason (``failure``, ``timeout``).
        last_status: the solver's return status of the latest plan, ``"deadline"`` when the deadline
            or ``max_solve_time`` stopped it, or why the solver was not called.
        last_residual: largest dynamics residual of the latest solve cut short (0 when it converged).
        build_reports: one dict per NLP build: seconds, and for codegen the
            :class:`~mbrl_ros.planning.casadi_compile.CompiledNLP` (compile time, cache hit).
        distill_reports: one :class:`~mbrl_ros.planning.casadi_models.DistillReport` per distillation.

    The NLP is built in the constructor when the objective already has a model, else at the first
    plan, and again only when a model of another structure is set.
    """

    Config = NMPCConfig

    def __init__(self, config, action_low, action_high, horizon, objective, *, device="cpu", seed=0,
                 nominal_action=None, casadi_reward: CasadiReward | None = None,
                 fallback_planner: Planner | None = None):
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
        if fallback_planner is None and self.config.fallback != "none":
            if self.config.fallback == "nmpc":
                raise ValueError("nmpc: fallback must be a sampling planner (e.g. icem) or none, not nmpc")
            fallback_planner = make_planner(self.config.fallback, {}, action_low=action_low,
                                            action_high=action_high, horizon=horizon, objective=objective,
                                            device=device, seed=seed, nominal_action=nominal_action)
        self.fallback_planner = fallback_planner
        self.solver_failures = 0
        self.fallbacks: collections.Counter = collections.Counter()
        self.last_status = "not solved yet"
        self.last_residual = float("nan")
        self.build_reports: list[dict] = []
        self.distill_reports: list[DistillReport] = []
        self._distilled: DistilledEnsembleMean | None = None
        self._model = None
        self._dyn: CasadiDynamics | None = None
        self._structure = None
        self._solver = None
        self._params_key = None
        self._params_dm: casadi.DM | None = None
        if getattr(objective, "model", None) is not None:
            self._use_model()  # build now: the first plan should not pay for it

    @property
    def predicted_states(self) -> torch.Tensor | None:
        """``(H+1, O)`` states of the latest solution (shifted along with the plan), or None."""
        if self._states is None:
            return None
        return torch.as_tensor(self._states, dtype=torch.float32, device=self.device)

    @property
    def distilled(self) -> DistilledEnsembleMean | None:
        """The small network NMPC plans on in place of the ensemble, or None (plans on the model itself)."""
        return self._distilled

    # -- warm start -----------------------------------------------------
    def _after_reset(self) -> None:
        self._states = self._lam_x = self._lam_g = None
        fallback = getattr(self, "fallback_planner", None)
        if fallback is not None:
            fallback.reset()

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

    def _solver_options(self) -> tuple[str, dict]:
        cfg = self.config
        common = {"print_time": False, "error_on_fail": False, "calc_lam_p": False}
        if cfg.solver == "ipopt":
            ipopt = {"max_iter": cfg.max_iter, "tol": cfg.tol, "max_cpu_time": cfg.max_cpu_time,
                     "max_wall_time": cfg.max_solve_time, "print_level": cfg.print_level, "sb": "yes",
                     "linear_solver": cfg.linear_solver, "hessian_approximation": cfg.hessian_approximation}
            if cfg.warm_start_duals:
                ipopt.update({"warm_start_init_point": "yes", "warm_start_bound_push": 1e-6,
                              "warm_start_mult_bound_push": 1e-6, "mu_init": 1e-4})
            return "ipopt", {**common, "ipopt": ipopt}
        verbose = cfg.print_level > 0
        return "sqpmethod", {
            **common, "qpsol": "qrqp", "max_iter": cfg.max_iter, "tol_pr": cfg.tol, "tol_du": cfg.tol,
            "hessian_approximation": cfg.hessian_approximation, "print_header": verbose,
            "print_iteration": verbose, "print_status": verbose,
            # A learned model's Lagrangian Hessian is indefinite; qrqp needs a convex QP.
            "convexify_strategy": "regularize" if cfg.hessian_approximation == "exact" else "NONE",
            "qpsol_options": {"print_iter": False, "print_header": False, "print_info": False,
                              "error_on_fail": False}}

    def _build(self, dyn: CasadiDynamics) -> None:
        """Build the NLP and solver for ``dyn``'s structure (once per structure)."""
        begin = time.perf_counter()
        cfg = self.config
        o, a, h = dyn.obs_dim, self.act_dim, self.horizon
        step = dyn.function
        n_p = parameter_count(dyn)
        compile_nlp = cfg.codegen == "on" or (cfg.codegen == "auto" and find_compiler(cfg.compiler) is not None)
        expand_limit = EXPAND_MAX_PARAMETERS_COMPILED if compile_nlp else EXPAND_MAX_PARAMETERS
        if cfg.expand and step.is_a("MXFunction") and n_p <= expand_limit:
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
        # One call node per step: CasADi's Jacobian of these is about 2x cheaper than of step.map(h),
        # and generated C calls one compiled step (and derivative) function per node.
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
        plugin, options = self._solver_options()
        nlp = {"x": w, "p": p, "f": cost, "g": constraints}
        runtime = {"iteration_callback": self._deadline_stop}
        report: dict = {"solver": plugin, "codegen": "off", "variables": int(w.shape[0]), "parameters": n_p}
        self._solver = None
        if compile_nlp:
            try:
                self._solver, compiled = compiled_nlpsol(
                    "nmpc", plugin, nlp, options, compiler=cfg.compiler, flags=tuple(cfg.compile_flags.split()),
                    cache_dir=cfg.cache_dir or None, runtime_options=runtime)
                report.update(codegen="compiled", compiled=compiled)
            except CompileError as exc:
                if cfg.codegen == "on":
                    raise
                report.update(codegen=f"interpreted ({exc})")
        if self._solver is None:
            self._solver = casadi.nlpsol("nmpc", plugin, nlp, {**options, **runtime})
        self._return_of = casadi.Function("predicted_return", [w], [total_reward])
        x0 = casadi.MX.sym("x0", o)
        traj = [x0]
        for k in range(h):
            traj.append(step(traj[-1], actions[:, k], *params))
        self._rollout = casadi.Function("rollout", [x0, actions, p], [casadi.horzcat(*traj)])
        self._obs_dim, self._n_w, self._n_g = o, int(w.shape[0]), int(constraints.shape[0])
        self._structure = dyn.structure
        self._params_key = None
        report["seconds"] = time.perf_counter() - begin
        self.build_reports.append(report)
        self._after_reset()

    def _wants_distillation(self, dyn: CasadiDynamics, model) -> bool:
        mode = self.config.distill
        if mode == "never" or torch_ensemble_of(model) is None:
            return False
        return mode == "always" or parameter_count(dyn) > self.config.distill_above_parameters

    def _distill(self) -> None:
        report = self._distilled.fit()
        self.distill_reports.append(report)
        self._params_key = None  # new numbers for the same structure

    def _use_model(self) -> CasadiDynamics:
        model = getattr(self.objective, "model", None)
        if model is None:
            raise RuntimeError("nmpc: the objective has no model yet (set objective.model before planning)")
        if model is not self._model:
            dyn = casadi_dynamics(model)
            if dyn.act_dim != self.act_dim:
                raise ValueError(f"nmpc: the model takes {dyn.act_dim} actions, the planner has {self.act_dim}")
            self._distilled = None
            if self._wants_distillation(dyn, model):
                cfg = self.config
                self._distilled = DistilledEnsembleMean(
                    torch_ensemble_of(model), self._low_np, self._high_np, hidden_units=cfg.distill_hidden_units,
                    hidden_layers=cfg.distill_hidden_layers, activation=cfg.distill_activation,
                    samples=cfg.distill_samples, steps=cfg.distill_steps, spread=cfg.distill_spread)
                if torch_ensemble_of(model).trained:
                    self._distill()
                dyn = self._distilled.to_casadi()
            if dyn.structure != self._structure or self._solver is None:
                self._build(dyn)
            self._model, self._dyn = model, dyn
            self._params_key = None
        elif self._distilled is not None and self._distilled.stale():
            self._distill()  # the ensemble was retrained in place
        return self._dyn

    def _parameters(self, dyn: CasadiDynamics) -> casadi.DM | None:
        """The NLP's parameter vector, converted once per weight change; None if not finite."""
        teacher = torch_ensemble_of(self._model)
        if self._distilled is not None:
            key = ("distilled", len(self.distill_reports))
        elif teacher is not None:
            key = ("torch", weights_fingerprint(teacher))  # 4e5 numbers: do not read them every plan
        else:
            key = None
        if key is not None and key == self._params_key:
            return self._params_dm
        params = dyn.flat_parameters()
        if not np.all(np.isfinite(params)):
            return None
        if key is None and self._params_dm is not None and self._params_np_equal(params):
            return self._params_dm
        self._params_key, self._params_np, self._params_dm = key, params, casadi.DM(params)
        return self._params_dm

    def _params_np_equal(self, params: np.ndarray) -> bool:
        previous = getattr(self, "_params_np", None)
        return previous is not None and previous.shape == params.shape and np.array_equal(previous, params)

    # -- optimization ---------------------------------------------------
    def _fall_back(self, obs, deadline, reason: str, status: str, iterations: int, timed_out: bool):
        """Plan with the fallback planner (or keep the warm start) after a failed or timed-out solve."""
        self.fallbacks[reason] += 1
        self.last_status = status
        self._states = self._lam_x = self._lam_g = None
        if self.fallback_planner is None:
            return self.mean.clone(), float("-inf"), iterations, timed_out
        fallback = self.fallback_planner
        fallback.mean = self.mean.clone()  # warm start: the shifted NMPC plan
        result = fallback.plan(obs, deadline)
        self.mean = result.actions.clone()
        return result.actions.clone(), result.predicted_return, iterations + result.iterations, (
            timed_out or result.deadline_hit)

    def _failure(self, obs, deadline, status: str, iterations: int = 0, timed_out: bool = False):
        self.solver_failures += 1
        return self._fall_back(obs, deadline, "failure", status, iterations, timed_out)

    def _optimize(self, obs, deadline):
        dyn = self._use_model()
        o, h = self._obs_dim, self.horizon
        if obs.shape[0] != o:
            raise ValueError(f"nmpc: observation has {obs.shape[0]} entries, the model expects {o}")
        start = time.perf_counter()
        if deadline is not None and start >= deadline:
            self.last_status = "deadline passed before solving"
            return self.mean.clone(), float("-inf"), 0, True
        params = self._parameters(dyn)
        if params is None:
            return self._failure(obs, deadline, "non-finite model parameters")
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
        cap = start + self.config.max_solve_time
        self._deadline_stop.arm(cap if deadline is None else min(cap, deadline))
        try:
            solution = self._solver(**args)
        except RuntimeError as exc:  # CasADi raises on evaluation errors it cannot hand to the solver
            return self._failure(obs, deadline, f"solver error: {exc}")
        stats = self._solver.stats()
        iterations = int(stats.get("iter_count", 0))
        status = str(stats.get("return_status", "unknown"))
        timed_out = self._deadline_stop.stopped
        w = np.asarray(solution["x"]).reshape(-1)
        if not np.all(np.isfinite(w)):
            return self._failure(obs, deadline, f"{status} (non-finite iterate)", iterations, timed_out)
        if timed_out:
            status = "deadline"
        if not bool(stats.get("success")):
            if not (timed_out or status in BUDGET_STATUSES):
                return self._failure(obs, deadline, status, iterations, timed_out)
            # A solve cut short by the iteration cap returns its iterate (with max_iter 1-3 this is the
            # real-time iteration scheme: one SQP step per control step on the shifted warm start).
            # One cut short by a time limit does so, like a sampler's best-so-far, when it has moved
            # and its states meet the dynamics; else the sampling fallback plans.
            residual = float(np.max(np.abs(np.asarray(solution["g"])))) if self._n_g else 0.0
            out_of_time = timed_out or status in ("Maximum_CpuTime_Exceeded", "Maximum_WallTime_Exceeded")
            self.last_residual = residual
            if out_of_time and (iterations == 0 or not residual <= self.config.feasibility_tol):
                # The sampler gets the plan's deadline, or fallback_time past the solver's cap.
                budget = deadline if deadline is not None else cap + self.config.fallback_time
                return self._fall_back(obs, budget, "timeout", status, iterations, timed_out)
        if bool(stats.get("success")):
            self.last_residual = 0.0
        self.last_status = status
        u = np.clip(w[o * (h + 1):].reshape(h, self.act_dim), self._low_np, self._high_np)
        self._states = w[: o * (h + 1)].reshape(h + 1, o)
        self._lam_x = np.asarray(solution["lam_x"]).reshape(-1)
        self._lam_g = np.asarray(solution["lam_g"]).reshape(-1)
        self.mean = torch.as_tensor(u, dtype=torch.float32, device=self.device)
        value = float(self._return_of(w))
        return self.mean.clone(), value, iterations, timed_out
