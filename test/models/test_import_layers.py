"""The models package sits below export/ in the layering: importing it loads no export module (the
ONNX Runtime planning backend lives in models/), no ROS and no ONNX library until one is used."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def modules_after_import(module: str) -> list[str]:
    """The ``sys.modules`` keys of a fresh interpreter after ``import module`` (this checkout first)."""
    code = (f"import json, sys; import {module}; from mbrl_ros.models import MODELS; "
            "print(json.dumps({'modules': sorted(sys.modules), 'models': MODELS.names()}))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_models_loads_no_export_module_and_still_registers_the_onnx_backend():
    result = modules_after_import("mbrl_ros.models")
    modules = result["modules"]
    assert "mbrl_ros.models.onnx_backend" in modules
    assert "pets_ensemble_onnx" in result["models"]  # the backend registers itself from models/
    assert [m for m in modules if m == "mbrl_ros.export" or m.startswith("mbrl_ros.export.")] == []
    assert [m for m in modules if m.split(".")[0] in ("rclpy", "onnx", "onnxruntime")] == []
    assert [m for m in modules if m.startswith(("mbrl_ros.ros", "mbrl_ros.nodes"))] == []
