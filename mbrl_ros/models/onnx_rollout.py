"""One ONNX Runtime graph per optimizer iteration: the fused planning rollout.

:func:`export_fused_returns` traces :class:`~mbrl_ros.models.fused_rollout.FusedReturns` (the
ensemble's elites, the propagation and the task reward, horizon unrolled) into one ONNX graph with
the row count dynamic. :class:`OnnxFusedReturns` runs it with preallocated, bound I/O buffers (one
set per population size, kept between plans): a plan's iteration is one ``session.run``, which
releases the GIL for its whole duration, so a planning thread leaves the interpreter to the
control callbacks almost all the time.

The random inputs are drawn from the caller's ``torch.Generator`` into the bound buffers in the
order :meth:`EnsembleDynamics.rollout` draws them (:func:`draw_rollout_noise`), so the fused
backend plans like the torch and per-step ORT backends for the same seed, up to float rounding.

A reward that does not trace faithfully (Python control flow on tensor values) is caught by a
parity probe against the torch module right after the export: :class:`FusedExportError`.
"""
from __future__ import annotations

import collections
import io
import warnings

import numpy as np
import torch

from mbrl_ros.models.fused_rollout import (FusedReturns, RewardFn, draw_rollout_noise, particle_actions,
                                           sequence_returns)
from mbrl_ros.models.ort import IOBoundRun, ort_session

#: Largest |ORT - torch| of the probe returns, relative to max(1, |torch|), accepted after an export.
PROBE_TOLERANCE = 1e-4


class FusedExportError(RuntimeError):
    """The reward (or model) did not export to a graph that computes what torch computes."""


def _graph_inputs(fused: FusedReturns) -> list[str]:
    names = ["obs", "actions"]
    if fused.needs_noise:
        names.append("noise")
    if fused.needs_perm:
        names += ["perm", "inverse", "reward_actions"]
    return names


