"""Dynamics models written natively in CasADi, for gradient-based MPC (:mod:`mbrl_ros.planning.nmpc`).

The protocol: :func:`casadi_dynamics` turns a :class:`~mbrl_ros.models.base.RolloutModel`
into a :class:`CasadiDynamics` — one step ``x_next = f(x, u, *params)`` as a
``casadi.Function`` whose numbers (weights, normalizers, matrices) are inputs
instead of being baked into the graph. A solver built
for one model is then reused for any model with the same ``structure`` (same
sizes, same activation), and a model trained in place (the learning loop
retrains the same object) is picked up by reading ``parameters()`` again.

A model takes part in one of two ways:

* it defines ``to_casadi(self) -> CasadiDynamics`` (for your own model classes);
* or a converter is registered for its type with :func:`register_casadi_model`
  (for classes that should not import CasADi, e.g. the built-in
  :class:`~mbrl_ros.models.ensemble.EnsembleDynamics` and
  :class:`~mbrl_ros.models.linear.LinearModel`; subclasses inherit the converter).

The oracle (the true simulator) has no closed form and is not supported.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Hashable

import casadi
import numpy as np
import torch

from mbrl_ros.models.ensemble import EnsembleDynamics
from mbrl_ros.models.linear import LinearModel


class UnsupportedModelError(TypeError):
    """The model has no CasADi form (no ``to_casadi()`` and no registered converter)."""


@dataclasses.dataclass(frozen=True)
class CasadiDynamics:
    """One step of a model in CasADi.

    Attributes:
        function: ``f(x (O,1), u (A,1), *params) -> x_next (O,1)`` (MX or SX inside); inputs from the
            third on are the model's numbers (weight matrices, biases, normalizers). Separate
            inputs rather than one vector, so a solver slices its parameter vector once per
            evaluation instead of once per step (2.4x faster Jacobians for an MLP ensemble).
        parameters: returns the current values, one float64 array per parameter input, shaped like
            it; called before every solve so in-place retraining is seen.
        structure: hashable key; two models with equal keys share ``function``.
    """

    function: casadi.Function
    parameters: Callable[[], list[np.ndarray]]
    structure: Hashable

    @property
    def obs_dim(self) -> int:
        return int(self.function.size1_in(0))

    @property
    def act_dim(self) -> int:
        return int(self.function.size1_in(1))

    @property
    def parameter_shapes(self) -> list[tuple[int, int]]:
        return [tuple(self.function.size_in(i)) for i in range(2, self.function.n_in())]

    def flat_parameters(self) -> np.ndarray:
        """The current parameters as one vector (each input column-major, in input order)."""
        values = [np.asarray(v, dtype=np.float64) for v in self.parameters()]
        shapes = self.parameter_shapes
        if len(values) != len(shapes):
            raise ValueError(f"{self.function.name()}: parameters() gave {len(values)} arrays for "
                             f"{len(shapes)} parameter inputs")
        for i, (value, (rows, cols)) in enumerate(zip(values, shapes)):
            if value.size != rows * cols or (value.ndim == 2 and value.shape != (rows, cols)) or value.ndim > 2:
                raise ValueError(f"{self.function.name()}: parameter {i} has shape {value.shape}, the "
                                 f"function expects ({rows}, {cols})")
        flat = [v.reshape(shape).reshape(-1, order="F") for v, shape in zip(values, shapes)]
        return np.concatenate(flat) if flat else np.zeros(0)

    def split(self, p):
        """Symbolic parameter inputs from one vector ``p`` laid out as :meth:`flat_parameters`."""
        parts, offset = [], 0
        for rows, cols in self.parameter_shapes:
            parts.append(casadi.reshape(p[offset: offset + rows * cols], rows, cols))
            offset += rows * cols
        return parts


_CONVERTERS: dict[type, Callable[[object], CasadiDynamics]] = {}


def register_casadi_model(model_type: type):
    """Decorator: register ``convert(model) -> CasadiDynamics`` for ``model_type`` and its subclasses."""

    def add(convert: Callable[[object], CasadiDynamics]):
        _CONVERTERS[model_type] = convert
        return convert

    return add


def casadi_dynamics(model) -> CasadiDynamics:
    """The :class:`CasadiDynamics` of ``model`` (``to_casadi()`` first, then the converter registry).

    Raises:
        UnsupportedModelError: neither is available for the model's type.
    """
    to_casadi = getattr(model, "to_casadi", None)
    if callable(to_casadi):
        dyn = to_casadi()
        if not isinstance(dyn, CasadiDynamics):
            raise UnsupportedModelError(f"{type(model).__name__}.to_casadi() must return CasadiDynamics, "
                                        f"got {type(dyn).__name__}")
        return dyn
    for cls in type(model).__mro__:
        if cls in _CONVERTERS:
            return _CONVERTERS[cls](model)
    supported = ", ".join(sorted(c.__name__ for c in _CONVERTERS))
    raise UnsupportedModelError(
        f"no CasADi form for model type {type(model).__name__}: give it a to_casadi() method returning "
        f"CasadiDynamics or register a converter with register_casadi_model (registered: {supported})")


def bind_parameters(dyn: CasadiDynamics, name: str = "f") -> casadi.Function:
    """``f(x, u) -> x_next`` with the model's current parameters fixed as numbers."""
    x = casadi.MX.sym("x", dyn.obs_dim)
    u = casadi.MX.sym("u", dyn.act_dim)
    params = dyn.split(casadi.DM(dyn.flat_parameters()))
    return casadi.Function(name, [x, u], [dyn.function(x, u, *params)], ["x", "u"], ["x_next"])


