"""The in-process Dyna/PETS learning loop: collect, train the model, plan with MPC.

1. ``seed_episodes`` episodes of random actions (uniform within the bounds, or
   around the task's nominal action with ``seed_action_std > 0``);
2. train the dynamics model on everything collected;
3. run an episode with MPC on the model (re-planning every control step,
   warm-started by shifting the previous plan);
4. append the episode to the data and retrain; repeat from 3.

With ``model: oracle`` the planner uses the true simulator instead (no
learning, no seed episodes): the upper-bound baseline for the same planner.
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any, Callable, Mapping

import numpy as np
import torch

from mbrl_ros.config import from_dict, param
from mbrl_ros.models import MODELS
from mbrl_ros.models.base import LearnedModel, RolloutModel
from mbrl_ros.models.onnx_backend import PLANNING_BACKENDS, PLANNING_PRECISIONS, for_planning
from mbrl_ros.learning.schedule import RetrainSchedule
from mbrl_ros.planning import PLANNERS, TrajectoryObjective, make_planner
from mbrl_ros.tasks import make_task
from mbrl_ros.tasks.base import Task


@dataclasses.dataclass(frozen=True)
class LearningConfig:
    """Settings of one learning run."""

    episodes: int = param(10, "episodes in total, random seed episodes included", low=1, high=100000)
    seed_episodes: int = param(1, "episodes of random actions before the first model", low=0,
                               high=1000)
    seed_action_std: float = param(
        0.0, "random actions of the seed episodes: 0 draws them uniformly within the bounds; above 0 they "
        "are the task's nominal action (e.g. hover thrust) plus Gaussian noise with this std, as a fraction "
        "of the half action range, clipped to the bounds (for systems a uniform episode crashes)",
        low=0.0, high=10.0)
    horizon: int = param(20, "planning horizon (control steps)", low=1, high=1000)
    plan_deadline: float = param(0.0, "seconds per plan before returning the best so far (0: no deadline)",
                                 low=0.0, high=60.0)
    max_train_epochs: int = param(0, "epochs per retraining (0: the model config's max_epochs)",
                                  low=0, high=100000)
    threads: int = param(1, "torch (and ONNX Runtime) intra-op threads for this process", low=1, high=256)
    device: str = param("cpu", "torch device")
    planning_backend: str = param("auto", "what runs a learned PETS ensemble while planning: onnx (one "
                                  "ONNX Runtime graph per optimizer iteration: horizon, propagation and "
                                  "reward), onnx_step (one ORT run per step), torch, compiled (the fused "
                                  "rollout compiled by torch.compile: needs a C++ compiler, compiles in "
                                  "the background, eager meanwhile), or auto: onnx on the "
                                  "CPU, torch otherwise; training is torch either way",
                                  choices=PLANNING_BACKENDS)
    planning_precision: str = param("float32", "with planning_backend compiled: bfloat16 runs the hidden "
                                    "layers' matmuls in bfloat16 (AMX / AVX512-BF16 CPUs; ~3 significant "
                                    "digits per activation, the state update stays float32), float32 as "
                                    "trained", choices=PLANNING_PRECISIONS)
    action_repeat: int = param(1, "task steps each planned action is held for (DMC-style action repeat): the "
                               "model learns the held transition, horizon counts planned actions, env_steps "
                               "count task steps", low=1, high=1000)
    terminal_value: bool = param(False, "learn a critic (and actor) on real data plus branched model rollouts "
                                 "and use it as the planner's terminal value, the actor's plans seeding the "
                                 "population (learning/value.py; settings in the value learner's section)")
    value_learner: str = param("sac_mbpo", "registered value learner used with terminal_value "
                               "(mbrl_ros.learning.value.VALUE_LEARNERS)")

    def action_period(self, control_period: float) -> float:
        """Seconds between two planned actions: the task's ``control_period`` times ``action_repeat``
        (over ROS the period of states and commands, see ``sim_bridge``)."""
        return control_period * self.action_repeat


@dataclasses.dataclass
class EpisodeRecord:
    """One row of the learning curve."""

    episode: int
    kind: str  # "random" or "mpc"
    env_steps: int  # cumulative, this episode included
    episode_return: float
    plan_ms_median: float
    plan_ms_p99: float
    deadline_misses: int
    train_seconds: float
    train_epochs: int
    holdout_mse: float
    episode_seconds: float
    env_return: float = float("nan")  # the env's own reward (info["env_reward"], else the step return)
    value_seconds: float = 0.0  # critic/actor training after this episode
    start_obs: str = ""  # the episode's first observation (space-separated), for start-state reports


class TransitionBuffer:
    """Growable arrays of ``(obs, action, next_obs)`` transitions."""

    def __init__(self, obs_dim: int, act_dim: int, capacity: int = 1024):
        self._obs = np.empty((capacity, obs_dim))
        self._act = np.empty((capacity, act_dim))
        self._next = np.empty((capacity, obs_dim))
        self.size = 0

    def add(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> None:
        if self.size == self._obs.shape[0]:
            self._obs, self._act, self._next = (np.concatenate([a, np.empty_like(a)])
                                                for a in (self._obs, self._act, self._next))
        self._obs[self.size], self._act[self.size], self._next[self.size] = obs, action, next_obs
        self.size += 1

    def extend(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> None:
        """Append ``(N, O)``, ``(N, A)``, ``(N, O)`` transitions at once (e.g. from an archive)."""
        n = len(obs)
        while self.size + n > self._obs.shape[0]:
            self._obs, self._act, self._next = (np.concatenate([a, np.empty_like(a)])
                                                for a in (self._obs, self._act, self._next))
        end = self.size + n
        self._obs[self.size:end], self._act[self.size:end], self._next[self.size:end] = obs, action, next_obs
        self.size = end

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of the stored ``(obs (N, O), action (N, A), next_obs (N, O))``."""
        n = self.size
        return self._obs[:n].copy(), self._act[:n].copy(), self._next[:n].copy()


