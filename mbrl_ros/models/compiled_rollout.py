"""Planning backend ``compiled``: the fused rollout (:class:`~mbrl_ros.models.fused_rollout.FusedReturns`)
compiled by ``torch.compile`` (TorchInductor, C++ kernels for the CPU).

The eager fused rollout of the default config spends about a third of a plan outside the matmuls:
bias adds, activations, the log-variance bounds, the noise, the reward, each a separate kernel on
small tensors. Inductor fuses those chains into a few loops around the batched matmuls
(measured by ``bench/planner_latency.py``: see the closing note of issue 11 for the numbers).

What it costs and how that is kept off the control path:

- Compiling takes ~30 s per distinct row count on the first run on a machine, ~4 s later
  (Inductor's on-disk cache, ``$TORCHINDUCTOR_CACHE_DIR`` or ``/tmp/torchinductor_$USER``).
  Row counts are few (a population that decays 48 -> 38 -> 30 gives three).
- With ``background=True`` (the planner node, the learning loop) a row count that is not compiled
  yet plans with the eager module while one worker thread compiles it; the compiled code is used
  from the next call after it is ready. With ``background=False`` the first call compiles.
- New model versions do not recompile: their weights are copied into the module's buffers in place
  (:meth:`FusedReturns.load_weights`), and buffers are inputs of the compiled graph.
- If compiling fails (no C++ compiler, an unsupported reward), a warning names the reason once and
  planning stays on the eager fused module: same results, eager speed.

The random draws are :func:`~mbrl_ros.models.fused_rollout.draw_rollout_noise`'s, so returns equal
the torch rollout's for the same generator up to float rounding (tests compare them).
"""
from __future__ import annotations

import functools
import threading
import warnings

import torch

from mbrl_ros.models.fused_rollout import (FusedReturns, RewardFn, draw_rollout_noise, particle_actions,
                                           sequence_returns)


def _configure_compiler(background: bool, limit: int = 64) -> None:
    """Dynamo keeps a few compiled variants per function by default; one per row count is needed.
    In the background, Inductor compiles its C++ on one worker process, not one per core, so that
    planning keeps a core."""
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(config, name) and getattr(config, name) < limit:
            setattr(config, name, limit)
    if background:
        import torch._inductor.config as inductor_config

        inductor_config.compile_threads = 1


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@functools.cache
def _check_bfloat16_support() -> None:
    """Warn (once: cached) when this CPU has no native bfloat16 matmul (then bfloat16 is slower, not faster)."""
    supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if supported is not None and not supported():
        warnings.warn("planning_precision bfloat16: this CPU has no native bfloat16 matmul (AVX512-BF16 or "
                      "AMX); it is emulated and slower than float32", RuntimeWarning, stacklevel=3)


