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
from bench.names import file_stem
from bench.plotting import finish_plot
from bench.report_errors import nerl_plot, worst_errors_section
from bench.report_training import training_curves_plot
from bench.results import (
    CORRUPT_FILE_ERRORS,
    ResultsStore,
    load_curves,
    load_leaderboard,
    load_overlap_tables,
    skip_file,
    write_atomic,
)
from bench.table import format_cell, format_rows, metric_columns, metric_note
from metrics.spec import METRICS

log = logging.getLogger(__name__)

FAMILY_COLORS = {"2d": "#1f77b4", "3d": "#d62728", "distilled": "#2ca02c",
                 "classical": "#ff7f0e"}
#: a result is one (dataset, profile, post-processor, split, method); its rows are its seeds
RESULT_KEY = ["dataset", "profile", "postprocess", "split", "method"]
#: significance level of the pairwise comparisons (after Holm's correction)
ALPHA = 0.05

#: the leaderboard's columns: method, seeds, VOI mean +- std, interval, rank, then the means
#: (the score columns come from metrics.spec: bench.table.metric_columns)
_SUMMARY_HEAD = (("rank", "rank", "{}"), ("method", "method", "{}"), ("family", "family", "{}"),
                 ("postprocess", "post-proc", "{}"), ("n_seeds", "seeds", "{}"))
_SUMMARY_VOI = (("voi_text", "VOI", "{}"), ("voi_interval", "VOI 95% interval", "{}"))
_SUMMARY_TAIL = (("param_value", "param", "{:g}"), ("n_parameters", "params", "{:,}"),
                 ("train_seconds", "train s", "{:.0f}"),
                 ("infer_voxels_per_s", "infer vox/s", "{:,.0f}"),
                 ("split_hash", "split hash", "{}"))


def summary_columns() -> tuple[tuple[str, str, str], ...]:
    scores = [c for col in metric_columns(means=True)
              for c in (_SUMMARY_VOI if col[0] == "voi" else (col,))]
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
    f"p-values Holm-corrected; significant when below {ALPHA})."
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
    summary = summarize_results(selected)
    comparisons = pairwise_results(store, selected, skipped=skipped)
    summary["rank"] = pd.array([pd.NA] * len(summary), dtype="Int64")
    for key, comp in comparisons.items():
        mask = (summary[["dataset", "profile", "postprocess"]] == list(key)).all(axis=1)
        ranks = stats.rank(summary.loc[mask].set_index("method")["voi"], comp)
        summary.loc[mask, "rank"] = summary.loc[mask, "method"].map(ranks).to_numpy()
    # the latest run of each result stands for it in the sweep, per-section and panel plots
    latest = selected.sort_values("created").groupby(RESULT_KEY, dropna=False).tail(1)
    representative = _records(latest)
    curves = {kind: load_curves(store.root, kind, leaderboard=latest, skipped=skipped)
              for kind in ("validation_curve", "per_section")}

    md = ["# emseg-bench leaderboard", "", metric_note(_NOTE), ""]
    html_parts = []
    for dataset, dsum in summary.groupby("dataset", sort=True):
        dsum = dsum.sort_values(["profile", "postprocess", "voi"])
        drows = [r for r in representative if r["dataset"] == dataset]
        # rows written before dataset names were made safe may hold a path: never let it
        # steer a PNG out of the report folder
        stem = file_stem(dataset, default="dataset")
        plots = [
            _plot_pareto(_records(dsum), out_dir / f"{stem}_pareto.png", dataset),
            _plot_sweeps(drows, curves, out_dir / f"{stem}_sweeps.png", dataset),
            _plot_per_section(drows, curves, out_dir / f"{stem}_per_section.png", dataset),
            _plot_panels(store, drows, out_dir / f"{stem}_panels.png", dataset, skipped),
            nerl_plot(drows, out_dir / f"{stem}_nerl_vs_voi.png", dataset),
            training_curves_plot(store, _records(selected[selected["dataset"] == dataset]),
                                 out_dir / f"{stem}_training.png", dataset),
        ]
        plots = [p for p in plots if p is not None]
        table_rows = _records(dsum)
        md += [f"## {dataset}", "", format_rows(table_rows, markdown=True,
                                                columns=summary_columns()), ""]
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
        md += [f"![{p.stem}]({p.name})" for p in plots] + [""]
        errors_md, errors_html = worst_errors_section(store, drows, out_dir, stem, skipped)
        md += errors_md
        html_parts.append(_html_section(dataset, table_rows, summary_columns(), plots,
                                        pair_rows) + errors_html)
    write_atomic(out_dir / "leaderboard.md", "\n".join(md) + "\n")
    write_atomic(out_dir / "index.html", _html_page(html_parts))
    return out_dir / "index.html"


