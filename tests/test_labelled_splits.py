"""Val and test splits without a labelled voxel are refused in preflight, naming the split
and the file (issue 29, item 21)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from bench.cli import main
from bench.data.synthetic import generate_synthetic

SHAPE = (24, 64, 64)


def _volume():
    vol = generate_synthetic(SHAPE, seed=3, name="probe")
    return np.asarray(vol.raw), np.asarray(vol.labels)


def _write(path, raw, labels):
    with h5py.File(path, "w") as f:
        f["raw"] = raw
        f["labels"] = labels
        f.attrs["resolution"] = (40.0, 4.0, 4.0)


def _run(spec: str, results) -> int:
    return main(["run", "--method", "unet2d", "--profile", "smoke", "--device", "cpu",
                 "--dataset", spec, "--results", str(results)])


@pytest.mark.parametrize("split", ["val", "test"])
def test_a_split_without_labelled_voxels_is_refused_naming_split_and_file(
        tmp_path, capsys, split):
    from bench.data import load_dataset

    raw, labels = _volume()
    path = tmp_path / "unlabelled.h5"
    _write(path, raw, labels)
    s = load_dataset(f"{path}:raw:labels").splits[split]
    labels[s.start:s.stop] = 0  # only this split loses its labels
    _write(path, raw, labels)
    assert _run(f"{path}:raw:labels", tmp_path / "results") == 2
    err = capsys.readouterr().err
    assert f"the {split} split" in err and str(path) in err and "no labelled voxel" in err
    assert not (tmp_path / "results" / "runs").exists()
