"""The dataset registry: a dataset added in one file, from outside the project, runs end to end.

The outside package is one module written here (what docs/extending.md "A dataset" asks for,
nothing more) plus the ``emseg_bench.datasets`` entry point that the method registry's
counterpart (``emseg_bench.methods``) also uses. It is made visible to a subprocess through
``PYTHONPATH`` and a hand-written ``.dist-info`` folder (no pip, no network).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.data import (
    DatasetInfo,
    FractionSplits,
    SectionRanges,
    list_datasets,
    load_dataset,
    register_dataset,
)
from bench.data.catalog import check_data_root
from bench.data.loaders import DataFormatError
from bench.data.registry import unregister_dataset
from bench.data.synthetic import generate_synthetic
from bench.data.types import Split, Volume
from bench.results import ResultsStore

REPO = Path(__file__).resolve().parents[1]

# the whole of a new dataset: one module, one register_dataset call
TOY_MODULE = '''\
"""toy: one HDF5 file under the data root, raw and labels side by side."""
from bench.data import DatasetInfo, FractionSplits, load_volume, register_dataset


def load(ctx):
    root = ctx.root()
    path = root / "toy" / "toy.h5"
    if not path.exists():
        raise ctx.missing(root, ["toy/toy.h5"])
    return {"volume": load_volume(path, "raw", path, "labels", name="toy",
                                  default_resolution_nm=ctx.info.resolution_nm)}


register_dataset(
    "toy",
    DatasetInfo("a toy volume for the registry test", (40.0, 4.0, 4.0), ("toy/toy.h5",)),
    load,
    FractionSplits(min_test=8, min_val=2),
)
'''

DIST_INFO = {
    "METADATA": "Metadata-Version: 2.1\nName: emseg-toy-data\nVersion: 0.1\n",
    "entry_points.txt": "[emseg_bench.datasets]\ntoy = toy_data\n",
}


def _write_toy_data(root: Path) -> Path:
    """A 24 x 96 x 96 volume (the smoke phantom's size, another seed) as toy/toy.h5."""
    vol = generate_synthetic((24, 96, 96), seed=7, name="toy")
    path = root / "toy" / "toy.h5"
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as f:
        f["raw"] = vol.raw
        f["labels"] = vol.labels
        f.attrs["resolution"] = (40.0, 4.0, 4.0)
    return path


def _bench(args: list[str], site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
           "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.run([sys.executable, "-m", "bench", *args], env=env, cwd=site.parent,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory):
    """The toy package as an installed distribution in a temporary site folder, its data in
    a temporary data root."""
    base = tmp_path_factory.mktemp("toy-data")
    site = base / "site"
    (site / "emseg_toy_data-0.1.dist-info").mkdir(parents=True)
    for name, text in DIST_INFO.items():
        (site / "emseg_toy_data-0.1.dist-info" / name).write_text(text)
    (site / "toy_data.py").write_text(TOY_MODULE)
    data_root = base / "data"
    _write_toy_data(data_root)
    return site, data_root


@pytest.mark.slow
def test_an_entry_point_dataset_runs_the_smoke_benchmark(toy_site, tmp_path):
    site, data_root = toy_site
    listed = _bench(["list", "datasets"], site)
    assert listed.returncode == 0, listed.stderr
    assert "toy" in listed.stdout and "a toy volume" in listed.stdout
    results = tmp_path / "results"
    proc = _bench(["run", "--method", "cad", "--profile", "smoke", "--dataset", "toy",
                   "--data-root", str(data_root), "--device", "cpu", "--results", str(results)],
                  site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = ResultsStore(results).rows(method="cad")
    assert len(rows) == 1
    row = rows[0]
    assert row["dataset"] == "toy" and row["profile"] == "smoke"
    assert np.isfinite(row["voi"]) and np.isclose(row["voi"], row["voi_split"] + row["voi_merge"])
    # the same data root without the file: the registry's message names the file it expects
    missing = _bench(["run", "--method", "cad", "--profile", "smoke", "--dataset", "toy",
                      "--data-root", str(tmp_path), "--results", str(tmp_path / "r2")], site)
    assert missing.returncode != 0 and "toy/toy.h5" in missing.stderr + missing.stdout
    assert not (tmp_path / "r2" / "runs").exists()


@pytest.fixture
def toy_registered(tmp_path):
    """The toy module's dataset registered in this process (removed afterwards)."""
    namespace: dict = {}
    exec(compile(TOY_MODULE, "toy_data.py", "exec"), namespace)
    _write_toy_data(tmp_path)
    yield tmp_path
    unregister_dataset("toy")


def test_a_registered_dataset_loads_lists_and_is_checked(toy_registered):
    ds = load_dataset("toy", data_root=toy_registered)
    assert (ds.splits["train"].stop, ds.splits["val"].stop, ds.splits["test"].stop) == (12, 16,
                                                                                         24)
    with h5py.File(toy_registered / "toy/toy.h5", "r") as f:
        np.testing.assert_array_equal(ds.split("test").load().raw, f["raw"][16:24])
    names = [d.name for d in list_datasets()]
    assert names[0] == "synthetic" and names[-1] == "toy"  # built-ins first, whatever the order
    toy = list_datasets()[-1]
    assert toy.splits["test"] == "last ~25 % (at least 8 sections)"  # derived from the spec
    report = {e["name"]: e for e in check_data_root(toy_registered)}
    assert report["toy"]["ok"] and report["toy"]["volumes"]["volume"]["raw"]["shape"] == (
        24, 96, 96)
    with pytest.raises(KeyError, match=r"unknown dataset 'toyy'; valid names: synthetic, .*toy"):
        load_dataset("toyy")
    with pytest.raises(ValueError, match="'toy' is registered twice"):
        register_dataset("toy", toy, lambda ctx: {}, FractionSplits())


def test_registration_refuses_bad_names_sources_and_splits():
    info = DatasetInfo("x", (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="letters, digits"):
        register_dataset("a/b", info, lambda ctx: {}, FractionSplits())
    with pytest.raises(ValueError, match=r"unknown fetch source\(s\) \['nowhere'\]"):
        register_dataset("x", DatasetInfo("x", (1.0, 1.0, 1.0), sources=("nowhere",)),
                         lambda ctx: {}, FractionSplits())
    vol = Volume(np.zeros((10, 4, 4), np.uint8), np.zeros((10, 4, 4), np.uint64), (1, 1, 1))
    register_dataset("half", info, lambda ctx: {"v": vol},
                     lambda name, vols: {"train": Split("train", "v", 0, 5)})
    try:
        with pytest.raises(ValueError, match=r"'half': the split spec gave \['train'\]"):
            load_dataset("half")
    finally:
        unregister_dataset("half")


def test_section_ranges_follow_the_section_count_not_a_constant():
    protocol = SectionRanges({"train": (None, 0, 9), "val": (None, 9, 10),
                              "test": (None, 10, None)}, label="the toy protocol")
    vols = {"v": Volume(np.zeros((14, 2, 2), np.uint8), None, (1, 1, 1))}
    assert protocol("d", vols)["test"] == Split("test", "v", 10, 14)
    short = {"v": Volume(np.zeros((9, 2, 2), np.uint8), None, (1, 1, 1))}
    with pytest.raises(DataFormatError, match=r"9 sections; the toy protocol needs 11 "
                                              r"\(train 0-8, val 9-9, test 10-end\)"):
        protocol("d", short)
    assert protocol.describe() == {"train": "sections 0-8", "val": "sections 9-9",
                                   "test": "sections 10-end"}
