"""``python -m bench perf metrics``: our evaluate vs scikit-image and waterz, in the same run.

Builds a seeded synthetic (gt, seg) pair shaped like a Wafer4 test volume (25 x 1250 x 1250 by
default) with thousands of objects: gt objects are jittered blocks separated by 0-valued
boundaries; the segmentation merges pairs of gt objects, splits each along x, and relabels 0.5 %
of the voxels at random (which breaks the long runs of equal labels that make real volumes easy).
Each tool computes VOI split/merge and the Rand scores on the same arrays; the numbers are
cross-checked so that a fast wrong answer cannot pass.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

import numpy as np

from bench.perf import add_output_arguments, emit
from metrics.evaluate import evaluate
from metrics.timing import cpu_count, measure


def synthetic_pair(shape: tuple[int, int, int], seed: int = 0, cell: int = 50):
    """A (gt, seg) uint64 pair with ``~(Z/5) * (Y/cell) * (X/cell)`` gt objects."""
    rng = np.random.default_rng(seed)
    z, y, x = shape
    # per-section jitter of the block grid so objects are not perfect boxes
    shift_y = rng.integers(0, cell // 3 + 1, size=z)
    shift_x = rng.integers(0, cell // 3 + 1, size=z)
    iz = (np.arange(z) // 5).astype(np.int64)[:, None, None]
    iy = ((np.arange(y)[None, :] + shift_y[:, None]) // cell).astype(np.int64)[:, :, None]
    ix = ((np.arange(x)[None, :] + shift_x[:, None]) // cell).astype(np.int64)[:, None, :]
    ny, nx = (y + cell) // cell + 1, (x + cell) // cell + 1
    cell_id = (iz * ny + iy) * nx + ix  # (Z, Y, X) int64 via broadcasting
    gt = (cell_id * 3 + 1).astype(np.uint64)
    # 0-valued boundaries: voxels whose +y or +x neighbour is another object
    gt[:, :-1, :][cell_id[:, :-1, :] != cell_id[:, 1:, :]] = 0
    gt[:, :, :-1][cell_id[:, :, :-1] != cell_id[:, :, 1:]] = 0
    split = (np.arange(x) // (cell // 2 + 7)).astype(np.int64)[None, None, :]
    seg = ((cell_id // 2) * 64 + split % 64 + 5).astype(np.uint64)
    del cell_id
    noisy = rng.random(shape, dtype=np.float32) < 0.005
    seg[noisy] = rng.integers(1, 50_000, size=int(noisy.sum()), dtype=np.uint64)
    return gt, seg


@contextlib.contextmanager
def _quiet_stdout():
    """Silence C++ std::cout (waterz prints its scores) at the file-descriptor level."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _skimage(gt, seg) -> dict[str, float]:
    from skimage.metrics import adapted_rand_error, variation_of_information

    split, merge = variation_of_information(gt, seg, ignore_labels=(0,))
    are, prec, rec = adapted_rand_error(gt, seg, ignore_labels=(0,))
    return {"voi_split": split, "voi_merge": merge, "arand": are}


def _waterz(gt, seg) -> dict[str, float]:
    import waterz

    with _quiet_stdout():
        w = waterz.evaluate(seg, gt)
    return {"voi_split": w["voi_split"], "voi_merge": w["voi_merge"],
            "rand_precision": w["rand_merge"], "rand_recall": w["rand_split"]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shape", type=int, nargs=3, default=(25, 1250, 1250),
                        metavar=("Z", "Y", "X"), help="volume shape (default: 25 1250 1250)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic pair")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls of ours (best kept)")
    parser.add_argument("--no-skimage", action="store_true", help="skip scikit-image")
    parser.add_argument("--no-waterz", action="store_true", help="skip waterz.evaluate")
    add_output_arguments(parser)


def _mb(b: int | None) -> str:
    return "n/a" if b is None else f"{b / 2**20:.0f} MiB"


def run(args: argparse.Namespace) -> int:
    shape = tuple(int(s) for s in args.shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"--shape must be three positive sizes; got {shape}")
    gt, seg = synthetic_pair(shape, seed=args.seed)
    n = gt.size
    report: dict[str, Any] = {
        "shape": list(shape), "n_voxels": n, "cpus": cpu_count(),
        "gt_labels": int(len(np.unique(gt))), "seg_labels": int(len(np.unique(seg))),
        "input_bytes": int(gt.nbytes + seg.nbytes), "tools": {},
    }
    ours = measure(lambda: evaluate(gt, seg), n_voxels=n, warmup=1, repeat=args.repeat)
    report["tools"]["ours"] = ours.as_dict()
    checks = {}
    if not args.no_skimage:
        sk = measure(lambda: _skimage(gt, seg), n_voxels=n, warmup=0, repeat=1)
        report["tools"]["skimage"] = sk.as_dict()
        checks["skimage"] = max(abs(ours.value[k] - sk.value[k]) for k in sk.value)
    if not args.no_waterz:
        try:
            wz = measure(lambda: _waterz(gt, seg), n_voxels=n, warmup=0, repeat=1)
        except ImportError:
            print("waterz is not installed: skipped", file=sys.stderr)
        else:
            report["tools"]["waterz"] = wz.as_dict()
            ref = evaluate(gt, seg, convention="waterz")
            checks["waterz"] = max(abs(ref[k] - wz.value[k]) for k in wz.value)
    report["max_abs_difference"] = checks
    t_ours = ours.seconds
    report["speedup"] = {k: v["seconds"] / t_ours for k, v in report["tools"].items()
                         if k != "ours"}
    emit(args, report, sys.stdout)  # --json: stdout; --out FILE: the file
    if not args.json:
        print(f"metrics perf: shape {shape}, {n / 1e6:.1f} M voxels, "
              f"{report['gt_labels']} gt / {report['seg_labels']} seg labels, "
              f"inputs {_mb(report['input_bytes'])}, {report['cpus']} CPU(s)")
        for name, r in report["tools"].items():
            ratio = "" if name == "ours" else f"  ours is {report['speedup'][name]:.1f}x faster"
            print(f"  {name:8s} {r['seconds']:8.3f} s  {r['voxels_per_s'] / 1e6:8.1f} Mvox/s  "
                  f"peak extra RSS {_mb(r['peak_extra_rss_bytes'])}{ratio}")
        for name, d in checks.items():
            print(f"  max |ours - {name}| over its scores: {d:.2e}")
    bad = {k: d for k, d in checks.items() if not d <= 1e-9}
    if bad:
        print(f"error: results disagree with {sorted(bad)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf.metrics", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