def _verdict_sentences(pair_rows: list[dict[str, Any]]) -> str:
    return " ".join(
        f"{r['method_a']} vs {r['method_b']}: ΔVOI {r['delta']:+.3f} {r['interval']}, "
        f"p = {r['p_holm']:.3g}, {r['verdict']}." for r in pair_rows)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts with None for missing values (pandas NA does not format)."""
    return [{k: (None if _missing(v) else v) for k, v in r.items()}
            for r in df.to_dict("records")]


def _missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # lists and arrays are values, not missing
        return False


def _interval(lo: Any, hi: Any) -> str:
    if _missing(lo) or _missing(hi) or math.isnan(lo) or math.isnan(hi):
        return "-"
    return f"[{lo:.3f}, {hi:.3f}]"


def _label(r: dict[str, Any]) -> str:
    return f"{r['method']} ({r['postprocess']})"


def _plot_pareto(rows, path: Path, dataset: str) -> Path | None:
    """Mean VOI against mean inference throughput, error bars the 95% interval."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    pts = [(r["infer_voxels_per_s"], r["voi"], r) for r in rows
           if r.get("infer_voxels_per_s") and r.get("voi") is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ordered = sorted(pts, key=lambda p: (p[0], p[1]))
    for x, y, r in ordered:
        lo, hi = r.get("ci_low"), r.get("ci_high")
        if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
            ax.errorbar(x, y, yerr=[[max(y - lo, 0.0)], [max(hi - y, 0.0)]], color="0.3",
                        capsize=3, linewidth=1, zorder=2.5)
        ax.scatter(x, y, s=60, color=FAMILY_COLORS.get(r["family"], "#7f7f7f"),
                   edgecolor="black", zorder=3)
    front = _pareto_front([(x, y) for x, y, _ in pts])
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="0.4",
            linestyle="--", label="Pareto front (means)", zorder=2)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor ticks crowd a short log axis
    ax.margins(x=0.25, y=0.1)  # room for the labels of the outermost points
    fig.canvas.draw()  # fix the limits, so labels can be measured in pixels
    _place_labels(ax, [(x, y, _label(r)) for x, y, r in ordered])
    ax.set_xlabel("inference throughput (voxels/s, log scale; mean over seeds)")
    ax.set_ylabel("test VOI (bits, lower is better)")
    ax.set_title(f"{dataset}: accuracy vs speed (bars: 95% interval)")
    for fam, color in FAMILY_COLORS.items():
        ax.scatter([], [], color=color, edgecolor="black", label=fam)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _place_labels(ax, points: list[tuple[float, float, str]]) -> None:
    """Label each point beside it without overlapping earlier labels.

    Tries right, left, then one line higher or lower on either side, and so on, and takes the
    first place whose text box is clear of every label already placed; falls back to the right.
    """
    renderer = ax.figure.canvas.get_renderer()
    line = 9.0  # points

    def annotate(x, y, text, side, shift):
        return ax.annotate(text, (x, y), textcoords="offset points", fontsize=8, va="center",
                           xytext=(7 * side, shift * line), ha="left" if side > 0 else "right",
                           bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none",
                                     alpha=0.8), zorder=4)

    spots = [(side, shift) for shift in (0, 1, -1, 2, -2, 3) for side in (1, -1)]
    taken = []
    for x, y, text in sorted(points, key=lambda p: p[1]):
        for side, shift in spots:
            ann = annotate(x, y, text, side, shift)
            box = ann.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in taken):
                break
            ann.remove()
        else:  # nowhere clear: right of the point, overlapping
            ann = annotate(x, y, text, 1, 0)
            box = ann.get_window_extent(renderer)
        taken.append(box)


