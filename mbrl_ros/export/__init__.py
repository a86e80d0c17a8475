"""File export: ONNX files of ensembles and distilled policies (no ROS imports).

* :mod:`mbrl_ros.export.onnx_ensemble`: write a trained
  :class:`~mbrl_ros.models.ensemble.EnsembleDynamics` one-step function as an
  ``.onnx`` file and check it against torch (the ONNX Runtime *planning* backend,
  model ``pets_ensemble_onnx``, is :mod:`mbrl_ros.models.onnx_backend`).
* :mod:`mbrl_ros.export.onnx_policy`: :class:`PolicyNetwork`, its ONNX export
  with task metadata, and a validating loader for robots.
* :mod:`mbrl_ros.export.distill`: DAgger from an MPC expert into a
  :class:`PolicyNetwork`.

This package imports :mod:`mbrl_ros.models`, never the other way round.
``onnx`` and ``onnxruntime`` are imported on first use, not with this package.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "export_ensemble": "onnx_ensemble", "ensemble_parity": "onnx_ensemble",
    "PolicyNetwork": "onnx_policy", "PolicyConfig": "onnx_policy", "OnnxPolicy": "onnx_policy",
    "PolicyFormatError": "onnx_policy", "export_policy_onnx": "onnx_policy",
    "load_policy_onnx": "onnx_policy", "load_policy_bytes": "onnx_policy", "check_parity": "onnx_policy",
    "policy_from_onnx": "onnx_policy",
    "DAggerConfig": "distill", "MPCExpert": "distill", "distill_policy": "distill",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
