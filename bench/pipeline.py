"""One benchmark run: dataset split -> train -> predict -> post-process -> evaluate -> record.

The stages write their results into the run directory as they finish, so that
``python -m bench run --resume RUN_ID`` skips what is already done:

====================  ===============================================================
``config.yaml``       the resolved run specification (written first)
``environment.json``  versions, device, git commit
``train/``            the method's own checkpoints and training log (it resumes from them)
``model.pt``          the trained weights (the training stage is done once it exists)
``predictions.h5``    validation and test affinities, ``{split}/affs``
``segmentation.h5``   test segmentations, one dataset per post-processor
``metrics.json``      the leaderboard rows, the validation sweep curves, per-section scores
====================  ===============================================================

Beside ``metrics.json``, ``neuron_errors.json`` holds every ground-truth neuron's VOI split/merge
terms and skeleton errors (:mod:`bench.neuron_errors`).

Thresholds and other post-processing parameters are chosen on the validation split and then
frozen for the test split; the row records the chosen value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from bench.atomic import atomic_path
from bench.environment import describe_environment, peak_rss_mb
from bench.provenance import PROVENANCE_NAME, sign_run, verify_run
from bench.registry import METHODS, POSTPROCESSORS
from bench.results import (
    OVERLAP_TABLES,
    ResultsStore,
    validate_run_id,
    write_atomic,
    write_json,
)
from bench.runlock import run_lock

log = logging.getLogger(__name__)

#: the score columns every row carries
SCORE_KEYS = ("voi_split", "voi_merge", "voi", "arand", "cremi_score")
#: skeleton scores (metrics.skeleton_scores) every in-memory row carries
SKELETON_KEYS = ("erl_nm", "nerl", "n_merges", "n_splits")


@dataclass
class RunSpec:
    method: str
    dataset: str = "synthetic"
    profile: str = "quick"
    postprocess: list[str] = field(default_factory=lambda: ["waterz"])
    data_root: str | None = None
    checkpoint: str | None = None
    device: str = "auto"
    seed: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    #: sections per sub-volume for the bootstrap confidence interval over the test split
    slab_sections: int = 4
    #: predict and segment the test split block by block into zarr (volumes beyond memory)
    blockwise: bool = False
    block_shape: list[int] = field(default_factory=lambda: [16, 512, 512])
    workers: int = 1
    #: a dask.distributed scheduler address ("tcp://host:8786") to run the blocks on
    scheduler_address: str | None = None
    #: the multi-seed study this run belongs to (bench.study); not part of the config hash
    study: str | None = None
    #: the synthetic volume's generator seed (``--phantom-seed``, default 0, so that ``--seed N``
    #: and ``--seeds N`` are the same run: only training varies with the seed); None, in the
    #: configs of older runs: ``seed``
    data_seed: int | None = None
    #: what the validation sweep minimises: "voi", or "nerl" (maximised; skeletonises val too)
    select: str = "voi"

    def config_hash(self) -> str:
        config = asdict(self)
        config.pop("study")  # the same configuration in or out of a study hashes the same
        # hashes of runs from before these fields stay the same (a phantom seed equal to the
        # training seed is what None meant)
        if config["data_seed"] is None or config["data_seed"] == config["seed"]:
            config.pop("data_seed")
        if config["select"] == "voi":
            config.pop("select")
        blob = json.dumps(config, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def validate(self) -> None:
        """The checks that need no data and no method: raise ``ValueError`` naming the option."""
        shape = list(self.block_shape)
        if len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
            raise ValueError(f"--block-shape: expected three positive integers z,y,x, got "
                             f"{','.join(map(str, shape))}")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"--workers: expected an integer >= 1, got {self.workers}")
        if self.blockwise and self.postprocess != ["waterz"]:
            raise ValueError(f"--blockwise supports --postprocess waterz only, got "
                             f"{','.join(self.postprocess)}")
        if not self.postprocess:
            raise ValueError("--postprocess: give at least one post-processor")


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    rows: list[dict[str, Any]]


class TrainingStopped(Exception):
    """Training ended before its last iteration (``stop_after``): nothing is predicted or
    recorded until a ``--resume`` finishes it."""

    def __init__(self, step: int, iters: int):
        super().__init__(f"training stopped at iteration {step} of {iters}")
        self.step, self.iters = step, iters


def new_run_id(spec: RunSpec, dataset_name: str | None = None) -> str:
    """``<UTC time>-<method>-<dataset>-<profile>-s<seed>-<tag>``: one path component.

    ``dataset_name`` is the loaded dataset's short name (a file spec's is its file stem plus a
    hash of the spec, never the path)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    tag = uuid.uuid4().hex[:4]
    name = dataset_name or spec.dataset
    return validate_run_id(f"{stamp}-{spec.method}-{name}-{spec.profile}-s{spec.seed}-{tag}")


