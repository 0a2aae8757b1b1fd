"""Did my change help? Paired verdicts between two sets of results (``python -m bench compare``).

A side is a results folder (the results its report would show: per result the latest run, or
every seed of the study that run belongs to) or one study of a folder (its latest run of each
seed). For every (dataset, profile, method, post-processor) present on both sides,
:func:`bench.stats.compare` tests the mean over common seeds of ``VOI(A) - VOI(B)`` with the
paired hierarchical bootstrap over seeds and test sub-volumes; the p-values are Holm-corrected
over the results compared. ``delta < 0``: A has the lower (better) VOI, so B is worse.

Two results are comparable only on the same test split (``split_hash``) and the same test
sub-volumes; otherwise the row says why it was not compared instead of a verdict.

The VOI columns, ΔVOI and the verdict all come from one source, the runs' overlap tables; each
run's VOI in the database must agree with its tables (to 1e-6 relative), otherwise the result
is not compared and the note names the run and both values. Non-finite numbers are written as
``null`` in JSON and ``inf``/``nan`` in Markdown, never as a finite-looking difference.

:func:`gate` is ``--fail-if-worse``: it fails closed, on B worse and also whenever the
comparison is incomplete (B has no rows, a result of A is missing from B, or a result was not
compared).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import stats
from bench.results import ResultsStore, load_leaderboard, load_overlap_tables
from bench.text_tables import md_cell, md_code

#: a result's identity across the two sides
KEY = ("dataset", "profile", "method", "postprocess")
VERDICT_BETTER, VERDICT_WORSE, VERDICT_SAME = "B better", "B worse", "no significant difference"


@dataclass
class Side:
    """One side of a comparison: its rows (one per seed and result) and where they came from."""

    label: str
    root: Path
    rows: pd.DataFrame


def load_side(path: str | Path, study: str | None = None, label: str | None = None) -> Side:
    """The rows of a results folder, or of one ``study`` in it (see the module docstring)."""
    from bench.report.leaderboard import select_results

    root = Path(path)
    db = ResultsStore(root).db_path
    if not db.is_file():  # checked first: loading would create an empty database there
        raise FileNotFoundError(f"{root}: not a results folder (no {db.name}); give a folder "
                                "written by `python -m bench run --results`")
    board = load_leaderboard(root)
    board = board[board["split"] == "test"]
    if study is None:
        rows = select_results(board) if not board.empty else board
        return Side(label or str(root), root, rows.reset_index(drop=True))
    mine = board[board["study"] == study]
    if mine.empty:
        known = sorted(board["study"].dropna().unique())
        raise ValueError(f"{root}: no results of study {study!r}; its studies: "
                         f"{', '.join(known) or 'none'}")
    latest = (mine.sort_values("created", kind="stable")
              .groupby([*KEY, "seed"], sort=True, dropna=False).tail(1))
    return Side(label or f"{root}:{study}", root, latest.reset_index(drop=True))


def _tables(side: Side, rows: pd.DataFrame, slabs: np.ndarray | None
            ) -> tuple[dict[int, stats.SlabTables], np.ndarray | None, str | None]:
    """seed -> slab tables of ``rows`` (one result of one side); the slab list; a reason when
    the tables are missing or cover other sub-volumes."""
    entries = load_overlap_tables(side.root, rows["run_id"].unique())
    try:
        tables, slabs = stats.seed_slab_tables(entries, rows, slabs)
    except stats.SlabTablesError as exc:
        why = f"{side.label}: {exc}" if exc.run_id else str(exc)
        return {}, slabs, why
    return tables, slabs, None


def compare_sides(a: Side, b: Side, *, alpha: float = 0.05, n_boot: int = stats.N_BOOT,
                  seed: int = 0) -> pd.DataFrame:
    """One row per result present on both sides, with the paired verdict.

    Columns: the :data:`KEY` columns, ``voi_a``, ``voi_b`` (means over the seeds compared),
    ``delta`` (mean of VOI(A) - VOI(B)), ``ci_low``, ``ci_high``, ``p_value``, ``p_holm``,
    ``significant``, ``verdict``, ``n_seeds``, ``n_slabs`` and ``note`` (why a result was not
    compared; the verdict is then empty).
    """
    keys_a = {k: g for k, g in a.rows.groupby(list(KEY), sort=True)}
    keys_b = {k: g for k, g in b.rows.groupby(list(KEY), sort=True)}
    records: list[dict[str, Any]] = []
    for key in sorted(set(keys_a) & set(keys_b)):
        ra, rb = keys_a[key], keys_b[key]
        rec: dict[str, Any] = dict(zip(KEY, key, strict=True))
        common = sorted(set(ra["seed"].astype(int)) & set(rb["seed"].astype(int)))
        rec.update(voi_a=float(ra["voi"].mean()), voi_b=float(rb["voi"].mean()), note="")
        if set(ra["split_hash"].dropna()) != set(rb["split_hash"].dropna()):
            rec["note"] = "different test splits (split_hash)"
        elif not common:
            rec["note"] = "no common seed"
        else:
            ra = ra[ra["seed"].isin(common)]
            rb = rb[rb["seed"].isin(common)]
            rec.update(voi_a=float(ra["voi"].mean()), voi_b=float(rb["voi"].mean()))
            ta, slabs, why = _tables(a, ra, None)
            tb, _, why_b = _tables(b, rb, slabs) if why is None else ({}, None, None)
            why = why or why_b or _database_mismatch(a, ra, ta) or _database_mismatch(b, rb, tb)
            if why:
                rec["note"] = why
            else:
                rec.update(stats.compare(ta, tb, n_boot=n_boot, seed=seed))
        records.append(rec)
    columns = [*KEY, "voi_a", "voi_b", "delta", "ci_low", "ci_high", "p_value", "p_holm",
               "significant", "verdict", "n_seeds", "n_slabs", "note"]
    out = pd.DataFrame(records, columns=columns)
    tested = out["p_value"].notna()
    out["p_holm"] = np.nan
    if tested.any():
        out.loc[tested, "p_holm"] = stats.holm(out.loc[tested, "p_value"].to_numpy(float))
    out["significant"] = tested & (out["p_holm"] < alpha)
    out["verdict"] = [
        "" if not t else VERDICT_SAME if not s else VERDICT_WORSE if d < 0 else VERDICT_BETTER
        for t, s, d in zip(tested, out["significant"], out["delta"], strict=True)]
    return out


#: how far a run's VOI in the database may be from the VOI of its overlap tables (relative)
DB_TABLE_RTOL = 1e-6


def _database_mismatch(side: Side, rows: pd.DataFrame, tables: dict[int, stats.SlabTables]
                       ) -> str | None:
    """Why the database's VOI of a run disagrees with its overlap tables (None: it agrees)."""
    for r in rows.itertuples():
        db, from_tables = float(r.voi), float(tables[int(r.seed)].voi())
        if not (math.isfinite(db) and math.isfinite(from_tables)) or abs(db - from_tables) > (
                DB_TABLE_RTOL * max(1.0, abs(from_tables))):
            return (f"{side.label}: run {r.run_id}'s VOI in the database ({db:.6g}) differs "
                    f"from its overlap tables' ({from_tables:.6g})")
    return None


