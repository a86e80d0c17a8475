"""A small policy network, its ONNX export with task metadata, and a validating loader.

The exported graph maps ``observation (B, O)`` to ``action (B, A)`` in task
units: observation normalization, the MLP and the ``tanh`` squashing onto the
action bounds are all inside it, so a consumer (a ROS node, a C++ controller)
needs nothing but ONNX Runtime. ``metadata_props`` name the task, the
observation and action entries, the bounds, the control period, the policy
version and the opset; :func:`load_policy_onnx` checks all of it before a
robot runs the file.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mbrl_ros.atomic_file import atomic_write
from mbrl_ros.config import from_dict, param
from mbrl_ros.models.ort import IOBoundRun, ort_session
from mbrl_ros.tasks.base import TaskSpec

FORMAT = "mbrl_ros.policy"
FORMAT_VERSION = 1
INPUT_NAME = "observation"
OUTPUT_NAME = "action"
MIN_OPSET = 13
#: Arithmetic of the exported graph, and the type of its input and output.
PRECISIONS = ("float64", "float32")
#: metadata_props every policy file carries (values are JSON).
REQUIRED_METADATA = ("format", "format_version", "task", "observation_names", "action_names", "action_low",
                     "action_high", "control_period", "version", "opset")
_ACTIVATIONS = {"tanh": torch.tanh, "relu": F.relu, "silu": F.silu}
#: ONNX element type of a policy's input and output -> numpy type (1: FLOAT, 11: DOUBLE).
_IO_TYPES = {1: np.float32, 11: np.float64}


class PolicyFormatError(ValueError):
    """A policy file is unreadable, malformed, for another task, or produces unusable actions."""


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    """Architecture of a :class:`PolicyNetwork`."""

    hidden_layers: int = param(2, "hidden layers", low=1, high=16)
    hidden_units: int = param(64, "units per hidden layer", low=1, high=4096)
    activation: str = param("tanh", "hidden activation", choices=tuple(_ACTIVATIONS))
    angle_features: bool = param(True, "feed the task's angle entries (TaskSpec.angle_indices) to the MLP as "
                                       "sin and cos instead of the unwrapped angle (a pole upright at +pi and "
                                       "-pi is then one state)")


class PolicyNetwork(nn.Module):
    """MLP policy ``observation (B, O) -> action (B, A)`` within the action bounds.

    ``action = mid + half_range * tanh(mlp(features(obs)))`` with
    ``features = (obs - obs_mean) / obs_std``, except that entries listed in
    ``angle_indices`` enter as ``sin(angle), cos(angle)`` (appended after the
    other, normalized entries). The normalization is a buffer set by
    :meth:`fit_normalization`, so it travels with the weights and into the ONNX graph.

    Args:
        obs_dim: O.
        action_low, action_high: ``(A,)`` actuator limits.
        config: :class:`PolicyConfig` or a mapping of its fields.
        seed: initialization seed.
        angle_indices: observation entries that are angles in rad (encoded as sin/cos).
    """

    def __init__(self, obs_dim: int, action_low: Sequence[float], action_high: Sequence[float],
                 config: PolicyConfig | Mapping | None = None, *, seed: int = 0,
                 angle_indices: Sequence[int] = ()):
        super().__init__()
        self.config = config if isinstance(config, PolicyConfig) else from_dict(PolicyConfig, config or {})
        low = torch.as_tensor(np.asarray(action_low, dtype=np.float32)).reshape(-1)
        high = torch.as_tensor(np.asarray(action_high, dtype=np.float32)).reshape(-1)
        if low.shape != high.shape or not bool((low < high).all()):
            raise ValueError("action_low and action_high must have the same shape with low < high")
        self.obs_dim, self.act_dim = int(obs_dim), int(low.shape[0])
        self.angle_indices = tuple(sorted({int(i) for i in angle_indices}))
        if any(not 0 <= i < self.obs_dim for i in self.angle_indices):
            raise ValueError(f"angle_indices {list(angle_indices)} must lie in [0, {self.obs_dim})")
        self.plain_indices = tuple(i for i in range(self.obs_dim) if i not in self.angle_indices)
        self.register_buffer("_plain_idx", torch.tensor(self.plain_indices, dtype=torch.long), persistent=False)
        self.register_buffer("_angle_idx", torch.tensor(self.angle_indices, dtype=torch.long), persistent=False)
        self.feature_dim = len(self.plain_indices) + 2 * len(self.angle_indices)
        self.register_buffer("obs_mean", torch.zeros(self.obs_dim))
        self.register_buffer("obs_std", torch.ones(self.obs_dim))
        self.register_buffer("action_low", low)
        self.register_buffer("action_high", high)
        self.register_buffer("action_mid", (low + high) / 2)
        self.register_buffer("action_half_range", (high - low) / 2)
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        sizes = [self.feature_dim] + [self.config.hidden_units] * self.config.hidden_layers + [self.act_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        torch.random.set_rng_state(gen_state)
        self._act = _ACTIVATIONS[self.config.activation]

    @classmethod
    def from_spec(cls, spec: TaskSpec, config: PolicyConfig | Mapping | None = None, *,
                  seed: int = 0) -> "PolicyNetwork":
        """A policy for ``spec``'s observation size, angle entries and action bounds."""
        cfg = config if isinstance(config, PolicyConfig) else from_dict(PolicyConfig, config or {})
        return cls(spec.obs_dim, spec.action_low, spec.action_high, cfg, seed=seed,
                   angle_indices=spec.angle_indices if cfg.angle_features else ())

    @torch.no_grad()
    def fit_normalization(self, observations, min_std: float = 1e-6) -> None:
        """Set the observation normalization from ``(N, O)`` samples (constant entries: std 1)."""
        obs = torch.as_tensor(np.asarray(observations), dtype=torch.float32)
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim or obs.shape[0] == 0:
            raise ValueError(f"fit_normalization expects (N, {self.obs_dim}) with N >= 1, got {tuple(obs.shape)}")
        std = obs.std(0, unbiased=False) if obs.shape[0] > 1 else torch.ones(self.obs_dim)
        self.obs_mean.copy_(obs.mean(0))
        self.obs_std.copy_(torch.where(std < min_std, torch.ones_like(std), std))

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """``(B, O)`` observations -> ``(B, F)`` MLP inputs (see the class docstring)."""
        x = (obs - self.obs_mean) / self.obs_std
        if not self.angle_indices:
            return x
        angles = obs.index_select(-1, self._angle_idx)
        return torch.cat([x.index_select(-1, self._plain_idx), torch.sin(angles), torch.cos(angles)], dim=-1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.features(obs)
        for layer in self.layers[:-1]:
            x = self._act(layer(x))
        return self.action_mid + self.action_half_range * torch.tanh(self.layers[-1](x))

    @torch.no_grad()
    def act(self, observation) -> np.ndarray:
        """``(O,)`` observation -> ``(A,)`` float64 action (torch, for training-time roll-outs)."""
        obs = torch.as_tensor(np.asarray(observation), dtype=torch.float32).reshape(1, self.obs_dim)
        return self(obs)[0].double().numpy()


# -- export -----------------------------------------------------------------
def _spec_metadata(spec: TaskSpec) -> dict[str, Any]:
    return {"task": spec.name, "observation_names": list(spec.observation_names),
            "action_names": list(spec.action_names), "action_low": [float(v) for v in spec.action_low],
            "action_high": [float(v) for v in spec.action_high], "control_period": float(spec.control_period)}


def policy_to_onnx(policy: PolicyNetwork, *, task_spec: TaskSpec, metadata: Mapping[str, Any] | None = None,
                   opset: int = 17, precision: str = "float64"):
    """The ONNX ``ModelProto`` of ``policy`` (see :func:`export_policy_onnx`)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if policy.obs_dim != task_spec.obs_dim or policy.act_dim != task_spec.act_dim:
        raise ValueError(f"the policy maps {policy.obs_dim} observations to {policy.act_dim} actions but task "
                         f"{task_spec.name!r} has {task_spec.obs_dim} and {task_spec.act_dim}")
    if not (np.allclose(policy.action_low.numpy(), task_spec.action_low, rtol=0, atol=1e-6)
            and np.allclose(policy.action_high.numpy(), task_spec.action_high, rtol=0, atol=1e-6)):
        raise ValueError(f"the policy's action bounds {policy.action_low.tolist()} .. {policy.action_high.tolist()} "
                         f"differ from task {task_spec.name!r}'s {list(task_spec.action_low)} .. "
                         f"{list(task_spec.action_high)}; build it with PolicyNetwork.from_spec(spec)")
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET}, got {opset}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    wide = precision == "float64"
    extra = dict(metadata or {})
    version = extra.pop("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"metadata['version'] must be a non-negative integer, got {version!r}")
    init, nodes = [], []

    def const(name: str, tensor: torch.Tensor) -> str:
        if tensor.dtype == torch.long:
            array = tensor.detach().numpy()
        else:
            array = tensor.detach().double().numpy().astype(np.float64 if wide else np.float32)
        init.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    # Few nodes: ONNX Runtime spends ~0.5-1.5 us per node on this size of network, more than
    # the arithmetic, so the graph avoids every node it can:
    # * 1/obs_std is folded into the first layer's weights; angle entries reach that layer as
    #   sin/cos and their raw value gets a zero weight, so it reads Concat(obs, sin, cos)
    #   without a Gather of the other entries.
    # * float64: the centering is folded into the first bias too, and one Sin of
    #   [angles, angles + pi/2] gives sin and cos (both exact to float64 rounding).
    # * float32: the centering stays a node (folding it loses float32 precision when
    #   |mean| >> std) and sin/cos are two nodes of the raw angles (adding pi/2 to a large
    #   angle would round it by ~1e-6 rad); ORT fuses each Gemm with its Tanh.
    # * the Add of the action offset is left out when the bounds are symmetric.
    # float64 (default) takes, computes and gives float64 (ROS's own type: positions reach the
    # network unrounded, and no Cast nodes): float32 arithmetic moves a +-15 N action by ~1e-5
    # wherever |obs * d action / d obs| reaches a few hundred N (fast velocities in steep parts
    # of a controller), as much as the parity budget. float32 takes about half the time.
    first = policy.layers[0].weight.detach().double()  # (H, F): F = plain entries, then sin, then cos
    n_plain, n_angles = len(policy.plain_indices), len(policy.angle_indices)
    plain = list(policy.plain_indices)
    weight0 = torch.zeros(first.shape[0], policy.obs_dim + 2 * n_angles, dtype=torch.float64)
    weight0[:, plain] = first[:, :n_plain] / policy.obs_std.double()[plain]
    weight0[:, policy.obs_dim:] = first[:, n_plain:]
    bias0 = policy.layers[0].bias.detach().double()
    if wide:
        x = INPUT_NAME
        bias0 = bias0 - weight0[:, plain] @ policy.obs_mean.double()[plain]
        if n_angles:
            select = torch.zeros(2 * n_angles, policy.obs_dim, dtype=torch.float64)
            rows = torch.arange(n_angles)
            select[rows, policy._angle_idx] = 1.0
            select[rows + n_angles, policy._angle_idx] = 1.0
            phase = torch.cat([torch.zeros(n_angles, dtype=torch.float64),
                               torch.full((n_angles,), math.pi / 2, dtype=torch.float64)])
            angles = node("Gemm", [x, const("angle_select", select), const("angle_phase", phase)], "angles",
                          transB=1)
            x = node("Concat", [x, node("Sin", [angles], "angle_sin_cos")], "features", axis=1)
    else:
        x = node("Sub", [INPUT_NAME, const("obs_mean", policy.obs_mean)], "obs_centered")
        if n_angles:
            angles = node("Gather", [INPUT_NAME, const("angle_indices", policy._angle_idx)], "angles", axis=1)
            x = node("Concat", [x, node("Sin", [angles], "angle_sin"), node("Cos", [angles], "angle_cos")],
                     "features", axis=1)
    for i, layer in enumerate(policy.layers):
        weight, bias = (weight0, bias0) if i == 0 else (layer.weight, layer.bias)
        x = node("Gemm", [x, const(f"weight_{i}", weight), const(f"bias_{i}", bias)], f"linear_{i}", transB=1)
        if i == len(policy.layers) - 1:
            break
        if policy.config.activation == "tanh":
            x = node("Tanh", [x], f"hidden_{i}")
        elif policy.config.activation == "relu":
            x = node("Relu", [x], f"hidden_{i}")
        else:
            x = node("Mul", [x, node("Sigmoid", [x], f"sigmoid_{i}")], f"hidden_{i}")
    x = node("Tanh", [x], "squashed")
    if bool((policy.action_mid == 0).all()):
        node("Mul", [x, const("action_half_range", policy.action_half_range)], OUTPUT_NAME)
    else:
        x = node("Mul", [x, const("action_half_range", policy.action_half_range)], "action_offset")
        node("Add", [x, const("action_mid", policy.action_mid)], OUTPUT_NAME)
    io_type = TensorProto.DOUBLE if wide else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "mbrl_ros_policy",
        [helper.make_tensor_value_info(INPUT_NAME, io_type, ["batch", policy.obs_dim])],
        [helper.make_tensor_value_info(OUTPUT_NAME, io_type, ["batch", policy.act_dim])],
        init, doc_string=f"mbrl_ros policy for task {task_spec.name}: observation -> action in task units")
    opset_id = helper.make_opsetid("", int(opset))
    proto = helper.make_model(graph, opset_imports=[opset_id], producer_name="mbrl_ros")
    proto.ir_version = helper.find_min_ir_version_for([opset_id])
    proto.model_version = version
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **_spec_metadata(task_spec), "version": version,
            "opset": int(opset), "precision": precision, "extra": extra}
    try:
        props = {key: json.dumps(value) for key, value in meta.items()}
    except TypeError as exc:
        raise ValueError(f"policy metadata must be JSON-serializable: {exc}") from exc
    helper.set_model_props(proto, props)
    onnx.checker.check_model(proto)
    return proto


def export_policy_onnx(policy: PolicyNetwork, path: str | Path, *, task_spec: TaskSpec,
                       metadata: Mapping[str, Any] | None = None, opset: int = 17,
                       precision: str = "float64") -> Path:
    """Write ``policy`` as ONNX (``observation (B, O)`` -> ``action (B, A)``) with task metadata.

    Args:
        policy: the trained network; its bounds must be ``task_spec``'s.
        path: destination (written atomically: temp file + rename).
        task_spec: the task the policy controls (name, entry names, bounds, control period).
        metadata: JSON-serializable extras; ``metadata["version"]`` (int, default 0) becomes
            the policy version (``version`` prop and ``ModelProto.model_version``).
        opset: ONNX opset (>= 13).
        precision: arithmetic and input/output type of the graph: ``float64`` (the network's
            function to float64 rounding; ROS's own type) or ``float32`` (about half the
            inference time; rounding moves steep policies' actions by ~1e-5).
    Returns:
        ``path``.
    """
    proto = policy_to_onnx(policy, task_spec=task_spec, metadata=metadata, opset=opset, precision=precision)
    return atomic_write(path, proto.SerializeToString())


def policy_from_onnx(path: str | Path, spec: TaskSpec) -> PolicyNetwork:
    """The network inside a policy file this module wrote, as a :class:`PolicyNetwork` (float64 weights).

    For re-exporting a policy at another precision or with a newer exporter without
    training it again. The normalization comes back folded into the first layer
    (mean 0 or the file's ``obs_mean``, std 1): the same function, other parameters.

    Raises:
        PolicyFormatError: the file fails :func:`load_policy_onnx`'s checks for ``spec`` or
            its layers are not the ones the exporter writes.
    """
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    data = _read_policy_file(path)
    load_policy_bytes(data, expected_spec=spec, source=path)  # every check a robot runs, the task included
    proto = onnx.load_from_string(data)
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).astype(np.float64)) for t in proto.graph.initializer}
    n_layers = sum(1 for name in weights if name.startswith("weight_"))
    if n_layers < 2 or any(f"weight_{i}" not in weights or f"bias_{i}" not in weights for i in range(n_layers)):
        raise _fail(path, f"holds no exporter layers weight_0..bias_{n_layers - 1}; it was not written by "
                          f"export_policy_onnx")
    ops = {node.op_type for node in proto.graph.node}
    activation = "relu" if "Relu" in ops else "silu" if "Sigmoid" in ops else "tanh"
    first = weights["weight_0"]
    angles = tuple(spec.angle_indices) if first.shape[1] > spec.obs_dim else ()
    config = PolicyConfig(hidden_layers=n_layers - 1, hidden_units=int(first.shape[0]), activation=activation,
                          angle_features=bool(angles))
    policy = PolicyNetwork.from_spec(spec, config).double()
    if first.shape[1] != spec.obs_dim + 2 * len(angles) or policy.layers[0].in_features + len(angles) != first.shape[1]:
        raise _fail(path, f"first layer has {first.shape[1]} inputs; task {spec.name!r} needs "
                          f"{spec.obs_dim + 2 * len(spec.angle_indices)}")
    with torch.no_grad():
        policy.obs_mean.copy_(weights.get("obs_mean", torch.zeros(spec.obs_dim)))
        policy.obs_std.fill_(1.0)
        policy.layers[0].weight.copy_(torch.cat([first[:, list(policy.plain_indices)], first[:, spec.obs_dim:]], 1))
        policy.layers[0].bias.copy_(weights["bias_0"])
        for i, layer in enumerate(policy.layers[1:], start=1):
            if tuple(layer.weight.shape) != tuple(weights[f"weight_{i}"].shape):
                raise _fail(path, f"layer {i} has shape {tuple(weights[f'weight_{i}'].shape)}, expected "
                                  f"{tuple(layer.weight.shape)}")
            layer.weight.copy_(weights[f"weight_{i}"])
            layer.bias.copy_(weights[f"bias_{i}"])
    return policy.eval()


def check_parity(path: str | Path, policy: PolicyNetwork, n: int = 10000, *, seed: int = 0) -> float:
    """Max abs difference between ``policy`` (torch) and the ONNX file on ``n`` random observations.

    Observations are drawn around the policy's normalization (mean +- 3 std, Gaussian), in
    the file's input type. The torch reference runs in the precision the graph computes in
    (its ``precision`` metadata): for float64 graphs the difference measures the export, not
    float32 rounding inside torch, which alone reaches ~1e-5 on a +-15 N action.
    """
    import onnx

    data = Path(path).read_bytes()
    proto = onnx.load_from_string(data)
    props = {p.key: p.value for p in proto.metadata_props}
    io_dtype = _IO_TYPES.get(proto.graph.input[0].type.tensor_type.elem_type, np.float32)
    wide = json.loads(props.get("precision", '"float32"')) == "float64" or io_dtype == np.float64
    rng = np.random.default_rng(seed)
    mean, std = policy.obs_mean.double().numpy(), policy.obs_std.double().numpy()
    obs = (mean + 3 * std * rng.standard_normal((n, policy.obs_dim))).astype(io_dtype)
    session = ort_session(data)
    (ort_actions,) = session.run([OUTPUT_NAME], {INPUT_NAME: obs})
    reference = copy.deepcopy(policy).to(torch.float64 if wide else torch.float32)
    with torch.no_grad():
        torch_actions = reference(torch.from_numpy(obs).to(torch.float64 if wide else torch.float32)).double().numpy()
    return float(np.abs(ort_actions.astype(np.float64) - torch_actions).max())


# -- loading ------------------------------------------------------------------
class OnnxPolicy:
    """A validated ONNX policy, called once per control step.

    ``policy(observation)`` copies the ``(O,)`` observation into a preallocated
    input and returns a new ``(A,)`` action in the file's input/output type
    (float64 policies take and give float64; float32 ones, and float64 ones exported
    before float64 files got float64 input/output, float32); no other allocation.
    The bound buffers make a call not thread-safe: one caller (the control loop).

    Attributes:
        task, observation_names, action_names, action_low, action_high, control_period,
        version, opset: from the file's metadata; metadata: the exporter's extras;
        dtype: the input/output type.
    """

    def __init__(self, session, meta: Mapping[str, Any], path: Path, dtype: type = np.float32):
        self.path = path
        self.task: str = meta["task"]
        self.observation_names = tuple(meta["observation_names"])
        self.action_names = tuple(meta["action_names"])
        self.action_low = np.asarray(meta["action_low"], dtype=np.float32)
        self.action_high = np.asarray(meta["action_high"], dtype=np.float32)
        self.control_period = float(meta["control_period"])
        self.version = int(meta["version"])
        self.opset = int(meta["opset"])
        self.metadata = dict(meta.get("extra", {}))
        self.session = session
        self.dtype = np.dtype(dtype)
        self._obs = np.zeros((1, len(self.observation_names)), self.dtype)
        self._action = np.zeros((1, len(self.action_names)), self.dtype)
        self._run = IOBoundRun(session, {INPUT_NAME: self._obs}, {OUTPUT_NAME: self._action})

    def __call__(self, observation) -> np.ndarray:
        self._obs[0] = observation
        self._run()
        return self._action[0].copy()

    def act_batch(self, observations) -> np.ndarray:
        """``(B, O)`` -> ``(B, A)`` in the file's type."""
        obs = np.ascontiguousarray(observations, dtype=self.dtype).reshape(-1, self._obs.shape[1])
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: obs})[0]


def _ort_errors(ort) -> tuple[type[Exception], ...]:
    """The exception types ONNX Runtime raises for a model it cannot load or run."""
    state = ort.capi.onnxruntime_pybind11_state
    names = ("Fail", "InvalidGraph", "InvalidArgument", "NotImplemented", "RuntimeException", "InvalidProtobuf")
    return tuple(getattr(state, name) for name in names if hasattr(state, name))


def _fail(path: Path, message: str) -> PolicyFormatError:
    return PolicyFormatError(f"policy file {path}: {message}")


def _read_policy_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc})") from exc


