"""What an online learner keeps on disk so that a crash (kill -9) loses at most its last moments.

A folder holds three files, each replaced atomically (:mod:`mbrl_ros.atomic_file`), so a crash
at any instant leaves the previous complete version:

* ``transitions.npz``: every transition so far (``obs (N, O)``, ``action (N, A)``,
  ``next_obs (N, O)``) and the episodes ended (``episodes``, a scalar); rewritten while new data
  come in, at most every ``persist_period`` (a caller's choice);
* ``model.npz``: the newest model (:meth:`EnsembleDynamics.to_bytes`);
* ``training.csv``: one row per retraining (version, transitions, epochs, seconds, holdout MSE).

:meth:`LearnerArchive.load_transitions` and :meth:`load_model_bytes` give a restarted learner
what the crashed one had, so it resumes instead of starting over.
"""
from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

from mbrl_ros.atomic_file import atomic_write, atomic_writer

TRANSITIONS_FILE = "transitions.npz"
MODEL_FILE = "model.npz"
TRAINING_CSV = "training.csv"


class ArchiveFormatError(ValueError):
    """A file in the archive folder is not what this module writes (e.g. from another task)."""


class LearnerArchive:
    """The files of one learner in ``folder`` (created at the first save if missing).

    Args:
        folder: where the files live.
        obs_dim, act_dim: the task's sizes; files of other sizes are refused.
    """

    def __init__(self, folder: str | Path, obs_dim: int, act_dim: int):
        self.folder = Path(folder)
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self._rows: list[dict] = self._read_rows()

    # -- transitions --------------------------------------------------------------------------
    def save_transitions(self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray, episodes: int) -> Path:
        """Replace ``transitions.npz`` with these ``(N, O)``, ``(N, A)``, ``(N, O)`` arrays."""
        buffer = io.BytesIO()
        np.savez(buffer, obs=obs, action=action, next_obs=next_obs, episodes=np.int64(episodes))
        self.folder.mkdir(parents=True, exist_ok=True)
        return atomic_write(self.folder / TRANSITIONS_FILE, buffer.getvalue())

    def load_transitions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
        """``(obs, action, next_obs, episodes)`` from ``transitions.npz``; None when there is none.

        Raises:
            ArchiveFormatError: the file is not a transitions archive of this task's sizes.
        """
        path = self.folder / TRANSITIONS_FILE
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                obs, action, next_obs = data["obs"], data["action"], data["next_obs"]
                episodes = int(data["episodes"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ArchiveFormatError(f"{path} is not a transitions archive ({exc}); move it away to start "
                                     "over") from None
        n = obs.shape[0]
        if obs.shape != (n, self.obs_dim) or action.shape != (n, self.act_dim) or next_obs.shape != obs.shape:
            raise ArchiveFormatError(f"{path} holds obs {obs.shape} / actions {action.shape}, this task has "
                                     f"{self.obs_dim} / {self.act_dim} per transition; use another data_dir")
        return obs, action, next_obs, episodes

    def clear(self) -> list[str]:
        """Start over: remove the three files (a run that does not resume must not merge with them);
        returns the names removed."""
        removed = []
        for name in (TRANSITIONS_FILE, MODEL_FILE, TRAINING_CSV):
            path = self.folder / name
            if path.is_file():
                path.unlink()
                removed.append(name)
        self._rows = []
        return removed

    # -- models and the training log ---------------------------------------------------------
    def save_model(self, data: bytes) -> Path:
        """Replace ``model.npz`` with a model's bytes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return atomic_write(self.folder / MODEL_FILE, data)

    def load_model_bytes(self) -> bytes | None:
        """The newest saved model's bytes, or None."""
        path = self.folder / MODEL_FILE
        return path.read_bytes() if path.is_file() else None

    def append_training_row(self, row: Mapping[str, float | int]) -> Path:
        """Add a row to ``training.csv`` (rewritten whole, atomically; the columns of the first row)."""
        self._rows.append(dict(row))
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_writer(self.folder / TRAINING_CSV, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(self._rows[0]), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self._rows)
        return self.folder / TRAINING_CSV

    @property
    def training_rows(self) -> list[dict]:
        """The rows of ``training.csv`` (as strings when read back from the file)."""
        return list(self._rows)

    def _read_rows(self) -> list[dict]:
        path = self.folder / TRAINING_CSV
        if not path.is_file():
            return []
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
