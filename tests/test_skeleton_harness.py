"""ERL/NERL in the harness: selection by NERL, skeleton cache, per-neuron errors, the leaderboard
migration and the neuroglancer view (state building and binding; no browser)."""

from __future__ import annotations

import sqlite3

import h5py
import numpy as np
import pytest
import yaml

import metrics
from bench import neuron_errors
from bench.results import COLUMNS, ResultsStore
from bench.segment import affinities_from_labels, select_parameter
from bench.skeletons import cached_skeletons

RES = (40.0, 4.0, 4.0)


def rods() -> np.ndarray:
    gt = np.zeros((12, 32, 48), np.uint64)
    gt[:, 3:9, 3:9] = 5
    gt[:, 3:9, 20:26] = 9
    gt[:, 20:28, 30:40] = 2
    return gt


def test_selection_by_nerl_can_differ_from_selection_by_voi():
    gt = rods()
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.3, (3, *gt.shape))
    affs = np.clip(affinities_from_labels(gt) + noise, 0, 1).astype(np.float32)

    def scorer(_gt, seg):  # VOI prefers few segments, NERL prefers many: opposite choices
        n = float(len(np.unique(seg)))
        return {"voi_split": 0.0, "voi_merge": n, "voi": n, "arand": 0.0, "nerl": n / 100}

    by_voi = select_parameter(affs, gt, "waterz", values=[0.1, 0.5, 0.99], evaluate=scorer)
    by_nerl = select_parameter(affs, gt, "waterz", values=[0.1, 0.5, 0.99], evaluate=scorer,
                               criterion="nerl")
    fewest = min(by_voi.curve, key=lambda r: (r["voi"], r["value"]))["value"]
    most = max(by_nerl.curve, key=lambda r: (r["nerl"], -r["value"]))["value"]
    assert by_voi.best_value == fewest and by_nerl.best_value == most
    assert (by_voi.best_value, by_nerl.best_value) == (0.99, 0.1)  # noise: more cuts at 0.1
    assert "nerl" in by_nerl.curve[0] and by_nerl.stats["criterion"] == "nerl"
    with pytest.raises(ValueError, match="criterion"):
        select_parameter(affs, gt, "waterz", values=[0.5], criterion="erl")


def test_skeletons_are_cached_per_volume_and_parameters(tmp_path):
    gt = rods()
    first = cached_skeletons(gt, RES, tmp_path, name="rods-test")
    again = cached_skeletons(gt, RES, tmp_path, name="rods-test")
    assert len(list(tmp_path.glob("rods-test-*.npz"))) == 1
    assert np.array_equal(first.edges, again.edges)
    cached_skeletons(gt, RES, tmp_path, name="rods-test",
                     params=metrics.SkeletonParams(const_nm=100.0))
    other = gt.copy()
    other[:, 3:9, 3:9] = 0
    cached_skeletons(other, RES, tmp_path, name="rods-test")
    assert len(list(tmp_path.glob("rods-test-*.npz"))) == 3  # new parameters, new volume


def test_neuron_errors_name_the_split_and_the_merged_neurons(tmp_path):
    gt = rods()
    seg = gt.copy()
    seg[6:][gt[6:] == 5] = 7  # 5 split in two
    seg[gt == 2] = 9  # 2 and 9 merged
    sk = metrics.skeletonize(gt, RES)
    raw = np.zeros(gt.shape, np.uint8)
    test = type("Test", (), {"labels": gt, "raw": raw})()
    with h5py.File(tmp_path / "c.h5", "w") as f:
        out = neuron_errors.analyse(test, seg, sk, f.create_group("errors/waterz"))
        assert set(f["errors/waterz"]) == {str(i) for i in range(len(out["worst"]))}
        assert f["errors/waterz/0/seg"].ndim == 2
    by = {r["label"]: r for r in out["neurons"]}
    assert by[5]["error"] == "split" and by[5]["voi_split"] > 0 and by[5]["n_segments"] == 2
    assert by[2]["error"] == "merge" and by[2]["merged_with"] == [9]
    assert by[9]["merged_with"] == [2] and by[9]["run_nm"] == 0.0
    assert seg[tuple(by[2]["position"])] == 9  # the position shows the merge
    assert [r["label"] for r in out["worst"]][:2] in ([2, 9], [9, 2])
    assert (out["scores"]["n_splits"], out["scores"]["n_merges"]) == (1, 1)