@dataclasses.dataclass
class ResumeState:
    """Where an interrupted run stopped (:mod:`mbrl_ros.learning.run_directory` reads it from a run
    directory): :func:`run_learning` continues with episode ``episodes`` on this data and model."""

    episodes: int  # episodes done: the next one is numbered this
    env_steps: int  # their environment steps
    obs: np.ndarray  # (N, O) transitions so far
    action: np.ndarray  # (N, A)
    next_obs: np.ndarray  # (N, O)
    model: Any = None  # the run's newest model (an EnsembleDynamics), None before its first training
    payload: bytes | None = None  # its saved bytes (they carry the critic of a terminal_value run)
    trained_episodes: int = 0  # the episodes the model was trained on
    carried: bool = False  # the run started from a carried-over model (initial_model)
    last_record: EpisodeRecord | None = None  # the record of episode ``episodes - 1``

    def missed_retrain(self, schedule: RetrainSchedule) -> bool:
        """Whether the schedule retrains after the last episode done but the run did not (it was the
        last of a smaller budget): that retrain comes first, as in an uninterrupted run."""
        return (self.last_record is not None and self.trained_episodes < self.episodes
                and schedule.after_episode(self.episodes, self.obs.shape[0]))


@dataclasses.dataclass
class LearningRun:
    """Everything a learning run produced."""

    task: Task
    model: Any
    planner: Any
    records: list[EpisodeRecord]
    data: TransitionBuffer
    values: Any = None  # the value learner (critic + actor) with learning.terminal_value, else None


class RepeatedActionModel(RolloutModel):
    """A model of single task steps (the oracle) made to predict held actions: each of the ``(N, H, A)``
    actions is applied ``repeat`` times and every ``repeat``-th observation is kept."""

    def __init__(self, model, repeat: int):
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        self.model, self.repeat = model, int(repeat)
        self.num_particles = getattr(model, "num_particles", 1)

    def rollout(self, obs: torch.Tensor, actions: torch.Tensor, generator: torch.Generator | None = None):
        held = torch.repeat_interleave(actions, self.repeat, dim=1)
        return self.model.rollout(obs, held, generator=generator)[:, :, self.repeat - 1::self.repeat]


def _percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q) * 1e3) if values else float("nan")


