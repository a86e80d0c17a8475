"""Dynamics models: learned ensembles and the true-physics oracle (no ROS imports)."""
from mbrl_ros.models.base import RolloutModel
from mbrl_ros.registry import Registry

#: Model name -> factory ``(spec, config: Mapping, task=None, device="cpu", seed=0) -> RolloutModel``.
MODELS: Registry = Registry("model")

__all__ = ["MODELS", "RolloutModel"]

# Built-in models register themselves on import (after MODELS exists).
from mbrl_ros.models import ensemble as _ensemble  # noqa: E402,F401
from mbrl_ros.models import oracle as _oracle  # noqa: E402,F401
from mbrl_ros.models import onnx_backend as _onnx_backend  # noqa: E402,F401  (pets_ensemble_onnx; ORT loads on use)
