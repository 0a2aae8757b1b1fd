"""Dataset names, frozen splits, `data` command line."""

import argparse

import h5py
import numpy as np
import pytest

from bench.data import cli as data_cli
from bench.data import list_datasets, load_dataset
from bench.data.catalog import check_data_root, fraction_splits


def test_synthetic_smoke_splits_and_cache():
    ds = load_dataset("synthetic", profile="smoke", seed=0)
    assert set(ds.splits) == {"train", "val", "test"}
    s = ds.splits
    assert (s["train"].start, s["train"].stop, s["val"].stop, s["test"].stop) == (0, 12, 16, 24)
    assert ds.split("test").shape[0] >= 8
    again = load_dataset("synthetic", profile="smoke", seed=0)  # the volume is cached
    assert again.volumes["volume"] is ds.volumes["volume"] and again.splits == ds.splits
    assert ds.split_hash() == load_dataset("synthetic", profile="smoke", seed=1).split_hash()
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        load_dataset("synthetic", profile="huge")


def test_fraction_splits_never_overlap():
    for n in (12, 24, 64, 125):
        s = fraction_splits("v", n)
        assert s["train"].start == 0 and s["train"].stop == s["val"].start
        assert s["val"].stop == s["test"].start and s["test"].stop == n
    with pytest.raises(ValueError, match="too few"):
        fraction_splits("v", 9)


def test_list_datasets_names_files_and_splits():
    infos = {d.name: d for d in list_datasets()}
    assert set(infos) == {"synthetic", "wafer4", "cremiA", "cremiB", "cremiC", "ac3ac4",
                          "gala_fib", "lsd_sample"}
    assert "wafer4/wafer4_inputs.h5" in infos["wafer4"].expected_files
    assert infos["ac3ac4"].splits["test"] == "AC3 sections 0-99"
    assert all(set(d.splits) == {"train", "val", "test"} for d in infos.values())


def test_check_data_root_reports_found_and_missing(tmp_path):
    (tmp_path / "cremi").mkdir()
    rng = np.random.default_rng(0)
    for kind, arr in (("inputs", rng.integers(0, 255, (125, 4, 4), dtype=np.uint8)),
                      ("labels", np.ones((125, 4, 4), np.uint64))):
        with h5py.File(tmp_path / f"cremi/cremiA_{kind}.h5", "w") as f:
            f["main"] = arr
    report = {e["name"]: e for e in check_data_root(tmp_path)}
    assert report["cremiA"]["ok"] and report["cremiA"]["volumes"]["cremiA"]["raw"]["shape"] == (
        125, 4, 4)
    assert any("resolution" in w for w in report["cremiA"]["warnings"])
    assert not report["wafer4"]["ok"] and report["wafer4"]["missing"]


def _run_cli(argv):
    parser = argparse.ArgumentParser(prog="bench")
    data_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_list_check_preview(tmp_path, capsys):
    assert _run_cli(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "ac3ac4" in out and "sections 100-124" in out
    assert _run_cli(["data", "check", "--data-root", str(tmp_path)]) == 0
    assert "MISSING" in capsys.readouterr().out
    png = tmp_path / "p.png"
    assert _run_cli(["data", "preview", "synthetic", "--profile", "smoke", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gala_fib_real_dataset_splits(shared_data):
    ds = load_dataset("gala_fib", data_root=shared_data)
    assert ds.split("train").shape == (40, 100, 200)
    assert ds.split("val").shape == (10, 100, 200)
    assert ds.split("test").shape == (50, 100, 200)
    assert ds.split("test").labels.dtype == np.uint64
