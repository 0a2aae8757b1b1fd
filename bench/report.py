"""The leaderboard report: Markdown and self-contained HTML tables plus PNG plots.

Reads the results database and the run directories it points to; writes
``<results>/report/leaderboard.md``, ``<results>/report/index.html`` and ``<results>/report/*.png``.
For each (dataset, method, profile, post-processor) the most recent run is shown.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.results import ResultsStore, write_atomic
from bench.table import LEADERBOARD_COLUMNS, format_cell, format_rows

log = logging.getLogger(__name__)

FAMILY_COLORS = {"2d": "#1f77b4", "3d": "#d62728", "distilled": "#2ca02c",
                 "classical": "#ff7f0e"}


def latest_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The most recent row of each (dataset, method, profile, post-processor)."""
    best: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = (r["dataset"], r["method"], r["profile"], r["postprocess"], r["split"])
        if key not in best or r["created"] >= best[key]["created"]:
            best[key] = r
    return sorted(best.values(), key=lambda r: (r["dataset"], r["postprocess"], r["voi"]))


def build_report(store: ResultsStore, out_dir: Path | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir or store.root / "report")
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = latest_rows(store.rows())
    if not rows:
        raise ValueError(
            f"no results in {store.db_path}; run `python -m bench run --method cad` first"
        )
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_dataset[r["dataset"]].append(r)

    md = ["# emseg-bench leaderboard", "",
          "Lower is better for VOI (split + merge, bits), ARAND and the CREMI score. "
          "Post-processing parameters were chosen on the validation split and frozen for test. "
          "`VOI 95% CI` is a bootstrap interval of the mean VOI over test sub-volumes.", ""]
    html_parts = []
    for dataset, drows in by_dataset.items():
        details = {r["run_id"]: _details(store, r["run_id"]) for r in drows}
        plots = [
            _plot_pareto(drows, out_dir / f"{dataset}_pareto.png", dataset),
            _plot_sweeps(drows, details, out_dir / f"{dataset}_sweeps.png", dataset),
            _plot_per_section(drows, details, out_dir / f"{dataset}_per_section.png", dataset),
            _plot_panels(store, drows, out_dir / f"{dataset}_panels.png", dataset),
        ]
        plots = [p for p in plots if p is not None]
        columns = LEADERBOARD_COLUMNS + (
            ("voi_ci", "VOI 95% CI", "{}"), ("split_hash", "split hash", "{}"))
        table_rows = [{**r, "voi_ci": _ci(r)} for r in drows]
        md += [f"## {dataset}", "", format_rows(table_rows, markdown=True, columns=columns), ""]
        md += [f"![{p.stem}]({p.name})" for p in plots] + [""]
        html_parts.append(_html_section(dataset, table_rows, columns, plots))
    write_atomic(out_dir / "leaderboard.md", "\n".join(md) + "\n")
    write_atomic(out_dir / "index.html", _html_page(html_parts))
    return out_dir / "index.html"


def _details(store: ResultsStore, run_id: str) -> dict[str, Any]:
    f = store.run_dir(run_id) / "metrics.json"
    return json.loads(f.read_text()).get("details", {}) if f.exists() else {}


def _ci(r: dict[str, Any]) -> str:
    lo, hi = r.get("voi_ci_low"), r.get("voi_ci_high")
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "-"
    return f"[{lo:.3f}, {hi:.3f}]"


def _label(r: dict[str, Any]) -> str:
    return f"{r['method']} ({r['postprocess']})"


def _plot_pareto(rows, path: Path, dataset: str) -> Path | None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    pts = [(r["infer_voxels_per_s"], r["voi"], r) for r in rows
           if r.get("infer_voxels_per_s") and r.get("voi") is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ordered = sorted(pts, key=lambda p: (p[0], p[1]))
    for x, y, r in ordered:
        ax.scatter(x, y, s=60, color=FAMILY_COLORS.get(r["family"], "#7f7f7f"),
                   edgecolor="black", zorder=3)
    front = _pareto_front([(x, y) for x, y, _ in pts])
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="0.4",
            linestyle="--", label="Pareto front", zorder=2)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor ticks crowd a short log axis
    ax.margins(x=0.25, y=0.1)  # room for the labels of the outermost points
    fig.canvas.draw()  # fix the limits, so labels can be measured in pixels
    _place_labels(ax, [(x, y, _label(r)) for x, y, r in ordered])
    ax.set_xlabel("inference throughput (voxels/s, log scale)")
    ax.set_ylabel("test VOI (bits, lower is better)")
    ax.set_title(f"{dataset}: accuracy vs speed")
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


