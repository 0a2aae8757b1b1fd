"""Bring your own predictions: score affinities or a segmentation computed elsewhere.

A method run outside this harness (PyTorch Connectomics, lsd, a GPU cluster) joins the
leaderboard through the same doors as a registered one: the same dataset and split (each split's
shape is checked), the same post-processing with its parameter chosen on validation, the same
metrics, and a result row whose ``family`` is ``external``.

File layouts (HDF5), those of a run's own ``predictions.h5`` and ``segmentation.h5``:

- affinities: datasets ``val/affs`` and ``test/affs``, float32 ``(3, Z, Y, X)`` in [0, 1],
  channel order (z, y, x), the convention of :mod:`bench.affinity`;
- segmentation: dataset ``test/seg``, integer ``(Z, Y, X)``; it is scored as given (no
  post-processing, so no validation split is needed).

Everything is checked before a run directory is made: the name (:func:`bench.names.check_name`:
a short identifier that is not a registered method's, so an outside row never stands in for a
method's own), each file, dataset key, shape and dtype, and every value (affinities finite and in
[0, 1], labels >= 0); every message names the option, the file, the key and the split.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from bench.data import load_dataset
from bench.environment import describe_environment
from bench.names import check_name
from bench.pipeline import RunOutcome, RunSpec
from bench.pipeline import score_segmentation as score_test_segmentation
from bench.pipeline.evaluate import postprocess_and_score
from bench.pipeline.record import make_row, write_results
from bench.pipeline.spec import check_labelled_splits, check_validation_size
from bench.pipeline.stages import row_base
from bench.provenance import sign_run
from bench.registry import POSTPROCESSORS
from bench.results import ResultsStore, write_atomic, write_json
from metrics.io import refuse_virtual

__all__ = ["EXTERNAL_FAMILY", "score_affinities", "score_segmentation"]

EXTERNAL_FAMILY = "external"


class _ExternalPredictions:
    """What the pipeline's evaluation stage asks of a method, for predictions from a file."""

    family = EXTERNAL_FAMILY

    def __init__(self, name: str, n_parameters: int):
        self.name = name
        self._n_parameters = int(n_parameters)

    def n_parameters(self) -> int:
        return self._n_parameters

    def predict_long_range(self, raw: np.ndarray):
        raise NotImplementedError(
            f"{self.name!r} was scored from a file of nearest-neighbour affinities; mutex "
            "watershed needs long-range ones"
        )


_OPTION = {"affs": "--affinities", "seg": "--segmentation"}