def load_spec(run_dir: Path) -> RunSpec:
    cfg = run_dir / "config.yaml"
    if not cfg.exists():
        raise FileNotFoundError(f"{cfg} not found: is {run_dir.name!r} a run id?")
    try:
        return RunSpec(**yaml.safe_load(cfg.read_text())["spec"])
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ValueError(f"{cfg}: not a run specification written by `bench run` ({exc})") from None


def _check_labels_nonnegative(dataset) -> None:
    """Read signed label arrays once, section slab by slab, so that a negative id is reported
    before training rather than after it (unsigned labels cannot be negative)."""
    from bench.data.loaders import AsUint64

    for vol in dataset.volumes.values():
        labels = vol.labels
        # only a lazily cast signed array can hold a negative id not yet seen
        if not isinstance(labels, AsUint64) or np.dtype(labels._a.dtype).kind != "i":
            continue
        for z0 in range(0, labels.shape[0], 16):
            labels[z0:z0 + 16]  # raises DataFormatError naming the file on a negative id


def _check_validation_size(dataset, postprocess: list[str]) -> None:
    """Every post-processor chooses its parameter on the validation split; some need more
    than one section of it (:attr:`bench.segment.base.PostProcessor.min_val_sections`)."""
    n_val = int(dataset.split("val").shape[0])
    for pp in postprocess:
        need = int(getattr(POSTPROCESSORS.get(pp).factory, "min_val_sections", 1))
        if n_val < need:
            raise ValueError(
                f"--postprocess {pp}: needs a validation split of at least {need} sections to "
                f"choose its parameter; dataset {dataset.name!r} has {n_val}"
            )


def prepare(spec: RunSpec, store: ResultsStore):
    """Everything that can be checked before the first training step: options, the results
    folder and database, the dataset (files, labels), the device, the method's recipe and
    the checkpoint (``official:NAME`` is fetched and checksum-verified here).

    Returns ``(dataset, device, method, checkpoint)``, ``checkpoint`` the file to load (None:
    train); raises with a message naming what is wrong.
    """
    from bench.data import load_dataset
    from bench.device import resolve_device

    spec.validate()
    METHODS.get(spec.method)  # unknown names list the valid ones
    for pp in spec.postprocess:
        POSTPROCESSORS.get(pp)
    store.check()  # a file as --results, or a corrupt leaderboard, fails now, not after training
    device = resolve_device(spec.device)
    # a bad dataset name or data root fails here, before a run directory is created
    dataset = load_dataset(
        spec.dataset, data_root=spec.data_root, profile=spec.profile,
        seed=spec.seed if spec.data_seed is None else spec.data_seed,
    )
    _check_labels_nonnegative(dataset)
    _check_validation_size(dataset, spec.postprocess)
    checkpoint = None
    if spec.checkpoint:  # official:NAME is fetched and checked now, before any run folder
        from bench.data.fetch import resolve_checkpoint

        checkpoint = resolve_checkpoint(spec.checkpoint, spec.data_root)
    method = METHODS.create(
        spec.method,
        profile=spec.profile,
        device=str(device),
        seed=spec.seed,
        **spec.overrides,
    )
    if "mws" in spec.postprocess and not method.long_range:
        if spec.postprocess == ["mws"]:
            raise ValueError(f"--postprocess mws needs long-range affinities, which method "
                             f"{spec.method!r} does not predict (use waterz or lmc with it)")
        log.warning("method %s predicts no long-range affinities: no mws rows for it",
                    spec.method)
    return dataset, device, method, checkpoint


