"""A results folder from someone else: no code runs from it, no row is shadowed, one bad file
never stops a report (issue 23).

Malicious files are pickles whose loading opens (creates) a marker file: the marker exists
afterwards only if some code ran while a command read the file. Every command that reads a
results folder is tried on them (``run --resume``, a study rerun, ``run --checkpoint``,
``score``, ``report``, ``view``); none may create a marker, and each refusal is one line.

The method used is a stub that trains a one-weight torch module with the shared training loop
(:func:`bench.train.loop.run_training`, so its checkpoints are the real ones) and keeps the
default :meth:`bench.method.Method.save` / ``load`` (the format outside methods get).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from bench.blockwise.predict import intensity_affinities
from bench.cli import main
from bench.method import Method
from bench.registry import METHODS, Entry
from bench.results import ResultsStore

REPO = Path(__file__).resolve().parents[1]


class Plant:
    """Unpickling this creates ``marker``: proof that loading a file ran code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class LoopStub(Method):
    """One torch weight trained by the shared loop; affinities from raw intensity."""

    name = "hstub"
    family = "2d"

    def __init__(self, iters: int = 3, stop_after: int | None = None, **config):
        super().__init__({"iters": iters, "stop_after": stop_after, **config})
        self.gain = 0.0

    def fit(self, train, val=None, *, run_dir: Path, profile: str = "quick") -> dict:
        from bench.train.loop import run_training, seed_everything

        rng = seed_everything(0)
        net = torch.nn.Linear(1, 1)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)

        def step(it: int) -> dict[str, float]:
            opt.zero_grad()
            loss = (net(torch.ones(1, 1)) - 1.0).pow(2).sum()
            loss.backward()
            opt.step()
            return {"loss": float(loss.detach())}

        result = run_training(run_dir=run_dir, modules={"net": net}, optimizer=opt, rng=rng,
                              step_fn=step, columns=["loss"], iters=int(self.config["iters"]),
                              checkpoint_every=1, stop_after=self.config["stop_after"],
                              show_progress=False)
        self.gain = float(net.weight.detach()[0, 0])
        return result

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return intensity_affinities(raw)

    def n_parameters(self) -> int:
        return 1


def _factory(profile="quick", device="cpu", seed=0, **overrides):
    return LoopStub(**overrides)


@pytest.fixture
def hstub(monkeypatch):
    METHODS.get("cad")  # the built-in registry first
    for name in ("hstub", "hstub2", "hstub3", "hstub4", "hstub5"):
        monkeypatch.setitem(METHODS._entries, name, Entry(name, _factory, "2d", "stub"))
    return LoopStub


def _run(results: Path, *extra: str, method: str = "hstub") -> int:
    return main(["run", "--method", method, "--profile", "smoke", "--device", "cpu",
                 "--results", str(results), *extra])


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- malicious files -------------------------------------------------------------------------
def torch_pickle(path: Path, marker: Path) -> Path:
    """A torch checkpoint (``train/checkpoint.pt`` or a ``model.pt``) that runs code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"step": Plant(marker), "modules": {}, "optimizer": {}, "rng": {}}, path)
    return path


def state_pickle(path: Path, marker: Path, method: str = "hstub") -> Path:
    """A method state in the pickled format of the old default ``Method.save``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({"format": "emseg-bench method state v1", "method": method,
                     "attributes": {"gain": Plant(marker)}}, f, protocol=4)
    return path


def object_npz(path: Path, marker: Path) -> Path:
    """An npz (overlap tables, a block marker) whose arrays are pickled Python objects."""
    path.parent.mkdir(parents=True, exist_ok=True)
    evil = np.empty(1, dtype=object)
    evil[0] = Plant(marker)
    with open(path, "wb") as f:
        np.savez(f, **{f"waterz/{c}": evil for c in ("slab", "gt", "seg", "count")})
    return path


KINDS = {"checkpoint": torch_pickle, "model.pt": torch_pickle, "method state": state_pickle,
         "npz": object_npz}


def _markers(root: Path) -> dict[str, Path]:
    return {kind: root / f"MARKER-{kind.replace(' ', '-').replace('.', '-')}" for kind in KINDS}


def _plant_all(run_dir: Path, markers: dict[str, Path], model: str = "method state") -> None:
    """Every kind in its place in ``run_dir`` (``model.pt`` holds the ``model`` kind)."""
    torch_pickle(run_dir / "train" / "checkpoint.pt", markers["checkpoint"])
    KINDS[model](run_dir / "model.pt", markers[model])
    object_npz(run_dir / "overlap_tables.npz", markers["npz"])