def _plot_sweeps(rows, details, path: Path, dataset: str) -> Path | None:
    import matplotlib.pyplot as plt

    curves = _series(rows, details, "validation_curve")
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
    return _finish(fig, ax, path, "VOI merge (bits)", "VOI split (bits)",
                   f"{dataset}: validation sweep (circled: chosen parameter)")


def _plot_per_section(rows, details, path: Path, dataset: str) -> Path | None:
    import matplotlib.pyplot as plt

    series = _series(rows, details, "per_section")
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for r, s in series:
        ax.plot(range(len(s)), [p["voi"] for p in s], marker=".", label=_label(r),
                **_series_style(r, rows))
    return _finish(fig, ax, path, "test section (index within the test split)",
                   "2D VOI of the section (bits)", f"{dataset}: VOI per test section")


LINE_STYLES = {"waterz": "-", "lmc": "--", "mws": ":"}


def _series_style(r: dict[str, Any], rows) -> dict[str, Any]:
    """Plot style of a result: one colour per method, one line style per post-processor."""
    import matplotlib.pyplot as plt

    methods = sorted({row["method"] for row in rows})
    palette = plt.get_cmap("tab10").colors
    return {"color": palette[methods.index(r["method"]) % len(palette)],
            "linestyle": LINE_STYLES.get(r["postprocess"], "-.")}


def _series(rows, details, key: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(row, details[...][key]) for the rows whose run recorded ``key``."""
    out = [(r, details[r["run_id"]].get(r["postprocess"], {}).get(key)) for r in rows]
    return [(r, s) for r, s in out if s]


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_panels(store: ResultsStore, rows, path: Path, dataset: str) -> Path | None:
    import h5py
    import matplotlib.pyplot as plt

    # one post-processor (waterz when present) keeps the panel readable: raw | gt | methods
    pps = sorted({r["postprocess"] for r in rows}, key=lambda p: (p != "waterz", p))
    rows = sorted((r for r in rows if r["postprocess"] == pps[0]), key=lambda r: r["voi"])
    segs, raw, gt = [], None, None
    for r in rows:
        f = store.run_dir(r["run_id"]) / "segmentation.h5"
        if not f.exists():
            continue
        with h5py.File(f, "r") as h:
            if r["postprocess"] not in h or "panels" not in h:
                continue
            if raw is None:
                raw, gt, zs = h["panels/raw"][...], h["panels/gt"][...], h["panels/z"][...]
            if h["panels/z"].shape != zs.shape:
                continue
            segs.append((_label(r), h[r["postprocess"]][...][zs]))
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


def _colorize(labels: np.ndarray) -> np.ndarray:
    """Random but stable colours per id; 0 (boundary/background) is black."""
    ids, inverse = np.unique(labels, return_inverse=True)
    rng = np.random.default_rng(12345)
    colors = rng.uniform(0.25, 1.0, size=(len(ids), 3))
    colors[ids == 0] = 0.0
    return colors[inverse.reshape(labels.shape)]


def _html_section(dataset, rows, columns, plots) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns)
    body = []

    for r in rows:
        cells = "".join(f"<td>{html.escape(format_cell(r, k, f))}</td>" for k, _, f in columns)
        body.append(f"<tr>{cells}</tr>")
    imgs = "".join(
        f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"/></figure>'
        for p in plots
    )
    return (f"<section><h2>{html.escape(dataset)}</h2><div class='scroll'><table><thead><tr>"
            f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
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
"""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>emseg-bench leaderboard</title><style>{style}</style></head><body>"
        "<h1>emseg-bench leaderboard</h1><p class='note'>Lower is better for VOI (split + "
        "merge, bits), ARAND and the CREMI score. Post-processing parameters were chosen on the "
        "validation split and frozen for test. VOI 95% CI: bootstrap interval of the mean VOI "
        "over test sub-volumes.</p>" + "".join(sections) + "</body></html>"
    )
