"""Resuming a run directory (``mbrl-ros train --resume``, ``sim.launch.yaml resume:=true``).

A run directory holds what ``mbrl-ros train --out DIR`` and a simulated launch both write:
``params.yaml``, ``progress.csv`` (one row per episode), ``learning_curve.png``, ``summary.json``,
``model.npz`` and the learner's archive (:mod:`mbrl_ros.learning.archive`: ``transitions.npz``
with the number of episodes ended, ``training.csv``). Every file is replaced atomically after
each episode, ``transitions.npz`` last: its episode count is the commit point, so after a kill at
any instant :func:`load_resume_point` finds a consistent state (``progress.csv`` may hold one row
more, which is dropped: that episode runs again; ``model.npz`` may be one training newer).

A resumed run continues the episode numbering (episode seeds, random seed episodes, the retrain
schedule are those of an uninterrupted run) up to the new ``learning.episodes``. The task and the
model must be those of the run (:func:`resume_differences`); the planner and the budget may change.
"""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mbrl_ros.config import ConfigError, flatten, load_ros_params
from mbrl_ros.learning.archive import MODEL_FILE, TRANSITIONS_FILE, ArchiveFormatError, LearnerArchive

PARAMS_FILE = "params.yaml"
PROGRESS_CSV = "progress.csv"
SUMMARY_FILE = "summary.json"
#: What the reporting side writes (train, sim_bridge); the learner's files are the archive's.
REPORT_FILES = (PARAMS_FILE, PROGRESS_CSV, "learning_curve.png", SUMMARY_FILE)
#: ``learning.*`` entries that change what a transition means: a resumed run must keep them.
FIXED_LEARNING_KEYS = ("action_repeat",)


class RunDirectoryError(ConfigError):
    """A run directory cannot be resumed (none there, another task or model, inconsistent files)."""


@dataclasses.dataclass
class ResumePoint:
    """What a run directory holds to continue from.

    Attributes:
        episodes: episodes done (the next one is numbered ``episodes``).
        rows: their ``progress.csv`` rows (numbers parsed), ``episodes`` of them.
        obs, action, next_obs: ``(N, O)``, ``(N, A)``, ``(N, O)`` transitions so far.
        model_bytes: ``model.npz``'s bytes, None before the first training.
        params: ``params.yaml``'s parameters (nested).
    """

    episodes: int
    rows: list[dict[str, Any]]
    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray
    model_bytes: bytes | None
    params: dict[str, Any]
    seed: int | None = None  # summary.json's, when there is one

    @property
    def env_steps(self) -> int:
        """Environment steps of the episodes done (cumulative ``env_steps`` of the last row)."""
        return int(self.rows[-1]["env_steps"]) if self.rows else 0


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def read_progress(out: str | Path) -> list[dict[str, Any]]:
    """``progress.csv``'s rows with numbers as numbers ([] when there is none)."""
    path = Path(out) / PROGRESS_CSV
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def has_run(out: str | Path) -> bool:
    """Whether ``out`` holds any file a run writes (a directory that ``--resume`` would continue)."""
    out = Path(out)
    return any((out / name).exists() for name in (PARAMS_FILE, PROGRESS_CSV, TRANSITIONS_FILE, MODEL_FILE))


def load_resume_point(out: str | Path, obs_dim: int, act_dim: int) -> ResumePoint:
    """Read what the run in ``out`` left (nothing is written).

    Raises:
        RunDirectoryError: no run there (no ``params.yaml`` or ``transitions.npz``), files of
            another task's sizes, or fewer ``progress.csv`` rows than episodes ended.
    """
    out = Path(out)
    missing = [name for name in (PARAMS_FILE, TRANSITIONS_FILE) if not (out / name).is_file()]
    if missing:
        raise RunDirectoryError(f"{out} has no run to resume (no {' or '.join(missing)}); run without "
                                "--resume / resume:=true to start one there")
    try:
        loaded = LearnerArchive(out, obs_dim, act_dim).load_transitions()
    except ArchiveFormatError as exc:
        raise RunDirectoryError(f"cannot resume {out}: {exc}") from None
    obs, action, next_obs, episodes = loaded
    rows = read_progress(out)
    if len(rows) < episodes:
        raise RunDirectoryError(f"cannot resume {out}: {TRANSITIONS_FILE} has {episodes} episode(s) ended, "
                                f"{PROGRESS_CSV} only {len(rows)} row(s)")
    model_path = out / MODEL_FILE
    return ResumePoint(episodes=episodes, rows=rows[:episodes], obs=obs, action=action, next_obs=next_obs,
                       model_bytes=model_path.read_bytes() if model_path.is_file() else None,
                       params=load_ros_params(out / PARAMS_FILE), seed=_summary_seed(out))


