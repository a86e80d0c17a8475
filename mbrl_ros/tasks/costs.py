"""Named cost terms ("critics", after nav2's MPPI controller), each written once for torch and CasADi.

A task declares its cost as a list of :class:`CostTerm`. Each term's formula is one function of a
:class:`Transition`, written against a tiny math namespace (:data:`TORCH` or :data:`CASADI`): the
same code gives the batched torch cost that sampling planners optimize and the symbolic CasADi cost
the ``nmpc`` planner differentiates, so the two cannot drift apart. :func:`weighted_sum` is the one
place where terms become a total, for ``Task.reward`` and for the NMPC objective alike.

Example (a term of a task whose spec names ``x`` and ``theta``)::

    def tip_height(t):                          # t.next["theta"]: (...) in torch, 1x1 in CasADi
        return -t.task.pole_length * t.ops.cos(t.next["theta"])

    costs = (CostTerm("tip_height", tip_height, weight=1.0), CostTerm("action", action_cost, 0.01))

No ROS imports; CasADi is imported only when a CasADi form is asked for.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch


class UnsupportedCostError(NotImplementedError):
    """A cost term with a non-zero weight has no CasADi form (it is not differentiable)."""


class TorchOps:
    """Math on batched tensors: observations ``(..., O)``, actions ``(..., A)``, results ``(...)``."""

    name = "torch"
    sin = staticmethod(torch.sin)
    cos = staticmethod(torch.cos)
    exp = staticmethod(torch.exp)
    sqrt = staticmethod(torch.sqrt)

    @staticmethod
    def entry(values: torch.Tensor, index: int | slice) -> torch.Tensor:
        """``values[..., index]``: ``(...)`` for an entry, ``(..., k)`` for a slice."""
        return values[..., index]

    @staticmethod
    def sumsq(vector: torch.Tensor) -> torch.Tensor:
        """Sum of squares over the last axis."""
        return (vector ** 2).sum(-1)

    @staticmethod
    def stack(items: Sequence[torch.Tensor]) -> torch.Tensor:
        """Scalars ``(...)`` into a vector ``(..., k)``."""
        return torch.stack(list(items), dim=-1)

    @staticmethod
    def constant(values, like: torch.Tensor) -> torch.Tensor:
        """A constant vector ``(k,)`` with ``like``'s dtype and device (broadcasts against ``(..., k)``)."""
        return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=like.dtype, device=like.device)

    @staticmethod
    def clip(values: torch.Tensor, low: float | None, high: float | None) -> torch.Tensor:
        return values.clamp(low, high)

    @classmethod
    def matvec(cls, matrix: np.ndarray, vector: torch.Tensor) -> torch.Tensor:
        """``matrix (m, k) @ vector (..., k)`` -> ``(..., m)``."""
        return vector @ cls.constant(matrix, vector).T


class CasadiOps:
    """Math on one transition in CasADi: observations ``(O, 1)``, actions ``(A, 1)``, results 1x1."""

    name = "casadi"

    def __getattr__(self, name: str) -> Any:  # sin, cos, exp, sqrt: CasADi's own
        if name in ("sin", "cos", "exp", "sqrt"):
            import casadi

            return getattr(casadi, name)
        raise AttributeError(name)

    @staticmethod
    def entry(values, index: int | slice):
        return values[index]

    @staticmethod
    def sumsq(vector):
        import casadi

        return casadi.sumsqr(vector)

    @staticmethod
    def stack(items):
        import casadi

        return casadi.vertcat(*items)

    @staticmethod
    def constant(values, like=None):
        import casadi

        return casadi.DM(np.asarray(values, dtype=np.float64))

    @staticmethod
    def clip(values, low: float | None, high: float | None):
        import casadi

        if low is not None:
            values = casadi.fmax(values, low)
        return values if high is None else casadi.fmin(values, high)

    @classmethod
    def matvec(cls, matrix: np.ndarray, vector):
        import casadi

        return casadi.mtimes(cls.constant(matrix), vector)


TORCH = TorchOps()
CASADI = CasadiOps()


class NamedObs:
    """An observation (batch) read by name: ``obs["theta"]`` is ``ops.entry(values, layout["theta"])``."""

    __slots__ = ("values", "layout", "ops")

    def __init__(self, values: Any, layout: Any, ops: Any):
        self.values, self.layout, self.ops = values, layout, ops

    def __getitem__(self, name: str) -> Any:
        return self.ops.entry(self.values, self.layout[name])


