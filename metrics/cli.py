"""``python -m bench eval``: score a segmentation file against a ground-truth file."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack

from metrics.evaluate import evaluate
from metrics.io import open_labels
from metrics.scores import CONVENTIONS

_ORDER = ("voi_split", "voi_merge", "voi", "arand", "cremi_score", "rand_precision",
          "rand_recall", "n_voxels")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score a segmentation against a ground truth (VOI, ARAND, CREMI score)",
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
    if args.json:
        out = {**result, "convention": args.convention, "gt": args.gt, "seg": args.seg,
               "border_nm": args.border_nm}
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"gt {args.gt}  vs  seg {args.seg}  (convention {args.convention})")
        for k in _ORDER:
            v = result[k]
            print(f"  {k:15s} {v}" if isinstance(v, int) else f"  {k:15s} {v:.6f}")
    return 0
