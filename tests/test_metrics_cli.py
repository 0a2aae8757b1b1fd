"""``python -m bench eval`` on HDF5, zarr, TIFF and NPY inputs."""

from __future__ import annotations

import argparse
import json

import h5py
import numpy as np
import pytest

import metrics
from metrics import cli


def _run(argv, capsys):
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", *argv])
    rc = args.func(args)
    return rc, capsys.readouterr().out


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    gt = np.kron(rng.integers(0, 9, (4, 5, 5)), np.ones((1, 4, 4), np.int64)).astype(np.uint64)
    seg = np.where(rng.random(gt.shape) < 0.9, gt, 7).astype(np.uint64)
    return gt, seg


def test_eval_h5_json_with_resolution_attribute(tmp_path, pair, capsys):
    gt, seg = pair
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("volumes/labels/neuron_ids", data=gt, chunks=(1, 20, 20))
        f["volumes/labels/neuron_ids"].attrs["resolution"] = (40.0, 4.0, 4.0)
        f.create_dataset("seg", data=seg)
    rc, out = _run(["--gt", str(path), "--seg", f"{path}:seg", "--json", "--border-nm", "4"],
                   capsys)
    got = json.loads(out)
    ref = metrics.evaluate(gt, seg, border_nm=4, resolution=(40, 4, 4))
    assert rc == 0 and {k: got[k] for k in ref} == pytest.approx(ref)


@pytest.mark.parametrize("kind", ["npy", "tif", "zarr"])
def test_eval_other_formats(tmp_path, pair, capsys, kind):
    gt, seg = pair
    if kind == "npy":
        np.save(tmp_path / "gt.npy", gt)
        np.save(tmp_path / "seg.npy", seg)
        g, s = tmp_path / "gt.npy", tmp_path / "seg.npy"
    elif kind == "tif":
        tifffile = pytest.importorskip("tifffile")
        tifffile.imwrite(tmp_path / "gt.tif", gt)
        tifffile.imwrite(tmp_path / "seg.tif", seg)
        g, s = tmp_path / "gt.tif", tmp_path / "seg.tif"
    else:
        zarr = pytest.importorskip("zarr")
        root = zarr.open_group(str(tmp_path / "v.zarr"), mode="w")
        root.create_array("gt", data=gt, chunks=(1, 20, 20))
        root.create_array("seg", data=seg)
        g, s = f"{tmp_path / 'v.zarr'}:gt", f"{tmp_path / 'v.zarr'}:seg"
    rc, out = _run(["--gt", str(g), "--seg", str(s), "--convention", "waterz", "--json"], capsys)
    ref = metrics.evaluate(gt, seg, convention="waterz")
    assert rc == 0 and {k: json.loads(out)[k] for k in ref} == pytest.approx(ref)
    rc, out = _run(["--gt", str(g), "--seg", str(s)], capsys)
    assert rc == 0 and "voi_split" in out and "cremi_score" in out


def test_eval_bad_inputs(tmp_path, pair, capsys):
    gt, _ = pair
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("a", data=gt)
        f.create_dataset("b", data=gt.astype(np.float32))
    with pytest.raises(FileNotFoundError, match="--gt"):
        _run(["--gt", str(tmp_path / "missing.h5"), "--seg", str(path)], capsys)
    with pytest.raises(ValueError, match="several arrays"):
        _run(["--gt", str(path), "--seg", f"{path}:a"], capsys)
    with pytest.raises(KeyError, match="no array 'c'"):
        _run(["--gt", f"{path}:c", "--seg", f"{path}:a"], capsys)
    with pytest.raises(ValueError, match="seg has dtype float32"):
        _run(["--gt", f"{path}:a", "--seg", f"{path}:b"], capsys)
    with pytest.raises(ValueError, match="needs --resolution"):
        _run(["--gt", f"{path}:a", "--seg", f"{path}:a", "--border-nm", "25"], capsys)


def test_perf_small_run_agrees_with_references(capsys):
    from bench.perf import metrics as perf

    rc = perf.main(["--shape", "10", "200", "210", "--repeat", "1", "--json"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0
    assert set(report["tools"]) == {"ours", "skimage", "waterz"}
    assert all(d <= 1e-9 for d in report["max_abs_difference"].values())
    assert report["gt_labels"] > 20 and report["speedup"]["skimage"] > 0
