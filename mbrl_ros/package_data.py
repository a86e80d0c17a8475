"""Locate the package's share directory (MJCF in sim/, YAML in config/, launch/).

Works for a source checkout / ``pip install -e``, a ``pip install`` (data_files
under ``<prefix>/share/mbrl_ros``) and a colcon install (found through
``AMENT_PREFIX_PATH`` or ament_index_python when ROS is sourced).
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

PACKAGE = "mbrl_ros"


class PackageDataNotFoundError(FileNotFoundError):
    """The share directory or a file inside it is missing."""


def _candidates() -> list[Path]:
    found = []
    source_root = Path(__file__).resolve().parent.parent
    if (source_root / "package.xml").is_file() and (source_root / "sim").is_dir():
        found.append(source_root)
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            found.append(Path(prefix) / "share" / PACKAGE)
    found.append(Path(sys.prefix) / "share" / PACKAGE)
    # A colcon install lays the package out as <prefix>/lib/pythonX.Y/site-packages/mbrl_ros.
    for parent in Path(__file__).resolve().parents[1:5]:
        found.append(parent / "share" / PACKAGE)
    return found


@lru_cache(maxsize=1)
def share_dir() -> Path:
    """The directory holding ``sim/``, ``config/`` and ``launch/``."""
    override = os.environ.get("MBRL_ROS_SHARE")
    if override:
        return Path(override)
    for candidate in _candidates():
        if (candidate / "sim").is_dir():
            return candidate
    raise PackageDataNotFoundError(
        "cannot find the mbrl_ros share directory (sim/, config/); looked in "
        + ", ".join(str(c) for c in _candidates())
        + ". Reinstall the package or set MBRL_ROS_SHARE."
    )


def share_path(*parts: str) -> Path:
    """Path of a file under the share directory; raises if it does not exist."""
    path = share_dir().joinpath(*parts)
    if not path.exists():
        raise PackageDataNotFoundError(f"{path} does not exist in the mbrl_ros share directory")
    return path
