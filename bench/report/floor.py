"""A leaderboard's floor: the best null control beside the methods, and each method's verdict
against it.

Controls (family :data:`bench.method.CONTROL_FAMILY`, :mod:`baselines.controls`) run through
the same pipeline as the methods, so what they score is what the pipeline gives on a dataset
without any learned information. They are never ranked with the methods. Per (dataset,
post-processor) the *floor* is the control with the lowest test VOI (over the profiles it was
run under: a control does not depend on the profile's training recipe). Every method result
of that dataset and post-processor is then tested against it with the paired hierarchical
bootstrap of ``bench compare`` (:func:`bench.stats.compare`, same seeds, same test
sub-volumes), Holm-corrected over the methods tested in that (dataset, profile,
post-processor). A control does not depend on the training seed, so a control run once is
paired with every seed of the method.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from bench import stats
from bench.method import CONTROL_FAMILY
from bench.results import ResultsStore, load_overlap_tables

__all__ = ["FLOOR_COLUMNS", "VERDICT_BEATS", "VERDICT_NOT", "VERDICT_WORSE", "floor_of",
           "floor_verdicts", "is_control"]

VERDICT_BEATS, VERDICT_NOT, VERDICT_WORSE = "yes", "no", "worse"
#: the columns :func:`floor_verdicts` adds to a method's result
FLOOR_COLUMNS = ("floor_method", "floor_voi", "floor_delta", "floor_ci_low", "floor_ci_high",
                 "floor_p_holm", "beats_floor", "floor_note")


def is_control(frame: pd.DataFrame) -> pd.Series:
    """Which rows of a leaderboard frame are controls (by their recorded family)."""
    return frame["family"].astype("string").fillna("") == CONTROL_FAMILY


def floor_of(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, postprocess): the control result with the lowest test VOI.

    ``summary`` is :func:`bench.report.leaderboard.summarize_results` (one row per result);
    returns its rows of the floor controls (columns as ``summary``), one per group."""
    controls = summary[is_control(summary)]
    if controls.empty:
        return controls
    best = controls.sort_values(["voi", "method"], kind="stable")
    return best.groupby(["dataset", "postprocess"], sort=True).head(1).reset_index(drop=True)


def _tables(entries: pd.DataFrame, rows: pd.DataFrame, slabs: np.ndarray | None
            ) -> tuple[dict[int, stats.SlabTables], np.ndarray | None, str]:
    try:
        tables, slabs = stats.seed_slab_tables(entries, rows, slabs)
    except stats.SlabTablesError as exc:
        return {}, slabs, (str(exc) if exc.run_id else
                           "other test sub-volumes than the floor's run")
    return tables, slabs, ""


def floor_verdicts(store: ResultsStore, selected: pd.DataFrame, summary: pd.DataFrame, *,
                   alpha: float = 0.05, n_boot: int = stats.N_BOOT, seed: int = 0,
                   skipped: list | None = None) -> pd.DataFrame:
    """One row per method result (not control) with its floor and the paired verdict.

    ``selected`` are the rows the report shows (:func:`~bench.report.leaderboard.select_results`)
    and ``summary`` their summary. Columns: dataset, profile, postprocess, method and
    :data:`FLOOR_COLUMNS`: the floor control and its VOI, ``floor_delta`` = mean over seeds of
    VOI(method) - VOI(floor) (negative: the method is better) with its 95% interval, the
    Holm-corrected p-value, ``beats_floor`` (``yes``: significantly lower VOI; ``no``: not
    significant; ``worse``: significantly higher; empty when not tested) and ``floor_note``
    (why not, or which control run the floor is)."""
    key = ["dataset", "profile", "postprocess", "method"]
    methods = summary[~is_control(summary)]
    floors = floor_of(summary)
    if methods.empty:
        return pd.DataFrame(columns=[*key, *FLOOR_COLUMNS])
    sel_controls = selected[is_control(selected)]
    wanted = set(selected["run_id"])
    entries = load_overlap_tables(store.root, sorted(wanted), skipped=skipped)
    records: list[dict[str, Any]] = []
    for m in methods.itertuples():
        rec: dict[str, Any] = {k: getattr(m, k) for k in key}
        rec.update({c: np.nan for c in FLOOR_COLUMNS})
        rec.update(beats_floor="", floor_note="")
        floor = floors[(floors["dataset"] == m.dataset) & (floors["postprocess"] == m.postprocess)]
        if floor.empty:
            rec.update(floor_method="", floor_note="no control run on this dataset and "
                       "post-processor (python -m bench run --method controls)")
            records.append(rec)
            continue
        f = floor.iloc[0]
        rec.update(floor_method=f["method"], floor_voi=float(f["voi"]))
        mrows = selected[(selected[key] == [getattr(m, k) for k in key]).all(axis=1)]
        crows = sel_controls[(sel_controls["dataset"] == f["dataset"])
                             & (sel_controls["profile"] == f["profile"])
                             & (sel_controls["postprocess"] == f["postprocess"])
                             & (sel_controls["method"] == f["method"])]
        if set(mrows["split_hash"].dropna()) != set(crows["split_hash"].dropna()):
            rec["floor_note"] = "the floor was scored on another test split (split_hash)"
            records.append(rec)
            continue
        mt, slabs, why = _tables(entries, mrows, None)
        ct, _, why_c = _tables(entries, crows, slabs) if not why else ({}, None, "")
        why = why or why_c
        if not why:
            if len(ct) == 1:  # a control does not depend on the seed: one run for every seed
                only = next(iter(ct.values()))
                ct = {s: only for s in mt}
            elif not set(mt) & set(ct):
                why = "no seed in common with the floor's runs"
        if why:
            rec["floor_note"] = why
            records.append(rec)
            continue
        verdict = stats.compare(mt, ct, n_boot=n_boot, seed=seed)
        rec.update(floor_delta=verdict["delta"], floor_ci_low=verdict["ci_low"],
                   floor_ci_high=verdict["ci_high"], floor_p=verdict["p_value"],
                   floor_note=f"{f['method']} run {crows['run_id'].iloc[-1]}")
        records.append(rec)
    out = pd.DataFrame(records)
    if "floor_p" not in out:
        out["floor_p"] = np.nan
    for _, idx in out.groupby(["dataset", "profile", "postprocess"]).groups.items():
        tested = [i for i in idx if not _nan(out.at[i, "floor_p"])]
        if tested:
            out.loc[tested, "floor_p_holm"] = stats.holm(out.loc[tested, "floor_p"].to_numpy(float))
    for i in out.index:
        p, d = out.at[i, "floor_p_holm"], out.at[i, "floor_delta"]
        if not _nan(p):
            out.at[i, "beats_floor"] = (VERDICT_NOT if p >= alpha else
                                        VERDICT_BEATS if d < 0 else VERDICT_WORSE)
    return out[[*key, *FLOOR_COLUMNS]]


def _nan(v: Any) -> bool:
    try:
        return v is None or math.isnan(float(v))
    except (TypeError, ValueError):
        return True
