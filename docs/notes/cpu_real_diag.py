"""Diagnostics for docs/notes/cpu-real-profile.md (issue 31 item 3); not part of the package.

  python docs/notes/cpu_real_diag.py membrane DATASET OUT.h5   # membrane control affinities
  python docs/notes/cpu_real_diag.py sep DATASET RUN_DIR [...]  # boundary/interior separation
  python docs/notes/cpu_real_diag.py sep-test DATASET RUN_DIR [...]  # the same on test

sep: for the val split of each run's predictions.h5, per channel (z, y, x): mean affinity where
the ground-truth affinity is 0 (boundary) and 1 (interior), and the ROC AUC of the affinity
separating them. The membrane control (min(I(v), I(v-e))/255) is printed as the reference.
"""
import sys

import h5py
import numpy as np

from bench.affinity import NEAREST_OFFSETS, affinities_from_labels
from bench.data.catalog import load_dataset


def membrane(raw):
    r = raw.astype(np.float32) / 255.0
    out = np.empty((3, *r.shape), np.float32)
    for c in range(3):
        sh = np.roll(r, 1, axis=c)
        a = np.minimum(r, sh)
        sl = [slice(None)] * 3
        sl[c] = slice(0, 1)
        a[tuple(sl)] = r[tuple(sl)]
        out[c] = a
    return out


def auc(score, positive):
    s = score.ravel()
    p = positive.ravel().astype(bool)
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s), np.float64)
    ranks[order] = np.arange(1, len(s) + 1)
    n1, n0 = p.sum(), (~p).sum()
    return (ranks[p].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def sep(name, affs, labels):
    gt = affinities_from_labels(labels, NEAREST_OFFSETS, pad="")
    cells = []
    for c, ax in enumerate("zyx"):
        sl = [slice(None)] * 3
        sl[c] = slice(1, None)
        a, g = affs[c][tuple(sl)], gt[c][tuple(sl)] > 0
        cells.append(f"{ax}: bnd {a[~g].mean():.3f} int {a[g].mean():.3f} AUC {auc(a, g):.3f}")
    print(f"{name:60s} " + " | ".join(cells) + f" | mean {affs.mean():.3f}")


def main():
    cmd, dataset = sys.argv[1], sys.argv[2]
    root = "../shared/data" if dataset == "gala_fib" else None
    ds = load_dataset(dataset, data_root=root)
    if cmd == "membrane":
        with h5py.File(sys.argv[3], "w") as f:
            for s in ("val", "test"):
                f[f"{s}/affs"] = membrane(np.asarray(ds.split(s).load().raw))
        return
    split = "test" if cmd == "sep-test" else "val"
    val = ds.split(split).load()
    labels = np.asarray(val.labels)
    sep("membrane control", membrane(np.asarray(val.raw)), labels)
    for run in sys.argv[3:]:
        with h5py.File(f"{run}/predictions.h5") as f:
            affs = f[f"{split}/affs"][:]
        sep(run.rstrip("/").split("/")[-1][-50:], affs, labels)


if __name__ == "__main__":
    main()
