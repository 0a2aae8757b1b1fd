"""The report's training curves: loss per iteration, mean and band over seeds, per method.

Every trained run logs its loss terms in ``<run>/train/train_log.csv`` (``step`` and ``loss``
columns, :data:`bench.train.loop.LOG_NAME`); methods without iterations (the random forest,
scored predictions) have none and are left out.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.report.plots import finish_plot
from bench.results import ResultsStore

log = logging.getLogger(__name__)

#: bench.train.loop.LOG_NAME under the run's train/ folder (not imported: it would load torch)
TRAIN_LOG = Path("train") / "train_log.csv"


def training_losses(store: ResultsStore, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Long table ``method, profile, seed, run_id, step, loss`` of the runs behind ``rows``
    (each run once, whatever its post-processors). Unreadable logs are skipped with a warning."""
    frames = []
    seen = set()
    for r in rows:
        if r["run_id"] in seen:
            continue
        seen.add(r["run_id"])
        try:
            path = store.run_dir(r["run_id"]) / TRAIN_LOG
        except ValueError:  # a row from before run ids were checked: no run directory
            continue
        if not path.is_file():
            continue
        try:
            f = pd.read_csv(path, usecols=["step", "loss"])
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            log.warning("training curve of run %s left out: %s unreadable (%s)", r["run_id"],
                        path, exc)
            continue
        f = f.apply(pd.to_numeric, errors="coerce").dropna()
        if f.empty:
            continue
        f.insert(0, "run_id", r["run_id"])
        f.insert(0, "seed", r.get("seed"))
        f.insert(0, "profile", r.get("profile"))
        f.insert(0, "method", r["method"])
        frames.append(f)
    if not frames:
        return pd.DataFrame(columns=["method", "profile", "seed", "run_id", "step", "loss"])
    return pd.concat(frames, ignore_index=True)


def loss_bands(losses: pd.DataFrame) -> pd.DataFrame:
    """Per (method, profile, step): the mean loss over seeds, its min and max and the number
    of seeds that reached that step."""
    grouped = losses.groupby(["method", "profile", "step"], sort=True)["loss"]
    return grouped.agg(mean="mean", low="min", high="max", n_seeds="count").reset_index()


def training_curves_plot(store: ResultsStore, rows: list[dict[str, Any]], path: Path,
                         dataset: str) -> Path | None:
    """PNG of the loss per iteration of each method (mean over seeds, shaded min-max over
    seeds); None when no run of ``rows`` logged a training loss."""
    import matplotlib.pyplot as plt

    losses = training_losses(store, rows)
    if losses.empty:
        return None
    bands = loss_bands(losses)
    palette = plt.get_cmap("tab10").colors
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    methods = sorted(bands["method"].unique())
    for (method, profile), b in bands.groupby(["method", "profile"], sort=True):
        colour = palette[methods.index(method) % len(palette)]
        seeds = int(b["n_seeds"].max())
        label = f"{method} ({profile}, {seeds} seed{'s' if seeds > 1 else ''})"
        ax.plot(b["step"], b["mean"], color=colour, label=label, linewidth=1.4)
        if seeds > 1:
            ax.fill_between(b["step"], b["low"], b["high"], color=colour, alpha=0.2,
                            linewidth=0)
    values = bands[["low", "high"]].to_numpy(dtype=float)
    if np.all(values > 0) and values.max() / values.min() > 20:
        ax.set_yscale("log")  # losses of different methods can differ by orders of magnitude
    return finish_plot(fig, ax, path, "iteration", "training loss",
                       f"{dataset}: training loss (mean over seeds, band: min to max)")