def _summary_seed(out: Path) -> int | None:
    import json

    try:
        seed = json.loads((out / SUMMARY_FILE).read_text()).get("seed")
    except (OSError, ValueError, AttributeError):
        return None
    return int(seed) if isinstance(seed, int) else None


def clear_reports(out: str | Path) -> list[str]:
    """Remove a previous run's report files from ``out`` (a new run replaces them; none may be left to
    be merged with its own by a later resume); returns the names removed."""
    removed = []
    for name in REPORT_FILES:
        path = Path(out) / name
        if path.is_file():
            path.unlink()
            removed.append(name)
    return removed


def _fixed_entries(values: Mapping[str, Any]) -> dict[str, Any]:
    from mbrl_ros.tasks import task_section

    task, model = values.get("task"), values.get("model")
    learning = values.get("learning") if isinstance(values.get("learning"), Mapping) else {}
    fixed: dict[str, Any] = {"task": task, "model": model}
    for section in {task_section(str(task)), str(model)}:
        part = values.get(section)
        if isinstance(part, Mapping):
            fixed.update(flatten(part, section + "."))
    fixed.update({f"learning.{k}": learning[k] for k in FIXED_LEARNING_KEYS if k in learning})
    return fixed


def resume_differences(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """The task/model entries (``task``, ``model``, their sections, ``learning.action_repeat``) that
    differ between a run's ``params.yaml`` and the parameters of its continuation, as
    ``"name: saved -> wanted"`` lines; the planner, its section and the budget may differ."""
    from mbrl_ros.tasks import task_section

    before, after = _fixed_entries(saved), _fixed_entries(wanted)
    # Another task (model) says it all: its section's entries are not listed one by one.
    skip = tuple(f"{section(str(values.get(name)))}."
                 for name, section in (("task", task_section), ("model", str)) if before[name] != after[name]
                 for values in (saved, wanted))
    missing = object()

    def shown(value: Any) -> str:
        return "(unset)" if value is missing else repr(value)

    return [f"{key}: {shown(before.get(key, missing))} -> {shown(after.get(key, missing))}"
            for key in sorted(set(before) | set(after))
            if before.get(key, missing) != after.get(key, missing) and not key.startswith(skip)]


def check_resumable(out: str | Path, saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    """Raise :class:`RunDirectoryError` listing the differing task/model entries, if any."""
    differences = resume_differences(saved, wanted)
    if differences:
        raise RunDirectoryError(f"cannot resume {out}: the task/model configuration differs from its "
                                f"{PARAMS_FILE} (" + "; ".join(differences) + "); only the planner and the "
                                "budget may change on resume: start a new run with another --out / output_dir")


def record_from_row(row: Mapping[str, Any]):
    """The :class:`~mbrl_ros.learning.loop.EpisodeRecord` of a ``progress.csv`` row (its extra columns,
    such as a launch's ``physics.*``, left out)."""
    from mbrl_ros.learning.loop import EpisodeRecord

    kinds = {"int": int, "float": float, "str": str}
    return EpisodeRecord(**{f.name: kinds[str(f.type)](row[f.name])
                            for f in dataclasses.fields(EpisodeRecord) if f.name in row})


def resume_state(point: ResumePoint, spec: Any, device: str = "cpu"):
    """The :class:`~mbrl_ros.learning.loop.ResumeState` of ``point`` (its model decoded and checked for
    ``spec``'s task) and the model's version (0: none yet).

    Raises:
        RunDirectoryError: its ``model.npz`` is refused (another task, malformed).
    """
    from mbrl_ros.learning.loop import ResumeState
    from mbrl_ros.learning.model_payload import ModelRejectedError, decode_model, model_version

    model = None
    if point.model_bytes is not None:
        try:
            model = decode_model(point.model_bytes, spec, device=device)
        except ModelRejectedError as exc:
            raise RunDirectoryError(f"cannot resume: its {MODEL_FILE} is refused ({exc.reason}): {exc}") from None
    meta = model.extra_metadata if model is not None else {}
    state = ResumeState(episodes=point.episodes, env_steps=point.env_steps, obs=point.obs, action=point.action,
                        next_obs=point.next_obs, model=model, payload=point.model_bytes, trained_episodes=int(meta.get("episodes", 0)),
                        carried=bool(meta.get("initial_model")),
                        last_record=record_from_row(point.rows[-1]) if point.rows else None)
    return state, max(model_version(model), 0) if model is not None else 0


class TrainRunWriter:
    """Writes ``mbrl-ros train``'s run directory after every episode (:meth:`checkpoint`, the
    ``on_checkpoint`` of :func:`~mbrl_ros.learning.loop.run_learning`).

    Args:
        out: the run directory.
        obs_dim, act_dim: the task's sizes.
        title: the learning curve's title.
        summary: ``write_summary``'s keyword arguments other than ``rows``, ``csv``, ``curve`` and
            ``model_file`` (task, planner, model, seed, param_sources).
        model_metadata: what every saved model carries besides version, episodes and transitions.
        previous: the rows of the episodes a resumed run already had.
        version: the version of the run's newest model so far (0: none).
    """

    def __init__(self, out: str | Path, obs_dim: int, act_dim: int, *, title: str, summary: Mapping[str, Any],
                 model_metadata: Mapping[str, Any], previous: Sequence[Mapping[str, Any]] = (), version: int = 0):
        self.out = Path(out)
        self.archive = LearnerArchive(self.out, obs_dim, act_dim)
        self.title, self.summary, self.model_metadata = title, dict(summary), dict(model_metadata)
        self.rows: list[dict[str, Any]] = [dict(r) for r in previous]
        self.version = int(version)
        self.model_file: Path | None = self.out / MODEL_FILE if (self.out / MODEL_FILE).is_file() else None

    def checkpoint(self, record: Any, model: Any, data: Any, values: Any = None) -> None:
        """Save the episode just finished: the model (with ``values``' critic and actor attached,
        for a ``learning.terminal_value`` run), the curve and summary, then the transitions (the
        commit point, see the module docstring)."""
        row = dataclasses.asdict(record)
        if self.rows and int(self.rows[-1]["episode"]) == record.episode:
            self.rows[-1] = {**self.rows[-1], **row}  # the retrain a resumed run caught up on
        else:
            self.rows.append(row)
        from mbrl_ros.models.base import LearnedModel  # here: this module loads without torch

        retrained = record.train_epochs > 0
        self.version += int(retrained)
        if ((retrained or self.model_file is None) and isinstance(model, LearnedModel)
                and getattr(getattr(model, "ensemble", model), "trained", False)):
            # The task travels with the weights: a carried-over model for another task is refused.
            # "episodes": those it was trained on (0: a carried-over model not refined yet).
            from mbrl_ros.atomic_file import atomic_write
            from mbrl_ros.learning.model_payload import with_values

            self.model_file = atomic_write(self.out / MODEL_FILE, with_values(model, {
                **self.model_metadata, "version": self.version, "episodes": len(self.rows) if retrained else 0,
                "transitions": data.size}, values))
        self.write_report()
        self.archive.save_transitions(*data.arrays(), episodes=len(self.rows))

    def write_report(self, extra: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
        """``progress.csv``, ``learning_curve.png`` and ``summary.json`` of the rows so far."""
        from mbrl_ros.learning.report import write_learning_curve, write_summary

        csv_path, png_path = write_learning_curve(self.rows, self.out, self.title)
        write_summary(self.out, **self.summary, rows=self.rows, csv=csv_path, curve=png_path,
                      model_file=self.model_file,
                      extra={"env_returns": [float(r["env_return"]) for r in self.rows], **dict(extra or {})})
        return csv_path, png_path