def _read(path: Path, key: str, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """``path[key]`` checked against the split's ``shape``, the dtype and the values of
    ``kind`` (affinities: finite, in [0, 1]; labels: integers >= 0). Every message names the
    option, the file, the dataset key and the split."""
    where = f"{_OPTION[kind]} {path}"
    split = key.split("/")[0]
    if path.is_dir():
        zarr = any((path / m).exists() for m in (".zgroup", "zarr.json", ".zarray"))
        raise ValueError(f"{where}: is a folder{' (a zarr store)' if zarr else ''}, not a file; "
                         f"expected an HDF5 file with val/{kind} and test/{kind} (copy the "
                         "arrays into one, e.g. with h5py)")
    if not path.is_file():
        raise FileNotFoundError(f"{where}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{where}: not a readable HDF5 file ({exc})") from None
    with f:
        if key not in f or not isinstance(f[key], h5py.Dataset):
            found = []
            f.visit(lambda n: found.append(n) if isinstance(f[n], h5py.Dataset) else None)
            raise ValueError(f"{where}: no dataset {key!r} for the {split} split (found: "
                             f"{', '.join(found) or 'none'})")
        data = f[key]
        refuse_virtual(data, f"{where}[{key}]")  # it would read other files
        if tuple(data.shape) != shape:
            raise ValueError(
                f"{where}[{key}]: shape {tuple(data.shape)} does not match the {split} split, "
                f"expected {shape} (is it the same dataset, profile and split?)"
            )
        if kind == "affs" and data.dtype != np.float32:
            raise ValueError(f"{where}[{key}]: expected float32 affinities for the {split} "
                             f"split, got {data.dtype}")
        if kind == "seg" and not np.issubdtype(data.dtype, np.integer):
            raise ValueError(f"{where}[{key}]: expected integer labels for the {split} split, "
                             f"got {data.dtype}")
        try:
            values = data[...]
        except OSError as exc:  # a damaged chunk
            raise ValueError(f"{where}[{key}]: unreadable ({exc})") from None
    if kind == "affs":
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(f"{where}[{key}]: {int(bad.sum())} NaN or infinite values in the "
                             f"{split} split; expected affinities in [0, 1]")
        lo, hi = float(values.min()), float(values.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"{where}[{key}]: values from {lo:g} to {hi:g} in the {split} "
                             "split; expected affinities in [0, 1]")
    elif values.size and np.issubdtype(values.dtype, np.signedinteger) and values.min() < 0:
        raise ValueError(f"{where}[{key}]: negative label ids in the {split} split; expected "
                         "labels >= 0 (0 = background)")
    return values


def _check_name(name: str) -> str:
    """The leaderboard name, refused before any work when odd or a registered method's."""
    from bench.registry import METHODS

    reserved = {n: f"family {METHODS.get(n).family or 'unknown'}" for n in METHODS.names()}
    return check_name(name, "--name", reserved)


def _start(spec: RunSpec, dataset_name: str, store: ResultsStore, source: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_id = (f"{stamp}-{spec.method}-{dataset_name}-{spec.profile}-external-"
              f"{uuid.uuid4().hex[:4]}")
    run_dir = store.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / "config.yaml", yaml.safe_dump({"spec": asdict(spec),
                                                          "source": str(source)}))
    write_json(run_dir / "environment.json", describe_environment(EXTERNAL_FAMILY))
    sign_run(run_dir)
    return run_dir


def score_affinities(
    dataset: str,
    name: str,
    affinities: str | Path,
    store: ResultsStore,
    *,
    postprocess: list[str] | None = None,
    profile: str = "quick",
    data_root: str | None = None,
    seed: int = 0,
    n_parameters: int = 0,
) -> RunOutcome:
    """Post-process and evaluate affinities computed elsewhere; rows go into ``store``.

    Parameters
    ----------
    dataset, profile, data_root, seed
        Which dataset and split, as for ``python -m bench run`` (the synthetic volume's size
        depends on ``profile`` and ``seed``).
    name
        The method's name on the leaderboard.
    affinities
        HDF5 file with ``val/affs`` and ``test/affs`` (module docstring).
    postprocess
        Post-processors (default ``["waterz"]``); each parameter is chosen on ``val/affs``.
    n_parameters
        The method's parameter count, if known (0 = unknown).
    """
    name = _check_name(name)
    path = Path(affinities)
    spec = RunSpec(method=name, dataset=dataset, profile=profile, seed=seed,
                   postprocess=list(postprocess or ["waterz"]), data_root=data_root,
                   device=EXTERNAL_FAMILY, overrides={"affinities": str(path)})
    for pp in spec.postprocess:
        POSTPROCESSORS.get(pp)  # a bad name fails before any work, listing the valid ones
    t_start = time.perf_counter()
    store.check()
    ds = load_dataset(dataset, data_root=data_root, profile=profile, seed=seed)
    check_labelled_splits(ds)
    check_validation_size(ds, spec.postprocess)
    affs: dict[str, Any] = {
        split: _read(path, f"{split}/affs", (3, *ds.split(split).shape), "affs")
        for split in ("val", "test")
    }
    affs["infer_voxels_per_s"] = float("nan")  # measured elsewhere, if at all
    run_dir = _start(spec, ds.name, store, path)
    rows = postprocess_and_score(
        _ExternalPredictions(name, n_parameters), ds, spec, run_dir, affs,
        {"train_seconds": float("nan")}, EXTERNAL_FAMILY, t_start,
    )
    store.add_rows(rows)
    return RunOutcome(run_dir.name, run_dir, rows)


def score_segmentation(
    dataset: str,
    name: str,
    segmentation: str | Path,
    store: ResultsStore,
    *,
    profile: str = "quick",
    data_root: str | None = None,
    seed: int = 0,
    n_parameters: int = 0,
) -> RunOutcome:
    """Evaluate a test-split segmentation computed elsewhere (``test/seg``), as given."""
    name = _check_name(name)
    path = Path(segmentation)
    spec = RunSpec(method=name, dataset=dataset, profile=profile, seed=seed, postprocess=[],
                   data_root=data_root, device=EXTERNAL_FAMILY,
                   overrides={"segmentation": str(path)})
    t_start = time.perf_counter()
    store.check()
    ds = load_dataset(dataset, data_root=data_root, profile=profile, seed=seed)
    test = ds.split("test").load()
    seg = _read(path, "test/seg", tuple(test.shape), "seg")
    run_dir = _start(spec, ds.name, store, path)
    scored = score_test_segmentation(seg, test.labels, slab_sections=spec.slab_sections,
                                     seed=seed, per_section=False)
    nan = float("nan")
    row = make_row(row_base(_ExternalPredictions(name, n_parameters), ds, spec, run_dir,
                            {"train_seconds": nan}, EXTERNAL_FAMILY),
                   "given", "", nan, scored,
                   timings={"infer_voxels_per_s": nan, "postprocess_voxels_per_s": nan},
                   t_start=t_start)
    write_results(run_dir, [row], {}, {"given": scored.entries})
    store.add_rows([row])
    return RunOutcome(run_dir.name, run_dir, [row])
