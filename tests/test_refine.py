"""bench.segment.refine.split_fragments on hand-built fragments and affinities."""

from __future__ import annotations

import numpy as np
import pytest

from bench.segment import affinities_from_labels
from bench.segment.refine import split_fragments


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two label volumes are equal up to renaming ids."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


def test_a_strongly_connected_fragment_with_a_weak_fringe_is_unchanged():
    # one object (1) with a membrane (0) around it, all in one fragment
    objects = np.zeros((1, 5, 5), np.uint64)
    objects[0, 1:4, 1:4] = 1
    frags = np.ones_like(objects)
    out = split_fragments(frags, affinities_from_labels(objects))
    assert out.dtype == np.uint64 and (out == 1).all()


def test_a_sliver_flooded_from_the_wrong_seed_moves_to_its_object():
    # objects A (1) | membrane | B (2); the watershed gave A's fragment B's first column
    objects = np.array([[[1, 1, 0, 2, 2, 2]] * 3], np.uint64)
    frags = np.array([[[7, 7, 7, 7, 9, 9]] * 3], np.uint64)
    out = split_fragments(frags, affinities_from_labels(objects))
    assert same_partition(out[objects > 0], objects[objects > 0])
    assert out[0, 0, 2] == out[0, 0, 0]  # the membrane stays with the main piece


def test_a_voxel_joined_only_along_z_keeps_its_own_fragment():
    objects = np.zeros((2, 3, 5), np.uint64)
    objects[0, :, 3:] = 2  # section 0: object 2 only on the right
    objects[1, :, :2] = 1
    objects[1, :, 3:] = 2
    objects[1, 1, 3] = 0
    objects[0, 1, 1] = 1  # object 1's voxel in section 0, in-plane alone, joined along z
    frags = np.zeros_like(objects)
    frags[0, :, :3], frags[0, :, 3:] = 1, 2  # the watershed put it with the left membrane
    frags[1, :, :3], frags[1, :, 3:] = 3, 4
    affs = affinities_from_labels(objects)
    out = split_fragments(frags, affs)
    lonely = out[0, 1, 1]
    assert (out[0] == lonely).sum() == 1  # alone: it took no membrane with it
    assert out[0, 0, 0] != lonely and out[0, 0, 0] == out[0, 2, 2]


def test_an_organelle_tied_to_its_own_fragment_stays():
    # a cell (1) with an organelle (2) inside a weak ring, the same in both sections: the
    # organelle is a separate piece, but tied along z to where its cell's fragment is
    section = np.ones((7, 7), np.uint64)
    section[0, :] = section[-1, :] = section[:, 0] = section[:, -1] = 0
    section[2:5, 2:5] = 0
    section[3, 3] = 2
    section[2, 3] = section[3, 2] = 2  # a 3-voxel organelle
    objects = np.stack([section, section])
    frags = np.stack([np.full((7, 7), 5, np.uint64), np.full((7, 7), 6, np.uint64)])
    out = split_fragments(frags, affinities_from_labels(objects))
    assert same_partition(out, frags)


def test_a_piece_joined_to_two_other_fragments_becomes_its_own():
    # fragment 2 = the top middle voxel + the weak bottom row; strong edges join that voxel to
    # fragment 1 on its left and fragment 3 on its right, so it may belong to either
    affs = np.zeros((3, 1, 2, 3), np.float32)
    affs[2, 0, 0, 1] = affs[2, 0, 0, 2] = 1.0  # x channel: links (0, x) and (0, x - 1)
    frags = np.array([[[1, 2, 3], [2, 2, 2]]], np.uint64)
    out = split_fragments(frags, affs)
    assert len({out[0, 0, 0], out[0, 0, 1], out[0, 0, 2], out[0, 1, 0]}) == 4
    assert (out[0, 1] == out[0, 1, 0]).all()  # fragment 2 keeps its weak voxels


def test_3d_mode_moves_pieces_along_z():
    objects = np.zeros((3, 3, 3), np.uint64)
    objects[0], objects[1:] = 1, 2
    frags = np.ones_like(objects)
    frags[2] = 2  # the 3D watershed gave section 1 of object 2 to object 1's fragment
    out = split_fragments(frags, affinities_from_labels(objects), mode="3d")
    assert same_partition(out, objects)


def test_bad_arguments_are_named():
    frags = np.ones((2, 3, 3), np.uint64)
    with pytest.raises(ValueError, match="mode"):
        split_fragments(frags, np.ones((3, 2, 3, 3), np.float32), mode="4d")
    with pytest.raises(ValueError, match="threshold"):
        split_fragments(frags, np.ones((3, 2, 3, 3), np.float32), threshold=1.0)
    with pytest.raises(ValueError, match=r"\(C >= 3, 2, 3, 3\)"):
        split_fragments(frags, np.ones((3, 2, 3, 4), np.float32))