def _none_written(markers: dict[str, Path]) -> None:
    assert not [k for k, m in markers.items() if m.exists()]


@pytest.fixture
def finished(hstub, tmp_path):
    """A results folder with one finished hstub run."""
    results = tmp_path / "results"
    assert _run(results) == 0
    store = ResultsStore(results)
    return results, store, store.run_dir(store.run_ids()[0])


# -- 1. nothing in a results folder runs code --------------------------------------------------
def test_resume_does_not_run_a_planted_training_checkpoint(hstub, tmp_path, capsys):
    results = tmp_path / "results"
    assert _run(results, "--set", "stop_after=1") == 0  # interrupted: a checkpoint, no model
    run_id = ResultsStore(results).run_ids()[0]
    ckpt = results / "runs" / run_id / "train" / "checkpoint.pt"
    assert ckpt.is_file()
    marker = tmp_path / "MARKER"
    torch_pickle(ckpt, marker)
    capsys.readouterr()
    assert main(["run", "--resume", run_id, "--results", str(results)]) == 2
    assert not marker.exists()
    line = _one_error_line(capsys.readouterr().err)
    assert str(ckpt) in line and "could run code" in line


def test_resume_does_not_unpickle_a_planted_model_file(finished, tmp_path, capsys, caplog):
    results, store, run_dir = finished
    (run_dir / "metrics.json").unlink()  # interrupted after training: model.pt would be loaded
    marker = tmp_path / "MARKER"
    state_pickle(run_dir / "model.pt", marker)
    capsys.readouterr()
    # the planted model.pt is not the one the harness signed: the stage is run again, the
    # file is never read (before signed results it was refused by the unpickling guard)
    assert main(["run", "--resume", run_dir.name, "--results", str(results)]) == 0
    assert not marker.exists()
    assert "not reusing the training stage" in caplog.text
    assert "model.pt changed since the harness wrote it" in caplog.text


def test_study_rerun_leaves_a_planted_run_folder_alone(hstub, tmp_path, caplog):
    results = tmp_path / "results"
    assert _run(results, "--seeds", "0") == 0
    store = ResultsStore(results)
    (own,) = store.run_ids()
    doc = yaml.safe_load((store.run_dir(own) / "config.yaml").read_text())
    markers = _markers(tmp_path)
    planted = {}
    # seed 1: interrupted in training (checkpoint); seed 2: trained (model.pt + summary)
    for seed, files in ((1, ("checkpoint",)), (2, ("method state", "npz"))):
        doc["spec"]["seed"] = seed
        run_dir = store.runs_dir / own.replace("-s0-", f"-s{seed}-")
        run_dir.mkdir()
        (run_dir / "config.yaml").write_text(yaml.safe_dump(doc))
        if "checkpoint" in files:
            torch_pickle(run_dir / "train" / "checkpoint.pt", markers["checkpoint"])
        else:
            state_pickle(run_dir / "model.pt", markers["method state"])
            (run_dir / "train_summary.json").write_text('{"train_seconds": 1.0}')
            object_npz(run_dir / "overlap_tables.npz", markers["npz"])
        planted[seed] = run_dir.name
    with caplog.at_level(logging.WARNING):
        assert _run(results, "--seeds", "0-2") == 0
    _none_written(markers)
    for seed, run_id in planted.items():
        assert f"not using run directory {run_id}" in caplog.text
        rows = store.rows(method="hstub", seed=seed)
        assert len(rows) == 1 and rows[0]["run_id"] not in planted.values()  # a fresh run
    assert "no readable provenance.json" in caplog.text


def test_checkpoint_option_runs_no_code_from_any_malicious_file(hstub, tmp_path, capsys):
    markers = _markers(tmp_path)
    for kind, make in KINDS.items():
        evil = make(tmp_path / "evil" / f"{kind.replace(' ', '_')}.bin", markers[kind])
        capsys.readouterr()
        assert _run(tmp_path / "results", "--checkpoint", str(evil)) == 2, kind
        line = _one_error_line(capsys.readouterr().err)
        assert str(evil) in line, kind
    _none_written(markers)


