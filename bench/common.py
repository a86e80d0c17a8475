"""What every benchmark prints first: the compute environment it measured on."""
from __future__ import annotations

import os
import platform
import time

import numpy as np
import torch


def blas_kernel() -> str:
    """The BLAS core type numpy uses (OpenBLAS may be pinned by OPENBLAS_CORETYPE)."""
    try:
        from threadpoolctl import threadpool_info  # optional

        infos = [f"{i.get('internal_api')}:{i.get('architecture')}" for i in threadpool_info()]
        if infos:
            return ",".join(infos)
    except ImportError:
        pass
    config = np.show_config(mode="dicts") if "mode" in np.show_config.__code__.co_varnames else {}
    blas = config.get("Build Dependencies", {}).get("blas", {}) if isinstance(config, dict) else {}
    return f"{blas.get('name', 'unknown')} (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')})"


def environment_header(backend: str, threads: int) -> str:
    return (f"# backend={backend} torch={torch.__version__} threads={threads} "
            f"torch_cpu_capability={torch.backends.cpu.get_cpu_capability()} numpy_blas={blas_kernel()} "
            f"cpu={platform.processor() or platform.machine()} cores={os.cpu_count()} "
            f"loadavg_1m={os.getloadavg()[0]:.2f}")


def best_seconds(call, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls of ``call()`` (after one untimed warm-up call)."""
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best
