"""Learning-curve outputs shared by `mbrl-ros train` and the sim_bridge node: CSV + PNG."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping, Sequence

from mbrl_ros.atomic_file import atomic_writer


def plot_learning_curve(rows: Sequence[Mapping], path: Path, title: str) -> Path:
    """Episode return vs environment steps; rows need ``env_steps``, ``episode_return``, ``kind``
    (and, when it differs from ``episode_return``, ``env_return`` is drawn too)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    steps = [r["env_steps"] for r in rows]
    returns = [r["episode_return"] for r in rows]
    colors = ["tab:gray" if r["kind"] == "random" else "tab:blue" for r in rows]
    ax.plot(steps, returns, "-", color="tab:blue", alpha=0.5)
    ax.scatter(steps, returns, c=colors, zorder=3, label="episode return (gray: random actions)")
    env = [float(r.get("env_return", "nan")) for r in rows]
    if any(e == e for e in env) and any(abs(e - float(p)) > 1e-9 for e, p in zip(env, returns) if e == e):
        # The env's own reward differs from the planning reward (a user's env): show both.
        ax.plot(steps, env, "s--", color="tab:orange", label="env's own return")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    with atomic_writer(path) as handle:
        fig.savefig(handle, format="png")
    plt.close(fig)
    return path


def write_learning_curve(rows: Sequence[Mapping], out: str | Path, title: str) -> tuple[Path, Path]:
    """Write ``progress.csv`` (one row per episode, every key a column) and ``learning_curve.png``, each atomically."""
    if not rows:
        raise ValueError("write_learning_curve: no episodes to write")
    csv_path = write_progress_csv(rows, out)
    return csv_path, plot_learning_curve(rows, Path(out) / "learning_curve.png", title)


def write_progress_csv(rows: Sequence[Mapping], out: str | Path) -> Path:
    """Write ``progress.csv`` alone (atomically): one row per episode, the columns of the union of
    the rows' keys in first-seen order (a row without one leaves it empty)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    csv_path = out / "progress.csv"
    with atomic_writer(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return csv_path


def write_params_yaml(out: str | Path, values: Mapping) -> Path:
    """``params.yaml``: the resolved run parameters as a ROS 2 params file (``/**``), reusable with
    ``--params-file`` and read by ``mbrl-ros export-policy``."""
    import yaml

    path = Path(out) / "params.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    from mbrl_ros.atomic_file import atomic_write

    return atomic_write(path, yaml.safe_dump({"/**": {"ros__parameters": dict(values)}}, sort_keys=False))


def write_summary(out: str | Path, *, task: str, planner: str, model: str, seed: int, rows: Sequence[Mapping],
                  csv: Path, curve: Path, model_file: Path | None, param_sources: Sequence[str],
                  extra: Mapping | None = None) -> Path:
    """``summary.json`` of a run (the same keys for ``mbrl-ros train`` and a launch)."""
    import json

    returns = [float(r["episode_return"]) for r in rows]
    summary = {
        "task": task, "planner": planner, "model": model, "seed": seed,
        "episodes": len(returns), "env_steps": int(rows[-1]["env_steps"]) if rows else 0, "returns": returns,
        "best_return": max(returns) if returns else None, "final_return": returns[-1] if returns else None,
        "csv": str(csv), "curve": str(curve), "model_file": str(model_file) if model_file else None,
        "param_sources": list(param_sources), **dict(extra or {}),
    }
    from mbrl_ros.atomic_file import atomic_write

    return atomic_write(Path(out) / "summary.json", json.dumps(summary, indent=2))
