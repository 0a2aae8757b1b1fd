"""Verdicts over seeds and test sub-volumes: summaries, paired comparisons, shared ranks.

Pure functions over pandas DataFrames (those of :func:`bench.results.load_leaderboard` and
:func:`bench.results.load_overlap_tables`); nothing here reads files.

The unit of resampling is the test sub-volume ("slab", ``RunSpec.slab_sections`` consecutive
sections; the slabs partition the test split). Each run stores the overlap table of every slab,
so a resampled test volume is scored exactly as the real one is: the overlap table of the
resampled volume is the sum of its slabs' tables, each counted as many times as it was drawn,
and VOI is computed from that table. With every slab drawn once it *is* the whole-test-volume
table, so every interval below is an interval of the number printed beside it.

* :func:`voi_interval` - one run: a bootstrap over slabs of the whole-volume VOI.
* :func:`summarize` - per (dataset, method, post-processor): mean, standard deviation and a
  Student-t 95% interval of the whole-volume VOI over seeds.
* :func:`compare` / :func:`pairwise` - two methods on the same seeds and the same slabs: a
  hierarchical bootstrap (seeds with replacement, then slabs with replacement within each drawn
  seed, the same slab weights for both methods) of the mean over seeds of
  ``VOI(a) - VOI(b)``; a two-sided bootstrap p-value, Holm-corrected over all pairs.
* :func:`rank` - methods ranked by mean VOI; a method's rank is one plus the number of methods
  significantly better than it, so methods whose differences are not significant share a rank.

Caveat: with three seeds the seed level of the bootstrap has few distinct resamples; its
intervals are then on the narrow side. More seeds make them trustworthy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

#: bootstrap replicates (intervals and p-values)
N_BOOT = 2000
#: weight rows per vectorised VOI evaluation (bounds memory: chunk x table entries floats)
_CHUNK_ELEMENTS = 5_000_000


# -- weighted VOI of slab tables ------------------------------------------------------------
@dataclass(frozen=True)
class SlabTables:
    """The overlap tables of one run's slabs in compact form (see :func:`slab_tables`).

    An entry is one (slab, gt label, seg label) count; ``pair`` says which (gt, seg) pair of
    the whole volume it belongs to, since a pair spanning several slabs is one cell of the
    summed table (VOI is not additive over the pieces of a cell).
    """

    slab: np.ndarray  #: per entry, the slab index (0..n_slabs-1)
    pair: np.ndarray  #: per entry, its (gt, seg) pair index (0..n_pairs-1)
    count: np.ndarray  #: per entry, voxels (float64)
    pair_gt: np.ndarray  #: per pair, gt label index (0..n_gt-1)
    pair_seg: np.ndarray  #: per pair, seg label index (0..n_seg-1)
    n_slabs: int

    def voi(self, weights: np.ndarray | None = None) -> np.ndarray:
        """VOI (split + merge, bits) of the table ``sum_k weights[.., k] * table_k``.

        ``weights`` has shape (n_slabs,) or (n_rows, n_slabs); ``None`` means every slab once
        (the whole test volume). Uses the same formula as :func:`metrics.scores.voi`.
        """
        w = np.ones((1, self.n_slabs)) if weights is None else np.atleast_2d(weights)
        w = np.asarray(w, dtype=np.float64)
        if w.shape[1] != self.n_slabs:
            raise ValueError(f"weights must have {self.n_slabs} columns (one per slab); "
                             f"got shape {w.shape}")
        step = max(1, _CHUNK_ELEMENTS // max(1, len(self.count)))
        out = np.empty(len(w))
        for start in range(0, len(w), step):
            out[start:start + step] = self._voi(w[start:start + step])
        result = out if weights is not None and np.ndim(weights) == 2 else out[0]
        return np.maximum(result, 0.0)

    def _voi(self, w: np.ndarray) -> np.ndarray:
        rows = len(w)
        n_pairs = len(self.pair_gt)
        n_gt, n_seg = int(self.pair_gt.max()) + 1, int(self.pair_seg.max()) + 1
        offsets = np.arange(rows)[:, None]
        # cells of the resampled volume's table: each slab's counts times its draws, summed
        c = np.bincount((offsets * n_pairs + self.pair).ravel(),
                        (w[:, self.slab] * self.count).ravel(),
                        minlength=rows * n_pairs).reshape(rows, n_pairs)
        a = np.bincount((offsets * n_gt + self.pair_gt).ravel(), c.ravel(),
                        minlength=rows * n_gt).reshape(rows, n_gt)
        b = np.bincount((offsets * n_seg + self.pair_seg).ravel(), c.ravel(),
                        minlength=rows * n_seg).reshape(rows, n_seg)
        n = c.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            # H(seg|gt) + H(gt|seg) = -sum c log(c/a) - sum c log(c/b), over n; 0 log 0 = 0
            terms = c * (np.log2(c / a[:, self.pair_gt]) + np.log2(c / b[:, self.pair_seg]))
            terms[c == 0] = 0.0
            return -terms.sum(axis=1) / n


def slab_tables(entries: pd.DataFrame, slabs: np.ndarray | None = None) -> SlabTables:
    """Compact slab tables from rows with columns ``slab, gt, seg, count`` (one run).

    ``slabs`` fixes the order of the slab index (so that two runs share slab weights); by
    default the sorted distinct slabs of ``entries``.
    """
    missing = {"slab", "gt", "seg", "count"} - set(entries.columns)
    if missing:
        raise ValueError(f"overlap table entries lack columns {sorted(missing)}")
    if entries.empty:
        raise ValueError("no overlap table entries (was the run written before the tables were "
                         "stored?)")
    slab_col = entries["slab"].to_numpy()
    slabs = np.unique(slab_col) if slabs is None else np.asarray(slabs)
    slab_idx = np.minimum(np.searchsorted(slabs, slab_col), len(slabs) - 1)
    if np.any(slabs[slab_idx] != slab_col):
        raise ValueError("overlap table entries name slabs outside the given slab list")
    _, gt = np.unique(entries["gt"].to_numpy(), return_inverse=True)
    _, seg = np.unique(entries["seg"].to_numpy(), return_inverse=True)
    gt, seg = gt.reshape(-1).astype(np.int64), seg.reshape(-1).astype(np.int64)
    pairs, pair = np.unique(gt * (int(seg.max()) + 1) + seg, return_inverse=True)
    n_seg = int(seg.max()) + 1
    return SlabTables(slab_idx.astype(np.int64), pair.reshape(-1).astype(np.int64),
                      entries["count"].to_numpy(dtype=np.float64), pairs // n_seg,
                      pairs % n_seg, len(slabs))


class SlabTablesError(ValueError):
    """:func:`seed_slab_tables` could not pair the runs: ``run_id`` names a run without
    overlap tables; ``None`` means the runs cover other test sub-volumes."""

    def __init__(self, run_id: str | None):
        super().__init__(f"run {run_id} has no overlap tables" if run_id
                         else "the runs have different test sub-volumes")
        self.run_id = run_id


def seed_slab_tables(entries: pd.DataFrame, rows: pd.DataFrame,
                     slabs: np.ndarray | None = None
                     ) -> tuple[dict[int, SlabTables], np.ndarray]:
    """seed -> :func:`slab_tables` of each row of ``rows`` (one result: columns ``run_id``,
    ``postprocess``, ``seed``) from the overlap-table ``entries`` of its run, and the slab
    list they share (``slabs``, or the first run's). :class:`SlabTablesError` when a run has
    no tables or covers other slabs."""
    out: dict[int, SlabTables] = {}
    for r in rows.itertuples():
        e = entries[(entries["run_id"] == r.run_id) & (entries["postprocess"] == r.postprocess)]
        if e.empty:
            raise SlabTablesError(str(r.run_id))
        mine = np.unique(e["slab"])
        slabs = mine if slabs is None else slabs
        if not np.array_equal(mine, slabs):
            raise SlabTablesError(None)
        out[int(r.seed)] = slab_tables(e, slabs)
    return out, slabs


def _slab_weights(rng: np.random.Generator, rows: int, n_slabs: int) -> np.ndarray:
    """Bootstrap draws of the slabs: how often each slab is drawn in each of ``rows`` resamples."""
    return rng.multinomial(n_slabs, np.full(n_slabs, 1.0 / n_slabs), size=rows).astype(float)


# -- one run ----------------------------------------------------------------------------------
def voi_interval(tables: SlabTables, *, n_boot: int = N_BOOT, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Interval of one run's whole-test-volume VOI: bootstrap over its test slabs.

    The normal interval ``VOI +- z * SE``, with SE the standard deviation of the VOI over
    ``n_boot`` slab resamples, clipped at 0. Centred on the whole-volume VOI, so it always
    contains it (a percentile interval need not: VOI is not additive over slabs). NaN with
    fewer than two slabs.
    """
    if tables.n_slabs < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    estimate = float(tables.voi())
    se = float(np.std(tables.voi(_slab_weights(rng, n_boot, tables.n_slabs)), ddof=1))
    half = float(sps.norm.ppf(0.5 + level / 2)) * se
    return max(estimate - half, 0.0), estimate + half


#: the value stored in the ``voi_ci_method`` column for :func:`voi_interval`
VOI_INTERVAL_METHOD = "slab-bootstrap-normal"


# -- over seeds -------------------------------------------------------------------------------
def summarize(board: pd.DataFrame, score: str = "voi",
              by: tuple[str, ...] = ("dataset", "method", "postprocess"),
              level: float = 0.95) -> pd.DataFrame:
    """Mean, std (ddof=1) and a Student-t interval of ``score`` over the rows of each group.

    One row per group with columns ``*by, n_seeds, mean, std, ci_low, ci_high``; std and the
    interval are NaN for a group of one row (a single seed).
    """
    groups = board.groupby(list(by), sort=True, dropna=False)[score]
    out = groups.agg(n_seeds="count", mean="mean", std="std").reset_index()
    n = out["n_seeds"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(n > 1, sps.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1)), np.nan)
        half = t * out["std"].to_numpy(dtype=float) / np.sqrt(n)
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    return out