def run(spec: RunSpec, store: ResultsStore, *, run_id: str | None = None) -> RunOutcome:
    """Run (or resume, when ``run_id`` names an existing run) one method end to end.

    Raises :class:`TrainingStopped` when the recipe's ``stop_after`` ends training early (the
    run directory then holds a resumable checkpoint and no result) and
    :class:`bench.runlock.RunLockedError` when another process works on the same run.
    """
    t_start = time.perf_counter()
    dataset, device, method, checkpoint = prepare(spec, store)
    if checkpoint:  # a file that is not the method's weights fails before any folder
        log.info("using checkpoint %s, no training", checkpoint)
        method.load_checkpoint(checkpoint)  # any run's model.pt; cad: official ckpt too
    run_id = validate_run_id(run_id) if run_id else new_run_id(spec, dataset.name)
    run_dir = store.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):
        file_handler = _attach_log(run_dir / "run.log")
        try:
            if not (run_dir / "config.yaml").exists():
                write_atomic(run_dir / "config.yaml", yaml.safe_dump({"spec": asdict(spec)}))
                sign_run(run_dir)  # a study resumes only runs it can verify (bench.provenance)
            else:
                why = verify_run(run_dir)
                if why:
                    log.warning("resuming %s, which this harness cannot vouch for (%s); its "
                                "files are read as data only", run_id, why)
            write_json(run_dir / "environment.json", describe_environment(str(device)))
            log.info("run %s -> %s", run_id, run_dir)
            train_summary = _train(method, dataset, spec, run_dir)
            if spec.blockwise:
                rows = _blockwise_test(method, dataset, spec, run_dir, train_summary,
                                       str(device), t_start)
            else:
                affs = _predict(method, dataset, run_dir)
                rows = _postprocess_and_evaluate(
                    method, dataset, spec, run_dir, affs, train_summary, str(device), t_start
                )
            store.add_rows(rows)
            log.info("results in %s", run_dir)
            return RunOutcome(run_id, run_dir, rows)
        except (KeyboardInterrupt, TrainingStopped) as exc:
            exc.run_id = run_id  # so the command line can print the --resume command
            raise
        finally:
            logging.getLogger().removeHandler(file_handler)
            file_handler.close()


def _attach_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


# -- stages ----------------------------------------------------------------------------------
def _train(method, dataset, spec: RunSpec, run_dir: Path) -> dict[str, Any]:
    model_file = run_dir / "model.pt"
    summary_file = run_dir / "train_summary.json"
    if spec.checkpoint:  # already loaded by run(), before the run directory was made
        return {"train_seconds": 0.0, "checkpoint": spec.checkpoint}
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
    if (run_dir / PROVENANCE_NAME).exists() and verify_run(run_dir, just_written=("model.pt",)
                                                           ) is None:
        sign_run(run_dir)
    return summary


def _predict(method, dataset, run_dir: Path) -> dict[str, Any]:
    """Validation and test affinities, and the test inference throughput."""
    out_file = run_dir / "predictions.h5"
    if out_file.exists():
        with h5py.File(out_file, "r") as f:
            return {
                "val": f["val/affs"][...],
                "test": f["test/affs"][...],
                "infer_voxels_per_s": float(f.attrs["infer_voxels_per_s"]),
            }
    result: dict[str, Any] = {}
    for split in ("val", "test"):
        raw = np.asarray(dataset.split(split).raw[...])
        t0 = time.perf_counter()
        affs = method.predict(raw)
        seconds = time.perf_counter() - t0
        _check_affinities(affs, raw.shape, method.name)
        result[split] = affs
        if split == "test":
            result["infer_voxels_per_s"] = raw.size / seconds
            log.info("predicted test split: %.0f voxels/s", raw.size / seconds)
    with atomic_path(out_file) as tmp, h5py.File(tmp, "w") as f:
        for split in ("val", "test"):
            f.create_dataset(f"{split}/affs", data=result[split], compression="gzip",
                             compression_opts=1, chunks=True)
        f.attrs["infer_voxels_per_s"] = result["infer_voxels_per_s"]
    return result


