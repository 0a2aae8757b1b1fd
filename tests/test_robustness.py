"""What a hostile (or just unlucky) user does to the harness, and the clear refusal each gets.

One test (or more) per defect of issue 14. Training is irrelevant to most of them, so they run
a stub method: it "trains" by counting iterations in its run directory (honouring ``iters`` and
``stop_after`` like the real recipes) and predicts affinities from raw intensity. Every failure
must come before the first training step, so the stub also records whether ``fit`` ran.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.blockwise.predict import intensity_affinities
from bench.cli import build_parser, main
from bench.method import Method
from bench.registry import METHODS, Entry
from bench.results import ResultsStore

REPO = Path(__file__).resolve().parents[1]


class StubMethod(Method):
    """Counts "iterations" in ``run_dir/progress.json``; affinities from raw intensity."""

    name = "stub"
    family = "2d"
    fit_calls: list[int] = []

    def __init__(self, iters: int = 3, stop_after: int | None = None, interrupt: bool = False,
                 **config):
        super().__init__({"iters": iters, "stop_after": stop_after, "infer_overlap": 0,
                          **config})
        self.interrupt = interrupt

    def fit(self, train, val=None, *, run_dir: Path, profile: str = "quick") -> dict:
        StubMethod.fit_calls.append(1)
        if self.interrupt:
            raise KeyboardInterrupt
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        progress = run_dir / "progress.json"
        start = json.loads(progress.read_text())["step"] if progress.exists() else 0
        stop = self.config["stop_after"]
        step = min(self.config["iters"], start + (stop if stop else self.config["iters"]))
        progress.write_text(json.dumps({"step": step}))
        return {"step": step, "finished": step >= self.config["iters"]}

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return intensity_affinities(raw)

    def n_parameters(self) -> int:
        return 0

    def save(self, path) -> None:
        Path(path).write_text("stub")

    def load(self, path) -> StubMethod:
        return self


def _stub_factory(profile="quick", device="cpu", seed=0, **overrides):
    return StubMethod(**overrides)


@pytest.fixture
def stub(monkeypatch):
    METHODS.get("cad")  # load the built-in registry first
    monkeypatch.setitem(METHODS._entries, "stub", Entry("stub", _stub_factory, "2d", "stub"))
    StubMethod.fit_calls = []
    return StubMethod


def _run(results: Path, *extra: str) -> int:
    return main(["run", "--method", "stub", "--profile", "smoke", "--device", "cpu",
                 "--results", str(results), *extra])


def _h5_dataset(path: Path, labels_dtype=np.uint32, negative: bool = False) -> Path:
    from bench.data import load_dataset

    vol = load_dataset("synthetic", profile="smoke").volumes["volume"]
    labels = np.asarray(vol.labels).astype(labels_dtype)
    if negative:
        labels[-1, 0, 0] = -1
    with h5py.File(path, "w") as f:
        f["raw"] = np.asarray(vol.raw)
        f["labels"] = labels
    return path


# -- 1. a dataset given as a file spec ------------------------------------------------------
def test_file_spec_run_stays_inside_results_and_is_resumable_and_rebuildable(
        stub, tmp_path, monkeypatch, capsys):
    data = tmp_path / "my data" / "deep"
    data.mkdir(parents=True)
    _h5_dataset(data / "vol.h5")
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results"
    assert _run(results, "--dataset", "my data/deep/vol.h5:raw:labels") == 0
    runs = [p for p in (results / "runs").iterdir()]
    assert len(runs) == 1 and (runs[0] / "metrics.json").exists()  # one level, inside results
    assert not any(p.name == "runs" for p in (tmp_path / "my data").rglob("*"))
    store = ResultsStore(results)
    row = store.rows()[0]
    assert row["run_id"] == runs[0].name and "/" not in row["dataset"]
    assert row["dataset"].startswith("vol-")
    (runs[0] / "metrics.json").unlink()  # an interrupted run: resumable by the stored id
    assert main(["run", "--resume", row["run_id"], "--results", str(results)]) == 0
    store.db_path.unlink()
    assert main(["report", "--rebuild-db", "--results", str(results)]) == 0
    assert "rebuilt 1 rows" in capsys.readouterr().out
    assert sorted(p.name for p in (results / "report").glob("*.png"))  # in the report folder
    assert not list(data.glob("*.png"))


@pytest.mark.parametrize("bad", ["../../x", "a/b", "..", ".hidden"])
def test_resume_refuses_a_run_id_that_is_not_one_path_component(tmp_path, capsys, bad):
    assert main(["run", "--resume", bad, "--results", str(tmp_path)]) == 2
    assert "single path component" in capsys.readouterr().err


# -- 2. two processes on one run directory ---------------------------------------------------
_HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def _hold(lock_file: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(lock_file)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_resume_of_a_busy_run_is_refused_and_a_dead_holder_blocks_nothing(
        stub, tmp_path, capsys):
    results = tmp_path / "results"
    assert _run(results, "--set", "stop_after=1") == 0
    run_id = ResultsStore(results).run_ids()[0]
    holder = _hold(results / "runs" / run_id / ".lock")
    try:
        assert main(["run", "--resume", run_id, "--results", str(results)]) == 2
        assert "in use by another process" in capsys.readouterr().err
        assert len(stub.fit_calls) == 1  # the refused resume did not train
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the killed holder's lock died with it
    assert main(["run", "--resume", run_id, "--results", str(results)]) == 0


# -- 3. blockwise timing of a resumed run, and the interval ----------------------------------
def test_resumed_blockwise_run_is_timed_on_its_own_work_and_has_an_interval(stub, tmp_path):
    results = tmp_path / "results"
    assert _run(results, "--blockwise", "--block-shape", "4,48,96", "--workers", "2") == 0
    store = ResultsStore(results)
    run_id = store.run_ids()[0]
    run_dir = store.run_dir(run_id)
    first = store.rows()[0]
    assert first["voi_ci_low"] is not None and first["voi_ci_high"] is not None
    assert first["voi_ci_low"] <= first["voi_ci_high"]
    # an interruption before the last of 4 prediction blocks: only it is predicted again
    (run_dir / "metrics.json").unlink()
    markers = sorted((run_dir / "test.zarr.blockwise" / "predict").glob("*.npz"))
    assert len(markers) == 4  # the 8x96x96 test split in 4x48x96 blocks
    markers[0].unlink()
    assert main(["run", "--resume", run_id, "--results", str(results)]) == 0
    blockwise = json.loads((run_dir / "metrics.json").read_text())["details"]["waterz"][
        "blockwise"]
    assert blockwise["voxels_run"]["predict"] == 4 * 48 * 96
    assert blockwise["voxels_run"]["agglomerate"] == 0
    resumed = store.rows()[0]
    # throughput from the one block this process predicted, not the whole volume
    expected = 4 * 48 * 96 / blockwise["seconds"]["predict"]
    assert resumed["infer_voxels_per_s"] == pytest.approx(expected)
    assert resumed["postprocess_voxels_per_s"] is None  # no segmentation work was done here
    assert math.isnan(blockwise["voxels_per_s"])
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["torch_threads"] == 1 and env["omp_wait_policy"]  # one thread per Dask worker


# -- 4. stop_after, and --set values of the wrong type ---------------------------------------
def test_stopped_training_records_nothing_until_a_resume_finishes_it(stub, tmp_path, capsys):
    results = tmp_path / "results"
    assert _run(results, "--set", "stop_after=2") == 0
    out = capsys.readouterr().out
    store = ResultsStore(results)
    run_id = store.run_ids()[0]
    assert f"--resume {run_id}" in out and "stopped at iteration 2 of 3" in out
    assert store.rows() == []
    assert not (store.run_dir(run_id) / "model.pt").exists()
    assert not (store.run_dir(run_id) / "predictions.h5").exists()
    assert main(["run", "--resume", run_id, "--results", str(results)]) == 0
    assert len(stub.fit_calls) == 2  # the resume trained on: it did not take training as done
    assert len(store.rows()) == 1


def test_a_fractional_iteration_count_is_refused():
    with pytest.raises(ValueError, match="'iters'.*integer.*2.7"):
        METHODS.create("cad", profile="smoke", iters=2.7)


def test_a_non_numeric_learning_rate_names_the_key(tmp_path, capsys):
    code = main(["run", "--method", "cad", "--profile", "smoke", "--results", str(tmp_path),
                 "--device", "cpu", "--set", "lr=fast"])
    assert code == 2
    err = capsys.readouterr().err
    assert "'lr'" in err and "fast" in err
    assert not (tmp_path / "runs").exists()


# -- 5. damaged HDF5 files -------------------------------------------------------------------
def test_zero_byte_hdf5_dataset_names_the_file(tmp_path, capsys):
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    code = main(["run", "--method", "cad", "--dataset", f"{empty}:raw:labels",
                 "--results", str(tmp_path / "results"), "--device", "cpu"])
    assert code == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "HDF5" in err


def test_truncated_file_under_data_root_is_an_error_with_nonzero_exit(tmp_path, capsys):
    good = _h5_dataset(tmp_path / "good.h5")
    (tmp_path / "wafer4").mkdir()
    for name in ("wafer4_inputs.h5", "wafer4_labels.h5"):
        (tmp_path / "wafer4" / name).write_bytes(good.read_bytes()[:1000])  # truncated
    assert main(["data", "check", "--data-root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "ERROR   wafer4" in out and "wafer4_inputs.h5" in out
    code = main(["run", "--method", "cad", "--dataset", "wafer4", "--data-root", str(tmp_path),
                 "--results", str(tmp_path / "results"), "--device", "cpu"])
    assert code == 2 and "wafer4_inputs.h5" in capsys.readouterr().err


def test_eval_of_a_corrupt_file_names_it(tmp_path, capsys):
    seg = _h5_dataset(tmp_path / "seg.h5")
    bad = tmp_path / "gt.h5"
    bad.write_bytes(b"not hdf5 at all" * 10)
    assert main(["eval", "--gt", f"{bad}:labels", "--seg", f"{seg}:labels"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "--gt" in err


# -- 6. everything checkable is checked before the first training step ------------------------
@pytest.mark.parametrize("args, message", [
    (["--block-shape", "0,64,64", "--blockwise"], "--block-shape"),
    (["--workers", "0", "--blockwise"], "--workers"),
    (["--postprocess", "mws"], "mws"),
])
def test_bad_options_fail_before_training(stub, tmp_path, capsys, args, message):
    assert _run(tmp_path / "results", *args) == 2
    assert message in capsys.readouterr().err
    assert stub.fit_calls == []
    assert not (tmp_path / "results" / "runs").exists()


def test_corrupt_leaderboard_fails_before_training(stub, tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / "leaderboard.sqlite").write_bytes(b"garbage" * 1000)
    assert _run(results) == 2
    assert "leaderboard.sqlite is corrupt" in capsys.readouterr().err
    assert stub.fit_calls == []


def test_negative_label_ids_fail_before_training(stub, tmp_path, capsys):
    data = _h5_dataset(tmp_path / "neg.h5", labels_dtype=np.int32, negative=True)
    assert _run(tmp_path / "results", "--dataset", f"{data}:raw:labels") == 2
    assert "negative label ids" in capsys.readouterr().err
    assert stub.fit_calls == []


# -- 7. messages, not tracebacks -------------------------------------------------------------
@pytest.mark.parametrize("device", ["foo", "cuda"])
def test_unusable_device_is_a_message(stub, tmp_path, capsys, device):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["run", "--method", "stub", "--device", device,
                 "--results", str(tmp_path)]) == 2
    assert f"--device '{device}'" in capsys.readouterr().err
    assert stub.fit_calls == []


def test_results_pointing_at_a_file_is_a_message(stub, tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    assert _run(target) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_malformed_config_yaml_names_the_file(tmp_path, capsys):
    cfg = tmp_path / "recipe.yaml"
    cfg.write_text("iters: [1, 2\nlr: :")
    assert main(["run", "--method", "cad", "--config", str(cfg),
                 "--results", str(tmp_path)]) == 2
    assert str(cfg) in capsys.readouterr().err


def test_rebuild_skips_a_malformed_metrics_file_by_name_and_keeps_the_rest(
        stub, tmp_path, capsys):
    results = tmp_path / "results"
    assert _run(results) == 0
    assert _run(results) == 0
    store = ResultsStore(results)
    bad_id, good_id = store.run_ids()
    (store.run_dir(bad_id) / "metrics.json").write_text('{"rows": [{"run_id": ')
    store.db_path.unlink()
    assert main(["report", "--rebuild-db", "--results", str(results)]) == 1
    captured = capsys.readouterr()
    assert "rebuilt 1 rows" in captured.out
    assert f"skipped run {bad_id}" in captured.err and "metrics.json" in captured.err
    assert [r["run_id"] for r in store.rows()] == [good_id]


# -- 8. --resume with other options, --help, Ctrl-C, -0.000 -----------------------------------
def test_resume_with_another_method_or_profile_is_refused(stub, tmp_path, capsys):
    results = tmp_path / "results"
    assert _run(results, "--set", "stop_after=1") == 0
    run_id = ResultsStore(results).run_ids()[0]
    for extra in (["--method", "cad"], ["--profile", "quick"]):
        assert main(["run", "--resume", run_id, "--results", str(results), *extra]) == 2
        err = capsys.readouterr().err
        assert extra[0] in err and "--resume" in err
    assert len(stub.fit_calls) == 1


def test_run_help_shows_a_recipe_key_that_exists(capsys):
    from bench.train.recipe import load_recipe
    from cad.methods import CAD_RECIPE

    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    example = text.split("e.g. --set ")[1].split("=")[0]
    assert example in load_recipe(CAD_RECIPE, "quick")


def test_interrupted_run_prints_the_resume_command(stub, tmp_path, capsys):
    results = tmp_path / "results"
    assert _run(results, "--set", "interrupt=true") == 130
    run_id = ResultsStore(results).run_ids()[0]
    assert f"--resume {run_id}" in capsys.readouterr().err


def test_voi_of_a_perfect_match_is_plus_zero_and_never_printed_negative():
    import metrics
    from bench.text_tables import format_rows

    gt = np.arange(2 * 4 * 4, dtype=np.uint64).reshape(2, 4, 4) // 8 + 1
    scores = metrics.evaluate(gt, gt)
    assert math.copysign(1.0, scores["voi_split"]) == 1.0
    assert math.copysign(1.0, scores["voi_merge"]) == 1.0
    table = format_rows([{"method": "m", "voi": -0.0, "voi_split": -0.0001, "voi_merge": 0.0}])
    assert "-0.000" not in table


# -- threads ---------------------------------------------------------------------------------
def test_command_line_sets_a_passive_openmp_wait_before_torch_loads():
    code = ("import os, sys; os.environ.pop('OMP_WAIT_POLICY', None); import bench.cli; "
            "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, cwd=REPO).stdout.split()
    assert out == ["PASSIVE", "False"]


def test_threads_option_is_used_and_recorded(stub, tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        assert _run(tmp_path / "results", "--threads", "1") == 0
        run_dir = next((tmp_path / "results" / "runs").iterdir())
        env = json.loads((run_dir / "environment.json").read_text())
        assert env["torch_threads"] == 1
        assert env["available_cores"] == len(os.sched_getaffinity(0))
    finally:
        torch.set_num_threads(before)


def test_perf_train_measures_alone_and_busy_in_one_run():
    from bench.perf.train import measure

    r = measure("unet2d", "smoke", iters=1, threads=1)
    assert r["seconds_per_iter_alone"] > 0 and r["seconds_per_iter_busy"] > 0
    assert r["ratio"] == pytest.approx(r["seconds_per_iter_busy"] / r["seconds_per_iter_alone"])
    assert len(r["phases_alone"]) == len(r["phases_busy"]) == 2
    # the patch sampler's share of an iteration is measured, not assumed
    assert 0.0 < r["sampling_share_alone"] < 1.0 and 0.0 < r["sampling_share_busy"] < 1.0
    assert r["device"] == "cpu" and r["peak_gpu_memory_gib"] is None
