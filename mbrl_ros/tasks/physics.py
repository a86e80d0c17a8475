"""MuJoCo physics with named accessors, and the base class of MuJoCo-backed tasks.

:class:`MujocoPhysics` owns one ``MjModel``/``MjData`` pair loaded from an MJCF
file in the package's ``sim/`` share directory. Everything it returns is a
copy, never a view into ``MjData``, so a caller can keep or change what it got
without touching the simulation (as in dm_control's ``Physics``).

:class:`MujocoTask` turns a physics object into a :class:`~mbrl_ros.tasks.base.SimulatedTask`
whose observation is ``[qpos, qvel, extra]`` (``extra`` holds per-episode
constants such as a reacher's target), with seeded resets, frame skipping and
batched open-loop rollouts through ``mujoco.rollout``.
"""
from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import mujoco
import numpy as np
import torch
from mujoco import rollout as mj_rollout

from mbrl_ros.config import ConfigError, from_dict, param
from mbrl_ros.package_data import share_path
from mbrl_ros.tasks.base import SimulatedTask, TaskSpec

#: State signature used by :meth:`MujocoPhysics.get_state` and ``mujoco.rollout``:
#: time, qpos, qvel, act, history, plugin and plasticity state.
FULL_PHYSICS = int(mujoco.mjtState.mjSTATE_FULLPHYSICS)

_UNSTABLE_WARNINGS = (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
                      mujoco.mjtWarning.mjWARN_BADQACC)


class PhysicsError(RuntimeError):
    """The simulation diverged (MuJoCo reported non-finite positions, velocities or accelerations)."""


def _resolve_mjcf(mjcf: str | Path) -> Path:
    path = Path(mjcf)
    if path.is_absolute():
        if not path.is_file():
            raise FileNotFoundError(f"MJCF file {path} does not exist")
        return path
    return share_path("sim", str(mjcf))