def _read_metadata(proto, path: Path) -> dict[str, Any]:
    props = {p.key: p.value for p in proto.metadata_props}
    if props.get("format") != json.dumps(FORMAT):
        raise _fail(path, f"no mbrl_ros policy metadata (format={props.get('format')!r}); it was not written by "
                          f"mbrl_ros.export.export_policy_onnx; export the policy with it")
    missing = [key for key in REQUIRED_METADATA if key not in props]
    if missing:
        raise _fail(path, f"metadata lacks {missing}; export the policy again with export_policy_onnx")
    try:
        meta = {key: json.loads(value) for key, value in props.items()}
    except json.JSONDecodeError as exc:
        raise _fail(path, f"metadata is not JSON ({exc}); export the policy again") from exc
    if meta["format_version"] != FORMAT_VERSION:
        raise _fail(path, f"policy format version {meta['format_version']!r}, this mbrl_ros reads "
                          f"{FORMAT_VERSION}; export it again with this version")
    names_ok = all(isinstance(meta[k], list) and all(isinstance(v, str) for v in meta[k])
                   for k in ("observation_names", "action_names"))
    bounds_ok = all(isinstance(meta[k], list) and len(meta[k]) == len(meta["action_names"])
                    and all(isinstance(v, (int, float)) and math.isfinite(v) for v in meta[k])
                    for k in ("action_low", "action_high"))
    if not names_ok or not bounds_ok or not all(lo < hi for lo, hi in zip(meta["action_low"], meta["action_high"])):
        raise _fail(path, "observation/action names must be lists of strings and action_low < action_high "
                          "with one finite bound per action; export the policy again")
    if not isinstance(meta["control_period"], (int, float)) or not meta["control_period"] > 0:
        raise _fail(path, f"control_period must be a positive number of seconds, got {meta['control_period']!r}")
    return meta


