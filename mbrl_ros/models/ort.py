"""ONNX Runtime sessions for latency-bound, single-caller inference (CPU), shared by the ensemble
planning backend (:mod:`mbrl_ros.models.onnx_backend`) and exported policies
(:mod:`mbrl_ros.export.onnx_policy`). ``onnxruntime`` is imported on first use."""
from __future__ import annotations

import functools
from typing import Mapping

import numpy as np


def ort_session(model: bytes, *, intra_op_threads: int = 1, allow_spinning: bool = False):
    """A CPU ``onnxruntime.InferenceSession`` for latency-bound, single-caller use.

    Args:
        model: serialized ONNX model.
        intra_op_threads: ORT intra-op threads (1: no thread pool at all).
        allow_spinning: idle pool threads spin-wait for work. Lowers latency with
            more than one thread, but burns those cores between calls, which starves
            the other processes of a robot computer.
    """
    import onnxruntime as ort

    if intra_op_threads < 1:
        raise ValueError(f"intra_op_threads must be >= 1, got {intra_op_threads}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(intra_op_threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


class IOBoundRun:
    """One session run whose inputs and outputs live in preallocated numpy arrays.

    Fill the input arrays in place, call the object, read the output arrays: no
    allocation per call. The arrays must be C-contiguous and keep their shapes.

    Args:
        session: an ``onnxruntime.InferenceSession`` on CPU.
        inputs, outputs: graph name -> array bound to it.
        fast_path: call the compiled session directly (see below); False uses the
            public Python wrapper only.
    """

    def __init__(self, session, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], *,
                 fast_path: bool = True):
        import onnxruntime as ort

        self.inputs = dict(inputs)
        self.outputs = dict(outputs)
        self._values = []  # the OrtValues borrow the arrays' memory; keep both alive
        binding = session.io_binding()
        for name, array in self.inputs.items():
            binding.bind_ortvalue_input(name, self._wrap(ort, name, array))
        for name, array in self.outputs.items():
            binding.bind_ortvalue_output(name, self._wrap(ort, name, array))
        self._binding = binding
        self._run_options = ort.RunOptions()
        raw_session, raw_binding = getattr(session, "_sess", None), getattr(binding, "_iobinding", None)
        # Why the private handles: in onnxruntime 1.31 the public run_with_iobinding
        # wrapper spends ~35 us per call on WebGPU graph-capture bookkeeping, more
        # than a small policy's whole forward pass. Fall back when they are absent.
        if fast_path and raw_binding is not None and callable(getattr(raw_session, "run_with_iobinding", None)):
            self._call = functools.partial(raw_session.run_with_iobinding, raw_binding, self._run_options)
        else:
            self._call = functools.partial(session.run_with_iobinding, binding, self._run_options)

    def _wrap(self, ort, name: str, array: np.ndarray):
        if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
            raise ValueError(f"IOBoundRun: {name!r} must be a C-contiguous numpy array")
        value = ort.OrtValue.ortvalue_from_numpy(array)
        self._values.append(value)
        return value

    def __call__(self) -> None:
        self._call()