def seed_action(rng: np.random.Generator, spec, std: float) -> np.ndarray:
    """One exploration action of a seed episode ``(A,)``: uniform within the bounds (``std`` 0), else
    the task's nominal action plus Gaussian noise of ``std`` half action ranges, clipped to the bounds."""
    low, high = np.asarray(spec.action_low, dtype=np.float64), np.asarray(spec.action_high, dtype=np.float64)
    if std > 0:
        return np.clip(spec.nominal() + std * (high - low) / 2 * rng.standard_normal(low.size), low, high)
    return rng.uniform(low, high)


@dataclasses.dataclass
class EpisodeOutcome:
    """What one episode returned: the planning reward's sum and the env's own.

    An episode that terminated early adds ``task.spec.termination_charge(steps)`` (the crash
    charge, in the task's reward) to ``planning_return``, and to ``env_return`` when that is the
    step returns' sum too (an env's own ``info["env_reward"]`` keeps its own scale, uncharged).
    """

    planning_return: float  # sum of the step returns (the reward planners optimize) + the crash charge
    env_return: float  # sum of info["env_reward"] where the task reports it, else = planning_return
    steps: int  # task steps (action repeats included)
    start_obs: np.ndarray


def run_episode_outcome(task: Task, seed: int, act: Callable[[np.ndarray], np.ndarray],
                        on_step: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None, *,
                        action_repeat: int = 1) -> EpisodeOutcome:
    """Run one episode with policy ``act``, each action held for ``action_repeat`` task steps.

    ``on_step(obs, action, next_obs)`` gets each held transition (``next_obs`` after the
    repeats); a hold cut short by truncation is not reported (its duration differs), one cut
    short by termination is.
    """
    if action_repeat < 1:
        raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
    obs, _ = task.reset(seed=seed)
    start = obs.copy()
    total = env_total = 0.0
    steps = 0
    own_env_reward = False
    while True:
        action = task.clip_action(act(obs))
        first = obs
        terminated = truncated = False
        held = 0
        while held < action_repeat and not (terminated or truncated):
            obs, reward, terminated, truncated, info = task.step(action)
            total += reward
            if isinstance(info, Mapping) and "env_reward" in info:
                env_total += float(info["env_reward"])
                own_env_reward = True
            else:
                env_total += reward
            held += 1
        steps += held
        if on_step is not None and (held == action_repeat or terminated):
            on_step(first, action, obs)
        if terminated or truncated:
            if terminated:  # the steps left count the task's crash charge (TaskSpec.termination_reward)
                charge = task.spec.termination_charge(steps)
                total += charge
                env_total += 0.0 if own_env_reward else charge  # an env's own reward has its own scale
            return EpisodeOutcome(float(total), float(env_total), steps, start)


def run_episode(task: Task, seed: int, act: Callable[[np.ndarray], np.ndarray],
                on_step: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None, *,
                action_repeat: int = 1) -> float:
    """Run one episode with policy ``act``; returns the episode return (the step returns' sum)."""
    return run_episode_outcome(task, seed, act, on_step, action_repeat=action_repeat).planning_return


def _resume_values(values, resume: ResumeState, task: Task, device: str) -> int:
    """Load the critic saved with a resumed run's model into ``values``; the transitions it was
    trained on (0 when the run saved none: the critic starts over, as the warning says).

    Raises:
        ValueError: the saved critic is refused (another task's sizes, NaN, undecodable).
    """
    from mbrl_ros.learning.model_payload import ModelRejectedError, restore_value

    restored = False
    if resume.payload is not None and resume.model is not None:
        try:
            restored = restore_value(values, resume.payload, getattr(resume.model, "ensemble", resume.model), task,
                                     device=device)
        except ModelRejectedError as exc:
            raise ValueError(f"cannot resume the critic: {exc}") from None
    if not restored:
        warnings.warn("the resumed run saved no critic with its model; learning.terminal_value starts a new one",
                      RuntimeWarning, stacklevel=3)
        return 0
    return int(resume.obs.shape[0]) if values.trained else 0