def _dims(value_info) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value_info.type.tensor_type.shape.dim]


def _check_against_spec(meta: Mapping[str, Any], spec: TaskSpec, path: Path) -> None:
    expected = _spec_metadata(spec)
    problems = []
    for key in ("task", "observation_names", "action_names"):
        if meta[key] != expected[key]:
            problems.append(f"{key} is {meta[key]!r}, the task has {expected[key]!r}")
    for key in ("action_low", "action_high"):
        if not np.allclose(meta[key], expected[key], rtol=0, atol=1e-6):
            problems.append(f"{key} is {meta[key]}, the task has {expected[key]}")
    if not math.isclose(meta["control_period"], expected["control_period"], rel_tol=1e-9, abs_tol=1e-12):
        problems.append(f"control_period is {meta['control_period']} s, the task runs at "
                        f"{expected['control_period']} s")
    if problems:
        raise _fail(path, "does not match task " + repr(spec.name) + ": " + "; ".join(problems)
                    + ". Export a policy for this task (or load it for the task it was made for)")


def load_policy_onnx(path: str | Path, expected_spec: TaskSpec | None = None, *,
                     intra_op_threads: int = 1) -> OnnxPolicy:
    """Load and validate a policy written by :func:`export_policy_onnx`.

    Checks, in order: the file parses and passes the ONNX checker; the default
    opset is supported and matches the metadata; the metadata is complete;
    exactly one input ``observation (B, O)`` and one output ``action (B, A)``
    (both float32 or both float64) sized as the metadata's names; the metadata matches
    ``expected_spec`` (task name, entry names, bounds, control period) when
    given; ONNX Runtime builds a session; and probe observations give finite
    actions within the bounds.

    Raises:
        PolicyFormatError: the first check that failed, with what to do about it.
    """
    path = Path(path)
    return load_policy_bytes(_read_policy_file(path), expected_spec, source=path, intra_op_threads=intra_op_threads)


