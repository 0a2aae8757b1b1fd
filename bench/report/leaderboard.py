"""The leaderboard report: Markdown and self-contained HTML tables plus PNG plots, with verdicts.

Reads the results as DataFrames (:func:`bench.results.load_leaderboard`) and the run directories
they point to; writes ``<results>/report/leaderboard.md``, ``<results>/report/index.html`` and
``<results>/report/*.png``.

Which results are shown: for each (dataset, profile, post-processor, method) the most recent
row; when that row belongs to a multi-seed study (``python -m bench run --seeds``), every seed
of that study (the latest run of each). The table gives the mean over seeds ± the standard
deviation, a 95% interval (Student t over seeds; for a single run, a bootstrap over test
sub-volumes of the whole-volume VOI, see :mod:`bench.stats`) and a rank in which methods whose
difference is not significant share a place; a second table compares every two methods on the
same seeds and test sub-volumes (paired hierarchical bootstrap, Holm-corrected p-values).

Null controls (family ``control``) are not ranked: each dataset's section shows them in a table
of their own, and the best of them per post-processor (the *floor*, :mod:`bench.report.floor`)
beside every method, with whether the method beats it significantly (the same paired test).
The accuracy plot draws the floor as a horizontal line, the per-section plot the floor's
sections. ``leaderboard.txt`` holds the same tables as plain text.
"""

from __future__ import annotations

import base64
import html
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import stats
from bench.method import CONTROL_FAMILY
from bench.names import file_stem
from bench.report.floor import floor_of, floor_verdicts, is_control
from bench.report.panels import panels_plot
from bench.report.plots import pareto_plot, per_section_plot, sweeps_plot
from bench.report.records import missing, records
from bench.report.training import training_curves_plot
from bench.report.worst_errors import nerl_plot, worst_errors_section
from bench.results import (
    ResultsStore,
    load_curves,
    load_leaderboard,
    load_overlap_tables,
    write_atomic,
)
from bench.text_tables import format_cell, format_rows, md_cell, metric_columns, metric_note
from metrics.spec import METRICS

log = logging.getLogger(__name__)

#: a result is one (dataset, profile, post-processor, split, method); its rows are its seeds
RESULT_KEY = ["dataset", "profile", "postprocess", "split", "method"]
#: significance level of the pairwise comparisons (after Holm's correction)
ALPHA = 0.05

#: the leaderboard's columns: method, seeds, VOI mean +- std, interval, rank, then the means
#: (the score columns come from metrics.spec: bench.text_tables.metric_columns)
_SUMMARY_HEAD = (("rank", "rank", "{}"), ("method", "method", "{}"), ("family", "family", "{}"),
                 ("postprocess", "post-proc", "{}"), ("n_seeds", "seeds", "{}"))
_SUMMARY_VOI = (("voi_text", "VOI", "{}"), ("voi_interval", "VOI 95% interval", "{}"))
_SUMMARY_TAIL = (("param_value", "param", "{:g}"), ("n_parameters", "params", "{:,}"),
                 ("train_seconds", "train s", "{:.0f}"),
                 ("infer_voxels_per_s", "infer vox/s", "{:,.0f}"),
                 ("split_hash", "split hash", "{}"))


#: a method's verdict against the floor, right after its VOI
_SUMMARY_FLOOR = (("beats_floor", "beats floor", "{}"), ("floor_text", "floor (control)", "{}"),
                  ("floor_delta_text", "ΔVOI vs floor", "{}"),
                  ("floor_p_holm", "p vs floor (Holm)", "{:.3g}"))


def summary_columns(*, floor: bool = False) -> tuple[tuple[str, str, str], ...]:
    """The leaderboard's columns; ``floor``: with the verdict against the floor after the VOI
    (the methods' table), else with none (the controls' table)."""
    voi = (*_SUMMARY_VOI, *_SUMMARY_FLOOR) if floor else _SUMMARY_VOI
    scores = [c for col in metric_columns(means=True)
              for c in (voi if col[0] == "voi" else (col,))]
    return (*_SUMMARY_HEAD, *scores, *_SUMMARY_TAIL)


