"""Learning-curve outputs shared by `mbrl-ros train` and the sim_bridge node: CSV + PNG."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping, Sequence

from mbrl_ros.atomic_file import atomic_writer


def plot_learning_curve(rows: Sequence[Mapping], path: Path, title: str) -> Path:
    """Episode return vs environment steps; rows need ``env_steps``, ``episode_return``, ``kind``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    steps = [r["env_steps"] for r in rows]
    returns = [r["episode_return"] for r in rows]
    colors = ["tab:gray" if r["kind"] == "random" else "tab:blue" for r in rows]
    ax.plot(steps, returns, "-", color="tab:blue", alpha=0.5)
    ax.scatter(steps, returns, c=colors, zorder=3, label="episode return (gray: random actions)")
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
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "progress.csv"
    with atomic_writer(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return csv_path, plot_learning_curve(rows, out / "learning_curve.png", title)
