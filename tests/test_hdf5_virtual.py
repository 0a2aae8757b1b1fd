"""HDF5 virtual datasets are refused like external links (they read other files, or zeros
when their source is gone) and a constant raw volume is warned about (issue 29, item 5)."""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pytest

from bench.cli import main
from bench.data.synthetic import generate_synthetic
from bench.pipeline.spec import RunSpec, prepare
from bench.results import ResultsStore

SHAPE = (24, 64, 64)


def _volume():
    vol = generate_synthetic(SHAPE, seed=3, name="probe")
    return np.asarray(vol.raw), np.asarray(vol.labels)


def _write(path, raw, labels):
    with h5py.File(path, "w") as f:
        f["raw"] = raw
        f["labels"] = labels
        f.attrs["resolution"] = (40.0, 4.0, 4.0)


def _virtual(path, source, key="raw", shape=SHAPE, dtype=np.uint8):
    layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
    layout[...] = h5py.VirtualSource(str(source), key, shape=shape)
    with h5py.File(path, "a") as f:
        f.create_virtual_dataset(key, layout, fillvalue=0)


def _run(spec: str, results) -> int:
    return main(["run", "--method", "unet2d", "--profile", "smoke", "--device", "cpu",
                 "--dataset", spec, "--results", str(results)])


@pytest.mark.parametrize("source_present", [True, False])
def test_a_virtual_dataset_is_refused_like_an_external_link(tmp_path, capsys, source_present):
    raw, labels = _volume()
    source = tmp_path / "elsewhere.h5"
    if source_present:
        with h5py.File(source, "w") as f:
            f["raw"] = raw
    vds = tmp_path / "vds.h5"
    with h5py.File(vds, "w") as f:
        f["labels"] = labels
    _virtual(vds, source)
    assert _run(f"{vds}:raw:labels", tmp_path / "results") == 2
    err = capsys.readouterr().err
    assert "virtual dataset" in err and str(vds) in err and "elsewhere.h5" in err
    assert not (tmp_path / "results" / "runs").exists()


def test_score_refuses_virtual_affinities(tmp_path, capsys):
    from bench.data import load_dataset

    ds = load_dataset("synthetic", profile="smoke")
    source = tmp_path / "affs_source.h5"
    affs = tmp_path / "affs.h5"
    with h5py.File(source, "w") as f:
        for split in ("val", "test"):
            f[f"{split}/affs"] = np.full((3, *ds.split(split).shape), 0.5, np.float32)
    for split in ("val", "test"):
        shape = (3, *ds.split(split).shape)
        _virtual(affs, source, key=f"{split}/affs", shape=shape, dtype=np.float32)
    assert main(["score", "--dataset", "synthetic", "--profile", "smoke", "--name", "vds",
                 "--affinities", str(affs), "--results", str(tmp_path / "r")]) == 2
    assert "virtual dataset" in capsys.readouterr().err


def test_a_constant_raw_volume_is_warned_about(tmp_path, caplog):
    _, labels = _volume()
    path = tmp_path / "blank.h5"
    _write(path, np.zeros(SHAPE, np.uint8), labels)
    spec = RunSpec(method="unet2d", dataset=f"{path}:raw:labels", profile="smoke", device="cpu")
    with caplog.at_level(logging.WARNING):
        prepare(spec, ResultsStore(tmp_path / "results"))
    assert any("constant" in r.getMessage() and str(path) in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_a_normal_raw_volume_gets_no_warning(tmp_path, caplog):
    raw, labels = _volume()
    path = tmp_path / "fine.h5"
    _write(path, raw, labels)
    spec = RunSpec(method="unet2d", dataset=f"{path}:raw:labels", profile="smoke", device="cpu")
    with caplog.at_level(logging.WARNING):
        prepare(spec, ResultsStore(tmp_path / "results"))
    assert not any("constant" in r.getMessage() for r in caplog.records)