def _row_base(method, dataset, spec: RunSpec, run_dir: Path, train_summary: dict[str, Any],
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


def _check_affinities(affs: np.ndarray, shape: tuple[int, ...], method: str) -> None:
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


def _postprocess_and_evaluate(
    method, dataset, spec: RunSpec, run_dir: Path, affs: dict[str, Any],
    train_summary: dict[str, Any], device: str, t_start: float,
) -> list[dict[str, Any]]:
    """Segment test with every post-processor (parameters chosen on validation), then score.

    Test labels are read only after every test segmentation exists (``tests/test_learned.py``
    proves it): learned post-processors fit their classifiers on validation labels only.
    """
    import metrics
    from bench import neuron_errors, segment, stats
    from bench.skeletons import cached_skeletons

    val = dataset.split("val").load()
    test = dataset.split("test")
    test_raw = np.asarray(test.raw[...])
    val_gt = val.labels
    common = _row_base(method, dataset, spec, run_dir, train_summary, device)
    common["infer_voxels_per_s"] = affs["infer_voxels_per_s"]
    # ground-truth skeletons are cached beside the database (<results>/cache/skeletons)
    skeleton_cache = run_dir.parents[1] / "cache" / "skeletons"
    tag = f"{dataset.name}-{dataset.split_hash()}"
    val_evaluate = None
    if spec.select == "nerl":
        val_skeletons = cached_skeletons(val_gt, dataset.resolution_nm, skeleton_cache,
                                         name=f"{tag}-val")

        def val_evaluate(gt, seg):
            return {**metrics.evaluate(gt, seg), **metrics.skeleton_scores(val_skeletons, seg)}

    segmented = []
    for pp in spec.postprocess:
        val_affs, test_affs = affs["val"], affs["test"]
        params: dict[str, Any] = {}
        if pp == "mws":
            try:
                val_affs, offsets = method.predict_long_range(val.raw)
            except NotImplementedError as exc:
                log.warning("skipping %s for %s: %s", pp, spec.method, exc)
                continue
            test_affs, _ = method.predict_long_range(test_raw)
            params["offsets"] = offsets
        log.info("%s: sweeping on validation", pp)
        if getattr(POSTPROCESSORS.get(pp).factory, "learned", False):
            if spec.select != "voi":
                log.warning("%s chooses its threshold by VOI over cross-fitted validation "
                            "folds (--select %s applies to the unlearned post-processors)",
                            pp, spec.select)
            # edge classifier cross-fitted on validation z blocks (bench.segment.learned)
            selection = segment.select_learned(
                val_affs, val_gt, pp, raw=val.raw, resolution_nm=val.resolution_nm,
                seed=spec.seed,
            )
            params.update(selection.params, raw=test_raw)
        else:
            selection = segment.select_parameter(val_affs, val_gt, pp, evaluate=val_evaluate,
                                                 criterion=spec.select, **params)
        param_name = segment.parameter_name(pp)
        t0 = time.perf_counter()
        seg = segment.segment(test_affs, pp, **{**params, param_name: selection.best_value})
        segmented.append((pp, selection, param_name, seg, time.perf_counter() - t0))

    test_gt = np.asarray(test.labels[...])  # first read of test labels: scoring starts here
    test = dataclasses.replace(test, raw=test_raw, labels=test_gt)
    test_skeletons = cached_skeletons(test_gt, dataset.resolution_nm, skeleton_cache,
                                      name=f"{tag}-test")
    rows, details, neurons, tables = [], {}, {}, {}
    with atomic_path(run_dir / "segmentation.h5") as tmp, h5py.File(tmp, "w") as seg_out:
        # a few test sections for the report's image panels (raw | ground truth | methods)
        panel_z = np.unique(np.linspace(0, test_gt.shape[0] - 1, 3).round().astype(int))
        seg_out["panels/z"] = panel_z
        seg_out["panels/raw"] = test_raw[panel_z]
        seg_out["panels/gt"] = test_gt[panel_z]
        for pp, selection, param_name, seg, pp_seconds in segmented:
            scores = metrics.evaluate(test_gt, seg)
            per_section = [metrics.evaluate(test_gt[z:z + 1], seg[z:z + 1])
                           for z in range(test_gt.shape[0]) if np.any(test_gt[z])]
            slabs, slab_entries = _slab_scores(test_gt, seg, spec.slab_sections)
            tables[pp] = slab_entries
            # an interval of the whole-volume VOI itself: resample slabs, re-sum their tables
            ci = (stats.voi_interval(stats.slab_tables(slab_entries), seed=spec.seed)
                  if len(slabs) else (float("nan"), float("nan")))
            seg_out.create_dataset(pp, data=seg, compression="gzip", compression_opts=1)
            analysis = neuron_errors.analyse(test, seg, test_skeletons,
                                      seg_out.create_group(f"errors/{pp}"))
            neurons[pp] = analysis["neurons"]
            row = {
                **common,
                "postprocess": pp,
                "param_name": param_name,
                "param_value": float(selection.best_value),
                **{k: float(scores[k]) for k in SCORE_KEYS},
                **{k: analysis["scores"][k] for k in SKELETON_KEYS},
                "voi_ci_low": ci[0],
                "voi_ci_high": ci[1],
                "voi_ci_method": stats.VOI_INTERVAL_METHOD,
                "postprocess_voxels_per_s": test_gt.size / pp_seconds,
                "end_to_end_seconds": time.perf_counter() - t_start,
                "peak_rss_mb": peak_rss_mb(),
            }
            rows.append(row)
            details[pp] = {
                "validation_curve": selection.curve,
                "per_section": [
                    {k: float(s[k]) for k in ("voi_split", "voi_merge", "voi", "arand")}
                    for s in per_section
                ],
                "slabs": slabs,
                "selected_by": spec.select,
                "skeleton": analysis["scores"],
                "worst_errors": analysis["worst"],
            }
            log.info("%s: %s=%.3g test VOI %.3f (split %.3f merge %.3f) ARAND %.3f NERL %.3f "
                     "(%d splits, %d merges)", pp, param_name, selection.best_value, row["voi"],
                     row["voi_split"], row["voi_merge"], row["arand"], row["nerl"],
                     row["n_splits"], row["n_merges"])
    _write_tables(run_dir / OVERLAP_TABLES, tables)
    write_json(run_dir / "neuron_errors.json", {
        "resolution_nm": list(dataset.resolution_nm), "skeleton_params": test_skeletons.params,
        "neurons": neurons,
    })
    write_json(run_dir / "metrics.json", {"rows": rows, "details": details})
    return rows


def _write_tables(path: Path, tables: dict[str, Any]) -> None:
    """Each post-processor's per-slab overlap tables, for the paired comparisons of the report
    (written before metrics.json, so a finished run always has them)."""
    arrays = {f"{pp}/{col}": entries[col].to_numpy() for pp, entries in tables.items()
              for col in ("slab", "gt", "seg", "count")}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)


