"""Shared training plumbing: seeding, devices and AMP, atomic checkpoints with resume, CSV logs.

A run directory holds ``checkpoint.pt`` (the latest state, replaced atomically every N steps),
``train_log.csv`` (one row per logged step) and whatever the method adds. An interrupted run
(even ``kill -9``) restarts from ``checkpoint.pt`` and loses at most N steps; rows logged after
that checkpoint are dropped from the CSV so the log matches the resumed state.
"""

from __future__ import annotations

import csv
import pickle
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.atomic import atomic_open
from bench.device import autocast, resolve_device

__all__ = [
    "CHECKPOINT_KEYS",
    "CHECKPOINT_NAME",
    "LOG_NAME",
    "CsvLog",
    "autocast",
    "load_checkpoint",
    "make_adam",
    "recalibrate_batchnorm",
    "resolve_device",
    "rng_state",
    "run_training",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
]

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.csv"


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy's legacy global state and torch; return the run's numpy Generator."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """Everything random in a run, for a checkpoint."""
    state: dict[str, Any] = {
        "numpy_generator": rng.bit_generator.state,
        "python": random.getstate(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Restore :func:`rng_state` (the Generator is updated in place)."""
    rng.bit_generator.state = state["numpy_generator"]
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def make_adam(groups: list[dict[str, Any]], recipe: dict[str, Any]) -> torch.optim.Adam:
    """The official optimiser: Adam (coupled L2 weight decay) with the recipe's settings."""
    return torch.optim.Adam(
        groups,
        lr=float(recipe["lr"]),
        betas=(float(recipe["beta1"]), float(recipe["beta2"])),
        eps=float(recipe["eps"]),
        weight_decay=float(recipe["weight_decay"]),
        amsgrad=bool(recipe["amsgrad"]),
    )


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` with ``torch.save`` to a temporary file, then rename it over ``path``.

    The rename is atomic on POSIX, so a crash leaves either the old or the new checkpoint.
    """
    with atomic_open(path) as f:
        torch.save(state, f)


#: what a training checkpoint holds (run_training writes exactly these keys)
CHECKPOINT_KEYS = ("step", "modules", "optimizer", "rng")


def load_checkpoint(path: Path, expected: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """The state saved by :func:`save_checkpoint`, or None when ``path`` does not exist.

    Read with ``weights_only=True``: a checkpoint may come from a results folder someone else
    made, and only tensors and plain Python values (the RNG states are such values) can be
    read back, so no pickled code ever runs. ``ValueError`` naming the file for anything
    else, and for a dict that lacks one of the ``expected`` keys.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # what weights_only raises for any other object
        raise ValueError(
            f"{path}: refused, it holds objects other than tensors and plain values, and "
            "loading them could run code. Delete it to train that run from the start"
        ) from None
    except Exception as exc:  # torch raises many types for a file that is no checkpoint
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{path}: not a checkpoint this harness can read ({first}). Delete it to train "
            "that run from the start"
        ) from None
    missing = [k for k in expected if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{path}: expected a checkpoint dict with the keys "
                         f"{', '.join(expected)}; it lacks {', '.join(missing)}")
    return state


class CsvLog:
    """Append-only CSV training log with a fixed header.

    On resume, rows with ``step`` greater than the restored step are dropped first.
    """

    def __init__(self, path: Path, columns: list[str], resume_step: int | None = None):
        self.path = Path(path)
        self.columns = ["step", *[c for c in columns if c != "step"]]
        rows: list[dict[str, str]] = []
        if resume_step is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, self.columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore").writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )

    def read(self) -> list[dict[str, str]]:
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Re-estimate BatchNorm running statistics as exact averages over ``batches``.

    Needed for nets trained with a tiny BN momentum (the teacher's 0.001, docs/cad.md
    section 3), whose running stats are unusable after a short run. Returns the number of BN
    layers reset; the net is left in eval mode.
    """
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        net.eval()
        return 0
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    net.train()
    for x in batches:
        net(x)
    for m, mom in zip(bns, momenta, strict=True):
        m.momentum = mom
    net.eval()
    return len(bns)


def run_training(
    *,
    run_dir: Path,
    modules: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    step_fn: Callable[[int], dict[str, float]],
    columns: list[str],
    iters: int,
    checkpoint_every: int,
    log_every: int = 1,
    stop_after: int | None = None,
    desc: str = "train",
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """The resumable training loop shared by every method.

    ``step_fn(it)`` runs iteration ``it`` (0-based) and returns its loss terms. After ``step``
    completed iterations the state (modules, optimizer, RNGs, step) is checkpointed atomically
    when ``step % checkpoint_every == 0`` and at ``iters``. If ``run_dir`` already holds a
    checkpoint, the loop resumes from it (a finished run does nothing more).

    Parameters
    ----------
    stop_after
        Run at most this many iterations in this call and return without a final checkpoint,
        exactly as if the process had been killed then (progress since the last checkpoint is
        lost and redone on resume). For tests and time-boxed sessions.

    Returns
    -------
    dict
        ``start_step`` (resumed from), ``step`` (reached), ``finished``, ``train_seconds``
        (this call) and ``last`` (the last step's terms).
    """
    if iters < 0 or checkpoint_every < 1 or log_every < 1:
        raise ValueError(
            f"iters ({iters}) must be >= 0 and checkpoint_every ({checkpoint_every}), "
            f"log_every ({log_every}) >= 1"
        )
    run_dir = Path(run_dir)
    ckpt_path = run_dir / CHECKPOINT_NAME
    state = load_checkpoint(ckpt_path, CHECKPOINT_KEYS)
    start = 0
    if state is not None:
        if not isinstance(state["modules"], dict) or not isinstance(state["rng"], dict):
            raise ValueError(f"checkpoint {ckpt_path}: 'modules' and 'rng' must be dicts")
        missing = sorted(set(modules) - set(state["modules"]))
        if missing:
            raise ValueError(f"checkpoint {ckpt_path} lacks the modules {missing}")
        try:
            for name, module in modules.items():
                module.load_state_dict(state["modules"][name])
            optimizer.load_state_dict(state["optimizer"])
            set_rng_state(rng, state["rng"])
            start = int(state["step"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"checkpoint {ckpt_path} does not fit this run's networks, "
                             f"optimiser or random state ({type(exc).__name__}: {exc})"
                             ) from None
    log = CsvLog(run_dir / LOG_NAME, [*columns, "seconds"], resume_step=start if state else None)
    end = iters if stop_after is None else min(iters, start + int(stop_after))

    def save(step: int) -> None:
        save_checkpoint(
            ckpt_path,
            {
                "step": step,
                "modules": {k: m.state_dict() for k, m in modules.items()},
                "optimizer": optimizer.state_dict(),
                "rng": rng_state(rng),
            },
        )

    t0 = time.perf_counter()
    terms: dict[str, float] = {}
    from bench import progress as shown

    # None: a bar on a terminal, log lines otherwise (bench.progress); False: nothing
    bar = shown.bar(range(start, end), initial=start, total=iters, desc=desc, unit="iter",
                    enabled=None if show_progress is None else bool(show_progress))
    for it in bar:
        terms = step_fn(it)
        step = it + 1
        if step % log_every == 0 or step == end:
            log.write({"step": step, **terms, "seconds": time.perf_counter() - t0})
            if "loss" in terms:
                bar.set_postfix_str(f"loss {float(terms['loss']):.4g}", refresh=False)
        if step % checkpoint_every == 0 or step == iters:
            save(step)
    return {
        "start_step": start,
        "step": max(start, end),
        "finished": end >= iters,
        "train_seconds": time.perf_counter() - t0,
        "last": terms,
    }