PAIRWISE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("comparison", "A vs B", "{}"),
    ("delta", "ΔVOI (A − B)", "{:+.3f}"),
    ("interval", "95% interval", "{}"),
    ("p_value", "p", "{:.3g}"),
    ("p_holm", "p (Holm)", "{:.3g}"),
    ("verdict", "verdict", "{}"),
    ("n_seeds", "seeds", "{}"),
    ("n_slabs", "sub-volumes", "{}"),
)
_NOTE = (
    "Lower is better for VOI (split + merge, bits), ARAND and the CREMI score. Post-processing "
    "parameters were chosen on the validation split and frozen for test. `VOI` is the mean of "
    "the whole-test-volume VOI over seeds ± its standard deviation; `VOI 95% interval` is a "
    "Student-t interval of that mean over seeds, or, for a single seed, a bootstrap interval "
    "of the whole-volume VOI over test sub-volumes (each resample's overlap table rebuilt from "
    "the sub-volumes' tables). Other scores and timings are means over seeds. Methods whose "
    "difference is not significant share a rank; the pairwise table tests every two methods "
    "on the same seeds and test sub-volumes (hierarchical bootstrap: seeds, then sub-volumes; "
    f"p-values Holm-corrected; significant when below {ALPHA}). Controls (family control: "
    "affinities without learned information, through the same pipeline) are not ranked; the "
    "floor is the control with the lowest test VOI per dataset and post-processor, and `beats "
    "floor` says whether a method's VOI is significantly lower (yes), not significantly "
    "different (no) or significantly higher (worse), by the same paired test (Holm-corrected "
    "over the methods of a table; a control run once is paired with every seed)."
)