# -- two methods ------------------------------------------------------------------------------
def compare(a: dict[int, SlabTables], b: dict[int, SlabTables], *, n_boot: int = N_BOOT,
            seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Paired hierarchical bootstrap of ``mean over seeds of VOI(a) - VOI(b)``.

    ``a`` and ``b`` map a seed to that seed's run's slab tables; only seeds present in both are
    used and each seed's two runs must have the same slabs (same split). Each replicate draws
    the seeds with replacement and, for every drawn seed, slab weights shared by both methods.

    Returns ``delta`` (the mean difference on the real data, negative: ``a`` has lower VOI),
    ``ci_low``/``ci_high`` (percentile interval), ``p_value`` (two-sided: twice the smaller
    fraction of replicates on either side of 0, with the +1 correction; 1.0 when every
    replicate is 0), ``n_seeds`` and ``n_slabs``.
    """
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("the two methods share no seed; a paired comparison needs common seeds")
    for s in seeds:
        if a[s].n_slabs != b[s].n_slabs:
            raise ValueError(f"seed {s}: the runs have {a[s].n_slabs} and {b[s].n_slabs} test "
                             "slabs; compare runs on the same split")
    rng = np.random.default_rng(seed)
    diff = np.array([float(a[s].voi()) - float(b[s].voi()) for s in seeds])
    drawn = rng.integers(0, len(seeds), size=(n_boot, len(seeds)))
    reps = np.zeros(n_boot)
    for i, s in enumerate(seeds):
        where = np.nonzero(drawn == i)  # (replicate, position) pairs that drew this seed
        if not len(where[0]):
            continue
        w = _slab_weights(rng, len(where[0]), a[s].n_slabs)
        d = a[s].voi(w) - b[s].voi(w)
        np.add.at(reps, where[0], d)
    reps /= len(seeds)
    # identical methods give exactly 0 in every replicate: ties count on both sides
    k = min(int(np.sum(reps <= 0)), int(np.sum(reps >= 0)))
    p = min(1.0, 2.0 * (k + 1) / (n_boot + 1))
    lo, hi = np.percentile(reps, [50 * (1 - level), 50 * (1 + level)])
    return {"delta": float(diff.mean()), "ci_low": float(lo), "ci_high": float(hi),
            "p_value": p, "n_seeds": len(seeds), "n_slabs": a[seeds[0]].n_slabs,
            # the means the delta is the difference of, from the same tables
            "voi_a": float(np.mean([float(a[s].voi()) for s in seeds])),
            "voi_b": float(np.mean([float(b[s].voi()) for s in seeds]))}


def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), input order."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def pairwise(tables: dict[str, dict[int, SlabTables]], *, alpha: float = 0.05,
             n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """:func:`compare` for every pair of methods, Holm-corrected over the pairs.

    ``tables`` maps a method to {seed: slab tables}. Columns: method_a, method_b, delta,
    ci_low, ci_high, p_value, p_holm, significant (``p_holm < alpha``), n_seeds, n_slabs.
    Pairs without a common seed are left out.
    """
    methods = sorted(tables)
    rows = []
    for i, ma in enumerate(methods):
        for mb in methods[i + 1:]:
            if not set(tables[ma]) & set(tables[mb]):
                continue
            rows.append({"method_a": ma, "method_b": mb,
                         **compare(tables[ma], tables[mb], n_boot=n_boot, seed=seed)})
    columns = ["method_a", "method_b", "delta", "ci_low", "ci_high", "p_value", "p_holm",
               "significant", "n_seeds", "n_slabs"]
    if not rows:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p_value"].to_numpy())
    out["significant"] = out["p_holm"] < alpha
    return out[columns]


def rank(means: pd.Series, comparisons: pd.DataFrame) -> pd.Series:
    """Rank of each method (index of ``means``: mean VOI, lower is better).

    A method's rank is 1 + the number of methods significantly better than it in
    ``comparisons`` (a :func:`pairwise` table), so methods whose difference is not significant
    share a rank (the best ones all rank 1).
    """
    better = {m: 0 for m in means.index}
    for c in comparisons.itertuples():
        if not c.significant:
            continue
        loser = c.method_b if c.delta < 0 else c.method_a
        if loser in better:
            better[loser] += 1
    return pd.Series({m: 1 + better[m] for m in means.index}, name="rank").loc[
        means.sort_values().index]
