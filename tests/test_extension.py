"""The two ways in for outsiders: a Method package installed through the entry point, and
predictions brought as files (``python -m bench score``).

The external package is written here, implementing only what docs/extending.md's "A method"
section asks for, installed with pip into a temporary folder (never the environment), and run
end to end in a subprocess that sees it through ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.cli import main
from bench.external import score_affinities
from bench.method import Method, MethodDefinitionError
from bench.results import ResultsStore

REPO = Path(__file__).resolve().parents[1]

TOY_PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "emseg-toy"
version = "0.1"

[project.entry-points."emseg_bench.methods"]
toy = "toy_method:toy"
"""

# the example of docs/extending.md ("A method"), nothing more: fit, predict, n_parameters, a factory
TOY_MODULE = '''\
import numpy as np
from bench.method import Method


class Toy(Method):
    name = "toy"

    def fit(self, train, val=None, *, run_dir, profile="quick"):
        raw = train.load().raw
        self.scale = 1.0 / max(float(np.percentile(raw, 99)), 1.0)
        return {"scale": self.scale}

    def predict(self, raw):
        x = np.clip(raw.astype(np.float32) * self.scale, 0, 1)
        affs = np.repeat(x[None], 3, axis=0)
        affs[0, 1:] = np.minimum(x[1:], x[:-1])
        affs[1, :, 1:] = np.minimum(x[:, 1:], x[:, :-1])
        affs[2, :, :, 1:] = np.minimum(x[:, :, 1:], x[:, :, :-1])
        return affs

    def n_parameters(self):
        return 1


def toy(**kwargs):
    return Toy(kwargs)
'''