class MujocoPhysics:
    """One MuJoCo model and its data, with named accessors that return copies.

    Args:
        mjcf: file name inside the share directory's ``sim/`` folder
            (e.g. ``"cartpole.xml"``) or an absolute path.
        edit: optional function applied to the ``mujoco.MjSpec`` before it is
            compiled (change masses, damping, actuator limits, timestep).
        nthread: threads used by :meth:`rollout`; 1 runs on the calling thread.

    Example:
        physics = MujocoPhysics("pendulum.xml")
        physics.set_joint_state("hinge", qpos=[np.pi], qvel=[0.0])
        physics.step(ctrl=[0.0], n_substeps=5)
        tip = physics.site_xpos("tip")      # (3,) copy, metres
    """

    def __init__(self, mjcf: str | Path, *, edit: Callable[[mujoco.MjSpec], None] | None = None,
                 nthread: int = 1):
        if int(nthread) < 1:
            raise ValueError(f"nthread must be at least 1, got {nthread}")
        self.path = _resolve_mjcf(mjcf)
        spec = mujoco.MjSpec.from_file(str(self.path))
        if edit is not None:
            edit(spec)
        try:
            self._model = spec.compile()
        except ValueError as exc:
            raise ValueError(f"{self.path.name}: the MJCF does not compile: {exc}") from exc
        self._data = mujoco.MjData(self._model)
        mujoco.mj_forward(self._model, self._data)
        self.nthread = int(nthread)
        # The rollout pool gets its own MjData: rollouts must never disturb the live simulation.
        self._rollout_data = [mujoco.MjData(self._model) for _ in range(self.nthread)]
        self._rollout: mj_rollout.Rollout | None = None
        self._state_size = mujoco.mj_stateSize(self._model, FULL_PHYSICS)
        # Offsets of qpos and qvel inside a FULL_PHYSICS state vector (signature bits are laid out in order).
        self._qpos_offset = mujoco.mj_stateSize(self._model, int(mujoco.mjtState.mjSTATE_TIME))
        self._qvel_offset = mujoco.mj_stateSize(
            self._model, int(mujoco.mjtState.mjSTATE_TIME | mujoco.mjtState.mjSTATE_QPOS))

    # -- raw access -------------------------------------------------------
    @property
    def model(self) -> mujoco.MjModel:
        """The live ``MjModel`` (changing it changes the simulation)."""
        return self._model

    @property
    def data(self) -> mujoco.MjData:
        """The live ``MjData`` (prefer the copying accessors below)."""
        return self._data

    @property
    def timestep(self) -> float:
        """Physics timestep in seconds."""
        return float(self._model.opt.timestep)

    @property
    def time(self) -> float:
        """Simulation time in seconds."""
        return float(self._data.time)

    @property
    def qpos(self) -> np.ndarray:
        """Copy of all joint positions, shape ``(nq,)``."""
        return self._data.qpos.copy()

    @property
    def qvel(self) -> np.ndarray:
        """Copy of all joint velocities, shape ``(nv,)``."""
        return self._data.qvel.copy()

    @property
    def state_size(self) -> int:
        """Length of a full physics state vector."""
        return self._state_size

    # -- named accessors --------------------------------------------------
    def _id(self, obj: mujoco.mjtObj, name: str, kind: str) -> int:
        index = mujoco.mj_name2id(self._model, obj, name)
        if index < 0:
            count = {"joint": self._model.njnt, "site": self._model.nsite,
                     "body": self._model.nbody, "actuator": self._model.nu}[kind]
            names = [mujoco.mj_id2name(self._model, obj, i) for i in range(count)]
            raise KeyError(f"{self.path.name}: no {kind} named {name!r}; "
                           f"{kind}s: {', '.join(n for n in names if n)}")
        return index

    def _joint_slices(self, name: str) -> tuple[slice, slice]:
        joint = self._id(mujoco.mjtObj.mjOBJ_JOINT, name, "joint")
        widths = {mujoco.mjtJoint.mjJNT_FREE: (7, 6), mujoco.mjtJoint.mjJNT_BALL: (4, 3),
                  mujoco.mjtJoint.mjJNT_SLIDE: (1, 1), mujoco.mjtJoint.mjJNT_HINGE: (1, 1)}
        nq, nv = widths[mujoco.mjtJoint(self._model.jnt_type[joint])]
        qadr, vadr = self._model.jnt_qposadr[joint], self._model.jnt_dofadr[joint]
        return slice(qadr, qadr + nq), slice(vadr, vadr + nv)

    def joint_qpos(self, name: str) -> np.ndarray:
        """Position of joint ``name`` (rad or m), a copy of shape ``(1,)`` for hinges and slides."""
        return self._data.qpos[self._joint_slices(name)[0]].copy()

    def joint_qvel(self, name: str) -> np.ndarray:
        """Velocity of joint ``name`` (rad/s or m/s), a copy of shape ``(1,)`` for hinges and slides."""
        return self._data.qvel[self._joint_slices(name)[1]].copy()

    def set_joint_state(self, name: str, qpos: Sequence[float] | float,
                        qvel: Sequence[float] | float | None = None) -> None:
        """Set one joint's position (and velocity), then recompute positions (``mj_forward``)."""
        qs, vs = self._joint_slices(name)
        self._data.qpos[qs] = np.asarray(qpos, dtype=np.float64).reshape(-1)
        if qvel is not None:
            self._data.qvel[vs] = np.asarray(qvel, dtype=np.float64).reshape(-1)
        mujoco.mj_forward(self._model, self._data)

    def site_xpos(self, name: str) -> np.ndarray:
        """World position (m) of site ``name``, a ``(3,)`` copy."""
        return self._data.site_xpos[self._id(mujoco.mjtObj.mjOBJ_SITE, name, "site")].copy()

    def body_xpos(self, name: str) -> np.ndarray:
        """World position (m) of body ``name``'s frame, a ``(3,)`` copy."""
        return self._data.xpos[self._id(mujoco.mjtObj.mjOBJ_BODY, name, "body")].copy()

    def set_mocap_pos(self, body: str, pos: Sequence[float]) -> None:
        """Move mocap body ``body`` to world position ``pos`` (3,) m."""
        mocap = self._model.body_mocapid[self._id(mujoco.mjtObj.mjOBJ_BODY, body, "body")]
        if mocap < 0:
            raise ValueError(f"{self.path.name}: body {body!r} is not a mocap body")
        self._data.mocap_pos[mocap] = np.asarray(pos, dtype=np.float64)
        mujoco.mj_forward(self._model, self._data)

    def site_local_pos(self, name: str) -> np.ndarray:
        """Position (m) of site ``name`` in its body's frame, a ``(3,)`` copy."""
        return self._model.site_pos[self._id(mujoco.mjtObj.mjOBJ_SITE, name, "site")].copy()

    def body_local_pos(self, name: str) -> np.ndarray:
        """Position (m) of body ``name`` in its parent's frame, a ``(3,)`` copy."""
        return self._model.body_pos[self._id(mujoco.mjtObj.mjOBJ_BODY, name, "body")].copy()

    # -- state ------------------------------------------------------------
    def reset(self) -> None:
        """Back to the model's reference configuration (``qpos0``), at rest, time 0."""
        mujoco.mj_resetData(self._model, self._data)
        mujoco.mj_forward(self._model, self._data)

    def get_state(self, spec: int = FULL_PHYSICS) -> np.ndarray:
        """State vector for the ``mjtState`` signature ``spec`` (default: full physics)."""
        state = np.empty(mujoco.mj_stateSize(self._model, spec), dtype=np.float64)
        mujoco.mj_getState(self._model, self._data, state, spec)
        return state

    def set_state(self, state: np.ndarray, spec: int = FULL_PHYSICS) -> None:
        """Inverse of :meth:`get_state`; recomputes positions (``mj_forward``)."""
        state = np.asarray(state, dtype=np.float64).reshape(-1)
        expected = mujoco.mj_stateSize(self._model, spec)
        if state.shape != (expected,):
            raise ValueError(f"{self.path.name}: state for signature {spec} has {expected} entries, "
                             f"got shape {state.shape}")
        mujoco.mj_setState(self._model, self._data, state, spec)
        mujoco.mj_forward(self._model, self._data)

    def state_from_qpos_qvel(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """Full physics state (time 0, nothing else set) for ``qpos (nq,)``, ``qvel (nv,)``."""
        scratch = self._rollout_data[0]
        mujoco.mj_resetData(self._model, scratch)
        scratch.qpos[:] = qpos
        scratch.qvel[:] = qvel
        state = np.empty(self._state_size, dtype=np.float64)
        mujoco.mj_getState(self._model, scratch, state, FULL_PHYSICS)
        return state

    def split_states(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(qpos (..., nq), qvel (..., nv))`` views of full physics states ``(..., nstate)``."""
        nq, nv = self._model.nq, self._model.nv
        return (states[..., self._qpos_offset:self._qpos_offset + nq],
                states[..., self._qvel_offset:self._qvel_offset + nv])

    # -- simulation -------------------------------------------------------
    def step(self, ctrl: Sequence[float] | np.ndarray, n_substeps: int = 1) -> None:
        """Hold ``ctrl`` (nu,) for ``n_substeps`` physics steps, then update derived quantities.

        Raises:
            PhysicsError: the simulation diverged.
        """
        ctrl = np.asarray(ctrl, dtype=np.float64).reshape(-1)
        if ctrl.shape != (self._model.nu,):
            raise ValueError(f"{self.path.name}: expected ctrl of shape ({self._model.nu},), got {ctrl.shape}")
        before = [self._data.warning[w].number for w in _UNSTABLE_WARNINGS]
        self._data.ctrl[:] = ctrl
        for _ in range(int(n_substeps)):
            mujoco.mj_step(self._model, self._data)
        # mj_step leaves positions (site_xpos, ...) from before its last integration; refresh them
        # so the named accessors describe the current state. This does not change the dynamics.
        mujoco.mj_forward(self._model, self._data)
        after = [self._data.warning[w].number for w in _UNSTABLE_WARNINGS]
        if after != before:
            raise PhysicsError(f"{self.path.name}: the simulation diverged at t={self.time:.3f} s "
                               f"(MuJoCo reset it); lower the timestep or the actuator limits")

    def rollout(self, initial_state: np.ndarray, ctrl: np.ndarray) -> np.ndarray:
        """Batched open-loop simulation with ``mujoco.rollout`` (the live data is untouched).

        Args:
            initial_state: ``(nstate,)`` or ``(N, nstate)`` full physics states.
            ctrl: ``(N, T, nu)`` controls, one per physics step.
        Returns:
            ``(N, T, nstate)`` full physics states after each physics step.
        """
        if self._rollout is None:
            # nthread=0 makes mujoco run on the calling thread (no pool).
            self._rollout = mj_rollout.Rollout(nthread=0 if self.nthread == 1 else self.nthread)
        states, _ = self._rollout.rollout(self._model, self._rollout_data,
                                          np.ascontiguousarray(initial_state, dtype=np.float64),
                                          np.ascontiguousarray(ctrl, dtype=np.float64))
        return states

    def close(self) -> None:
        """Stop the rollout thread pool (if one was started)."""
        if self._rollout is not None:
            self._rollout.close()
            self._rollout = None


def set_joint_damping(spec: mujoco.MjSpec, joint: str, damping: float) -> None:
    """Linear joint damping (N*m*s/rad or N*s/m) in an ``MjSpec`` before compiling."""
    coefficients = np.array(spec.joint(joint).damping, dtype=np.float64).reshape(-1)
    coefficients[0] = damping
    spec.joint(joint).damping = coefficients


# --------------------------------------------------------------------------
# Tasks on MuJoCo
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MujocoTaskConfig:
    """Settings every MuJoCo task shares (task configs subclass this)."""

    cost_weights: dict[str, float] = param(
        {}, "Weight per cost term (>= 0); terms left out keep their default weight, 0 disables a term.")
    control_period: float = param(0.05, "Seconds between two actions (a whole multiple of timestep).",
                                  low=0.001, high=1.0)
    timestep: float = param(0.01, "Physics timestep in seconds.", low=1e-4, high=0.05)
    episode_length: int = param(200, "Control steps per episode.", low=1, high=1_000_000)
    rollout_threads: int = param(1, "Threads for batched rollouts (1: the calling thread only).",
                                 low=1, high=256)
    termination_reward: float = param(
        0.0, "Reward credited for every step left when an episode terminates early (TaskSpec."
        "termination_reward): the episode return and the planners' objective count it; 0 counts nothing. "
        "Tasks with negative-cost rewards need it below their worst per-step reward.", low=-1e9, high=1e9)

    def __post_init__(self):
        for name, weight in self.cost_weights.items():
            if not np.isfinite(weight) or weight < 0:
                raise ConfigError(f"cost_weights.{name}: must be a finite number >= 0, got {weight!r}")


class MujocoTask(SimulatedTask):
    """A :class:`SimulatedTask` on :class:`MujocoPhysics` with observation ``[qpos, qvel, extra]``.

    Subclasses set the class attributes (among them :attr:`costs`, their cost terms) and
    implement :meth:`_reset_physics`. ``extra`` (shape ``(E,)``, default empty) holds
    per-episode constants that the dynamics do not change (a target), carried
    unchanged through :meth:`rollout`.

    Angles in the observation are left unwrapped (a pole that turned twice
    reads ``4 pi``); the spec's ``angle_indices`` lists them.
    """

    #: Registry name, MJCF file in ``sim/`` and config class.
    name: str = ""
    mjcf_file: str = ""
    Config: type[MujocoTaskConfig] = MujocoTaskConfig
    observation_names: tuple[str, ...] = ()
    #: ``(group, member names)`` runs of adjacent observation entries (see ``TaskSpec.layout``).
    observation_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    angle_indices: tuple[int, ...] = ()

    @classmethod
    def default_cost_weights(cls) -> dict[str, float]:
        """Default weight per declared cost term; also the full list of term names."""
        return {term.name: term.weight for term in cls.costs}

    def __init__(self, config: MujocoTaskConfig | Mapping[str, Any] | None = None):
        if config is None or isinstance(config, Mapping):
            config = from_dict(self.Config, config or {})
        elif not isinstance(config, self.Config):
            raise TypeError(f"{self.name}: config must be a {self.Config.__name__} or a mapping, "
                            f"got {type(config).__name__}")
        defaults = self.default_cost_weights()
        unknown = sorted(set(config.cost_weights) - set(defaults))
        if unknown:
            raise ConfigError(f"{self.name}: unknown cost term(s) {unknown} in cost_weights; "
                              f"terms: {sorted(defaults)}")
        super().__init__({**defaults, **config.cost_weights})
        self.config = config

        frame_skip = round(config.control_period / config.timestep)
        if frame_skip < 1 or abs(frame_skip * config.timestep - config.control_period) > 1e-9:
            raise ConfigError(f"{self.name}: control_period {config.control_period} s must be a whole "
                              f"multiple of timestep {config.timestep} s")
        self.frame_skip = frame_skip

        def edit(spec: mujoco.MjSpec) -> None:
            spec.option.timestep = config.timestep
            self._edit_spec(spec, config)

        self.physics = MujocoPhysics(self.mjcf_file, edit=edit, nthread=config.rollout_threads)
        model = self.physics.model
        low, high = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
        action_names = tuple(mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, i) for i in range(model.nu))
        if len(self.observation_names) != model.nq + model.nv + self._extra_dim():
            raise ValueError(f"{self.name}: observation_names must list qpos, qvel and extra entries")
        self.spec = TaskSpec(
            name=self.name,
            observation_names=tuple(self.observation_names),
            action_names=action_names,
            action_low=tuple(float(v) for v in low),
            action_high=tuple(float(v) for v in high),
            control_period=frame_skip * config.timestep,
            episode_length=config.episode_length,
            angle_indices=tuple(self.angle_indices),
            observation_groups=tuple(self.observation_groups),
            termination_reward=float(config.termination_reward),
        )
        self._action_scale = np.maximum(np.abs(low), np.abs(high))
        self._rng = np.random.default_rng()
        self._extra = np.zeros(self._extra_dim())
        self._obs: np.ndarray | None = None
        self._steps = 0
        #: Optional per-physics-timestep control filter ``ctrl (nu,) -> ctrl (nu,)`` (actuation
        #: delay, motor lag: :class:`mbrl_ros.tasks.randomization.ActuatorDynamics`); None: ideal.
        self.actuation: Callable[[np.ndarray], np.ndarray] | None = None
        self._terminated = False

    # -- hooks for subclasses -------------------------------------------
    def _edit_spec(self, spec: mujoco.MjSpec, config: MujocoTaskConfig) -> None:
        """Apply the config's physical parameters to the MJCF before compiling."""

    def _extra_dim(self) -> int:
        """Number of per-episode constants appended to the observation."""
        return 0

    @abc.abstractmethod
    def _reset_physics(self, rng: np.random.Generator) -> None:
        """Put ``self.physics`` (and ``self._extra``) into a random start state."""

    def _ctrl_from_action(self, action: np.ndarray) -> np.ndarray:
        """MuJoCo controls ``(..., nu)`` for clipped actions ``(..., A)`` (e.g. a rotor mixer)."""
        return action

    def _canonicalize(self, obs: np.ndarray) -> np.ndarray:
        """Fix representation choices of observations ``(..., O)`` in place (e.g. quaternion sign)."""
        return obs

    def _after_physics_step(self, steps: int) -> None:
        """Change per-episode constants after ``steps`` steps (e.g. switch to the next waypoint)."""

    # -- observation <-> physics ---------------------------------------
    def _observe(self) -> np.ndarray:
        return self._canonicalize(np.concatenate([self.physics.qpos, self.physics.qvel, self._extra]))

    def _split_obs(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nq, nv = self.physics.model.nq, self.physics.model.nv
        return obs[..., :nq], obs[..., nq:nq + nv], obs[..., nq + nv:]

    def physics_state_from_obs(self, obs: np.ndarray) -> np.ndarray:
        """Full physics state (``FULL_PHYSICS`` signature, time 0) that observation ``obs`` (O,) describes."""
        qpos, qvel, _ = self._split_obs(self._check_obs(obs))
        return self.physics.state_from_qpos_qvel(qpos, qvel)

    def set_observation(self, obs: np.ndarray) -> None:
        """Put the simulator in the state an observation describes (for tests and demos)."""
        obs = self._check_obs(obs)
        self.physics.set_state(self.physics_state_from_obs(obs))
        self._extra = self._split_obs(obs)[2].copy()
        self._sync_visuals()
        self._obs = self._observe()

    def _sync_visuals(self) -> None:
        """Show per-episode constants (e.g. move a target marker); nothing by default."""

    def _check_obs(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape != (self.spec.obs_dim,):
            raise ValueError(f"{self.name}: expected an observation of shape ({self.spec.obs_dim},), "
                             f"got {obs.shape}")
        if not np.all(np.isfinite(obs)):
            raise ValueError(f"{self.name}: observation contains NaN or inf: {obs}")
        return obs

    # -- episode API ----------------------------------------------------
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; ``seed=None`` continues the task's random stream."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.physics.reset()
        if self.actuation is not None:
            self.actuation.reset()
        self._extra = np.zeros(self._extra_dim())
        self._reset_physics(self._rng)
        self._sync_visuals()
        self._obs = self._observe()
        self._steps = 0
        self._terminated = False
        return self._obs.copy(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Hold the clipped ``action`` (A,) for one control period.

        Returns ``(obs (O,), reward, terminated, truncated, info)``; ``info["costs"]``
        holds each unweighted cost term, ``info["action"]`` the clipped action and
        ``info["ctrl"]`` the MuJoCo controls it became.

        Raises:
            RuntimeError: before :meth:`reset` or after the episode was truncated.
            ValueError: wrong action shape, NaN or inf.
        """
        if self._obs is None:
            raise RuntimeError(f"{self.name}: call reset() before step()")
        if self._steps >= self.spec.episode_length:
            raise RuntimeError(f"{self.name}: the episode ended after {self.spec.episode_length} steps; "
                               f"call reset()")
        if self._terminated:
            raise RuntimeError(f"{self.name}: the episode terminated (termination_fn) after {self._steps} "
                               f"steps; call reset()")
        action = self.clip_action(action)
        obs = self._obs
        ctrl = np.array(self._ctrl_from_action(action), dtype=np.float64)
        if self.actuation is None:
            self.physics.step(ctrl, self.frame_skip)
        else:
            for _ in range(self.frame_skip):
                self.physics.step(self.actuation(ctrl), 1)
        self._steps += 1
        self._after_physics_step(self._steps)
        next_obs = self._observe()
        self._obs = next_obs
        reward = self.reward_numpy(obs, action, next_obs)
        terminated = self.terminated_numpy(obs, action, next_obs)
        truncated = self._steps >= self.spec.episode_length
        self._terminated = terminated
        info = {"costs": self.cost_values(obs, action, next_obs), "action": action.copy(),
                "ctrl": ctrl, "step": self._steps}
        return next_obs.copy(), reward, terminated, truncated, info

    def cost_values(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> dict[str, float]:
        """Unweighted cost terms for one transition given as numpy arrays."""
        with torch.no_grad():
            terms = self.cost_terms(torch.as_tensor(obs, dtype=torch.float64),
                                    torch.as_tensor(action, dtype=torch.float64),
                                    torch.as_tensor(next_obs, dtype=torch.float64))
        return {name: float(value) for name, value in terms.items()}

    def close(self) -> None:
        self.physics.close()

    # -- oracle ---------------------------------------------------------
    def rollout(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Roll the true physics open-loop from ``obs`` (O,) for ``actions`` (N, H, A).

        The full physics state is rebuilt from the observation (time 0),
        each action is held for ``frame_skip`` physics steps, and per-episode
        constants (``extra``) are carried through. Returns ``(N, H, O)`` float64.
        The live simulation is not touched, so a planner thread may roll out
        while the control loop steps the task; run one rollout at a time.
        """
        obs = self._check_obs(obs)
        actions = np.asarray(actions, dtype=np.float64)
        if actions.ndim != 3 or actions.shape[-1] != self.spec.act_dim:
            raise ValueError(f"{self.name}: expected actions of shape (N, H, {self.spec.act_dim}), "
                             f"got {actions.shape}")
        if not np.all(np.isfinite(actions)):
            raise ValueError(f"{self.name}: actions contain NaN or inf")
        n, horizon, _ = actions.shape
        if n == 0 or horizon == 0:
            return np.zeros((n, horizon, self.spec.obs_dim))
        actions = np.clip(actions, self.spec.action_low, self.spec.action_high)
        qpos, qvel, extra = self._split_obs(obs)
        initial = self.physics_state_from_obs(obs)
        ctrl = np.repeat(self._ctrl_from_action(actions), self.frame_skip, axis=1)
        states = self.physics.rollout(initial, ctrl)[:, self.frame_skip - 1::self.frame_skip]
        qpos_t, qvel_t = self.physics.split_states(states)
        out = np.empty((n, horizon, self.spec.obs_dim))
        nq, nv = qpos.shape[0], qvel.shape[0]
        out[..., :nq] = qpos_t
        out[..., nq:nq + nv] = qvel_t
        out[..., nq + nv:] = extra
        return self._canonicalize(out)