def test_a_resumed_checkpoint_continues_bit_identically_with_weights_only(hstub, tmp_path):
    """The safe checkpoint keeps every RNG state: a stopped and resumed run of the real loop
    ends with the same weights and the same random streams as an uninterrupted one."""
    from bench.train.loop import CHECKPOINT_NAME, run_training, seed_everything

    def train(run_dir: Path, stop_after=None):
        rng = seed_everything(3)
        net = torch.nn.Linear(4, 1)
        opt = torch.optim.Adam(net.parameters(), lr=0.01)

        def step(it):  # every step draws from numpy, python and torch generators
            import random

            x = torch.randn(8, 4) + float(rng.normal()) + random.random()
            opt.zero_grad()
            loss = net(x).pow(2).mean()
            loss.backward()
            opt.step()
            return {"loss": float(loss.detach())}

        run_training(run_dir=run_dir, modules={"net": net}, optimizer=opt, rng=rng,
                     step_fn=step, columns=["loss"], iters=6, checkpoint_every=2,
                     stop_after=stop_after, show_progress=False)
        return net, rng.random(), torch.rand(1)

    full, full_np, full_torch = train(tmp_path / "full")
    train(tmp_path / "part", stop_after=3)
    saved = torch.load(tmp_path / "part" / CHECKPOINT_NAME, weights_only=True)
    assert saved["step"] == 2
    resumed, np_after, torch_after = train(tmp_path / "part")
    torch.testing.assert_close(resumed.weight, full.weight, rtol=0, atol=0)
    assert np_after == full_np and torch.equal(torch_after, full_torch)


# -- the malicious-file matrix: every command, every kind ---------------------------------------
def test_matrix_resume(finished, tmp_path, capsys):
    results, store, run_dir = finished
    markers = _markers(tmp_path)
    (run_dir / "metrics.json").unlink()
    for model in ("model.pt", "method state"):  # both kinds of model.pt: each never read
        _plant_all(run_dir, markers, model=model)
        capsys.readouterr()
        # the planted model.pt is unsigned, so training runs again and resumes from the
        # planted checkpoint, which the weights-only reader refuses
        assert main(["run", "--resume", run_dir.name, "--results", str(results)]) == 2
        assert "checkpoint.pt" in _one_error_line(capsys.readouterr().err)
    (run_dir / "model.pt").unlink()  # now training resumes from the checkpoint
    assert main(["run", "--resume", run_dir.name, "--results", str(results)]) == 2
    assert "checkpoint.pt" in _one_error_line(capsys.readouterr().err)
    _none_written(markers)


def test_matrix_resume_of_a_blockwise_run_reads_done_markers_safely(hstub, tmp_path, capsys):
    results = tmp_path / "results"
    assert _run(results, "--blockwise", "--block-shape", "4,48,96") == 0
    run_dir = ResultsStore(results).run_dir(ResultsStore(results).run_ids()[0])
    (run_dir / "metrics.json").unlink()
    done = sorted((run_dir / "test.zarr.blockwise").rglob("*.npz"))
    marker = tmp_path / "MARKER"
    object_npz(done[0], marker)
    capsys.readouterr()
    assert main(["run", "--resume", run_dir.name, "--results", str(results)]) == 2
    assert str(done[0]) in _one_error_line(capsys.readouterr().err)
    assert not marker.exists()


def test_matrix_score(finished, tmp_path, capsys):
    results, store, run_dir = finished
    markers = _markers(tmp_path)
    _plant_all(run_dir, markers)
    for kind, make in KINDS.items():
        evil = make(tmp_path / "evil" / f"{kind.replace(' ', '_')}.h5", markers[kind])
        for option in ("--affinities", "--segmentation"):
            capsys.readouterr()
            code = main(["score", "--dataset", "synthetic", "--profile", "smoke", "--name",
                         "outside", option, str(evil), "--results", str(results)])
            assert code == 2
            line = _one_error_line(capsys.readouterr().err)
            assert option in line and str(evil) in line
    _none_written(markers)
    assert store.run_ids() == [run_dir.name]  # nothing half-made


def test_matrix_report(finished, tmp_path, capsys):
    results, store, run_dir = finished
    markers = _markers(tmp_path)
    _plant_all(run_dir, markers)
    capsys.readouterr()
    assert main(["report", "--results", str(results)]) == 1
    err = capsys.readouterr().err
    assert f"skipped {run_dir / 'overlap_tables.npz'}" in err
    assert (results / "report" / "index.html").is_file()
    _none_written(markers)


def test_matrix_view_reads_no_pickle(finished, tmp_path):
    from bench.view import run_layers, worst_positions

    results, store, run_dir = finished
    markers = _markers(tmp_path)
    _plant_all(run_dir, markers)
    layers, resolution = run_layers(run_dir)
    assert [layer.name for layer in layers][:2] == ["raw", "ground truth"]
    assert worst_positions(run_dir)
    _none_written(markers)