def _pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten in both throughput (higher) and VOI (lower), by throughput."""
    front = []
    for x, y in sorted(points, key=lambda p: (-p[0], p[1])):
        if not front or y < front[-1][1]:
            front.append((x, y))
    return sorted(front)


def _plot_sweeps(rows, curves, path: Path, dataset: str) -> Path | None:
    import matplotlib.pyplot as plt

    curves = _series(rows, curves, "validation_curve")
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for r, curve in curves:
        xs = [c["voi_merge"] for c in curve]
        ys = [c["voi_split"] for c in curve]
        # colour per method, line style per post-processor: more curves than distinct colours
        line, = ax.plot(xs, ys, marker="o", markersize=3, label=_label(r),
                        **_series_style(r, rows))
        chosen = [c for c in curve if np.isclose(c["value"], r["param_value"])]
        if chosen:
            ax.scatter(chosen[0]["voi_merge"], chosen[0]["voi_split"], s=90, facecolor="none",
                       edgecolor=line.get_color(), linewidth=2)
    return finish_plot(fig, ax, path, "VOI merge (bits)", "VOI split (bits)",
                       f"{dataset}: validation sweep (circled: chosen parameter)")


def _plot_per_section(rows, curves, path: Path, dataset: str) -> Path | None:
    import matplotlib.pyplot as plt

    series = _series(rows, curves, "per_section")
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for r, s in series:
        ax.plot(range(len(s)), [p["voi"] for p in s], marker=".", label=_label(r),
                **_series_style(r, rows))
    return finish_plot(fig, ax, path, "test section (index within the test split)",
                       "2D VOI of the section (bits)", f"{dataset}: VOI per test section")


#: a line style per registered post-processor; others get the first free one of _MORE_STYLES
LINE_STYLES: dict[str, Any] = {"waterz": "-", "lmc": "--", "mws": ":", "gala": "-.",
                               "lmc-rf": (0, (6, 2, 1, 2, 1, 2))}
_MORE_STYLES = ((0, (1, 4)), (0, (8, 3)), (0, (3, 1, 3, 4)), (0, (4, 1, 1, 1, 1, 1, 1, 4)))


def line_style(postprocess: str, postprocessors) -> Any:
    """The line style of ``postprocess`` among ``postprocessors``: distinct for every one
    (those without a fixed style take the free extra styles in name order)."""
    if postprocess in LINE_STYLES:
        return LINE_STYLES[postprocess]
    others = sorted(p for p in set(postprocessors) if p not in LINE_STYLES)
    return _MORE_STYLES[others.index(postprocess) % len(_MORE_STYLES)]


def _series_style(r: dict[str, Any], rows) -> dict[str, Any]:
    """Plot style of a result: one colour per method, one line style per post-processor."""
    import matplotlib.pyplot as plt

    methods = sorted({row["method"] for row in rows})
    palette = plt.get_cmap("tab10").colors
    return {"color": palette[methods.index(r["method"]) % len(palette)],
            "linestyle": line_style(r["postprocess"], {row["postprocess"] for row in rows})}


def _series(rows, curves: dict[str, pd.DataFrame], kind: str
            ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(row, its points of ``curves[kind]``, a :func:`bench.results.load_curves` frame) for the
    rows whose run recorded that series."""
    frame = curves[kind]
    out = []
    for r in rows:
        if frame.empty:
            break
        points = frame[(frame["run_id"] == r["run_id"])
                       & (frame["postprocess"] == r["postprocess"])]
        if not points.empty:
            out.append((r, _records(points)))
    return out