def gate(a: Side, b: Side, table: pd.DataFrame) -> tuple[int, list[str]]:
    """``--fail-if-worse``, failing closed: ``(exit code, reasons)``.

    1 when B is significantly worse than A on some result; 3 when the comparison is
    incomplete: B has no rows, a result of A is missing from B, or a result was not compared
    (different split, no common seed, missing or disagreeing overlap tables); 0 otherwise (B
    better or no significant difference on every result of A)."""
    reasons: list[str] = []
    worse = table[table["verdict"] == VERDICT_WORSE]
    for r in worse.to_dict("records"):
        reasons.append(f"B worse: {'/'.join(str(r[k]) for k in KEY)} (ΔVOI {r['delta']:+.3f})")
    if not worse.empty:
        return 1, reasons
    if b.rows.empty:
        reasons.append(f"B ({b.label}) has no rows")
    missing = only_on_one_side(a, b)["a"]
    if missing and not b.rows.empty:
        reasons.append(f"missing from B: {', '.join(missing)}")
    for r in table[table["verdict"] == ""].to_dict("records"):
        reasons.append(f"not compared: {'/'.join(str(r[k]) for k in KEY)}: {r['note']}")
    if a.rows.empty:
        reasons.append(f"A ({a.label}) has no rows")
    return (3, reasons) if reasons else (0, [])