# -- linear model ----------------------------------------------------------------------------------
@register_casadi_model(LinearModel)
def linear_dynamics(model: LinearModel) -> CasadiDynamics:
    """``x' = A x + B u + c`` with parameter inputs ``A (O,O), B (O,A), c (O,1)``."""
    n_obs, n_act = model.A.shape[0], model.B.shape[1]
    x, u = casadi.SX.sym("x", n_obs), casadi.SX.sym("u", n_act)
    a_mat, b_mat, c_vec = casadi.SX.sym("A", n_obs, n_obs), casadi.SX.sym("B", n_obs, n_act), casadi.SX.sym("c", n_obs)
    function = casadi.Function("linear_step", [x, u, a_mat, b_mat, c_vec],
                               [casadi.mtimes(a_mat, x) + casadi.mtimes(b_mat, u) + c_vec],
                               ["x", "u", "A", "B", "c"], ["x_next"])

    def parameters() -> list[np.ndarray]:
        return [t.detach().cpu().double().numpy() for t in (model.A, model.B, model.c)]

    return CasadiDynamics(function, parameters, ("linear", n_obs, n_act))


# -- ensemble mean network -------------------------------------------------------------------------
def _silu(z):
    # x * sigmoid(x) through tanh: no exp overflow (and no inf/inf in its derivatives) for large |x|.
    return z * (0.5 + 0.5 * casadi.tanh(0.5 * z))


_CASADI_ACTIVATIONS = {"silu": _silu, "relu": lambda z: casadi.fmax(z, 0), "tanh": casadi.tanh}


def _ensemble_layout(model: EnsembleDynamics) -> list[tuple[int, int]]:
    """``(in, out)`` of every layer as used for the mean (the last layer keeps only its O mean outputs)."""
    sizes = [(int(layer.weight.shape[1]), int(layer.weight.shape[2])) for layer in model.layers]
    sizes[-1] = (sizes[-1][0], model.obs_dim)
    return sizes


