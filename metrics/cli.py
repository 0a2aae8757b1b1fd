"""``python -m bench eval``: score a segmentation file against a ground-truth file."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack

import numpy as np

from metrics.evaluate import evaluate
from metrics.io import open_labels
from metrics.scores import CONVENTIONS
from metrics.skeleton import SkeletonParams, skeleton_scores

_ORDER = ("voi_split", "voi_merge", "voi", "arand", "cremi_score", "rand_precision",
          "rand_recall", "n_voxels")
_SKELETON_ORDER = ("erl_nm", "max_erl_nm", "nerl", "n_splits", "n_merges", "n_skeletons")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score a segmentation against a ground truth (VOI, ARAND, CREMI score, ERL)",
        description="Score --seg against --gt. Files: HDF5 (FILE.h5[:KEY]), zarr (DIR.zarr[:KEY]), "
        "TIFF or .npy. VOI split = H(seg|gt), merge = H(gt|seg), in bits; see metrics.scores.",
    )
    p.add_argument("--gt", required=True, metavar="FILE[:KEY]", help="ground-truth labels")
    p.add_argument("--seg", required=True, metavar="FILE[:KEY]", help="segmentation labels")
    p.add_argument("--convention", choices=CONVENTIONS, default="skimage",
                   help="whose definitions to reproduce (default: skimage)")
    p.add_argument("--ignore-gt", type=int, nargs="*", default=[0], metavar="LABEL",
                   help="gt labels to ignore (default: 0; give none to ignore nothing)")
    p.add_argument("--border-nm", type=float, default=None,
                   help="CREMI tolerance: ignore gt voxels this close to a boundary (CREMI: 25)")
    p.add_argument("--resolution", type=float, nargs=3, default=None, metavar=("Z", "Y", "X"),
                   help="voxel size in nm (default: the gt file's 'resolution' attribute)")
    p.add_argument("--erl", action="store_true",
                   help="also skeletonise the gt (kimimaro) and report expected run length "
                   "(erl_nm, nerl) and skeleton split/merge counts (n_splits, n_merges); needs "
                   "the resolution")
    p.add_argument("--ignore-merges-below", type=int, default=1, metavar="NODES",
                   help="with --erl: a segment merges two skeletons only if it holds at least "
                   "this many nodes of each (default 1: every merge counts)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        gt, gt_res = open_labels(args.gt, stack, "--gt")
        seg, _ = open_labels(args.seg, stack, "--seg")
        resolution = args.resolution or gt_res
        if args.border_nm is not None and resolution is None:
            raise ValueError("--border-nm needs --resolution Z Y X (the gt file has none)")
        result = evaluate(gt, seg, ignore_gt=tuple(args.ignore_gt), border_nm=args.border_nm,
                          resolution=resolution, convention=args.convention)
        if args.erl:
            if resolution is None:
                raise ValueError("--erl needs --resolution Z Y X in nm (the gt file has none)")
            sk = skeleton_scores(np.asarray(gt[...]), np.asarray(seg[...]),
                                 resolution=resolution,
                                 ignore_merges_below=args.ignore_merges_below)
            result = {**result, **sk, "resolution_nm": [float(r) for r in resolution],
                      "skeleton_params": SkeletonParams().as_dict()}
    if args.json:
        out = {**result, "convention": args.convention, "gt": args.gt, "seg": args.seg,
               "border_nm": args.border_nm}
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"gt {args.gt}  vs  seg {args.seg}  (convention {args.convention})")
        for k in _ORDER + (_SKELETON_ORDER if args.erl else ()):
            v = result[k]
            print(f"  {k:15s} {v}" if isinstance(v, int) else f"  {k:15s} {v:.6f}")
    return 0