class CompiledReturns:
    """Per-sequence returns of one (reward, horizon) pair through the compiled fused rollout.

    Args:
        ensemble: a trained :class:`~mbrl_ros.models.ensemble.EnsembleDynamics`.
        reward_fn: the task's batched reward (traceable torch operations).
        horizon: H.
        background: compile new row counts on a worker thread (eager meanwhile) instead of in the call.
        precision: ``float32``, or ``bfloat16``: the hidden layers' weights, matmuls and activations
            in bfloat16 (oneDNN's AMX / AVX512-BF16 kernels; the casts fuse into the kernels around
            them), first layer, output head and state update in float32. Returns then differ from
            float32's by about 1e-4 relative (``bench/planner_latency.py``, row ``compiled_bf16``).

    Call it like :meth:`RolloutModel.returns`: ``(obs (O,), actions (N, H, A), generator) -> (N,)``.
    """

    def __init__(self, ensemble, reward_fn: RewardFn, horizon: int, *, background: bool = True,
                 precision: str = "float32"):
        if precision not in _DTYPES:
            raise ValueError(f"precision must be one of {tuple(_DTYPES)}, got {precision!r}")
        _configure_compiler(background)
        self.ensemble = ensemble
        self.fused = FusedReturns(ensemble, reward_fn, horizon).eval()
        self.precision = precision
        if precision != "float32":
            _check_bfloat16_support()
            self.fused.use_matmul_dtype(_DTYPES[precision])
        self._source = ensemble._elite_layers()
        self._compiled = torch.compile(self.fused, dynamic=False)
        self.background = bool(background)
        self.ready: set[int] = set()  # row counts whose compiled code is in place
        self.failure: str | None = None  # why compiling failed (then everything runs eager)
        self._requested: set[int] = set()
        self._lock = threading.Lock()  # one caller of the compiled module at a time (worker or planner)
        self._queue_lock = threading.Lock()
        self._pending: list[int] = []  # row counts waiting for the worker
        self._worker: threading.Thread | None = None

    # -- compiling ----------------------------------------------------------
    def _inputs(self, obs: torch.Tensor, actions: torch.Tensor, generator: torch.Generator | None):
        n = actions.shape[0]
        noise, perm, inverse = draw_rollout_noise(self.fused, n, generator)
        acts, fixed = particle_actions(self.fused, actions.to(torch.float32), perm)
        return (obs.to(torch.float32).reshape(1, -1), acts, noise, perm, inverse,
                fixed if perm is not None else None)

    def _compile(self, n: int) -> None:
        """Compile (or load from Inductor's cache) the code for ``n`` sequences."""
        fused = self.fused
        actions = torch.zeros(n, fused.horizon, fused.act_dim)
        inputs = self._inputs(torch.zeros(fused.obs_dim), actions, torch.Generator().manual_seed(0))
        with self._lock, torch.no_grad():
            try:
                self._compiled(*inputs)
            except Exception as exc:  # noqa: BLE001 - Inductor raises many kinds (compiler missing, lowering)
                # Whatever failed, the eager module gives the same results: plan on, say why once.
                self.failure = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                warnings.warn(f"torch.compile of the planning rollout failed ({self.failure}); planning "
                              f"continues on the eager fused rollout (planning_backend compiled -> torch speed)",
                              RuntimeWarning, stacklevel=2)
                return
        self.ready.add(n)

    def _work(self) -> None:
        """Compile what is queued, then end (a later request starts a new worker)."""
        while True:
            with self._queue_lock:
                if not self._pending or self.failure is not None:
                    self._pending.clear()
                    self._worker = None
                    return
                n = self._pending.pop(0)
            self._compile(n)

    def request(self, n: int) -> None:
        """Have the code for ``n`` sequences compiled (on the worker when ``background``)."""
        if n in self._requested or self.failure is not None:
            return
        self._requested.add(n)
        if not self.background:
            self._compile(n)
            return
        with self._queue_lock:
            self._pending.append(n)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="mbrl-compile", daemon=True)
                self._worker.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every requested row count is compiled (or compiling failed); True if done."""
        with self._queue_lock:
            worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return worker is None or not worker.is_alive()

    def adopt(self, ensemble) -> None:
        """Plan ``ensemble``'s weights from now on (copied into the compiled module's buffers).

        Raises:
            ValueError: another architecture (:meth:`FusedReturns.load_weights`).
        """
        self.fused.load_weights(ensemble)
        self.ensemble = ensemble
        self._source = ensemble._elite_layers()

    # -- planning -----------------------------------------------------------
    @torch.no_grad()
    def __call__(self, obs: torch.Tensor, actions: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        if self.ensemble._elite_layers() is not self._source:  # retrained: new weights, same code
            self.adopt(self.ensemble)
        n = actions.shape[0]
        inputs = self._inputs(obs, actions, generator)
        per_particle = None
        if n in self.ready and self._lock.acquire(blocking=False):
            try:
                per_particle = self._compiled(*inputs)
            finally:
                self._lock.release()
        if per_particle is None:
            self.request(n)
            if n in self.ready:  # compiled just now (background=False)
                with self._lock:
                    per_particle = self._compiled(*inputs)
            else:
                per_particle = self.fused(*inputs)
        return sequence_returns(self.fused, per_particle, n)