def _slab_bounds(n_sections: int, slab: int) -> list[tuple[int, int]]:
    """Consecutive ``slab``-section sub-volumes partitioning ``[0, n_sections)``; the remainder
    joins the last one (so every test voxel is in exactly one slab)."""
    starts = list(range(0, max(n_sections - slab, 0) + 1, slab)) or [0]
    ends = starts[1:] + [n_sections]
    return list(zip(starts, ends, strict=True))


def _slab_scores(gt: np.ndarray, seg: np.ndarray, slab: int
                 ) -> tuple[list[dict[str, float]], Any]:
    """Scores of each test sub-volume and their overlap tables (a DataFrame of entries whose
    sum over slabs is the whole test volume's table). ``gt`` and ``seg`` may be lazy (zarr,
    HDF5): one slab is in memory at a time."""
    import pandas as pd

    from metrics.scores import scores
    from metrics.table import overlap_table

    out, frames = [], []
    for z0, z1 in _slab_bounds(gt.shape[0], slab):
        table = overlap_table(np.asarray(gt[z0:z1]), np.asarray(seg[z0:z1]))
        if table.n_counted == 0:  # nothing to score (all boundary/background)
            continue
        s = scores(table)
        out.append({"z0": z0, "z1": z1, **{k: float(s[k]) for k in ("voi", "arand")}})
        frames.append(pd.DataFrame({
            "slab": z0, "gt": table.gt_ids[table.rows], "seg": table.seg_ids[table.cols],
            "count": table.counts}))
    entries = (pd.concat(frames, ignore_index=True) if frames
               else pd.DataFrame({c: np.zeros(0, np.int64) for c in ("slab", "gt", "seg",
                                                                      "count")}))
    return out, entries


