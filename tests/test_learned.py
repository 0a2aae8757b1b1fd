"""Learned agglomeration (gala, lmc-rf): it learns, and test labels stay unread until scoring."""

from __future__ import annotations

import numpy as np
import pytest

import metrics
from bench.segment import learned, segment, select_learned
from bench.segment.convert import affinities_from_labels

#: low enough that leaky and fake boundaries both separate fragments (the errors to fix lie in
#: the agglomeration, not in the fragments)
WS_THRESHOLD = 0.25


def toy_volume(seed: int, depth: int = 6, size: int = 64, cell: int = 16):
    """Square cells stacked through z, each with its own intensity, and affinities with two
    kinds of planted errors: *leaky* true boundaries (affinity 0.45 across a boundary between
    two cells of different intensity) and *fake* boundaries (affinity 0.1 along a line through
    a cell's interior). Affinities alone rank a leaky boundary as weaker than a fake one, so
    merging by affinity must make a merge or a split error; intensity tells them apart."""
    rng = np.random.default_rng(seed)
    n = size // cell
    ids = np.arange(1, n * n + 1).reshape(n, n)
    plane = np.kron(ids, np.ones((cell, cell), dtype=np.int64))
    labels = np.repeat(plane[None], depth, axis=0).astype(np.uint64)
    level = rng.permutation(np.linspace(40, 215, n * n))
    raw = level[labels - 1] + rng.normal(0, 6, labels.shape)
    affs = affinities_from_labels(labels)
    affs = np.where(affs > 0, 0.95, 0.02).astype(np.float32)
    affs[0, 0] = 0.95  # the first section has no partner below; keep it attractive
    for i in range(n):  # leaky vertical boundaries in every other row of cells
        if i % 2 == 0:
            for j in range(1, n):
                affs[2, :, i * cell:(i + 1) * cell, j * cell] = 0.45
    for i in range(n):  # a fake horizontal boundary through the middle of every cell
        y = i * cell + cell // 2
        affs[1, :, y, :] = 0.1
    return affs, np.clip(raw, 0, 255).astype(np.uint8), labels


def unlearned_best_voi(affs, labels) -> float:
    """The same fragments and agglomeration, P(cut) = mean boundary of the edge (no learning),
    with the threshold chosen on the test volume itself: the best it could possibly do."""
    settings = {**learned._Learned.defaults(), "ws_threshold": WS_THRESHOLD}
    graph = learned.build_graph(affs, None, "2d", settings)
    p = graph.features[:, 0]  # mean of 1 - affinity over the edge's links
    grid = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
    results = learned.agglomerate(int(graph.rag.number_of_nodes), graph.uv_ids, p,
                                  graph.sizes, grid)
    return min(metrics.evaluate(labels, node[graph.fragments])["voi"] for node in results)


@pytest.mark.parametrize("method", ["gala", "lmc-rf"])
def test_learned_postprocessor_beats_unlearned_agglomeration_of_the_same_fragments(method):
    val_affs, val_raw, val_gt = toy_volume(seed=1)
    test_affs, test_raw, test_gt = toy_volume(seed=2)
    selection = select_learned(val_affs, val_gt, method, raw=val_raw, resolution_nm=(40, 4, 4),
                               n_estimators=20, ws_threshold=WS_THRESHOLD)
    seg = segment(test_affs, method, model=selection.params["model"], raw=test_raw,
                  **{selection.parameter: selection.best_value})
    learned_voi = metrics.evaluate(test_gt, seg)["voi"]
    baseline = unlearned_best_voi(test_affs, test_gt)
    assert baseline > 0.5  # the planted errors do hurt the unlearned agglomeration
    assert learned_voi < 0.5 * baseline


def test_agglomerate_merges_in_order_of_cut_probability():
    # a chain 1-2-3 with P(cut) 0.1 and 0.6: below 0.1 nothing merges, at 0.5 only 1-2
    uv = np.array([[1, 2], [2, 3]])
    p = np.array([0.1, 0.6])
    none, some, all_ = learned.agglomerate(4, uv, p, np.ones(2), [0.05, 0.5, 0.9])
    assert len(set(none[1:])) == 3
    assert some[1] == some[2] != some[3]
    assert all_[1] == all_[2] == all_[3]


def test_learned_postprocessor_without_a_fitted_model_says_how_to_get_one():
    affs, _, _ = toy_volume(seed=0, depth=2)
    with pytest.raises(ValueError, match="select_learned"):
        segment(affs, "gala")


class GuardedLabels:
    """Test labels that log every read into ``events``; slicing along z stays lazy."""

    def __init__(self, array: np.ndarray, events: list[str]):
        self.array, self.events = array, events
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, key):
        if isinstance(key, slice):
            return GuardedLabels(self.array[key], self.events)
        self.events.append("read test labels")
        return self.array[key]

    def __array__(self, dtype=None, copy=None):
        self.events.append("read test labels")
        return self.array if dtype is None else self.array.astype(dtype)


def test_pipeline_reads_test_labels_only_after_every_test_segmentation(tmp_path, monkeypatch):
    import dataclasses

    import bench.data
    import bench.segment
    from bench.pipeline import RunSpec, run
    from bench.results import ResultsStore

    events: list[str] = []
    dataset = bench.data.load_dataset("synthetic", profile="smoke")
    plain_split = dataset.split

    def guarded_split(name):
        vol = plain_split(name)
        if name == "test":
            vol = dataclasses.replace(vol, labels=GuardedLabels(np.asarray(vol.labels[...]),
                                                                events))
        return vol

    monkeypatch.setattr(dataset, "split", guarded_split)
    monkeypatch.setattr(bench.data, "load_dataset", lambda *a, **k: dataset)
    for name in ("segment", "select_parameter", "select_learned"):
        real = getattr(bench.segment, name)

        def logged(*args, _real=real, _name=name, **kwargs):
            events.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(bench.segment, name, logged)
    spec = RunSpec(method="rf", profile="smoke", postprocess=["waterz", "gala"],
                   device="cpu")
    outcome = run(spec, ResultsStore(tmp_path))
    assert [r["postprocess"] for r in outcome.rows] == ["waterz", "gala"]
    assert "select_learned" in events and "read test labels" in events
    first_read = events.index("read test labels")
    assert all(e == "read test labels" for e in events[first_read:]), events
