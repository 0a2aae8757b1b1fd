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

Thresholds and other post-processing parameters are chosen on the validation split and then
frozen for the test split; the row records the chosen value.
"""

from __future__ import annotations

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
from bench.registry import METHODS, POSTPROCESSORS
from bench.results import ResultsStore, write_atomic, write_json

log = logging.getLogger(__name__)

#: the score columns every row carries
SCORE_KEYS = ("voi_split", "voi_merge", "voi", "arand", "cremi_score")


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

    def config_hash(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    rows: list[dict[str, Any]]


def new_run_id(spec: RunSpec) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    tag = uuid.uuid4().hex[:4]
    return f"{stamp}-{spec.method}-{spec.dataset}-{spec.profile}-s{spec.seed}-{tag}"


def load_spec(run_dir: Path) -> RunSpec:
    cfg = run_dir / "config.yaml"
    if not cfg.exists():
        raise FileNotFoundError(f"{cfg} not found: is {run_dir.name!r} a run id?")
    return RunSpec(**yaml.safe_load(cfg.read_text())["spec"])


def run(spec: RunSpec, store: ResultsStore, *, run_id: str | None = None) -> RunOutcome:
    """Run (or resume, when ``run_id`` names an existing run) one method end to end."""
    from bench.data import load_dataset
    from bench.device import resolve_device

    t_start = time.perf_counter()
    # validate names before any expensive work, listing valid choices on error
    METHODS.get(spec.method)
    for pp in spec.postprocess:
        POSTPROCESSORS.get(pp)

    # a bad dataset name or data root fails here, before a run directory is created
    dataset = load_dataset(
        spec.dataset, data_root=spec.data_root, profile=spec.profile, seed=spec.seed
    )
    run_id = run_id or new_run_id(spec)
    run_dir = store.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    file_handler = _attach_log(run_dir / "run.log")
    try:
        device = resolve_device(spec.device)
        if not (run_dir / "config.yaml").exists():
            write_atomic(run_dir / "config.yaml", yaml.safe_dump({"spec": asdict(spec)}))
        write_json(run_dir / "environment.json", describe_environment(str(device)))
        log.info("run %s -> %s", run_id, run_dir)

        method = METHODS.create(
            spec.method,
            profile=spec.profile,
            device=str(device),
            seed=spec.seed,
            **({"checkpoint": spec.checkpoint} if spec.checkpoint else {}),
            **spec.overrides,
        )
        train_summary = _train(method, dataset, spec, run_dir)
        if spec.blockwise:
            rows = _blockwise_test(method, dataset, spec, run_dir, train_summary, str(device),
                                   t_start)
        else:
            affs = _predict(method, dataset, run_dir)
            rows = _postprocess_and_evaluate(
                method, dataset, spec, run_dir, affs, train_summary, str(device), t_start
            )
        store.add_rows(rows)
        log.info("results in %s", run_dir)
        return RunOutcome(run_id, run_dir, rows)
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
    if spec.checkpoint:
        log.info("using checkpoint %s, no training", spec.checkpoint)
        return {"train_seconds": 0.0, "checkpoint": spec.checkpoint}
    if model_file.exists() and summary_file.exists():
        log.info("training already done: loading %s", model_file)
        method.load(model_file)
        return json.loads(summary_file.read_text())
    train = dataset.split("train").load()
    val = dataset.split("val").load()
    log.info("training %s on %s (%s voxels)", spec.method, train.name,
             "x".join(map(str, train.shape)))
    t0 = time.perf_counter()
    summary = dict(method.fit(train, val, run_dir=run_dir / "train", profile=spec.profile) or {})
    summary["train_seconds"] = time.perf_counter() - t0
    method.save(model_file)  # atomic: the stage counts as done only once it exists
    write_json(summary_file, summary)
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
        "family": method.family,
        "dataset": spec.dataset,
        "split": "test",
        "split_hash": dataset.split_hash(),
        "profile": spec.profile,
        "n_parameters": int(method.n_parameters()),
        "train_seconds": float(train_summary.get("train_seconds", 0.0)),
        "device": device,
        "seed": spec.seed,
        "config_hash": spec.config_hash(),
        "git_commit": json.loads((run_dir / "environment.json").read_text())["commit"],
    }


def _check_affinities(affs: np.ndarray, shape: tuple[int, ...], method: str) -> None:
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
    from bench import segment

    val = dataset.split("val").load()
    test = dataset.split("test")
    test_raw = np.asarray(test.raw[...])
    val_gt = val.labels
    common = _row_base(method, dataset, spec, run_dir, train_summary, device)
    common["infer_voxels_per_s"] = affs["infer_voxels_per_s"]
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
            # edge classifier cross-fitted on validation z blocks (bench.segment.learned)
            selection = segment.select_learned(
                val_affs, val_gt, pp, raw=val.raw, resolution_nm=val.resolution_nm,
                seed=spec.seed,
            )
            params.update(selection.params, raw=test_raw)
        else:
            selection = segment.select_parameter(val_affs, val_gt, pp, **params)
        param_name = segment.parameter_name(pp)
        t0 = time.perf_counter()
        seg = segment.segment(test_affs, pp, **{**params, param_name: selection.best_value})
        segmented.append((pp, selection, param_name, seg, time.perf_counter() - t0))

    test_gt = np.asarray(test.labels[...])  # first read of test labels: scoring starts here
    rows, details = [], {}
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
            slabs = _slab_scores(test_gt, seg, spec.slab_sections)
            ci = _bootstrap_ci([s["voi"] for s in slabs], seed=spec.seed)
            seg_out.create_dataset(pp, data=seg, compression="gzip", compression_opts=1)
            row = {
                **common,
                "postprocess": pp,
                "param_name": param_name,
                "param_value": float(selection.best_value),
                **{k: float(scores[k]) for k in SCORE_KEYS},
                "voi_ci_low": ci[0],
                "voi_ci_high": ci[1],
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
            }
            log.info("%s: %s=%.3g test VOI %.3f (split %.3f merge %.3f) ARAND %.3f",
                     pp, param_name, selection.best_value, row["voi"], row["voi_split"],
                     row["voi_merge"], row["arand"])
    write_json(run_dir / "metrics.json", {"rows": rows, "details": details})
    return rows


def _slab_scores(gt: np.ndarray, seg: np.ndarray, slab: int) -> list[dict[str, float]]:
    import metrics

    out = []
    for z0 in range(0, gt.shape[0] - slab + 1, slab):
        g, s = gt[z0:z0 + slab], seg[z0:z0 + slab]
        if np.any(g):
            scores = metrics.evaluate(g, s)
            out.append({"z0": z0, **{k: float(scores[k]) for k in ("voi", "arand")}})
    return out


def _bootstrap_ci(values: list[float], *, seed: int = 0, n: int = 2000) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean over test sub-volumes."""
    if len(values) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    v = np.asarray(values)
    means = v[rng.integers(0, len(v), size=(n, len(v)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def _blockwise_test(method, dataset, spec: RunSpec, run_dir: Path,
                    train_summary: dict[str, Any], device: str, t_start: float
                    ) -> list[dict[str, Any]]:
    """The test stage for volumes beyond memory: choose the waterz threshold on the (in-memory)
    validation split, then predict, segment and evaluate the test split block by block into
    ``run_dir/test.zarr`` (resumable: finished blocks are skipped on ``--resume``)."""
    from bench import segment
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
    infer_s = out["seconds"].get("predict", float("nan"))
    pp_s = out["total_seconds"] - infer_s
    n_vox = float(np.prod(test.shape))
    row = {
        **_row_base(method, dataset, spec, run_dir, train_summary, device),
        "postprocess": "waterz", "param_name": "threshold",
        "param_value": float(selection.best_value),
        **{k: float(scores[k]) for k in SCORE_KEYS},
        "infer_voxels_per_s": n_vox / infer_s if infer_s > 0 else None,
        "postprocess_voxels_per_s": n_vox / pp_s if pp_s > 0 else None,
        "end_to_end_seconds": time.perf_counter() - t_start,
        "peak_rss_mb": peak_rss_mb(),
    }
    write_json(run_dir / "metrics.json", {
        "rows": [row],
        "details": {"waterz": {"validation_curve": selection.curve, "blockwise": out}},
    })
    return [row]