# -- 2. rows cannot be shadowed; names are checked before any work ----------------------------
def _affinities_file(path: Path, fill: float | None = None) -> Path:
    from bench.data import load_dataset

    ds = load_dataset("synthetic", profile="smoke")
    with h5py.File(path, "w") as f:
        for split in ("val", "test"):
            affs = intensity_affinities(np.asarray(ds.split(split).raw[...]))
            if fill is not None and split == "test":
                affs[1, 2, 3, 4] = fill
            f[f"{split}/affs"] = affs
    return path


@pytest.mark.parametrize("name", ["unet2d", "UNet2D", "cad"])
def test_score_refuses_the_name_of_a_registered_method(tmp_path, capsys, name):
    affs = _affinities_file(tmp_path / "affs.h5")
    code = main(["score", "--dataset", "synthetic", "--profile", "smoke", "--name", name,
                 "--affinities", str(affs), "--results", str(tmp_path / "results")])
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"--name {name!r} is the registered method" in line
    assert not (tmp_path / "results" / "runs").exists()


@pytest.mark.parametrize("name", ["", " ", "a/b", "../x", ".hidden", "x" * 65, "tab\tname"])
def test_score_refuses_odd_names_before_loading_data(tmp_path, capsys, monkeypatch, name):
    import bench.external

    def no_data(*args, **kwargs):
        raise AssertionError("the dataset was loaded before the name was checked")

    monkeypatch.setattr(bench.external, "load_dataset", no_data)
    code = main(["score", "--dataset", "synthetic", "--name", name, "--affinities",
                 str(tmp_path / "affs.h5"), "--results", str(tmp_path / "results")])
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("error: --name") and "run id" not in line
    assert not (tmp_path / "results").exists()