def run_learning(task_name: str, *, planner: str = "icem", model: str = "pets_ensemble", seed: int = 0,
                 learning: Mapping | LearningConfig | None = None, task_config: Mapping | None = None,
                 planner_config: Mapping | None = None, model_config: Mapping | None = None,
                 value_config: Mapping | None = None,
                 on_episode: Callable[[EpisodeRecord], None] | None = None,
                 on_step: Callable[[], None] | None = None,
                 on_transition: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
                 on_plan: Callable[[np.ndarray, np.ndarray, Any], None] | None = None,
                 initial_model: Any = None, task: Task | None = None, resume: ResumeState | None = None,
                 on_checkpoint: Callable[[EpisodeRecord, Any, TransitionBuffer, Any], None] | None = None
                 ) -> LearningRun:
    """Run the PETS loop on a registered task and return the curve, model and data.

    Args:
        task_name: registered task.
        planner: registered planner name.
        model: registered model name (``oracle`` for the true-physics baseline).
        seed: seeds model init, planner noise, random actions and episode starts.
        learning: :class:`LearningConfig` (or a mapping of its fields).
        task_config, planner_config, model_config: component parameters.
        value_config: parameters of the value learner (``learning.terminal_value``).
        on_episode: called with each finished :class:`EpisodeRecord`.
        on_step: called after every environment step (progress bars).
        on_transition: called with ``(obs (O,), action (A,), next_obs (O,))`` after every
            planned action (held ``action_repeat`` task steps; per-step metrics such as a tracking error).
        on_plan: called with ``(obs (O,), plan (H, A), model)`` after every MPC plan (videos draw
            the model's prediction of the plan).
        initial_model: a carried-over model (a ``model.npz`` path, or an ``EnsembleDynamics``)
            to plan with from episode 0 and fine-tune after every episode (no seed episodes;
            the rule of :mod:`mbrl_ros.learning.initial_model`); None: learn from scratch.
        task: run on this task object (e.g. a perturbed stand-in) instead of building
            ``task_name`` from ``task_config``.
        resume: continue an interrupted run: its data, its model and its episode numbering (episode
            seeds, seed episodes and retrains as in an uninterrupted run) up to ``learning.episodes``.
        on_checkpoint: called after each episode (after its retrain) with ``(record, model, data)``,
            e.g. to save the run directory so that a kill loses at most the episode in progress; on
            resume the retrain that the last episode done missed (:meth:`ResumeState.missed_retrain`)
            comes first and is reported as that episode's record again, its training filled in.
    """
    cfg = learning if isinstance(learning, LearningConfig) else from_dict(LearningConfig, learning or {})
    torch.set_num_threads(cfg.threads)
    task = task if task is not None else make_task(task_name, task_config or {})
    spec = task.spec
    PLANNERS.get(planner)  # fail fast on a typo, before any episode runs
    if resume is not None and resume.model is not None:
        initial_model = resume.model
    carried = initial_model is not None and (resume is None or resume.carried)
    if initial_model is not None and not isinstance(initial_model, LearnedModel):
        from mbrl_ros.learning.initial_model import load_initial_model

        initial_model = load_initial_model(initial_model, spec, device=cfg.device)
    base = initial_model if initial_model is not None else MODELS.get(model)(spec, model_config or {}, task=task, device=cfg.device,
                                                          seed=seed)
    dyn = for_planning(base, cfg.planning_backend, device=cfg.device, threads=cfg.threads,
                       precision=cfg.planning_precision)
    learned = isinstance(dyn, LearnedModel)
    seed_episodes = 0 if carried else cfg.seed_episodes
    if not learned and cfg.action_repeat > 1:
        dyn = RepeatedActionModel(dyn, cfg.action_repeat)  # the oracle steps the task once per action
    if learned and not carried and cfg.seed_episodes < 1:
        raise ValueError(f"model {model!r} must be trained before planning: set learning.seed_episodes >= 1")
    gen = torch.Generator(device=cfg.device).manual_seed(seed)
    objective = TrajectoryObjective(dyn, task.reward, generator=gen, termination_fn=task.termination_fn,
                                    termination_reward=spec.termination_reward)
    mpc = make_planner(planner, planner_config, action_low=spec.action_low, action_high=spec.action_high,
                       horizon=cfg.horizon, objective=objective, device=cfg.device, seed=seed,
                       nominal_action=spec.nominal_action)
    values = value_training = None
    if cfg.terminal_value:
        from mbrl_ros.learning.value import ValueTraining, plan_with_values, value_learner_for

        values = value_learner_for(task, cfg, value_config, seed=seed)
        plan_with_values(objective, mpc, values, dyn, cfg.horizon)
    data = TransitionBuffer(spec.obs_dim, spec.act_dim)
    first_episode, env_steps = (resume.episodes, resume.env_steps) if resume is not None else (0, 0)
    if resume is not None:
        data.extend(resume.obs, resume.action, resume.next_obs)
    rng = np.random.default_rng(seed)
    schedule = RetrainSchedule(episodes=cfg.episodes, seed_episodes=cfg.seed_episodes, carried=carried)
    if values is not None:
        value_training = ValueTraining(values, schedule)
        if resume is not None:  # the critic saved with the run's model, if there is one
            value_training.trained_on = _resume_values(values, resume, task, cfg.device)
    records: list[EpisodeRecord] = []
    low, high = np.asarray(spec.action_low), np.asarray(spec.action_high)

    def random_action(_obs):
        return seed_action(rng, spec, cfg.seed_action_std)

    def store(obs, action, next_obs):
        data.add(obs, action, next_obs)
        if on_transition is not None:
            on_transition(obs, action, next_obs)
        if on_step is not None:
            on_step()

    def retrain(episode: int) -> tuple[float, int, float]:
        """Fit on all data after ``episode``: seconds, epochs, the elites' holdout MSE."""
        report = dyn.fit(*data.arrays(), seed=seed + episode, max_epochs=cfg.max_train_epochs or None,
                         **({"refit_normalizers": False} if carried else {}))
        return report.seconds, report.epochs, float(np.mean([report.holdout_mse[i] for i in report.elites]))

    if resume is not None and learned and resume.missed_retrain(schedule):
        train_s, epochs, mse = retrain(first_episode - 1)
        value_s = 0.0
        if value_training is not None:  # the critic's update after that retrain, as uninterrupted
            report = value_training.after_episode(first_episode, *data.arrays(), model=dyn)
            value_s = report.seconds if report is not None else 0.0
        caught_up = dataclasses.replace(resume.last_record, train_seconds=train_s, train_epochs=epochs,
                                        holdout_mse=mse, value_seconds=value_s)
        if on_checkpoint is not None:
            on_checkpoint(caught_up, dyn, data, values)
    for episode in range(first_episode, cfg.episodes):
        start = time.perf_counter()
        episode_seed = seed * 100003 + episode
        plan_times: list[float] = []
        misses = 0
        random_episode = learned and episode < seed_episodes
        if random_episode:
            outcome = run_episode_outcome(task, episode_seed, random_action, store,
                                          action_repeat=cfg.action_repeat)
        else:
            mpc.reset()

            def act(obs):
                nonlocal misses
                deadline = time.perf_counter() + cfg.plan_deadline if cfg.plan_deadline > 0 else None
                result = mpc.plan(obs, deadline)
                plan_times.append(result.seconds)
                misses += int(result.deadline_hit)
                if on_plan is not None:
                    on_plan(obs, result.actions.cpu().numpy(), dyn)
                mpc.shift()
                return result.actions[0].cpu().numpy()

            outcome = run_episode_outcome(task, episode_seed, act, store, action_repeat=cfg.action_repeat)
        env_steps += outcome.steps
        train_s, epochs, mse, value_s = 0.0, 0, float("nan"), 0.0
        if learned and schedule.after_episode(episode + 1, data.size):
            train_s, epochs, mse = retrain(episode)
        if value_training is not None:
            report = value_training.after_episode(episode + 1, *data.arrays(), model=dyn)
            value_s = report.seconds if report is not None else 0.0
        record = EpisodeRecord(
            episode=episode, kind="random" if random_episode else "mpc", env_steps=env_steps,
            episode_return=outcome.planning_return, plan_ms_median=_percentile_ms(plan_times, 50),
            plan_ms_p99=_percentile_ms(plan_times, 99), deadline_misses=misses, train_seconds=train_s,
            train_epochs=epochs, holdout_mse=mse, episode_seconds=time.perf_counter() - start,
            env_return=outcome.env_return, value_seconds=value_s,
            start_obs=" ".join(f"{v:.6g}" for v in outcome.start_obs))
        records.append(record)
        if on_checkpoint is not None:
            on_checkpoint(record, dyn, data, values)
        if on_episode is not None:
            on_episode(record)
    return LearningRun(task=task, model=dyn, planner=mpc, records=records, data=data, values=values)
