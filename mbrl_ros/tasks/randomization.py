"""Domain randomization and "real robot" stand-ins for MuJoCo tasks (no ROS).

A *physics profile* (``config/randomization/<task>.yaml`` for training, or
``config/randomization/stand_in/<task>.yaml`` for the "real" stand-in) lists named
parameters, each either fixed or a range that is sampled once per episode::

    task: cartpole_swingup
    parameters:
      body_mass.pole: {scale: [0.7, 1.5]}    # x U(0.7, 1.5) of the nominal value
      actuation_delay: {value: [0.0, 0.03]}  # s, U(0, 0.03)
      sensor_noise.theta: {value: 0.0015}    # fixed: rad (std)

Parameter kinds (names of bodies, joints, actuators and observation entries are the
MJCF's / the task spec's; ``*`` means every one):

* ``body_mass.<body>`` (scale): mass *and* inertia (a uniformly denser body);
* ``body_inertia.<body>`` (scale): inertia only (on top of the mass factor);
* ``joint_damping.<joint>``, ``joint_friction.<joint>`` (scale or value; N*s/m, N*m*s/rad;
  N, N*m): ``dof_damping`` and ``dof_frictionloss``;
* ``actuator_gain.<actuator>`` (scale): the actuator's gain (force per unit command);
* ``actuation_delay`` and ``control_latency`` (value, s): the command acts this much
  later (their sum, rounded to physics timesteps, so a 20 ms delay at a 10 ms timestep
  holds the previous command for the first two of the control period's substeps);
* ``actuator_lag`` (value, s): first-order lag (motor time constant) of every actuator;
* ``sensor_noise.<observation entry>`` (value): std of Gaussian noise on that entry of
  every observation the controller gets (rewards and the oracle use the true state).

Sampling is seeded: episode ``reset(seed=s)`` draws from ``SeedSequence([profile seed, s])``,
so the same seed gives the same physics in ``mbrl-ros train``, ``sim_bridge`` and ``sim2real``
(episode e of run seed r resets with ``r * 100003 + e`` in all three), whatever ran before.
Every sample is kept in :attr:`RandomizedTask.samples` and passed to ``on_sample``.
"""
from __future__ import annotations

import collections
import dataclasses
import fnmatch
import math
from pathlib import Path
from typing import Any, Callable, Mapping

import mujoco
import numpy as np
import torch
import yaml

from mbrl_ros.config import ConfigError
from mbrl_ros.package_data import PackageDataNotFoundError, share_path
from mbrl_ros.tasks.base import SimulatedTask
from mbrl_ros.tasks.physics import MujocoTask

#: Kinds that name a MuJoCo object, and which object.
_OBJECT_KINDS = {"body_mass": "body", "body_inertia": "body", "joint_damping": "joint",
                 "joint_friction": "joint", "actuator_gain": "actuator", "sensor_noise": "observation"}
_GLOBAL_KINDS = ("actuation_delay", "control_latency", "actuator_lag")
_SCALE_ONLY = ("body_mass", "body_inertia", "actuator_gain")
#: Profiles shipped with the package: name -> path below config/randomization/.
PROFILES = {"randomized": "{task}.yaml", "stand_in": "stand_in/{task}.yaml"}


class ProfileError(ConfigError):
    """A physics profile is missing, malformed, or names something the task does not have."""