def _blockwise_test(method, dataset, spec: RunSpec, run_dir: Path,
                    train_summary: dict[str, Any], device: str, t_start: float
                    ) -> list[dict[str, Any]]:
    """The test stage for volumes beyond memory: choose the waterz threshold on the (in-memory)
    validation split, then predict, segment and evaluate the test split block by block into
    ``run_dir/test.zarr`` (resumable: finished blocks are skipped on ``--resume``)."""
    from bench import segment, stats
    from bench.blockwise import evaluate_blockwise, run_blockwise

    if spec.postprocess != ["waterz"]:
        raise ValueError(
            f"--blockwise supports --postprocess waterz only, got {','.join(spec.postprocess)}"
        )
    val = dataset.split("val").load()
    val_affs = method.predict(np.asarray(val.raw))
    _check_affinities(val_affs, val.shape, method.name)
    selection = segment.select_parameter(val_affs, val.labels, "waterz")
    test = dataset.split("test")
    out = run_blockwise(
        method, test.raw, run_dir / "test.zarr", block_shape=tuple(spec.block_shape),
        workers=spec.workers, scheduler_address=spec.scheduler_address,
        threshold=selection.best_value,
    )
    import zarr

    seg = zarr.open_group(str(run_dir / "test.zarr"), mode="r")["segmentation"]
    scores = evaluate_blockwise(test.labels, seg)
    slabs, slab_entries = _slab_scores(test.labels, seg, spec.slab_sections)
    ci = (stats.voi_interval(stats.slab_tables(slab_entries), seed=spec.seed)
          if len(slabs) else (float("nan"), float("nan")))
    infer_tput, pp_tput = _blockwise_throughput(out)
    row = {
        **_row_base(method, dataset, spec, run_dir, train_summary, device),
        "postprocess": "waterz", "param_name": "threshold",
        "param_value": float(selection.best_value),
        **{k: float(scores[k]) for k in SCORE_KEYS},
        "voi_ci_low": ci[0],
        "voi_ci_high": ci[1],
        "voi_ci_method": stats.VOI_INTERVAL_METHOD,
        "infer_voxels_per_s": infer_tput,
        "postprocess_voxels_per_s": pp_tput,
        "end_to_end_seconds": time.perf_counter() - t_start,
        "peak_rss_mb": peak_rss_mb(),
    }
    _write_tables(run_dir / OVERLAP_TABLES, {"waterz": slab_entries})
    write_json(run_dir / "metrics.json", {
        "rows": [row],
        "details": {"waterz": {"validation_curve": selection.curve, "blockwise": out,
                               "slabs": slabs}},
    })
    return [row]


def _blockwise_throughput(out: dict[str, Any]) -> tuple[float | None, float | None]:
    """Inference and post-processing voxels/s of a blockwise call, from the blocks computed in
    this process only: a resumed run is timed on the work it did, never on the whole volume
    (blocks an earlier attempt finished cost it nothing). None when a stage did no work here."""
    seconds, voxels = out["seconds"], out["voxels_run"]
    infer = (voxels["predict"] / seconds["predict"]
             if voxels.get("predict") and seconds["predict"] > 0 else None)
    segment_passes = [k for k in seconds if k != "predict"]
    if not segment_passes or not all(voxels.get(k) for k in segment_passes):
        return infer, None
    # seconds per voxel add up over the passes of the chain
    return infer, 1.0 / sum(seconds[k] / voxels[k] for k in segment_passes)