def test_an_old_leaderboard_gains_the_new_columns(tmp_path):
    old = {k: v for k, v in COLUMNS.items() if k not in ("erl_nm", "nerl", "n_merges",
                                                          "n_splits")}
    con = sqlite3.connect(tmp_path / "leaderboard.sqlite")
    con.execute("CREATE TABLE results ({}, PRIMARY KEY (run_id, postprocess, split))".format(
        ", ".join(f"{k} {v}" for k, v in old.items())))
    con.execute("INSERT INTO results (run_id, created, method, dataset, split, postprocess, voi)"
                " VALUES ('old', '2026', 'cad', 'synthetic', 'test', 'waterz', 1.5)")
    con.commit()
    con.close()
    store = ResultsStore(tmp_path)
    (row,) = store.rows()
    assert row["voi"] == 1.5 and row["nerl"] is None and row["n_merges"] is None
    store.add_rows([{**row, "run_id": "new", "nerl": 0.5, "n_merges": 3}])
    assert {r["run_id"]: r["nerl"] for r in store.rows()} == {"old": None, "new": 0.5}


@pytest.fixture
def fake_run(tmp_path):
    """A run directory of the synthetic smoke test split with its outputs, no training."""
    from bench.data import load_dataset

    test = load_dataset("synthetic", profile="smoke").split("test").load()
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    spec = {"method": "cad", "dataset": "synthetic", "profile": "smoke", "seed": 0}
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"spec": spec}))
    with h5py.File(run_dir / "predictions.h5", "w") as f:
        f["test/affs"] = affinities_from_labels(test.labels)
    with h5py.File(run_dir / "segmentation.h5", "w") as f:
        f["waterz"] = test.labels
        f["panels/z"] = np.array([0])
    return run_dir, test


def test_view_state_has_every_layer_in_nm(fake_run):
    pytest.importorskip("neuroglancer")
    from bench.view import build_state, run_layers

    run_dir, test = fake_run
    layers, resolution = run_layers(run_dir)
    assert [la.name for la in layers] == ["raw", "ground truth", "affinities",
                                          "segmentation waterz"]
    assert resolution == test.resolution_nm
    state = build_state(layers, resolution, position=(2, 10, 20))
    assert [la.type for la in state.layers] == ["image", "segmentation", "image", "segmentation"]
    assert list(state.position) == [2.5, 10.5, 20.5]
    assert list(state.dimensions.scales) == pytest.approx([r * 1e-9 for r in resolution])
    assert "emitRGB" in state.layers["affinities"].shader


def test_view_serves_on_localhost_only(fake_run, monkeypatch):
    ng = pytest.importorskip("neuroglancer")
    from bench import view

    class FakeViewer:  # no web server is started in the test
        def set_state(self, state):
            self.state = state

    monkeypatch.setattr(ng, "Viewer", FakeViewer)
    bound = {}
    monkeypatch.setattr(ng, "set_server_bind_address",
                        lambda address, bind_port=0: bound.update(address=address))
    viewer = view.serve(fake_run[0], position=None)
    assert bound["address"] == "127.0.0.1" == view.BIND_ADDRESS
    assert len(viewer.state.layers) == 4


def test_run_select_nerl_reaches_the_run_spec(monkeypatch, tmp_path):
    import bench.pipeline
    from bench.cli import main

    seen = []

    def fake_run(spec, store, run_id=None):
        seen.append(spec)
        return bench.pipeline.RunOutcome("r", tmp_path, [])

    monkeypatch.setattr(bench.pipeline, "run", fake_run)
    assert main(["run", "--method", "unet2d", "--profile", "smoke", "--select", "nerl",
                 "--results", str(tmp_path)]) == 0
    assert seen[0].select == "nerl"
    with pytest.raises(SystemExit):  # argparse refuses anything but voi and nerl
        main(["run", "--method", "unet2d", "--select", "erl"])