# -- 3. a report never dies of one file -------------------------------------------------------
def test_report_skips_one_corrupt_file_of_each_kind_and_writes_the_rest(hstub, tmp_path, capsys):
    results = tmp_path / "results"
    methods = ["hstub", "hstub2", "hstub3", "hstub4", "hstub5"]
    for m in methods:
        assert _run(results, method=m) == 0
    store = ResultsStore(results)
    run_of = {r["method"]: store.run_dir(r["run_id"]) for r in store.rows()}
    damaged = {
        "truncated npz": run_of["hstub"] / "overlap_tables.npz",
        "text in place of npz": run_of["hstub2"] / "overlap_tables.npz",
        "truncated metrics.json": run_of["hstub3"] / "metrics.json",
        "garbage segmentation.h5 (plot input)": run_of["hstub4"] / "segmentation.h5",
        "object-array npz": run_of["hstub5"] / "overlap_tables.npz",
    }
    data = damaged["truncated npz"].read_bytes()
    damaged["truncated npz"].write_bytes(data[: len(data) // 2])
    damaged["text in place of npz"].write_text("not an archive\n")
    text = damaged["truncated metrics.json"].read_text()
    damaged["truncated metrics.json"].write_text(text[: len(text) // 2])
    damaged["garbage segmentation.h5 (plot input)"].write_bytes(b"\x89HDF\r\n\x1a\n" + b"x" * 99)
    marker = tmp_path / "MARKER"
    object_npz(damaged["object-array npz"], marker)
    capsys.readouterr()
    assert main(["report", "--results", str(results)]) == 1
    out, err = capsys.readouterr()
    for what, path in damaged.items():
        assert f"skipped {path}:" in err, what
    assert "Traceback" not in err and not marker.exists()
    md = (results / "report" / "leaderboard.md").read_text()
    assert all(m in md for m in methods)  # every row is still on the leaderboard
    assert (results / "report" / "index.html").is_file()
    assert sorted((results / "report").glob("*_pareto.png"))


def test_report_survives_a_method_name_with_a_slash_in_a_rebuilt_database(finished, capsys):
    results, store, run_dir = finished
    doc = json.loads((run_dir / "metrics.json").read_text())
    for row in doc["rows"]:
        row["method"] = "../../outside/x"
    (run_dir / "metrics.json").write_text(json.dumps(doc))
    store.db_path.unlink()
    # the edited metrics.json no longer verifies: a rebuild names it and leaves it out ...
    assert main(["report", "--rebuild-db", "--results", str(results)]) == 2  # no rows at all
    assert "metrics.json changed since the harness wrote it" in capsys.readouterr().err
    assert store.rows() == []
    # ... unless asked to read unsigned folders as data
    assert main(["report", "--rebuild-db", "--include-unsigned", "--results", str(results)]) == 0
    assert "inserted unsigned run" in capsys.readouterr().err
    report = results / "report"
    assert "../../outside/x" in (report / "leaderboard.md").read_text()
    written = {p.resolve().parent for p in results.parent.rglob("*.png")}
    assert written == {report.resolve()}


def test_rebuild_refuses_rows_that_claim_another_run(finished, capsys):
    results, store, run_dir = finished
    copy = store.runs_dir / (run_dir.name + "-copy")
    shutil.copytree(run_dir, copy)
    doc = json.loads((copy / "metrics.json").read_text())
    doc["rows"][0]["voi"] = 0.0  # a forged result under the real run's id
    (copy / "metrics.json").write_text(json.dumps(doc))
    store.db_path.unlink()
    assert main(["report", "--rebuild-db", "--results", str(results)]) == 1
    assert "unsigned or unverifiable" in capsys.readouterr().err  # the copy is not signed
    assert main(["report", "--rebuild-db", "--include-unsigned", "--results", str(results)]) == 1
    assert "not the folder it is in" in capsys.readouterr().err
    assert [r["voi"] for r in store.rows()] != [0.0]


# -- 4. --seeds is bounded and parsed in linear time ------------------------------------------
def test_a_huge_seed_range_is_refused_at_once_without_yes():
    code = "from bench.study import parse_seeds; parse_seeds('0-100000')"
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=REPO, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("parse_seeds('0-100000') did not return within 60 s")
    assert proc.returncode != 0 and "100001 seeds; a study has at most" in proc.stderr


def test_seeds_above_the_bound_need_yes(hstub, tmp_path, capsys):
    from bench.study import CONFIRM_SEEDS_ABOVE, MAX_SEEDS, parse_seeds

    assert len(parse_seeds(f"0-{CONFIRM_SEEDS_ABOVE - 1}")) == CONFIRM_SEEDS_ABOVE
    assert parse_seeds("5-9,0-7,3") == [5, 6, 7, 8, 9, 0, 1, 2, 3, 4]
    assert len(parse_seeds(f"0-{MAX_SEEDS - 1}", confirmed=True)) == MAX_SEEDS
    with pytest.raises(ValueError, match="at most"):
        parse_seeds(f"0-{MAX_SEEDS}", confirmed=True)
    assert _run(tmp_path / "results", "--seeds", "0-100,50-150") == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "151 seeds" in line and "--yes" in line
    assert not (tmp_path / "results" / "runs").exists()
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert f"more than {CONFIRM_SEEDS_ABOVE} seeds" in " ".join(capsys.readouterr().out.split())


# -- 5. everything is checked before a folder is made or training starts ------------------------
@pytest.mark.parametrize("fill, what", [(float("nan"), "NaN or infinite"),
                                        (float("inf"), "NaN or infinite"),
                                        (1.5, "expected affinities in [0, 1]")])
def test_score_checks_values_before_making_a_folder(tmp_path, capsys, fill, what):
    affs = _affinities_file(tmp_path / "affs.h5", fill=fill)
    results = tmp_path / "results"
    code = main(["score", "--dataset", "synthetic", "--profile", "smoke", "--name", "outside",
                 "--affinities", str(affs), "--results", str(results)])
    assert code == 2 and not (results / "runs").exists()  # nothing half-made
    line = _one_error_line(capsys.readouterr().err)
    assert what in line and str(affs) in line and "test/affs" in line and "test split" in line


def test_learned_postprocessors_check_the_validation_size_before_training(
        hstub, tmp_path, capsys, monkeypatch):
    import bench.data
    from bench.data.types import Split

    real = bench.data.load_dataset

    def one_val_section(*args, **kwargs):
        ds = real(*args, **kwargs)  # a cached object: changed in a copy only
        val = ds.splits["val"]
        return dataclasses.replace(ds, splits={
            **ds.splits, "val": Split("val", val.volume, val.start, val.start + 1)})

    monkeypatch.setattr(bench.data, "load_dataset", one_val_section)
    fits = []
    monkeypatch.setattr(LoopStub, "fit", lambda *a, **k: fits.append(1))
    assert _run(tmp_path / "results", "--postprocess", "waterz,gala,lmc-rf") == 2
    assert fits == [] and not (tmp_path / "results" / "runs").exists()  # before training
    line = _one_error_line(capsys.readouterr().err)
    assert "--postprocess gala" in line and "at least 2" in line and "has 1" in line


# -- 6. every message names the file, key or option -------------------------------------------
def test_predict_returning_a_list_is_named(hstub, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(LoopStub, "predict", lambda self, raw: [0.5])
    assert _run(tmp_path / "results") == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "'hstub'" in line and "returned a list" in line and "float32" in line


def test_empty_hdf5_given_to_score_is_named(tmp_path, capsys):
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    code = main(["score", "--dataset", "synthetic", "--profile", "smoke", "--name", "outside",
                 "--segmentation", str(empty), "--results", str(tmp_path / "results")])
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--segmentation" in line and str(empty) in line and "HDF5" in line


def test_rf_checkpoint_that_is_not_skops_is_named(tmp_path, capsys):
    bogus = tmp_path / "forest.skops"
    bogus.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip archive
    code = main(["run", "--method", "rf", "--profile", "smoke", "--checkpoint", str(bogus),
                 "--results", str(tmp_path / "results")])
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(bogus) in line and "not an rf model file" in line


def test_checkpoint_without_its_modules_is_named(hstub, tmp_path, capsys):
    results = tmp_path / "results"
    assert _run(results, "--set", "stop_after=1") == 0
    run_id = ResultsStore(results).run_ids()[0]
    ckpt = results / "runs" / run_id / "train" / "checkpoint.pt"
    state = torch.load(ckpt, weights_only=True)
    del state["modules"]
    torch.save(state, ckpt)
    capsys.readouterr()
    assert main(["run", "--resume", run_id, "--results", str(results)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(ckpt) in line and "lacks modules" in line


# -- the pieces -------------------------------------------------------------------------------
def test_file_stem_keeps_every_name_inside_one_folder():
    from bench.names import file_stem

    assert file_stem("cremiA", "unet2d", "waterz") == "cremiA_unet2d_waterz"
    # a changed name carries 8 hex digits of its hash (issue 29, item 19)
    assert file_stem("../../etc/passwd").startswith("_.._etc_passwd-")
    assert "/" not in file_stem("a/b", "c\\d") and file_stem("..").startswith("file-")
    assert len(file_stem("x" * 500)) == 150


def test_provenance_refuses_an_edited_config_and_a_foreign_key(tmp_path, monkeypatch):
    from bench.provenance import sign_run, verify_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("spec: {seed: 0}\n")
    sign_run(run)
    assert verify_run(run) is None
    (run / "model.pt").write_bytes(b"planted")
    assert "model.pt was not written" in verify_run(run)
    assert verify_run(run, just_written=("model.pt",)) is None
    sign_run(run)
    assert verify_run(run) is None
    (run / "config.yaml").write_text("spec: {seed: 1}\n")
    assert "config.yaml changed" in verify_run(run)
    monkeypatch.setenv("EMSEG_BENCH_KEY_FILE", str(tmp_path / "other-key"))
    sign_run(run)  # signed by another key: that machine's run, not ours
    monkeypatch.setenv("EMSEG_BENCH_KEY_FILE", str(tmp_path / "our-key"))
    sign_run(tmp_path)  # creates our key (tmp_path has no signed files: harmless)
    assert "not signed with this machine's key" in verify_run(run)


def test_default_method_state_round_trips_without_pickle(tmp_path):
    from bench.method_state import trusted_pickle

    m = LoopStub()
    m.weights = np.arange(4.0)
    m.net = torch.nn.Linear(2, 2)
    m.meta = {"sigmas": (1.0, 2.0), 3: [np.float32(0.5), None]}
    m.save(tmp_path / "model.pt")
    other = LoopStub()
    other.net = torch.nn.Linear(2, 2)
    other.load(tmp_path / "model.pt")
    np.testing.assert_array_equal(other.weights, m.weights)
    assert other.meta == m.meta and other.config == m.config
    torch.testing.assert_close(other.net.weight, m.net.weight, rtol=0, atol=0)
    m.unsupported = Plant(tmp_path / "never")
    with pytest.raises(ValueError, match="--trust-pickle"):
        m.save(tmp_path / "pickled.pt")
    with trusted_pickle():  # the author's own method: allowed, on request
        m.unsupported = {1, 2}
        m.save(tmp_path / "pickled.pt")
        assert LoopStub().load(tmp_path / "pickled.pt").unsupported == {1, 2}
    with pytest.raises(ValueError, match="refused because reading it could run code"):
        LoopStub().load(tmp_path / "pickled.pt")
