"""Crash-safe file writes: a reader (or a restart after kill -9 or a power cut) sees the old file
or the new one, never a torn mix.

Every file the project persists (models, ONNX exports, transitions, CSV, JSON summaries) goes
through :func:`atomic_write` or :func:`atomic_writer`: write a temporary file in the same
folder, flush and ``fsync`` it, ``os.replace`` it over the target (atomic on POSIX within one
file system) and ``fsync`` the folder so the rename itself survives a power cut.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None,
                  newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on a clean exit of the block it replaces ``path``.

    An exception inside the block deletes the temporary file and leaves ``path`` as it was.

    Args:
        path: the target file; its folder must exist.
        mode: ``"wb"`` or ``"w"`` (text; ``encoding`` defaults to UTF-8).
        encoding, newline: as for :func:`open` (text mode only).
    Raises:
        ValueError: ``mode`` is neither ``"wb"`` nor ``"w"``.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_writer writes whole files: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        text = mode == "w"
        with os.fdopen(fd, mode, encoding=(encoding or "utf-8") if text else None,
                       newline=newline if text else None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_folder(path.parent)


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically; returns ``path`` as a Path."""
    with atomic_writer(path, "w" if isinstance(data, str) else "wb") as handle:
        handle.write(data)
    return Path(path)


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk. Some file systems refuse
    # to open or fsync a folder (EINVAL/EACCES); the file itself is already safe then.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        return
    finally:
        os.close(fd)
