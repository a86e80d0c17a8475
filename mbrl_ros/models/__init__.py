"""Dynamics models: learned ensembles and the true-physics oracle (no ROS imports)."""
from mbrl_ros.models.base import RolloutModel
from mbrl_ros.registry import Registry

#: Model name -> factory ``(spec, config: Mapping, task=None, device="cpu", seed=0) -> RolloutModel``.
MODELS: Registry = Registry("model")

__all__ = ["MODELS", "RolloutModel"]

# Built-in models register themselves on import (after MODELS exists).
from mbrl_ros.models import ensemble as _ensemble  # noqa: E402,F401
from mbrl_ros.models import oracle as _oracle  # noqa: E402,F401
from mbrl_ros.export import onnx_ensemble as _onnx_ensemble  # noqa: E402,F401  (pets_ensemble_onnx; ORT loads on use)