def latest_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The most recent row of each (dataset, method, profile, post-processor)."""
    best: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = (r["dataset"], r["method"], r["profile"], r["postprocess"], r["split"])
        if key not in best or r["created"] >= best[key]["created"]:
            best[key] = r
    return sorted(best.values(), key=lambda r: (r["dataset"], r["postprocess"], r["voi"]))


def select_results(board: pd.DataFrame) -> pd.DataFrame:
    """The rows the report shows (see the module docstring): per result, its latest row, or
    every seed of the study that row belongs to (the latest run of each seed)."""
    if board.empty:
        return board
    board = board.sort_values("created", kind="stable")
    latest = board.groupby(RESULT_KEY, sort=False, dropna=False).tail(1)
    parts = []
    for _, last in latest.iterrows():
        if pd.isna(last["study"]):
            parts.append(last.to_frame().T)
            continue
        same = board[(board["study"] == last["study"])
                     & (board[RESULT_KEY] == last[RESULT_KEY]).all(axis=1)]
        parts.append(same.groupby("seed", sort=True).tail(1))
    return pd.concat(parts, ignore_index=True).astype(board.dtypes.to_dict())


def summarize_results(selected: pd.DataFrame) -> pd.DataFrame:
    """One row per result: seeds, VOI mean/std/interval, the other columns' means, the rank
    (within its dataset, profile and post-processor)."""
    by = ("dataset", "profile", "postprocess", "split", "method")
    summary = stats.summarize(selected, "voi", by=by)
    means = selected.groupby(list(by), dropna=False).agg(
        family=("family", "first"), split_hash=("split_hash", "first"),
        **{k: (k, "mean") for k in METRICS if k != "voi"}, param_value=("param_value", "mean"),
        n_parameters=("n_parameters", "first"),
        train_seconds=("train_seconds", "mean"),
        infer_voxels_per_s=("infer_voxels_per_s", "mean"),
        voi_ci_low=("voi_ci_low", "first"), voi_ci_high=("voi_ci_high", "first"),
        voi_ci_method=("voi_ci_method", "first"),
    ).reset_index()
    out = summary.merge(means, on=list(by))
    single = out["n_seeds"] == 1
    # a single run: the stored bootstrap interval of its own VOI (hidden for rows of older code,
    # whose interval was of the sub-volume mean instead)
    honest = single & out["voi_ci_method"].notna()
    out.loc[honest, "ci_low"] = out.loc[honest, "voi_ci_low"]
    out.loc[honest, "ci_high"] = out.loc[honest, "voi_ci_high"]
    out["voi_text"] = [f"{m:.3f}" if n == 1 else f"{m:.3f} ± {s:.3f}"
                       for m, s, n in zip(out["mean"], out["std"], out["n_seeds"], strict=True)]
    out["voi_interval"] = [_interval(lo, hi) for lo, hi in zip(out["ci_low"], out["ci_high"],
                                                               strict=True)]
    return out.rename(columns={"mean": "voi"})


def pairwise_results(store: ResultsStore, selected: pd.DataFrame, *, seed: int = 0,
                     skipped: list[tuple[Path, str]] | None = None
                     ) -> dict[tuple, pd.DataFrame]:
    """(dataset, profile, postprocess) -> :func:`bench.stats.pairwise` of its methods.

    A damaged ``overlap_tables.npz`` is appended to ``skipped`` (when given): its run is left
    out of the comparisons as a run without tables is."""
    entries = load_overlap_tables(store.root, selected["run_id"].unique(), skipped=skipped)
    out = {}
    for key, group in selected.groupby(["dataset", "profile", "postprocess"], sort=True):
        if group["method"].nunique() < 2:
            continue
        tables: dict[str, dict[int, stats.SlabTables]] = {}
        slabs = None
        for r in group.itertuples():
            e = entries[(entries["run_id"] == r.run_id) & (entries["postprocess"] == r.postprocess)]
            if e.empty:  # a run from before the tables were stored, or a blockwise run
                continue
            slabs = np.unique(e["slab"]) if slabs is None else slabs
            if not np.array_equal(np.unique(e["slab"]), slabs):
                log.warning("%s: run %s has other test sub-volumes; left out of the pairwise "
                            "comparison", key, r.run_id)
                continue
            tables.setdefault(r.method, {})[int(r.seed)] = stats.slab_tables(e, slabs)
        if len(tables) >= 2:
            out[key] = stats.pairwise(tables, alpha=ALPHA, seed=seed)
    return out


def build_report(store: ResultsStore, out_dir: Path | None = None, *,
                 skipped: list[tuple[Path, str]] | None = None) -> Path:
    """Write the report; returns the path of ``index.html``.

    A damaged per-run file (``metrics.json``, ``overlap_tables.npz``, ``segmentation.h5``)
    never stops the report: with ``skipped`` (a list) each is appended as ``(path, why)`` and
    the report is written without it; without, the first one raises ``ValueError`` naming it.
    """
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir or store.root / "report")
    out_dir.mkdir(parents=True, exist_ok=True)
    board = load_leaderboard(store.root)
    if board.empty:
        raise ValueError(
            f"no results in {store.db_path}; run `python -m bench run --method cad` first"
        )
    selected = select_results(board)
    summary = add_floor(store, selected, summarize_results(selected), skipped=skipped)
    floors = floor_of(summary)
    # controls are the floor, never contenders: no rank, no pairwise rows among the methods
    comparisons = pairwise_results(store, selected[~is_control(selected)], skipped=skipped)
    summary["rank"] = pd.array([pd.NA] * len(summary), dtype="Int64")
    for key, comp in comparisons.items():
        mask = (summary[["dataset", "profile", "postprocess"]] == list(key)).all(axis=1)
        ranks = stats.rank(summary.loc[mask].set_index("method")["voi"], comp)
        summary.loc[mask, "rank"] = summary.loc[mask, "method"].map(ranks).to_numpy()
    # the latest run of each result stands for it in the sweep, per-section and panel plots
    latest = selected.sort_values("created").groupby(RESULT_KEY, dropna=False).tail(1)
    representative = records(latest)
    curves = {kind: load_curves(store.root, kind, leaderboard=latest, skipped=skipped)
              for kind in ("validation_curve", "per_section")}

    md = ["# emseg-bench leaderboard", "", metric_note(_NOTE), ""]
    text = ["emseg-bench leaderboard", ""]
    html_parts = []
    for dataset, dall in summary.groupby("dataset", sort=True):
        dall = dall.sort_values(["profile", "postprocess", "voi"])
        dsum, dcontrols = dall[~is_control(dall)], dall[is_control(dall)]
        dfloors = records(floors[floors["dataset"] == dataset])
        floor_runs = {(r["postprocess"], r["method"], r["profile"]) for r in dfloors}
        drows = [r for r in representative if r["dataset"] == dataset
                 and r["family"] != CONTROL_FAMILY]
        floor_rows = [r for r in representative if r["dataset"] == dataset
                      and (r["postprocess"], r["method"], r["profile"]) in floor_runs]
        # rows written before dataset names were made safe may hold a path: never let it
        # steer a PNG out of the report folder
        stem = file_stem(dataset, default="dataset")
        plots = [
            pareto_plot(records(dsum), out_dir / f"{stem}_pareto.png", dataset, floors=dfloors),
            sweeps_plot(drows, curves, out_dir / f"{stem}_sweeps.png", dataset),
            per_section_plot(drows, curves, out_dir / f"{stem}_per_section.png", dataset,
                             floors=floor_rows),
            panels_plot(store, drows, out_dir / f"{stem}_panels.png", dataset, skipped),
            nerl_plot(drows, out_dir / f"{stem}_nerl_vs_voi.png", dataset),
            training_curves_plot(store, records(selected[(selected["dataset"] == dataset)
                                                         & ~is_control(selected)]),
                                 out_dir / f"{stem}_training.png", dataset),
        ]
        plots = [p for p in plots if p is not None]
        table_rows = records(dsum)
        control_rows = records(dcontrols)
        floor_line = _floor_sentence(dfloors)  # plain text: the text report and the HTML
        md += [f"## {md_cell(dataset)}", "", _floor_sentence(dfloors, cell=md_cell), ""]
        text += [dataset, "=" * len(dataset), floor_line, ""]
        if table_rows:
            md += [format_rows(table_rows, markdown=True, columns=summary_columns(floor=True)),
                   ""]
            text += [format_rows(table_rows, columns=summary_columns(floor=True)), ""]
        if control_rows:
            md += ["### Controls (the floor; not ranked)", "",
                   format_rows(control_rows, markdown=True, columns=CONTROL_COLUMNS), ""]
            text += ["Controls (the floor; not ranked)",
                     format_rows(control_rows, columns=CONTROL_COLUMNS), ""]
        pair_rows = []
        for (ds, profile, pp), comp in comparisons.items():
            if ds != dataset:
                continue
            pair_rows += [{**c, "comparison": f"{c['method_a']} vs {c['method_b']} "
                           f"({pp}, {profile})", "interval": _interval(c["ci_low"], c["ci_high"]),
                           "verdict": "significant" if c["significant"] else "not significant"}
                          for c in comp.to_dict("records")]
        if pair_rows:
            md += ["### Pairwise comparisons", "",
                   format_rows(pair_rows, markdown=True, columns=PAIRWISE_COLUMNS), "",
                   "ΔVOI < 0: A has the lower (better) VOI. " + _verdict_sentences(pair_rows), ""]
            text += ["Pairwise comparisons", format_rows(pair_rows, columns=PAIRWISE_COLUMNS), ""]
        md += [f"![{p.stem}]({p.name})" for p in plots] + [""]
        errors_md, errors_html = worst_errors_section(store, drows, out_dir, stem, skipped)
        md += errors_md
        html_parts.append(_html_section(dataset, table_rows, summary_columns(floor=True), plots,
                                        pair_rows, control_rows, floor_line) + errors_html)
    write_atomic(out_dir / "leaderboard.md", "\n".join(md) + "\n")
    write_atomic(out_dir / "leaderboard.txt", "\n".join(text) + "\n")
    write_atomic(out_dir / "index.html", _html_page(html_parts))
    return out_dir / "index.html"


#: the controls' table: the summary's columns without the rank
CONTROL_COLUMNS = tuple(c for c in summary_columns() if c[0] != "rank")


def add_floor(store: ResultsStore, selected: pd.DataFrame, summary: pd.DataFrame, *,
              skipped: list[tuple[Path, str]] | None = None) -> pd.DataFrame:
    """``summary`` with each method result's verdict against the floor
    (:func:`bench.report.floor.floor_verdicts`) and its display columns."""
    verdicts = floor_verdicts(store, selected, summary, alpha=ALPHA, skipped=skipped)
    out = summary.merge(verdicts, on=["dataset", "profile", "postprocess", "method"],
                        how="left")
    out["floor_text"] = [
        "" if missing(m) or not m else f"{m} {v:.3f}"
        for m, v in zip(out["floor_method"], out["floor_voi"], strict=True)]
    out["floor_delta_text"] = [
        "" if missing(d) else f"{d:+.3f} {_interval(lo, hi)}"
        for d, lo, hi in zip(out["floor_delta"], out["floor_ci_low"], out["floor_ci_high"],
                             strict=True)]
    # a control has no verdict; a method without one says so (its floor_note says why)
    out["beats_floor"] = [
        "" if is_c else "not tested" if missing(b) or not b else b
        for b, is_c in zip(out["beats_floor"], is_control(out), strict=True)]
    return out


def _floor_sentence(floors: list[dict[str, Any]], cell: Any = str) -> str:
    """The floor per post-processor in words; ``cell`` escapes names for Markdown."""
    if not floors:
        return ("Floor: no control was run on this dataset (python -m bench run --method "
                "controls --dataset ...); the methods' VOI has no floor to be read against.")
    parts = [f"{cell(r['postprocess'])}: {cell(r['method'])} {r['voi']:.3f} "
             f"({cell(r['profile'])})"
             for r in floors]
    return ("Floor (the best control, test VOI, per post-processor): " + "; ".join(parts)
            + ". `beats floor`: a method's VOI is significantly lower than it.")


def _verdict_sentences(pair_rows: list[dict[str, Any]]) -> str:
    return " ".join(
        f"{md_cell(r['method_a'])} vs {md_cell(r['method_b'])}: "
        f"ΔVOI {r['delta']:+.3f} {r['interval']}, "
        f"p = {r['p_holm']:.3g}, {r['verdict']}." for r in pair_rows)


def _interval(lo: Any, hi: Any) -> str:
    if missing(lo) or missing(hi) or math.isnan(lo) or math.isnan(hi):
        return "-"
    return f"[{lo:.3f}, {hi:.3f}]"


def _html_table(rows, columns) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns)
    body = []
    for r in rows:
        cells = "".join(f"<td>{html.escape(format_cell(r, k, f))}</td>" for k, _, f in columns)
        body.append(f"<tr>{cells}</tr>")
    return (f"<div class='scroll'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _html_section(dataset, rows, columns, plots, pair_rows=(), control_rows=(),
                  floor_line="") -> str:
    imgs = "".join(
        f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"/></figure>'
        for p in plots
    )
    pairs = (f"<h3>Pairwise comparisons</h3>{_html_table(pair_rows, PAIRWISE_COLUMNS)}"
             "<p class='note'>ΔVOI &lt; 0: A has the lower (better) VOI.</p>"
             if pair_rows else "")
    controls = (f"<h3>Controls (the floor; not ranked)</h3>"
                f"{_html_table(control_rows, CONTROL_COLUMNS)}" if control_rows else "")
    floor = f"<p class='note'>{html.escape(floor_line.replace('`', ''))}</p>"
    table = _html_table(rows, columns) if rows else ""
    return (f"<section><h2>{html.escape(dataset)}</h2>{floor}{table}{controls}{pairs}"
            f"<div class='plots'>{imgs}</div></section>")


def _html_page(sections: list[str]) -> str:
    style = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.85rem;font-variant-numeric:tabular-nums}
th,td{padding:.35rem .6rem;border-bottom:1px solid #e5e5e5;text-align:right;white-space:nowrap}
th:nth-child(-n+3),td:nth-child(-n+3){text-align:left}
thead th{background:#f6f6f6;position:sticky;top:0}
tbody tr:hover{background:#fafafa}
.plots{display:flex;flex-wrap:wrap;gap:1rem;margin-top:1rem}
figure{margin:0}img{max-width:100%;border:1px solid #eee}
p.note{color:#555;font-size:.9rem}
td.cmd{text-align:left;color:#555;font-size:.8rem}
"""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>emseg-bench leaderboard</title><style>{style}</style></head><body>"
        "<h1>emseg-bench leaderboard</h1><p class='note'>"
        + html.escape(metric_note(_NOTE).replace("`", "")) + "</p>" + "".join(sections)
        + "</body></html>"
    )