def load_policy_bytes(data: bytes, expected_spec: TaskSpec | None = None, *, source: str | Path = "<bytes>",
                      intra_op_threads: int = 1) -> OnnxPolicy:
    """:func:`load_policy_onnx` for a serialized model (e.g. received on a ROS topic).

    Args:
        data: the ONNX file's bytes.
        expected_spec: the task the policy must match (None: no task check).
        source: where the bytes came from, named in error messages (and ``OnnxPolicy.path``).
    Raises:
        PolicyFormatError: the first check that failed, with what to do about it.
    """
    import onnx
    import onnxruntime as ort
    from google.protobuf.message import DecodeError

    path = Path(source)
    try:
        proto = onnx.load_from_string(data)
    except DecodeError as exc:
        raise _fail(path, f"is not an ONNX model ({exc}); export one with export_policy_onnx") from exc
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise _fail(path, f"is not a valid ONNX model: {exc}") from exc
    opsets = {o.domain: o.version for o in proto.opset_import}
    opset = opsets.get("", opsets.get("ai.onnx"))
    newest = onnx.defs.onnx_opset_version()
    if opset is None or not MIN_OPSET <= opset <= newest:
        raise _fail(path, f"default-domain opset {opset} is not supported (need {MIN_OPSET}..{newest}); "
                          f"export with an opset in that range")
    meta = _read_metadata(proto, path)
    if meta["opset"] != opset:
        raise _fail(path, f"metadata says opset {meta['opset']} but the graph imports opset {opset}; "
                          f"the file was edited after export; export it again")

    initializers = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    outputs = list(proto.graph.output)
    if [i.name for i in inputs] != [INPUT_NAME] or [o.name for o in outputs] != [OUTPUT_NAME]:
        raise _fail(path, f"has inputs {[i.name for i in inputs]} and outputs {[o.name for o in outputs]}; "
                          f"expected exactly {[INPUT_NAME]} -> {[OUTPUT_NAME]} (the names export_policy_onnx "
                          f"writes and the controller binds)")
    io_type = inputs[0].type.tensor_type.elem_type
    for value, size, what in ((inputs[0], len(meta["observation_names"]), "observation_names"),
                              (outputs[0], len(meta["action_names"]), "action_names")):
        dims = _dims(value)
        batch_ok = len(dims) == 2 and (isinstance(dims[0], str) or dims[0] == 1)
        if value.type.tensor_type.elem_type not in _IO_TYPES or not batch_ok or dims[1] != size:
            raise _fail(path, f"{value.name!r} must be float32 or float64 of shape (batch, {size}) to match the "
                              f"{size} {what} in its metadata, got {dims}; export it again")
    if outputs[0].type.tensor_type.elem_type != io_type:
        raise _fail(path, f"input and output types differ ({onnx.helper.tensor_dtype_to_np_dtype(io_type)} in, "
                          f"{onnx.helper.tensor_dtype_to_np_dtype(outputs[0].type.tensor_type.elem_type)} out); "
                          f"export it again with export_policy_onnx")
    if expected_spec is not None:
        _check_against_spec(meta, expected_spec, path)

    try:
        session = ort_session(data, intra_op_threads=intra_op_threads)
    except _ort_errors(ort) as exc:
        raise _fail(path, f"ONNX Runtime cannot run it ({exc})") from exc
    policy = OnnxPolicy(session, meta, path, dtype=_IO_TYPES[io_type])
    rng = np.random.default_rng(0)
    obs_dim = len(policy.observation_names)
    low, high = policy.action_low, policy.action_high
    slack = 1e-5 * (high - low) + 1e-6
    for probe in (np.zeros(obs_dim, np.float32), rng.standard_normal(obs_dim).astype(np.float32)):
        try:
            action = policy(probe)
        except _ort_errors(ort) as exc:
            raise _fail(path, f"fails on a probe observation ({exc}); export it again") from exc
        if not np.all(np.isfinite(action)):
            raise _fail(path, f"produces non-finite actions {action.tolist()} for the probe observation "
                              f"{probe.tolist()}; its weights or normalization contain NaN/inf or a zero std: "
                              f"retrain or re-export it")
        if np.any(action < low - slack) or np.any(action > high + slack):
            raise _fail(path, f"produces the action {action.tolist()} outside the bounds {low.tolist()} .. "
                              f"{high.tolist()} for a probe observation; export it with export_policy_onnx, "
                              f"whose graph squashes actions onto the bounds")
    return policy
