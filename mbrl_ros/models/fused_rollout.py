"""The whole planning rollout of an ensemble as one function: horizon, propagation and reward.

:class:`FusedReturns` maps a start observation and action sequences to each particle's summed
reward over the horizon, with the horizon unrolled and the task reward inside. Run in torch it is
the reference; exported (``torch.onnx``) it becomes ONE ONNX Runtime graph per optimizer iteration
(:mod:`mbrl_ros.models.onnx_rollout`), so a plan makes a few session runs instead of a few hundred
small kernel launches and Python steps per iteration.

The random draws are inputs (``noise``, and for ``ts1`` the permutations), drawn by
:func:`draw_rollout_noise` in exactly the order and shapes :meth:`EnsembleDynamics.rollout` draws
them, so the same ``torch.Generator`` state gives the same trajectories as the per-step rollout
(up to float rounding): the fused path changes the speed, not the planner's behaviour.

Particle layout (as in :meth:`EnsembleDynamics.rollout`): ``R = N * k`` rows per member, ``k =
num_particles / E``; row ``r = e * R + i * k + j`` is particle ``j`` of sequence ``i`` on member
``e``. For ``expectation`` there is one particle per sequence: ``R = N`` rows in total.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

RewardFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class FusedReturns(nn.Module):
    """Per-particle return of action sequences under an ensemble's elites (planning weights).

    Args:
        ensemble: a trained :class:`~mbrl_ros.models.ensemble.EnsembleDynamics` (a snapshot of its
            elites' folded planning weights is taken: later training does not reach this module).
        reward_fn: batched task reward ``(..., O), (..., A), (..., O) -> (...)``, traceable
            (tensor operations only; checked against torch after export).
        horizon: H, unrolled.

    ``forward(obs (1, O), actions (H, rows, A), noise (H, E, R, O), perm (H, E*R), inverse (H, E*R),
    reward_actions (H, rows, A))`` returns ``(rows,)``: each particle's summed reward. ``rows`` is
    ``E * R`` (``N`` for expectation); ``actions`` are in the particles' row order (for ``ts1``, the
    order of that step's permutation: ``actions[h] = reward_actions[h][perm[h]]``, and
    ``reward_actions`` the fixed layout). ``noise`` is given for probabilistic models with
    ts1/ts_inf, ``perm``/``inverse``/``reward_actions`` for ts1 only.
    """

    def __init__(self, ensemble, reward_fn: RewardFn, horizon: int):
        super().__init__()
        if not ensemble.trained:
            raise RuntimeError("FusedReturns: the ensemble has not been trained (call fit) or loaded yet")
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        layers = ensemble._elite_layers()
        self.num_layers = len(layers)
        for i, (weight, bias) in enumerate(layers):
            self.register_buffer(f"weight_{i}", weight.detach().clone())
            self.register_buffer(f"bias_{i}", bias.detach().clone())
        self.register_buffer("log_target_scale", ensemble._log_target_scale.detach().clone())
        self.register_buffer("max_logvar", ensemble.max_logvar.detach().clone())
        self.register_buffer("min_logvar", ensemble.min_logvar.detach().clone())
        self.register_buffer("other_idx", ensemble._other_idx.clone())
        self.register_buffer("angle_idx", ensemble._angle_idx.clone())
        self.has_angles = bool(ensemble.angle_indices)
        self.activation = ensemble._act
        self.reward_fn = reward_fn
        self.horizon = int(horizon)
        self.obs_dim, self.act_dim = ensemble.obs_dim, ensemble.act_dim
        self.num_members = len(ensemble.elites)
        self.propagation = ensemble.config.propagation
        self.probabilistic = ensemble.probabilistic
        self.num_particles = ensemble.num_particles
        self.per_member = 1 if self.propagation == "expectation" else self.num_particles // self.num_members
        self.input_dim = ensemble.input_dim

    @torch.no_grad()
    def load_weights(self, ensemble) -> None:
        """Copy another trained version of the same architecture into this module's buffers, in place
        (a compiled copy of this module keeps its code: its buffers are inputs, not constants).

        Raises:
            ValueError: ``ensemble`` differs in architecture, elites count or propagation.
        """
        layers = ensemble._elite_layers()
        same = (len(layers) == self.num_layers and ensemble.probabilistic == self.probabilistic
                and ensemble.config.propagation == self.propagation and ensemble.num_particles == self.num_particles
                and ensemble._act is self.activation and ensemble.obs_dim == self.obs_dim
                and ensemble.act_dim == self.act_dim and torch.equal(ensemble._angle_idx, self.angle_idx)
                and all(getattr(self, f"weight_{i}").shape == w.shape for i, (w, _) in enumerate(layers)))
        if not same:
            raise ValueError("FusedReturns.load_weights: the ensemble's architecture, elites or propagation differ "
                             "from this module's; build a new FusedReturns for it")
        for i, (weight, bias) in enumerate(layers):
            getattr(self, f"weight_{i}").copy_(weight)
            getattr(self, f"bias_{i}").copy_(bias)
        self.log_target_scale.copy_(ensemble._log_target_scale)
        self.max_logvar.copy_(ensemble.max_logvar)
        self.min_logvar.copy_(ensemble.min_logvar)

    @torch.no_grad()
    def use_matmul_dtype(self, dtype: torch.dtype) -> None:
        """Keep the hidden layers (not the first, not the output head) in ``dtype``: their matmuls
        and activations run in it, the inputs and the state update stay float32."""
        for i in range(1, self.num_layers - 1):
            for name in (f"weight_{i}", f"bias_{i}"):
                self.register_buffer(name, getattr(self, name).to(dtype))

    @property
    def needs_noise(self) -> bool:
        return self.probabilistic and self.propagation != "expectation"

    @property
    def needs_perm(self) -> bool:
        return self.propagation == "ts1"

    def rows(self, n: int) -> int:
        """Rows of the flattened particle layout for ``n`` sequences."""
        return n if self.propagation == "expectation" else n * self.per_member * self.num_members

    def _inputs(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        if not self.has_angles:
            return torch.cat([state, action], dim=-1)
        angles = state.index_select(-1, self.angle_idx)
        return torch.cat([state.index_select(-1, self.other_idx), torch.sin(angles), torch.cos(angles), action],
                         dim=-1)

    def _network(self, x: torch.Tensor):
        """``(E, R, in)`` (or ``(R, in)``, broadcast to every member) -> delta mean, log-variance ``(E, R, O)``."""
        for i in range(self.num_layers):
            weight = getattr(self, f"weight_{i}")
            if x.dtype != weight.dtype:  # hidden layers kept in bfloat16 (matmul_dtype): cast at the edges
                x = x.to(weight.dtype)
            x = torch.matmul(x, weight) + getattr(self, f"bias_{i}")
            if i < self.num_layers - 1:
                x = self.activation(x)
        x = x.float()
        if not self.probabilistic:
            return x, None
        o = self.obs_dim
        mean, logvar = x[..., :o], x[..., o:]
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return mean, logvar

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, noise: torch.Tensor | None = None,
                perm: torch.Tensor | None = None, inverse: torch.Tensor | None = None,
                reward_actions: torch.Tensor | None = None) -> torch.Tensor:
        members, o = self.num_members, self.obs_dim
        state = obs.reshape(1, o).expand(actions.shape[1], o)
        states = [state]
        for h in range(self.horizon):
            act = actions[h]
            if self.propagation == "expectation":
                mean, _ = self._network(self._inputs(state, act))
                state = state + mean.mean(0)
            else:
                before = state.index_select(0, perm[h]) if perm is not None else state
                x = self._inputs(before, act).reshape(members, -1, self.input_dim)
                delta, logvar = self._network(x)
                if logvar is not None:
                    delta = delta + torch.exp(self.log_target_scale + 0.5 * logvar) * noise[h]
                after = before + delta.reshape(-1, o)
                # Back to the fixed layout: the same particle, whatever member it used this step.
                state = after.index_select(0, inverse[h]) if perm is not None else after
            states.append(state)
        # The reward once over the whole horizon (H x rows), not once per step: a few large
        # elementwise kernels instead of many small ones. For ts1 the actions in the fixed layout.
        trajectory = torch.stack(states)  # (H + 1, rows, O)
        acts = actions if reward_actions is None else reward_actions
        return self.reward_fn(trajectory[:-1], acts, trajectory[1:]).sum(0)


def draw_rollout_noise(fused: FusedReturns, n: int, generator: torch.Generator | None, *,
                       noise: torch.Tensor | None = None, perm: torch.Tensor | None = None):
    """The random inputs of one rollout of ``n`` sequences, drawn as :meth:`EnsembleDynamics.rollout` does.

    Per step: (ts1) ``randperm(E * R)``, then (probabilistic) ``randn(E, R, O)``. The loop runs over
    the horizon only (H small draws), to keep the per-step rollout's random stream.

    Args:
        noise, perm: preallocated ``(H, E, R, O)`` float32 / ``(H, E * R)`` int64 buffers to fill
            (None: allocated).
    Returns:
        ``(noise or None, perm or None, inverse or None)``.
    """
    horizon, members = fused.horizon, fused.num_members
    rows = fused.rows(n) // (1 if fused.propagation == "expectation" else members)
    want_noise, want_perm = fused.needs_noise, fused.needs_perm
    if want_noise and noise is None:
        noise = torch.empty(horizon, members, rows, fused.obs_dim)
    if want_perm and perm is None:
        perm = torch.empty(horizon, members * rows, dtype=torch.long)
    if not (want_noise or want_perm):
        return None, None, None
    for h in range(horizon):
        if want_perm:
            torch.randperm(members * rows, generator=generator, out=perm[h])
        if want_noise:
            torch.randn((members, rows, fused.obs_dim), generator=generator, out=noise[h])
    inverse = None
    if want_perm:
        inverse = torch.empty_like(perm)
        inverse.scatter_(1, perm, torch.arange(perm.shape[1]).expand_as(perm))
    return (noise if want_noise else None), (perm if want_perm else None), inverse


def particle_actions(fused: FusedReturns, actions: torch.Tensor, perm: torch.Tensor | None = None,
                     out: torch.Tensor | None = None, fixed_out: torch.Tensor | None = None):
    """``(H, rows, A)`` actions in the particles' row order from sequences ``(N, H, A)``.

    Returns ``(actions in the order of perm, actions in the fixed layout)``: the same tensor unless
    ``perm`` (ts1) is given.
    """
    n, horizon, act_dim = actions.shape
    by_step = actions.transpose(0, 1)  # (H, N, A)
    if fused.propagation == "expectation":
        rows_actions = by_step
    else:
        k, members = fused.per_member, fused.num_members
        rows_actions = by_step.unsqueeze(1).unsqueeze(3).expand(horizon, members, n, k, act_dim)
        rows_actions = rows_actions.reshape(horizon, members * n * k, act_dim)
    fixed = rows_actions.contiguous() if fixed_out is None else fixed_out.copy_(rows_actions)
    if perm is None:
        if out is None:
            return fixed, fixed
        return out.copy_(fixed), out
    index = perm.unsqueeze(-1).expand(-1, -1, act_dim)
    permuted = torch.gather(fixed, 1, index) if out is None else torch.gather(fixed, 1, index, out=out)
    return permuted, fixed


def sequence_returns(fused: FusedReturns, per_particle: torch.Tensor, n: int) -> torch.Tensor:
    """``(N,)`` mean return over particles from the ``(rows,)`` per-particle sums."""
    if fused.propagation == "expectation":
        return per_particle
    return per_particle.reshape(fused.num_members, n, fused.per_member).sum((0, 2)) / fused.num_particles


@torch.no_grad()
def fused_torch_returns(fused: FusedReturns, obs: torch.Tensor, actions: torch.Tensor,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """``(N,)`` returns of ``actions (N, H, A)`` from ``obs (O,)`` through the torch module (the reference)."""
    n = actions.shape[0]
    noise, perm, inverse = draw_rollout_noise(fused, n, generator)
    acts, fixed = particle_actions(fused, actions.to(torch.float32), perm)
    per_particle = fused(obs.to(torch.float32).reshape(1, -1), acts, noise, perm, inverse,
                         fixed if perm is not None else None)
    return sequence_returns(fused, per_particle, n)
