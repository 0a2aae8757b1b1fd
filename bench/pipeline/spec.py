"""The run specification and the checks made before the first training step.

:class:`RunSpec` is what ``config.yaml`` holds (its hash names the configuration);
:func:`prepare` checks options, results folder, dataset, device, recipe and checkpoint, and
raises with a message naming what is wrong before any run directory is made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.registry import METHODS, POSTPROCESSORS
from bench.results import ResultsStore, validate_run_id

__all__ = ["RunOutcome", "RunSpec", "TrainingStopped", "check_labelled_splits",
           "check_labels_nonnegative", "check_validation_size", "load_spec", "new_run_id",
           "prepare", "warn_constant_raw"]

log = logging.getLogger(__name__)


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


def check_labels_nonnegative(dataset) -> None:
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


def _source(array: Any, volume: str) -> str:
    """Where a volume's array comes from: ``file:key`` for h5py (also behind the label cast),
    else the volume's name."""
    inner = getattr(array, "_a", array)
    where = getattr(getattr(inner, "file", None), "filename", None)
    if where:
        return f"{where}:{inner.name}"
    store = str(getattr(inner, "store_path", "") or "")  # zarr: file:///path/to/vol.zarr/key
    return store.removeprefix("file://") if store else f"volume {volume!r}"


def check_labelled_splits(dataset) -> None:
    """The val and test splits are scored against their labels: each needs a labelled voxel
    (a label id other than 0, background), or the run would train and predict and then fail
    in the metrics. Read slab by slab, stopping at the first labelled one."""
    for name in ("val", "test"):
        split = dataset.splits.get(name)
        labels = None if split is None else dataset.volumes[split.volume].labels
        if labels is None:
            continue
        if not any(np.any(np.asarray(labels[z:min(z + 16, split.stop)]))
                   for z in range(split.start, split.stop, 16)):
            raise ValueError(
                f"dataset {dataset.name!r}: the {name} split (sections {split.start} to "
                f"{split.stop - 1} of {_source(labels, split.volume)}) has no labelled voxel "
                "(every label is 0, background), so it cannot be scored; check the labels key "
                "and file, or choose other splits")


def warn_constant_raw(dataset, n_sections: int = 8) -> None:
    """Warn when a raw volume holds one value in every sampled section (a blank volume: a
    missing or empty source file, a wrong key), which would train and score without error."""
    for key, vol in dataset.volumes.items():
        depth = int(vol.raw.shape[0])
        zs = sorted({int(z) for z in np.linspace(0, depth - 1, min(n_sections, depth))})
        lo = hi = None
        for z in zs:
            section = np.asarray(vol.raw[z])
            lo = section.min() if lo is None else min(lo, section.min())
            hi = section.max() if hi is None else max(hi, section.max())
            if lo != hi:
                break
        if lo is not None and lo == hi:
            log.warning("raw volume %s of dataset %r is constant (every sampled section is %s): "
                        "a blank volume trains and scores nothing meaningful; check the file",
                        _source(vol.raw, key), dataset.name, lo)


def check_validation_size(dataset, postprocess: list[str]) -> None:
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
    from bench.provenance import check_key

    spec.validate()
    check_key()  # a key that cannot sign the run fails now, not in an orphan run folder
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
    check_labels_nonnegative(dataset)
    check_labelled_splits(dataset)
    warn_constant_raw(dataset)
    check_validation_size(dataset, spec.postprocess)
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