def only_on_one_side(a: Side, b: Side) -> dict[str, list[str]]:
    """The results of each side that the other lacks (``dataset/profile/method/postprocess``)."""
    ka = {"/".join(map(str, k)) for k, _ in a.rows.groupby(list(KEY))}
    kb = {"/".join(map(str, k)) for k, _ in b.rows.groupby(list(KEY))}
    return {"a": sorted(ka - kb), "b": sorted(kb - ka)}


def any_worse(table: pd.DataFrame) -> bool:
    """Whether B is significantly worse than A on some result (``--fail-if-worse``)."""
    return bool((table["verdict"] == VERDICT_WORSE).any())


def as_json(a: Side, b: Side, table: pd.DataFrame, alpha: float) -> dict[str, Any]:
    """JSON-ready verdicts (NaN as null)."""
    def clean(v: Any) -> Any:
        if isinstance(v, (float, np.floating)):  # NaN and ±inf are not JSON numbers
            return float(v) if math.isfinite(v) else None
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, np.bool_):
            return bool(v)
        return v

    return {"a": a.label, "b": b.label, "alpha": alpha,
            "delta_means": "VOI(A) - VOI(B); negative: A is better (lower VOI)",
            "results": [{k: clean(v) for k, v in r.items()} for r in table.to_dict("records")],
            "only_in": only_on_one_side(a, b), "b_worse": any_worse(table)}


def as_markdown(a: Side, b: Side, table: pd.DataFrame, alpha: float) -> str:
    """The verdicts as a Markdown table with a line on what A, B and ΔVOI are."""
    head = ("| dataset | profile | method | post-proc | VOI A | VOI B | ΔVOI (A − B) "
            "| 95% interval | p (Holm) | seeds | verdict |")
    lines = [f"A: `{md_code(a.label)}`  ", f"B: `{md_code(b.label)}`", "", head,
             "|" + "---|" * (head.count("|") - 1)]
    for r in table.to_dict("records"):
        tested = not pd.isna(r["p_value"])
        lines.append("| " + " | ".join([
            md_cell(r["dataset"]), md_cell(r["profile"]), md_cell(r["method"]),
            md_cell(r["postprocess"]),
            _num(r["voi_a"], ".3f"), _num(r["voi_b"], ".3f"),
            _num(r["delta"], "+.3f") if tested else "",
            f"[{_num(r['ci_low'], '+.3f')}, {_num(r['ci_high'], '+.3f')}]" if tested else "",
            f"{r['p_holm']:.3g}" if tested else "",
            str(int(r["n_seeds"])) if tested else "",
            r["verdict"] if tested else f"not compared: {md_cell(r['note'])}",
        ]) + " |")
    if table.empty:
        lines.append("| " + " | ".join(["–"] * 10) + " | no result on both sides |")
    only = only_on_one_side(a, b)
    n_tested = int(table["p_value"].notna().sum())
    lines += ["", f"ΔVOI < 0: A has the lower (better) VOI. Paired hierarchical bootstrap over "
              f"seeds and test sub-volumes; p-values Holm-corrected over the {n_tested} "
              f"result{'s' if n_tested != 1 else ''} compared; significant below {alpha}."]
    for side, names in only.items():
        if names:
            lines.append(f"Only in {side.upper()} (not compared): "
                         f"{', '.join(md_cell(n) for n in names)}")
    return "\n".join(lines) + "\n"


def _num(v: Any, fmt: str) -> str:
    """``v`` formatted, or ``inf``/``-inf``/``nan`` as such (never a finite-looking number)."""
    v = float(v)
    return format(v, fmt) if math.isfinite(v) else str(v)
