"""Expected run length, NERL and skeleton split/merge counts on hand-made neurites."""

from __future__ import annotations

import json

import numpy as np
import pytest

from metrics import SkeletonParams, Skeletons, skeleton_errors, skeleton_scores, skeletonize

RES = (40.0, 4.0, 4.0)  # anisotropic (z, y, x) nm, like serial-section EM


def rods(n_z: int = 30) -> np.ndarray:
    """Two straight neurites along z (labels 5 and 9) and one along x (label 3)."""
    gt = np.zeros((n_z, 40, 90), np.uint64)
    gt[:, 4:10, 4:10] = 5
    gt[:, 4:10, 20:26] = 9
    gt[n_z // 2 - 2:n_z // 2 + 2, 25:31, 5:85] = 3
    return gt


@pytest.fixture(scope="module")
def gt() -> np.ndarray:
    return rods()


@pytest.fixture(scope="module")
def skel(gt) -> Skeletons:
    return skeletonize(gt, RES)


def lengths(skel: Skeletons) -> dict[int, float]:
    return dict(zip(skel.labels.tolist(), skel.lengths_nm.tolist(), strict=True))


def test_lengths_follow_the_zyx_resolution(skel, gt):
    # a rod along z spans 29 steps of 40 nm; the x rod spans 79 steps of 4 nm, plus at most its
    # 3 steps in z when the path ends in opposite corners: kimimaro's x, y, z order must not
    # swap z and x (which would make it ~3,000 nm)
    length = lengths(skel)
    assert length[5] == pytest.approx(29 * 40.0)
    assert length[9] == pytest.approx(29 * 40.0)
    assert 79 * 4.0 <= length[3] <= 79 * 4.0 + 3 * 40.0 + 6 * 4.0
    assert np.array_equal(gt[tuple(skel.nodes.T)], skel.labels[skel.node_skeleton])


def test_perfect_segmentation_gives_nerl_one_and_no_errors(skel, gt):
    s = skeleton_scores(skel, gt)
    assert s["nerl"] == 1.0
    assert s["erl_nm"] == pytest.approx(s["max_erl_nm"])
    assert s["max_erl_nm"] == pytest.approx(sum(v ** 2 for v in lengths(skel).values())
                                             / sum(lengths(skel).values()))
    assert (s["n_merges"], s["n_splits"], s["n_omitted_nodes"]) == (0, 0, 0)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_k_equal_pieces_divide_the_run_length_by_k(skel, gt, k):
    # cut rod 5 (30 sections) into k pieces of 30/k sections, each its own segment
    seg = gt.copy()
    piece = np.arange(gt.shape[0]) // (gt.shape[0] // k)
    rod = gt == 5
    seg[rod] = (100 + piece[:, None, None] * np.ones_like(gt))[rod]
    err = {e["label"]: e for e in skeleton_errors(skel, seg)}
    full = lengths(skel)[5]
    # each piece keeps 30/k - 1 edges of 40 nm; the k - 1 edges between pieces are cut
    piece_nm = (gt.shape[0] // k - 1) * 40.0
    assert err[5]["run_nm"] == pytest.approx(k * piece_nm ** 2 / full)
    assert err[5]["run_nm"] == pytest.approx(full / k, rel=k * 40.0 / full * 2)
    assert err[9]["run_nm"] == pytest.approx(lengths(skel)[9])  # untouched neighbours
    s = skeleton_scores(skel, seg)
    assert (s["n_splits"], s["n_merges"]) == (k - 1, 0)
    assert err[5]["n_segments"] == k and err[5]["split_at"] is not None


def test_merging_two_neurites_zeroes_both_and_counts_one_merge(skel, gt):
    seg = np.where(gt == 9, 5, gt).astype(np.uint64)
    err = {e["label"]: e for e in skeleton_errors(skel, seg)}
    assert err[5]["run_nm"] == 0.0 and err[9]["run_nm"] == 0.0
    assert err[5]["merged_with"] == [9] and err[9]["merged_with"] == [5]
    assert err[3]["run_nm"] == pytest.approx(lengths(skel)[3])
    s = skeleton_scores(skel, seg)
    assert (s["n_merges"], s["n_splits"], s["n_merged_skeletons"]) == (1, 0, 2)
    assert s["erl_nm"] == pytest.approx(lengths(skel)[3] ** 2 / sum(lengths(skel).values()))


def test_three_neurites_in_one_segment_are_two_merges(skel, gt):
    seg = np.where(gt > 0, 1, 0).astype(np.uint64)
    s = skeleton_scores(skel, seg)
    assert (s["n_merges"], s["erl_nm"], s["nerl"]) == (2, 0.0, 0.0)


def test_small_merges_can_be_ignored(skel, gt):
    # a sliver of rod 9 (its first two sections) is given rod 5's id: a two-node merge
    seg = gt.copy()
    seg[:2][gt[:2] == 9] = 5
    assert skeleton_scores(skel, seg)["n_merges"] == 1
    forgiving = skeleton_scores(skel, seg, ignore_merges_below=3)
    assert forgiving["n_merges"] == 0
    assert skeleton_errors(skel, seg, ignore_merges_below=3)[1]["run_nm"] > 0  # rod 5 intact


def test_background_under_a_skeleton_is_an_omission_not_a_merge(skel, gt):
    seg = gt.copy()
    seg[10:20][gt[10:20] == 5] = 0
    s = skeleton_scores(skel, seg)
    assert (s["n_merges"], s["n_splits"], s["n_omitted_nodes"]) == (0, 0, 10)
    # the 11 edges touching the gap are lost; as in funlib, the two ends keep one id and so
    # count as one run of 18 edges (runs are summed per segment, not per connected piece)
    run_5 = skeleton_errors(skel, seg)[1]["run_nm"]
    assert run_5 == pytest.approx((18 * 40.0) ** 2 / (29 * 40.0))


def test_scores_do_not_depend_on_label_values(skel, gt):
    rng = np.random.default_rng(0)
    seg = gt.copy()
    seg[15:][gt[15:] == 5] = 11  # one split
    seg[gt == 3] = 9  # one merge
    ids = np.unique(seg)
    new = rng.choice(2**40, size=len(ids), replace=False).astype(np.uint64) + 1
    new[ids == 0] = 0
    relabelled = new[np.searchsorted(ids, seg)]
    regt = np.where(gt > 0, gt * np.uint64(7_000_000_019), 0).astype(np.uint64)
    a = skeleton_scores(skel, seg)
    b = skeleton_scores(regt, relabelled, resolution=RES)
    assert a == pytest.approx(b)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="resolution"):
        skeleton_scores(rods(), rods())
    with pytest.raises(ValueError, match="shape"):
        skeleton_scores(skeletonize(rods(), RES), rods(12), resolution=RES)
    with pytest.raises(TypeError, match="gt"):
        skeletonize(rods().astype(np.float32), RES)


def test_skeletons_round_trip_through_a_file(skel, tmp_path):
    skel.save(tmp_path / "s.npz")
    back = Skeletons.load(tmp_path / "s.npz")
    assert back.params == skel.params == SkeletonParams().as_dict()
    assert back.resolution == RES and np.array_equal(back.edges, skel.edges)
    assert np.allclose(back.lengths_nm, skel.lengths_nm)


def test_bench_eval_erl_json_prints_the_skeleton_scores(tmp_path, gt, capsys):
    import h5py

    from bench.cli import main

    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        f["gt"] = gt
        f["gt"].attrs["resolution"] = RES
        f["seg"] = np.where(gt == 9, 5, gt)
    assert main(["eval", "--gt", f"{path}:gt", "--seg", f"{path}:seg", "--erl", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["n_merges"], out["n_splits"]) == (1, 0)
    assert 0 < out["nerl"] < 1 and out["erl_nm"] == pytest.approx(out["nerl"] * out["max_erl_nm"])
    assert out["resolution_nm"] == list(RES) and out["skeleton_params"]["dust_voxels"] == 100


def test_bench_eval_erl_without_resolution_says_so(tmp_path, gt, capsys):
    from bench.cli import main

    np.save(tmp_path / "gt.npy", gt)
    assert main(["eval", "--gt", str(tmp_path / "gt.npy"), "--seg", str(tmp_path / "gt.npy"),
                 "--erl"]) == 2
    assert "--erl needs --resolution" in capsys.readouterr().err


def test_voi_terms_per_gt_label_sum_to_the_totals_and_sit_on_the_right_neurons(gt):
    import metrics

    seg = gt.copy()
    seg[15:][gt[15:] == 5] = 11  # label 5 split
    seg[gt == 3] = 9  # labels 3 and 9 merged
    table = metrics.overlap_table(gt, seg)
    terms = metrics.voi_by_gt_label(table)
    total = metrics.evaluate(gt, seg)
    assert terms["split"].sum() == pytest.approx(total["voi_split"])
    assert terms["merge"].sum() == pytest.approx(total["voi_merge"])
    by = dict(zip(terms["gt_ids"].tolist(), zip(terms["split"], terms["merge"], strict=True),
                  strict=True))
    assert by[5][0] > 0 and by[5][1] == 0
    assert by[3][0] == 0 and by[3][1] > 0 and by[9][1] > 0