def _plot_panels(store: ResultsStore, rows, path: Path, dataset: str,
                 skipped: list[tuple[Path, str]] | None = None) -> Path | None:
    import h5py
    import matplotlib.pyplot as plt

    # one post-processor (waterz when present) keeps the panel readable: raw | gt | methods
    pps = sorted({r["postprocess"] for r in rows}, key=lambda p: (p != "waterz", p))
    rows = sorted((r for r in rows if r["postprocess"] == pps[0]), key=lambda r: r["voi"])
    segs, raw, gt, zs = [], None, None, None
    for r in rows:
        try:
            f = store.run_dir(r["run_id"]) / "segmentation.h5"
        except ValueError:  # an unsafe run id from an old row: no run directory to read
            continue
        if not f.exists():
            continue
        try:
            with h5py.File(f, "r") as h:
                if r["postprocess"] not in h or "panels" not in h:
                    continue
                panels = _read_panels(h) if raw is None else (raw, gt, zs)
                if h["panels/z"].shape != panels[2].shape:
                    continue
                seg = h[r["postprocess"]][...][panels[2]]
                if seg.shape != panels[1].shape:
                    raise ValueError(f"{r['postprocess']}: panel sections of shape {seg.shape}, "
                                     f"expected {panels[1].shape}")
        except CORRUPT_FILE_ERRORS as exc:
            skip_file(skipped, f, f"image panels unreadable ({type(exc).__name__}: {exc})")
            continue
        raw, gt, zs = panels
        segs.append((_label(r), seg))
    if raw is None:
        return None
    cols = 2 + len(segs)
    n = raw.shape[0]
    aspect = raw.shape[1] / raw.shape[2]  # height / width of a section
    fig, axes = plt.subplots(n, cols, figsize=(2.2 * cols, 2.2 * aspect * n + 0.6), dpi=100,
                             squeeze=False)
    for i in range(n):
        panels = [("raw", raw[i], "gray"), ("ground truth", _colorize(gt[i]), None)]
        panels += [(name, _colorize(s[i]), None) for name, s in segs]
        for j, (title, img, cmap) in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(img, cmap=cmap, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle(f"{dataset}: test sections", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _read_panels(h) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """raw, gt and z of ``panels/``: (n, Y, X) images of the same shape, n section indices."""
    raw, gt, zs = h["panels/raw"][...], h["panels/gt"][...], h["panels/z"][...]
    if raw.ndim != 3 or raw.shape != gt.shape or zs.shape != (raw.shape[0],):
        raise ValueError(f"panels: raw {raw.shape}, gt {gt.shape} and z {zs.shape} do not "
                         "match (expected (n, Y, X) twice and (n,))")
    if zs.dtype.kind not in "iu" or gt.dtype.kind not in "iu" or raw.dtype.kind not in "iuf":
        raise ValueError(f"panels: unexpected dtypes raw {raw.dtype}, gt {gt.dtype}, z {zs.dtype}")
    return raw, gt, zs


def _colorize(labels: np.ndarray) -> np.ndarray:
    """Random but stable colours per id; 0 (boundary/background) is black."""
    ids, inverse = np.unique(labels, return_inverse=True)
    rng = np.random.default_rng(12345)
    colors = rng.uniform(0.25, 1.0, size=(len(ids), 3))
    colors[ids == 0] = 0.0
    return colors[inverse.reshape(labels.shape)]


def _html_table(rows, columns) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns)
    body = []
    for r in rows:
        cells = "".join(f"<td>{html.escape(format_cell(r, k, f))}</td>" for k, _, f in columns)
        body.append(f"<tr>{cells}</tr>")
    return (f"<div class='scroll'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _html_section(dataset, rows, columns, plots, pair_rows=()) -> str:
    imgs = "".join(
        f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"/></figure>'
        for p in plots
    )
    pairs = (f"<h3>Pairwise comparisons</h3>{_html_table(pair_rows, PAIRWISE_COLUMNS)}"
             "<p class='note'>ΔVOI &lt; 0: A has the lower (better) VOI.</p>"
             if pair_rows else "")
    return (f"<section><h2>{html.escape(dataset)}</h2>{_html_table(rows, columns)}{pairs}"
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