def _bench(args: list[str], site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "bench", *args], env=env, cwd=site.parent,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """The toy package installed into a temporary site folder and run on the smoke profile."""
    root = tmp_path_factory.mktemp("toy")
    pkg = root / "pkg"
    (pkg / "toy_method").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(TOY_PYPROJECT)
    (pkg / "toy_method" / "__init__.py").write_text(TOY_MODULE)
    site = root / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(site), str(pkg)],
        capture_output=True, text=True, timeout=300,
    )
    assert pip.returncode == 0, pip.stderr
    results = root / "results"
    proc = _bench(["run", "--method", "toy", "--profile", "smoke", "--device", "cpu",
                   "--results", str(results)], site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site, results


def test_an_installed_entry_point_method_runs_end_to_end(toy_run):
    _, results = toy_run
    rows = ResultsStore(results).rows(method="toy")
    assert len(rows) == 1
    row = rows[0]
    assert row["family"] == "external" and row["n_parameters"] == 1
    assert row["dataset"] == "synthetic" and row["profile"] == "smoke"
    assert 0 <= row["arand"] <= 1 and np.isclose(row["voi"], row["voi_split"] + row["voi_merge"])


def test_any_runs_model_file_is_accepted_by_checkpoint(toy_run, tmp_path):
    """The default save/load (the object's attributes) makes --checkpoint work unchanged."""
    site, results = toy_run
    row = ResultsStore(results).rows(method="toy")[0]
    model = ResultsStore(results).run_dir(row["run_id"]) / "model.pt"
    proc = _bench(["run", "--method", "toy", "--profile", "smoke", "--device", "cpu",
                   "--checkpoint", str(model), "--results", str(tmp_path)], site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    again = ResultsStore(tmp_path).rows(method="toy")[0]
    assert (again["voi"], again["arand"]) == (row["voi"], row["arand"])
    assert again["train_seconds"] == 0.0


def test_scoring_a_runs_own_predictions_reproduces_its_scores_exactly(toy_run, tmp_path):
    _, results = toy_run
    row = ResultsStore(results).rows(method="toy")[0]
    run_dir = ResultsStore(results).run_dir(row["run_id"])
    # in process: scoring needs no method code
    assert main(["score", "--dataset", "synthetic", "--profile", "smoke", "--name", "toy-file",
                 "--affinities", str(run_dir / "predictions.h5"), "--results", str(tmp_path)]) == 0
    scored = ResultsStore(tmp_path).rows(method="toy-file")
    assert len(scored) == 1 and scored[0]["family"] == "external"
    for key in ("voi", "voi_split", "voi_merge", "arand", "cremi_score", "param_value"):
        assert scored[0][key] == row[key], key
    # a finished segmentation, scored as given, gives the run's scores too
    seg_file = tmp_path / "seg.h5"
    with h5py.File(run_dir / "segmentation.h5", "r") as f, h5py.File(seg_file, "w") as g:
        g["test/seg"] = f["waterz"][...]
    assert main(["score", "--dataset", "synthetic", "--profile", "smoke", "--name", "toy-seg",
                 "--segmentation", str(seg_file), "--results", str(tmp_path)]) == 0
    given = ResultsStore(tmp_path).rows(method="toy-seg")[0]
    assert given["postprocess"] == "given" and given["family"] == "external"
    assert (given["voi"], given["arand"]) == (row["voi"], row["arand"])


def test_score_rejects_predictions_of_another_shape_naming_file_and_shape(tmp_path):
    bad = tmp_path / "affs.h5"
    with h5py.File(bad, "w") as f:
        f["val/affs"] = np.zeros((3, 2, 8, 8), np.float32)
        f["test/affs"] = np.zeros((3, 2, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"affs.h5\[val/affs\]: shape \(3, 2, 8, 8\)"):
        score_affinities("synthetic", "bad", bad, ResultsStore(tmp_path), profile="smoke")
    with h5py.File(bad, "w") as f:
        f["val/other"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="no dataset 'val/affs'.*val/other"):
        score_affinities("synthetic", "bad", bad, ResultsStore(tmp_path), profile="smoke")


def _define(body: dict) -> type:
    base = {
        "fit": lambda self, train, val=None, *, run_dir, profile="quick": {},
        "predict": lambda self, raw: raw,
        "n_parameters": lambda self: 0,
    }
    return type("Broken", (Method,), {**base, **body})


def test_an_incomplete_method_fails_when_the_class_is_defined():
    _define({})  # the minimal complete method is fine
    with pytest.raises(MethodDefinitionError, match=r"predict.*expected predict\(self, raw\)"):
        _define({"predict": lambda self: None})
    with pytest.raises(MethodDefinitionError, match="fit"):
        _define({"fit": lambda self, train: {}})  # no run_dir keyword: fails before training
    with pytest.raises(MethodDefinitionError, match="only one of save/load"):
        _define({"save": lambda self, path: None})
    with pytest.raises(MethodDefinitionError, match="long_range"):
        _define({"long_range": True})


def test_default_save_and_load_round_trip_the_attributes(tmp_path):
    cls = _define({"name": "roundtrip"})
    m = cls()
    m.weights = np.arange(5.0)
    m.save(tmp_path / "model.pt")
    other = cls().load(tmp_path / "model.pt")
    np.testing.assert_array_equal(other.weights, m.weights)
    with pytest.raises(ValueError, match="not a file written by"):
        (tmp_path / "junk.pt").write_bytes(b"junk")
        cls().load(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        cls().load(tmp_path / "nothing.pt")


def test_baselines_import_nothing_from_cad():
    source = "\n".join(p.read_text() for p in (REPO / "baselines").glob("*.py"))
    lines = [ln for ln in source.splitlines() if ln.lstrip().startswith(("import ", "from "))]
    assert not [ln for ln in lines if "cad" in ln.split()[1].split(".")[0]]


def test_toy_source_matches_the_documented_example():
    """The package installed above implements only what docs/extending.md asks: the same
    members."""
    readme = (REPO / "docs" / "extending.md").read_text()
    for member in ("def fit(self, train, val=None, *, run_dir", "def predict(self, raw)",
                   "def n_parameters(self)", '[project.entry-points."emseg_bench.methods"]'):
        assert member in readme, member
        assert member in TOY_MODULE + TOY_PYPROJECT, member
    assert "def save" not in TOY_MODULE and "def load" not in TOY_MODULE