@dataclasses.dataclass(frozen=True)
class ParameterRange:
    """One profile entry: ``mode`` ("scale" of the nominal value, or absolute "value") in [low, high]."""

    name: str
    mode: str
    low: float
    high: float

    @property
    def kind(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def target(self) -> str:
        return self.name.split(".", 1)[1] if "." in self.name else ""


@dataclasses.dataclass(frozen=True)
class PhysicsProfile:
    """A parsed physics profile (see the module docstring)."""

    task: str
    parameters: tuple[ParameterRange, ...]
    source: str = ""
    seed: int = 0

    def sample(self, rng: np.random.Generator) -> dict[str, float]:
        """One value per parameter (fixed ones as given), in profile order."""
        lows = np.array([p.low for p in self.parameters])
        highs = np.array([p.high for p in self.parameters])
        values = lows + (highs - lows) * rng.random(len(self.parameters))
        return {p.name: float(v) for p, v in zip(self.parameters, values)}


def _parse_entry(name: str, spec: Any, source: str) -> ParameterRange:
    kind = name.split(".", 1)[0]
    if kind not in _OBJECT_KINDS and kind not in _GLOBAL_KINDS:
        raise ProfileError(f"{source}: unknown parameter {name!r}; kinds: "
                           f"{', '.join(sorted([*_OBJECT_KINDS, *_GLOBAL_KINDS]))}")
    if (kind in _OBJECT_KINDS) != ("." in name):
        raise ProfileError(f"{source}: {name!r}: {kind} " + ("needs a name: {kind}.<name>" if kind in _OBJECT_KINDS
                                                             else "takes no name").format(kind=kind))
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in ("scale", "value"):
        raise ProfileError(f"{source}: {name!r} must be {{scale: ...}} or {{value: ...}}, got {spec!r}")
    mode, bounds = next(iter(spec.items()))
    if mode == "value" and kind in _SCALE_ONLY:
        raise ProfileError(f"{source}: {name!r} takes a scale, not a value")
    if mode == "scale" and kind in (*_GLOBAL_KINDS, "sensor_noise"):
        raise ProfileError(f"{source}: {name!r} takes a value (s or std), not a scale")
    if isinstance(bounds, (int, float)):
        bounds = [bounds, bounds]
    if (not isinstance(bounds, (list, tuple)) or len(bounds) != 2
            or not all(isinstance(b, (int, float)) and math.isfinite(b) for b in bounds)):
        raise ProfileError(f"{source}: {name!r}: {mode} must be a number or [low, high], got {bounds!r}")
    low, high = float(bounds[0]), float(bounds[1])
    if low > high or low < 0 or (mode == "scale" and low <= 0):
        raise ProfileError(f"{source}: {name!r}: need 0 {'<' if mode == 'scale' else '<='} low <= high, "
                           f"got [{low}, {high}]")
    return ParameterRange(name, mode, low, high)


def load_profile(profile: str | Path, task: str, *, seed: int = 0) -> PhysicsProfile:
    """Read a profile: a shipped name (``randomized``, ``stand_in``) or a YAML file path.

    Raises:
        ProfileError: missing file, bad YAML, unknown parameters, or a profile for another task.
    """
    name = str(profile)
    if name in PROFILES:
        try:
            path = share_path("config", "randomization", PROFILES[name].format(task=task))
        except PackageDataNotFoundError as exc:
            raise ProfileError(f"no {name} physics profile for task {task!r}: {exc}") from None
    else:
        path = Path(name)
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        hint = f" (shipped profiles: {', '.join(PROFILES)})" if name not in PROFILES else ""
        raise ProfileError(f"physics profile {path}: cannot read it ({exc.strerror or exc}){hint}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"physics profile {path}: not valid YAML: {exc}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("parameters"), Mapping):
        raise ProfileError(f"physics profile {path}: needs 'task' and a 'parameters' mapping")
    if data.get("task") != task:
        raise ProfileError(f"physics profile {path} is for task {data.get('task')!r}, not {task!r}")
    entries = tuple(_parse_entry(str(k), v, str(path)) for k, v in data["parameters"].items())
    return PhysicsProfile(task=task, parameters=entries, source=str(path), seed=int(seed))


class ActuatorDynamics:
    """Delay (whole physics timesteps) then first-order lag of MuJoCo controls, per substep.

    Args:
        initial: ``(nu,)`` controls in force before the first command (e.g. hover thrust).
        delay_steps: physics timesteps between a command and its effect.
        lag: time constant in s (0: none); timestep: physics timestep in s.
    """

    def __init__(self, initial: np.ndarray, delay_steps: int, lag: float, timestep: float):
        self.initial = np.array(initial, dtype=np.float64)
        self.delay_steps = int(delay_steps)
        self.alpha = 1.0 if lag <= 0 else 1.0 - math.exp(-timestep / lag)
        self.reset()

    def reset(self) -> None:
        self._queue = collections.deque(self.initial.copy() for _ in range(self.delay_steps))
        self._applied = self.initial.copy()

    def __call__(self, ctrl: np.ndarray) -> np.ndarray:
        """The control acting during the next physics timestep when ``ctrl`` is commanded."""
        self._queue.append(np.array(ctrl, dtype=np.float64))
        target = self._queue.popleft()
        self._applied = self._applied + self.alpha * (target - self._applied)
        return self._applied.copy()


class RandomizedTask(SimulatedTask):
    """A :class:`MujocoTask` whose physics is re-sampled from a profile at every reset.

    Delegates everything else to the wrapped task (reward, spec, rollout: the oracle plans on
    the sampled masses, gains and damping, not on delays or noise). Observations carry the
    sampled sensor noise; :attr:`true_observation` is the noise-free one.

    Args:
        task: the MuJoCo task (its physics is changed in place).
        profile: :class:`PhysicsProfile`.
        on_sample: called with ``(reset seed, {name: value})`` at every reset.
    """

    def __init__(self, task: MujocoTask, profile: PhysicsProfile,
                 on_sample: Callable[[int | None, dict[str, float]], None] | None = None):
        if not isinstance(task, MujocoTask):
            raise ProfileError(f"physics profiles need a MuJoCo task; {task.spec.name!r} is a {type(task).__name__}")
        if profile.task != task.spec.name:
            raise ProfileError(f"physics profile {profile.source} is for {profile.task!r}, not {task.spec.name!r}")
        self.inner = task
        self.profile = profile
        self.spec = task.spec
        self._cost_weights = task.cost_weights
        self.termination_fn = task.termination_fn  # a class attribute of Task: __getattr__ never sees it
        self.on_sample = on_sample
        self.samples: list[dict[str, Any]] = []
        model = task.physics.model
        self._nominal = {"body_mass": model.body_mass.copy(), "body_inertia": model.body_inertia.copy(),
                         "dof_damping": model.dof_damping.copy(), "dof_frictionloss": model.dof_frictionloss.copy(),
                         "gain": model.actuator_gainprm[:, 0].copy(), "bias": model.actuator_biasprm[:, 1:3].copy()}
        self._resolved = [(p, self._indices(p)) for p in profile.parameters]
        self._counter = 0
        self._noise_std = np.zeros(self.spec.obs_dim)
        self._noise_rng = np.random.default_rng(0)
        self.true_observation: np.ndarray | None = None
        self.current: dict[str, float] = {}

    # -- names -> indices -------------------------------------------------------------------
    def _names(self, obj: str) -> list[str]:
        model = self.inner.physics.model
        if obj == "observation":
            return list(self.spec.observation_names)
        mj_obj, count = {"body": (mujoco.mjtObj.mjOBJ_BODY, model.nbody),
                         "joint": (mujoco.mjtObj.mjOBJ_JOINT, model.njnt),
                         "actuator": (mujoco.mjtObj.mjOBJ_ACTUATOR, model.nu)}[obj]
        return [mujoco.mj_id2name(model, mj_obj, i) or "" for i in range(count)]

    def _indices(self, p: ParameterRange) -> list[int]:
        if p.kind in _GLOBAL_KINDS:
            return []
        obj = _OBJECT_KINDS[p.kind]
        names = self._names(obj)
        found = [i for i, n in enumerate(names) if n and fnmatch.fnmatchcase(n, p.target)]
        if not found:
            raise ProfileError(f"{self.profile.source}: {p.name!r}: {self.spec.name} has no {obj} named "
                               f"{p.target!r}; {obj}s: {', '.join(n for n in names if n)}")
        if obj == "joint":  # joints -> their degrees of freedom
            model = self.inner.physics.model
            dofs = []
            for j in found:
                width = {int(mujoco.mjtJoint.mjJNT_FREE): 6, int(mujoco.mjtJoint.mjJNT_BALL): 3}.get(
                    int(model.jnt_type[j]), 1)
                dofs.extend(range(model.jnt_dofadr[j], model.jnt_dofadr[j] + width))
            return dofs
        return found

    # -- sampling ----------------------------------------------------------------------------
    def sample_for(self, seed: int | None) -> dict[str, float]:
        """The profile's values for the episode reset with ``seed`` (None: the next of a counter)."""
        key = [self.profile.seed, seed] if seed is not None else [self.profile.seed, 2 ** 32 + self._counter]
        return self.profile.sample(np.random.default_rng(np.random.SeedSequence(key)))

    def apply(self, values: Mapping[str, float]) -> None:
        """Set the physics to ``values`` (every parameter relative to the nominal model)."""
        model = self.inner.physics.model
        nominal = self._nominal
        mass, inertia = nominal["body_mass"].copy(), nominal["body_inertia"].copy()
        damping, friction = nominal["dof_damping"].copy(), nominal["dof_frictionloss"].copy()
        gain = np.ones_like(nominal["gain"])
        delay, lag = 0.0, 0.0
        noise = np.zeros(self.spec.obs_dim)
        for p, idx in self._resolved:
            v = values[p.name]
            if p.kind == "body_mass":
                mass[idx] *= v
                inertia[idx] *= v
            elif p.kind == "body_inertia":
                inertia[idx] *= v
            elif p.kind in ("joint_damping", "joint_friction"):
                target = damping if p.kind == "joint_damping" else friction
                target[idx] = target[idx] * v if p.mode == "scale" else v
            elif p.kind == "actuator_gain":
                gain[idx] *= v
            elif p.kind in ("actuation_delay", "control_latency"):
                delay += v
            elif p.kind == "actuator_lag":
                lag = v
            elif p.kind == "sensor_noise":
                noise[idx] = v
        model.body_mass[:] = mass
        model.body_inertia[:] = inertia
        model.dof_damping[:] = damping
        model.dof_frictionloss[:] = friction
        # A position/velocity servo's bias terms (-kp, -kv) scale with its gain.
        model.actuator_gainprm[:, 0] = nominal["gain"] * gain
        model.actuator_biasprm[:, 1:3] = nominal["bias"] * gain[:, None]
        mujoco.mj_setConst(model, self.inner.physics.data)
        timestep = self.inner.physics.timestep
        steps = int(round(delay / timestep))
        if steps or lag > 0:
            initial = np.asarray(self.inner._ctrl_from_action(self.spec.safe_action()), dtype=np.float64)
            self.inner.actuation = ActuatorDynamics(initial, steps, lag, timestep)
        else:
            self.inner.actuation = None
        self._noise_std = noise

    # -- episode API ---------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        values = self.sample_for(seed)
        self._counter += 1
        self.apply(values)
        self.current = values
        self.samples.append({"seed": seed, **values})
        if self.on_sample is not None:
            self.on_sample(seed, values)
        noise_key = [self.profile.seed, 7, seed if seed is not None else 2 ** 32 + self._counter]
        self._noise_rng = np.random.default_rng(np.random.SeedSequence(noise_key))
        obs, info = self.inner.reset(seed)
        return self._measure(obs), {**info, "physics": dict(values)}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.inner.step(action)
        return self._measure(obs), reward, terminated, truncated, info

    def _measure(self, obs: np.ndarray) -> np.ndarray:
        self.true_observation = obs.copy()
        if not self._noise_std.any():
            return obs
        return obs + self._noise_std * self._noise_rng.standard_normal(obs.shape)

    # -- delegation ----------------------------------------------------------------------------
    def cost_terms(self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.inner.cost_terms(obs, action, next_obs)

    def casadi_cost_terms(self, obs, action, next_obs) -> dict:
        return self.inner.casadi_cost_terms(obs, action, next_obs)

    def reward(self, obs, action, next_obs):
        return self.inner.reward(obs, action, next_obs)

    def rollout(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return self.inner.rollout(obs, actions)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Task-specific helpers (physics, config, tip_position, ...) come from the wrapped task.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def with_profile(task, profile: str | Path | None, *, seed: int = 0,
                 on_sample: Callable[[int | None, dict[str, float]], None] | None = None):
    """``task`` unchanged for an empty profile, else a :class:`RandomizedTask` on it."""
    if not profile or str(profile) == "none":
        return task
    return RandomizedTask(task, load_profile(profile, task.spec.name, seed=seed), on_sample=on_sample)