@register_casadi_model(EnsembleDynamics)
def ensemble_mean_dynamics(model: EnsembleDynamics) -> CasadiDynamics:
    """Mean of the elites' mean predictions, as ``EnsembleDynamics.rollout`` with ``expectation``.

    ``x' = x + denorm(mean_e net_e(norm(enc(x, u))))`` where ``enc`` puts ``(sin, cos)`` of the angle
    entries after the other entries, then the action. The log-variance head of a probabilistic
    ensemble does not enter the mean and is left out. Parameter inputs, in order: input mean and
    std, target scale and mean, then per elite and layer the transposed weight ``(out, in)`` and
    the bias ``(out, 1)``.
    """
    n_obs, n_act = model.obs_dim, model.act_dim
    n_elite = len(model.elites)
    layout = _ensemble_layout(model)
    activation = model.config.activation
    act = _CASADI_ACTIVATIONS[activation]
    n_in = model.input_dim

    x, u = casadi.MX.sym("x", n_obs), casadi.MX.sym("u", n_act)
    params: list[casadi.MX] = []

    def new(name, rows, cols=1):
        params.append(casadi.MX.sym(name, rows, cols))
        return params[-1]

    in_mean, in_std = new("input_mean", n_in), new("input_std", n_in)
    out_scale, out_mean = new("target_scale", n_obs), new("target_mean", n_obs)
    angles = list(model.angle_indices)
    others = [i for i in range(n_obs) if i not in angles]
    parts = [x[others]] if others else []
    if angles:
        parts += [casadi.sin(x[angles]), casadi.cos(x[angles])]
    z = (casadi.vertcat(*parts, u) - in_mean) / in_std
    total = 0
    for e in range(n_elite):
        h = z
        for k, (fan_in, fan_out) in enumerate(layout):
            h = casadi.mtimes(new(f"w{e}_{k}", fan_out, fan_in), h) + new(f"b{e}_{k}", fan_out)
            if k < len(layout) - 1:
                h = act(h)
        total = total + h
    x_next = x + (total / n_elite) * out_scale + out_mean
    function = casadi.Function("ensemble_mean_step", [x, u, *params], [x_next])

    def parameters() -> list[np.ndarray]:
        if not model.trained:
            raise RuntimeError("the ensemble has not been trained (call fit) or loaded yet")
        values = [t.detach().cpu().double().numpy().reshape(-1, 1) for t in
                  (model.input_norm.mean, model.input_norm.std, model.target_norm.scale, model.target_norm.mean)]
        elites = model.elites.detach().cpu().tolist()
        layers = [(layer.weight.detach()[elites].cpu().double().numpy(),
                   layer.bias.detach()[elites].cpu().double().numpy()) for layer in model.layers]
        for e in range(n_elite):
            for k, (weight, bias) in enumerate(layers):
                if k == len(layers) - 1:
                    weight, bias = weight[..., :n_obs], bias[..., :n_obs]
                values += [weight[e].T, bias[e].reshape(-1, 1)]
        return values

    structure = ("ensemble_mean", n_obs, n_act, tuple(angles), tuple(layout), activation, n_elite)
    return CasadiDynamics(function, parameters, structure)


def ensemble_mean_function(model: EnsembleDynamics) -> casadi.Function:
    """``f(x (O,1), u (A,1)) -> x_next (O,1)``: the ensemble's mean network with its current weights."""
    return bind_parameters(ensemble_mean_dynamics(model), "ensemble_mean")


def linear_function(model: LinearModel) -> casadi.Function:
    """``f(x, u) -> A x + B u + c`` with the model's matrices."""
    return bind_parameters(linear_dynamics(model), "linear")


# -- distilled mean network ------------------------------------------------------------------------
def parameter_count(dyn: CasadiDynamics) -> int:
    """Numbers in the model's parameter inputs (a 5 x 3x200 ensemble's mean: ~4e5)."""
    return int(sum(rows * cols for rows, cols in dyn.parameter_shapes))


def torch_ensemble_of(model) -> EnsembleDynamics | None:
    """The torch :class:`EnsembleDynamics` behind ``model`` (itself, or the one an ORT wrapper trains)."""
    if isinstance(model, EnsembleDynamics):
        return model
    inner = getattr(model, "ensemble", None)
    return inner if isinstance(inner, EnsembleDynamics) else None


def weights_fingerprint(module) -> tuple:
    """Changes whenever a weight or buffer of the torch ``module`` is written (without reading them).

    Each tensor's storage address and autograd version counter: optimizer steps, ``copy_`` and
    ``load_state_dict`` bump the counter, assigning a new tensor changes the address. Costs ~10 us
    for an ensemble where comparing its 4e5 numbers costs milliseconds per plan.
    """
    tensors = list(module.parameters()) + list(module.buffers())
    return tuple((t.data_ptr(), t._version) for t in tensors) + (
        bool(getattr(module, "trained", True)), tuple(getattr(module, "elites", torch.zeros(0)).tolist()))


@dataclasses.dataclass(frozen=True)
class DistillReport:
    """How well the distilled network matches the ensemble mean (on fresh samples of the same spread).

    Attributes:
        seconds: wall time of sampling, teacher evaluation and fitting.
        samples: training inputs drawn.
        steps: Adam steps taken.
        rmse: per observation entry, root mean squared error of the predicted change in normalized
            units (the ensemble's target standard deviations); 0 for constant entries (target scale 0).
        relative_rmse: ``rmse`` / the teacher's own output std per entry (0 for constant entries).
    """

    seconds: float
    samples: int
    steps: int
    rmse: tuple[float, ...]
    relative_rmse: tuple[float, ...]