@dataclasses.dataclass(frozen=True)
class Transition:
    """What a cost term sees: the task (its constants), the math namespace and one transition.

    Attributes:
        task: the task (pole length, config, action scale, ...).
        ops: :data:`TORCH` or :data:`CASADI`.
        obs, next: the observations before and after the action, read by name (:class:`NamedObs`).
        action: the action as given (``(..., A)`` or ``(A, 1)``).
    """

    task: Any
    ops: Any
    obs: NamedObs
    action: Any
    next: NamedObs


#: A term's formula: ``(transition) -> cost`` (``(...)`` in torch, a scalar in CasADi; higher is worse).
CostFn = Callable[[Transition], Any]


@dataclasses.dataclass(frozen=True)
class CostTerm:
    """One named cost term.

    Attributes:
        name: the key in ``cost_weights`` and ``cost_terms()``, and the label on ``~/cost_terms``.
        fn: the formula (:data:`CostFn`), written once against ``transition.ops``.
        weight: default weight (>= 0); ``cost_weights`` overrides replace it.
        enabled: False leaves the term out of the reward (its weight reads 0), as nav2's ``enabled``.
        casadi: False for a formula that only works in torch (comparisons: no gradient).
    """

    name: str
    fn: CostFn
    weight: float = 1.0
    enabled: bool = True
    casadi: bool = True

    def __post_init__(self):
        if not np.isfinite(self.weight) or self.weight < 0:
            raise ValueError(f"cost term {self.name!r}: weight must be a finite number >= 0, got {self.weight!r}")

    @property
    def effective_weight(self) -> float:
        """``weight`` when enabled, else 0."""
        return float(self.weight) if self.enabled else 0.0


def with_weights(terms: Iterable[CostTerm], weights: Mapping[str, float], owner: str) -> tuple[CostTerm, ...]:
    """``terms`` with the weights that ``weights`` names replaced (the others keep theirs).

    Raises:
        KeyError: ``weights`` names a term that ``terms`` lacks.
    """
    terms = tuple(terms)
    unknown = sorted(set(weights) - {t.name for t in terms})
    if unknown:
        raise KeyError(f"{owner}: unknown cost term(s) {unknown}; terms: {sorted(t.name for t in terms)}")
    return tuple(dataclasses.replace(t, weight=float(weights[t.name])) if t.name in weights else t for t in terms)


def evaluate(terms: Iterable[CostTerm], ops: Any, task: Any, layout: Any, obs: Any, action: Any,
             next_obs: Any) -> dict[str, Any]:
    """Unweighted cost per term, in declaration order.

    With :data:`CASADI`, a term without a CasADi form is left out when its weight is 0.

    Raises:
        UnsupportedCostError: with :data:`CASADI`, a weighted term has no CasADi form.
    """
    transition = Transition(task, ops, NamedObs(obs, layout, ops), action, NamedObs(next_obs, layout, ops))
    out = {}
    for term in terms:
        if ops is CASADI and not term.casadi:
            if term.effective_weight != 0.0:
                raise UnsupportedCostError(f"{getattr(task, 'name', type(task).__name__)}: cost term "
                                           f"{term.name!r} has no gradient (no CasADi form); use a sampling "
                                           f"planner or set its weight to 0")
            continue
        out[term.name] = term.fn(transition)
    return out


def weighted_terms(costs: Mapping[str, Any], weights: Mapping[str, float], owner: str) -> dict[str, Any]:
    """``w_i * cost_i`` per term with a non-zero weight, in ``weights``' order (torch or CasADi).

    Raises:
        KeyError: a non-zero weight names a term that ``costs`` lacks.
    """
    missing = sorted(name for name, w in weights.items() if w != 0.0 and name not in costs)
    if missing:
        raise KeyError(f"{owner}: weights given for unknown cost terms {missing}")
    return {name: w * costs[name] for name, w in weights.items() if w != 0.0}


def weighted_sum(costs: Mapping[str, Any], weights: Mapping[str, float], owner: str) -> Any | None:
    """``sum_i w_i * cost_i`` over the terms with a non-zero weight; None when there is none.

    The one total of ``Task.reward`` (torch, ``-weighted_sum``) and of the ``nmpc`` planner's CasADi
    objective, so both optimize the same number.
    """
    total = None
    for term in weighted_terms(costs, weights, owner).values():
        total = term if total is None else total + term
    return total


def normalized_action(t: Transition) -> Any:
    """``sum((a / a_max)^2)``: 1 at full effort on one actuator, whatever its units (``task._action_scale``)."""
    return t.ops.sumsq(t.action / t.ops.constant(t.task._action_scale, t.action))  # noqa: SLF001 - task's own
