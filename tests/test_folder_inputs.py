"""A folder (a zarr store) where a file is expected gets a message saying so (issue 29,
item 22): ``score --affinities vol.zarr``, ``--dataset zarrdir.h5:...`` and ``report --out``
naming a file."""

from __future__ import annotations

import numpy as np
import pytest

from bench.cli import main


def _zarr(path):
    import zarr

    group = zarr.open_group(str(path), mode="w")
    group.create_array("raw", data=np.zeros((24, 32, 32), np.uint8))
    group.create_array("labels", data=np.ones((24, 32, 32), np.uint32))
    return path


def test_score_affinities_given_a_zarr_folder(tmp_path, capsys):
    store = _zarr(tmp_path / "vol.zarr")
    assert main(["score", "--dataset", "synthetic", "--profile", "smoke", "--name", "z",
                 "--affinities", str(store), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "is a folder (a zarr store)" in err and "no such file" not in err


@pytest.mark.parametrize("spec", ["{d}:raw:labels", "{d}"])
def test_a_zarr_folder_named_like_an_hdf5_file(tmp_path, capsys, spec):
    folder = _zarr(tmp_path / "zarrdir.h5")
    assert main(["run", "--method", "unet2d", "--profile", "smoke", "--dataset",
                 spec.format(d=folder), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert str(folder) in err and "folder" in err and "zarr" in err
    assert "bytes; corrupt" not in err and "Traceback" not in err
    assert not (tmp_path / "r" / "runs").exists()


def test_a_plain_folder_named_like_an_hdf5_file(tmp_path, capsys):
    folder = tmp_path / "empty.h5"
    folder.mkdir()
    assert main(["run", "--method", "unet2d", "--profile", "smoke", "--dataset",
                 f"{folder}:raw:labels", "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "is a folder, not a file" in err and "bytes; corrupt" not in err


@pytest.mark.parametrize("below", [False, True])
def test_report_out_naming_a_file_is_refused_in_one_line(tmp_path, capsys, below):
    target = tmp_path / "FILE"
    target.write_text("x")
    out = target / "sub" if below else target
    assert main(["report", "--results", str(tmp_path / "r"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--out {out}" in err and "Errno" not in err
    assert target.read_text() == "x"
