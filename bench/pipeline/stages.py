"""The stages of a run that need the method: train, predict; and the columns every row of a
run shares. Each stage writes its result into the run directory, and finds it there on
``--resume`` (see :mod:`bench.pipeline`)."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bench.atomic import atomic_path
from bench.method import raw_fingerprint
from bench.pipeline.spec import RunSpec, TrainingStopped
from bench.provenance import sign_files, verify_file
from bench.registry import METHODS
from bench.results import write_json

__all__ = ["attach_log", "check_affinities", "predict", "row_base", "train"]

log = logging.getLogger(__name__)


def attach_log(path: Path) -> logging.Handler:
    """Copy every log record at INFO or above into ``path`` (the run's ``run.log``)."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


def train(method, dataset, spec: RunSpec, run_dir: Path) -> dict[str, Any]:
    """The training stage: fit ``method`` on the train split (validation for its own
    checks), save ``model.pt`` and ``train_summary.json``; returns the summary. Done once
    ``model.pt`` exists (it is loaded instead); with ``spec.checkpoint`` nothing is trained.

    Raises :class:`TrainingStopped` when the recipe stopped training early.
    """
    model_file = run_dir / "model.pt"
    summary_file = run_dir / "train_summary.json"
    if spec.checkpoint:  # already loaded by run(), before the run directory was made
        return {"train_seconds": 0.0, "checkpoint": spec.checkpoint}
    if model_file.exists() and summary_file.exists():
        why = verify_file(run_dir, "model.pt") or verify_file(run_dir, "train_summary.json")
        if why:  # a stage is reused only when the harness wrote its files (bench.provenance)
            log.warning("not reusing the training stage of %s: %s; training again",
                        run_dir.name, why)
            model_file.unlink()
            summary_file.unlink()
    if model_file.exists() and summary_file.exists():
        log.info("training already done: loading %s", model_file)
        method.load(model_file)
        try:
            summary = json.loads(summary_file.read_text())
        except ValueError as exc:
            raise ValueError(f"{summary_file}: not the JSON training summary this harness "
                             f"writes ({exc}); delete it and model.pt to train again") from None
        if not isinstance(summary, dict):
            raise ValueError(f"{summary_file}: expected a JSON object (the training summary)")
        return summary
    train = dataset.split("train").load()
    val = dataset.split("val").load()
    log.info("training %s on %s (%s voxels)", spec.method, train.name,
             "x".join(map(str, train.shape)))
    t0 = time.perf_counter()
    summary = dict(method.fit(train, val, run_dir=run_dir / "train", profile=spec.profile) or {})
    summary["train_seconds"] = time.perf_counter() - t0
    if summary.get("finished") is False:
        # an unfinished model is never predicted with nor recorded: model.pt marks a finished
        # training stage, so a --resume continues training instead of taking it for done
        raise TrainingStopped(int(summary.get("step", 0)), int(method.config.get("iters", 0)))
    method.save(model_file)  # atomic: the stage counts as done only once it exists
    write_json(summary_file, summary)
    # vouch for model.pt too, unless the run was not ours to begin with
    sign_files(run_dir, "model.pt", "train_summary.json")
    return summary


def predict(method, dataset, run_dir: Path) -> dict[str, Any]:
    """The prediction stage: validation and test affinities (``val``, ``test``) and the test
    inference throughput (``infer_voxels_per_s``), kept in ``predictions.h5`` (each split's
    ``affs`` with the ``raw_sha256`` of the raw volume it was predicted from)."""
    out_file = run_dir / "predictions.h5"
    why = verify_file(run_dir, out_file.name) if out_file.exists() else None
    if why:  # e.g. planted into an interrupted run: predicted again, never scored
        log.warning("not reusing %s: %s; predicting again", out_file, why)
        out_file.unlink()
    if out_file.exists():
        with h5py.File(out_file, "r") as f:
            return {
                "val": f["val/affs"][...],
                "test": f["test/affs"][...],
                "infer_voxels_per_s": float(f.attrs["infer_voxels_per_s"]),
            }
    result: dict[str, Any] = {}
    fingerprints: dict[str, str] = {}
    for split in ("val", "test"):
        raw = np.asarray(dataset.split(split).raw[...])
        fingerprints[split] = raw_fingerprint(raw)
        t0 = time.perf_counter()
        affs = method.predict(raw)
        seconds = time.perf_counter() - t0
        check_affinities(affs, raw.shape, method.name)
        result[split] = affs
        if split == "test":
            result["infer_voxels_per_s"] = raw.size / seconds
            log.info("predicted test split: %.0f voxels/s", raw.size / seconds)
    with atomic_path(out_file) as tmp, h5py.File(tmp, "w") as f:
        for split in ("val", "test"):
            f.create_dataset(f"{split}/affs", data=result[split], compression="gzip",
                             compression_opts=1, chunks=True)
            # which raw volume these are of: a control that reuses them (rolled) checks it
            f[f"{split}/affs"].attrs["raw_sha256"] = fingerprints[split]
        f.attrs["infer_voxels_per_s"] = result["infer_voxels_per_s"]
    sign_files(run_dir, out_file.name)
    return result


def row_base(method, dataset, spec: RunSpec, run_dir: Path, train_summary: dict[str, Any],
              device: str) -> dict[str, Any]:
    """The columns every result row of this run shares (see :data:`bench.results.COLUMNS`)."""
    return {
        "run_id": run_dir.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "method": spec.method,
        # a method may leave its family to the registry (entry points are "external")
        "family": method.family or METHODS.get(spec.method).family,
        "dataset": dataset.name,  # a file spec's short safe name, never a path
        "split": "test",
        "split_hash": dataset.split_hash(),
        "profile": spec.profile,
        "n_parameters": int(method.n_parameters()),
        "train_seconds": float(train_summary.get("train_seconds", 0.0)),
        "device": device,
        "seed": spec.seed,
        "phantom_seed": spec.seed if spec.data_seed is None else spec.data_seed,
        "study": spec.study,
        "config_hash": spec.config_hash(),
        "git_commit": json.loads((run_dir / "environment.json").read_text())["commit"],
    }


def check_affinities(affs: np.ndarray, shape: tuple[int, ...], method: str) -> None:
    """Refuse what a method's ``predict`` returned unless float32 ``(3, *shape)``."""
    if not isinstance(affs, np.ndarray):
        raise ValueError(
            f"method {method!r}: predict returned a {type(affs).__name__}; expected a NumPy "
            f"float32 array of shape (3, {', '.join(map(str, shape))})"
        )
    if affs.shape != (3, *shape) or affs.dtype != np.float32:
        raise ValueError(
            f"method {method!r} returned affinities {affs.shape} {affs.dtype}; "
            f"expected (3, {', '.join(map(str, shape))}) float32"
        )