def _example_inputs(fused: FusedReturns, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    noise, perm, inverse = draw_rollout_noise(fused, n, generator)
    actions = torch.rand(n, fused.horizon, fused.act_dim, generator=generator) * 2 - 1
    acts, fixed = particle_actions(fused, actions, perm)
    values = {"obs": torch.randn(1, fused.obs_dim, generator=generator), "actions": acts, "noise": noise,
              "perm": perm, "inverse": inverse, "reward_actions": fixed}
    return {name: values[name] for name in _graph_inputs(fused)}


def export_fused_returns(fused: FusedReturns, opset: int = 17) -> bytes:
    """The serialized ONNX graph of ``fused`` (inputs as in :class:`FusedReturns`, output ``returns``)."""
    names = _graph_inputs(fused)
    example = _example_inputs(fused, 3, torch.Generator().manual_seed(0))
    dynamic = {"actions": {1: "rows"}, "noise": {2: "rows_per_member"}, "perm": {1: "rows"},
               "inverse": {1: "rows"}, "reward_actions": {1: "rows"}, "returns": {0: "rows"}}
    buffer = io.BytesIO()

    class _Positional(torch.nn.Module):  # the exporter passes inputs positionally, in graph order
        def __init__(self):
            super().__init__()
            self.fused = fused

        def forward(self, *args):
            values = dict(zip(names, args))
            return self.fused(values["obs"], values["actions"], values.get("noise"), values.get("perm"),
                              values.get("inverse"), values.get("reward_actions"))

    with warnings.catch_warnings():
        # The TorchScript exporter is what traces an unrolled Python loop without onnxscript;
        # its deprecation and tracer warnings say nothing about this graph.
        warnings.simplefilter("ignore")
        torch.onnx.export(_Positional(), tuple(example[name] for name in names), buffer, dynamo=False,
                          input_names=names, output_names=["returns"], opset_version=int(opset),
                          dynamic_axes={k: v for k, v in dynamic.items() if k in names or k == "returns"},
                          do_constant_folding=True)
    return buffer.getvalue()


class _Buffers:
    """Bound I/O of one sequence count ``n``; the torch views let the draws fill them in place."""

    def __init__(self, session, fused: FusedReturns, n: int):
        rows = fused.rows(n)
        per_member = rows if fused.propagation == "expectation" else rows // fused.num_members
        horizon = fused.horizon
        self.obs = np.empty((1, fused.obs_dim), np.float32)
        self.actions = np.empty((horizon, rows, fused.act_dim), np.float32)
        self.returns = np.empty(rows, np.float32)
        inputs = {"obs": self.obs, "actions": self.actions}
        self.actions_t = torch.from_numpy(self.actions)
        self.noise_t = self.perm_t = None
        if fused.needs_noise:
            self.noise = np.empty((horizon, fused.num_members, per_member, fused.obs_dim), np.float32)
            self.noise_t = torch.from_numpy(self.noise)
            inputs["noise"] = self.noise
        if fused.needs_perm:
            self.perm = np.empty((horizon, rows), np.int64)
            self.inverse = np.empty((horizon, rows), np.int64)
            self.perm_t, self.inverse_t = torch.from_numpy(self.perm), torch.from_numpy(self.inverse)
            self.arange = torch.arange(rows).expand(horizon, rows)
            self.fixed_actions = np.empty((horizon, rows, fused.act_dim), np.float32)
            self.fixed_actions_t = torch.from_numpy(self.fixed_actions)
            inputs["perm"], inputs["inverse"] = self.perm, self.inverse
            inputs["reward_actions"] = self.fixed_actions
        self.returns_t = torch.from_numpy(self.returns)
        self.run = IOBoundRun(session, inputs, {"returns": self.returns})


class OnnxFusedReturns:
    """Returns of action sequences through one fused ORT graph per call.

    Args:
        fused: the torch module to export (kept as the reference for the probe).
        intra_op_threads, allow_spinning: as :func:`~mbrl_ros.models.ort.ort_session`.
        cached_batch_sizes: sequence counts whose buffers are kept.
        opset: ONNX opset.
        probe: check the export against torch on random inputs (raises :class:`FusedExportError`).
    """

    def __init__(self, fused: FusedReturns, *, intra_op_threads: int = 1, allow_spinning: bool = False,
                 cached_batch_sizes: int = 8, opset: int = 17, probe: bool = True):
        self.fused = fused
        self.onnx_bytes = export_fused_returns(fused, opset)
        self._session = ort_session(self.onnx_bytes, intra_op_threads=intra_op_threads,
                                    allow_spinning=allow_spinning)
        self._cached = int(cached_batch_sizes)
        self._buffers: collections.OrderedDict[int, _Buffers] = collections.OrderedDict()
        if probe:
            self.probe()

    def _buffers_for(self, n: int) -> _Buffers:
        buffers = self._buffers.get(n)
        if buffers is None:
            buffers = _Buffers(self._session, self.fused, n)
            self._buffers[n] = buffers
            while len(self._buffers) > self._cached:
                self._buffers.popitem(last=False)
        else:
            self._buffers.move_to_end(n)
        return buffers

    def __call__(self, obs: torch.Tensor, actions: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """``(N,)`` float32 returns (not yet NaN-filtered) of ``actions (N, H, A)`` from ``obs (O,)``."""
        fused = self.fused
        if actions.ndim != 3 or actions.shape[1] != fused.horizon or actions.shape[2] != fused.act_dim:
            raise ValueError(f"fused rollout expects actions (N, {fused.horizon}, {fused.act_dim}), "
                             f"got {tuple(actions.shape)}")
        n = actions.shape[0]
        buf = self._buffers_for(n)
        buf.obs[0] = obs.detach().to("cpu", torch.float32).reshape(-1).numpy()
        noise, perm, _ = draw_rollout_noise(fused, n, generator, noise=buf.noise_t, perm=buf.perm_t)
        if perm is not None:
            buf.inverse_t.scatter_(1, perm, buf.arange)
        particle_actions(fused, actions.detach().to("cpu", torch.float32), perm, out=buf.actions_t,
                         fixed_out=buf.fixed_actions_t if perm is not None else None)
        buf.run()
        return sequence_returns(fused, buf.returns_t, n).clone()

    def probe(self, n: int = 6, seed: int = 0) -> float:
        """Max relative difference ORT vs torch on random inputs; raises :class:`FusedExportError` past
        :data:`PROBE_TOLERANCE`."""
        gen = torch.Generator().manual_seed(seed)
        obs = torch.randn(self.fused.obs_dim, generator=gen)
        actions = torch.rand(n, self.fused.horizon, self.fused.act_dim, generator=gen) * 2 - 1
        from mbrl_ros.models.fused_rollout import fused_torch_returns

        state = gen.get_state()
        expected = fused_torch_returns(self.fused, obs, actions, gen)
        gen.set_state(state)
        got = self(obs, actions, gen)
        finite = torch.isfinite(expected)
        if not bool((torch.isfinite(got) == finite).all()):
            raise FusedExportError("the fused ONNX graph's returns are not finite where torch's are (or the "
                                   "other way round): the reward does not trace; plan with the per-step backend")
        diff = float(((got - expected).abs() / expected.abs().clamp_min(1.0))[finite].max()) if finite.any() else 0.0
        if diff > PROBE_TOLERANCE:
            raise FusedExportError(f"the fused ONNX graph differs from torch by {diff:.3g} (relative; tolerance "
                                   f"{PROBE_TOLERANCE}): the reward probably branches on tensor values, which "
                                   f"tracing freezes; plan with the per-step backend (planning_backend onnx_step)")
        return diff


def fused_for(ensemble, reward_fn: RewardFn, horizon: int, **runtime) -> OnnxFusedReturns:
    """Export ``ensemble``'s elites with ``reward_fn`` over ``horizon`` and open a session on it."""
    return OnnxFusedReturns(FusedReturns(ensemble, reward_fn, horizon), **runtime)