class DistilledEnsembleMean:
    """A small MLP fitted to an ensemble's elite-mean network, for NMPC when the ensemble is too big.

    The student reuses the teacher's input encoding (``(sin, cos)`` of angles) and normalizers, and
    predicts the teacher's normalized mean change ``mean_e net_e(z)`` from the normalized input
    ``z``: ``x' = x + student(z) * target_scale + target_mean``. Its training inputs approximate the
    data's distribution by what the teacher's input normalizer recorded of it: non-angle entries
    Gaussian with the data's mean and ``spread`` times its std per entry, angles uniform on
    ``[-pi, pi)``, actions uniform within the planner's bounds (the optimizer explores all of them).
    Fitted by Adam on MSE, minibatches of 512, cosine-decayed learning rate; the teacher's outputs
    are computed once per fit.

    Args:
        teacher: the trained ensemble.
        action_low, action_high: ``(A,)`` bounds the actions are sampled in.
        hidden_units, hidden_layers, activation: the student's shape (activation: silu, tanh, relu).
        samples, steps, spread, seed: see above.
    """

    def __init__(self, teacher: EnsembleDynamics, action_low, action_high, *, hidden_units: int = 16,
                 hidden_layers: int = 2, activation: str = "silu", samples: int = 20000, steps: int = 3000,
                 spread: float = 2.0, seed: int = 0):
        if activation not in _CASADI_ACTIVATIONS:
            raise ValueError(f"distilled activation must be one of {sorted(_CASADI_ACTIVATIONS)}, got {activation!r}")
        self.teacher = teacher
        self.obs_dim, self.act_dim = teacher.obs_dim, teacher.act_dim
        self.angle_indices = tuple(teacher.angle_indices)
        self.action_low = np.asarray(action_low, dtype=np.float64).reshape(-1)
        self.action_high = np.asarray(action_high, dtype=np.float64).reshape(-1)
        self.hidden_units, self.hidden_layers, self.activation = int(hidden_units), int(hidden_layers), activation
        self.samples, self.steps, self.spread, self.seed = int(samples), int(steps), float(spread), int(seed)
        sizes = [teacher.input_dim] + [self.hidden_units] * self.hidden_layers + [self.obs_dim]
        self.layout = list(zip(sizes, sizes[1:]))
        activations = {"silu": torch.nn.SiLU, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)
        modules: list[torch.nn.Module] = []
        for k, (fan_in, fan_out) in enumerate(self.layout):
            modules.append(torch.nn.Linear(fan_in, fan_out, dtype=torch.float64))
            if k < len(self.layout) - 1:
                modules.append(activations[activation]())
        torch.random.set_rng_state(generator_state)
        self.net = torch.nn.Sequential(*modules)
        self.report: DistillReport | None = None
        self.teacher_fingerprint: tuple | None = None
        self._normalizers: list[np.ndarray] | None = None

    # -- data ---------------------------------------------------------------
    def _inputs(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.teacher
        mean = t.input_norm.mean.detach().cpu().double().numpy()
        std = t.input_norm.std.detach().cpu().double().numpy()
        other = [i for i in range(self.obs_dim) if i not in self.angle_indices]
        obs = np.empty((n, self.obs_dim))
        obs[:, other] = mean[: len(other)] + self.spread * std[: len(other)] * rng.standard_normal((n, len(other)))
        obs[:, list(self.angle_indices)] = rng.uniform(-np.pi, np.pi, (n, len(self.angle_indices)))
        action = rng.uniform(self.action_low, self.action_high, (n, self.act_dim))
        return torch.from_numpy(obs), torch.from_numpy(action)

    @torch.no_grad()
    def _targets(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, normalized elite-mean change)`` for raw inputs (float64)."""
        t = self.teacher
        elites = t.elites
        chunks = []
        for start in range(0, obs.shape[0], 4096):  # bounded memory: (E, 4096, 200) activations
            o, a = obs[start:start + 4096].float(), action[start:start + 4096].float()
            next_obs, _ = t.predict(o, a)
            chunks.append((next_obs[elites].mean(0) - o).double())
        delta = torch.cat(chunks)
        target = (delta - t.target_norm.mean.double()) / t.target_norm.std.double()
        z = t.input_norm.normalize(t.model_inputs(obs.float(), action.float())).double()
        return z, target

    # -- fit ------------------------------------------------------------------
    def fit(self) -> DistillReport:
        """Fit the student to the teacher's current weights (deterministic given ``seed``)."""
        if not self.teacher.trained:
            raise RuntimeError("the ensemble has not been trained (call fit) or loaded yet: nothing to distill")
        start = time.perf_counter()
        fingerprint = weights_fingerprint(self.teacher)
        rng = np.random.default_rng(self.seed)
        z, target = self._targets(*self._inputs(self.samples, rng))
        z_test, target_test = self._targets(*self._inputs(max(1000, self.samples // 10), rng))
        generator = torch.Generator().manual_seed(self.seed)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=3e-3)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(self.steps, 1))
        batch = min(512, z.shape[0])
        with torch.enable_grad():
            for _ in range(self.steps):
                rows = torch.randint(0, z.shape[0], (batch,), generator=generator)
                loss = torch.nn.functional.mse_loss(self.net(z[rows]), target[rows])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
        with torch.no_grad():
            error = self.net(z_test) - target_test
        # Constant entries (target scale 0) are multiplied by 0 in the prediction: their error is moot.
        used = self.teacher.target_norm.scale.double() > 0
        rmse = torch.where(used, error.pow(2).mean(0).sqrt(), torch.zeros(()))
        spread = target_test.std(0)
        relative = torch.where(used & (spread > 1e-9), rmse / spread.clamp_min(1e-9), torch.zeros_like(rmse))
        self.report = DistillReport(time.perf_counter() - start, int(z.shape[0]), self.steps,
                                    tuple(rmse.tolist()), tuple(relative.tolist()))
        self.teacher_fingerprint = fingerprint
        t = self.teacher
        self._normalizers = [v.detach().cpu().double().numpy().reshape(-1, 1) for v in (
            t.input_norm.mean, t.input_norm.std, t.target_norm.scale, t.target_norm.mean)]
        return self.report

    def stale(self) -> bool:
        """True when the teacher's weights changed since the last :meth:`fit` (or it was never fitted)."""
        return self.teacher_fingerprint != weights_fingerprint(self.teacher)

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Next observation ``(N, O)`` from ``obs (N, O)``, ``action (N, A)`` (float64)."""
        t = self.teacher
        obs, action = torch.as_tensor(obs, dtype=torch.float64), torch.as_tensor(action, dtype=torch.float64)
        z = t.input_norm.normalize(t.model_inputs(obs.float(), action.float())).double()
        return obs + self.net(z) * t.target_norm.scale.double() + t.target_norm.mean.double()

    # -- CasADi -----------------------------------------------------------
    def to_casadi(self) -> CasadiDynamics:
        """The student as :class:`CasadiDynamics`: an MX step of dense matrix products.

        MX, so that the planner decides whether to expand it to scalar SX code (fast for a 2x16
        network) or keep one matrix-product loop per layer (the scalar code of a 2x64 network's
        second derivatives is megabytes that take gcc minutes to compile). Parameter inputs: input mean and std, target scale and mean,
        then per layer the weight ``(out, in)`` and bias ``(out, 1)``.
        """
        n_obs, n_act = self.obs_dim, self.act_dim
        act = _CASADI_ACTIVATIONS[self.activation]
        x, u = casadi.MX.sym("x", n_obs), casadi.MX.sym("u", n_act)
        n_in = self.layout[0][0]
        params = [casadi.MX.sym("input_mean", n_in), casadi.MX.sym("input_std", n_in),
                  casadi.MX.sym("target_scale", n_obs), casadi.MX.sym("target_mean", n_obs)]
        angles = list(self.angle_indices)
        others = [i for i in range(n_obs) if i not in angles]
        parts = [x[others]] if others else []
        if angles:
            parts += [casadi.sin(x[angles]), casadi.cos(x[angles])]
        h = (casadi.vertcat(*parts, u) - params[0]) / params[1]
        for k, (fan_in, fan_out) in enumerate(self.layout):
            weight, bias = casadi.MX.sym(f"w{k}", fan_out, fan_in), casadi.MX.sym(f"b{k}", fan_out)
            params += [weight, bias]
            h = casadi.mtimes(weight, h) + bias
            if k < len(self.layout) - 1:
                h = act(h)
        x_next = x + h * params[2] + params[3]
        function = casadi.Function("distilled_mean_step", [x, u, *params], [x_next])
        linears = [m for m in self.net if isinstance(m, torch.nn.Linear)]

        def parameters() -> list[np.ndarray]:
            if self._normalizers is None:
                raise RuntimeError("the distilled network has not been fitted yet (call fit)")
            values = list(self._normalizers)
            for linear in linears:
                values += [linear.weight.detach().cpu().numpy(), linear.bias.detach().cpu().numpy().reshape(-1, 1)]
            return values

        structure = ("distilled_mean", n_obs, n_act, tuple(angles), tuple(self.layout), self.activation)
        return CasadiDynamics(function, parameters, structure)
