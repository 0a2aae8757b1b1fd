"""The report's plots: accuracy against speed (with its Pareto front), the validation sweeps
and the per-section VOI, with the colours, line styles and point labels they share.

Every function writes one PNG and returns its path, or ``None`` when no row has the data.
``finish_plot`` is what every line plot ends with (labels, legend, grid, layout, the PNG
written and the figure closed).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.method import CONTROL_FAMILY
from bench.registry import DEFAULT_FAMILY_COLOR, family_colors
from bench.report.records import records


def point_label(r: dict[str, Any]) -> str:
    return f"{r['method']} ({r['postprocess']})"


def pareto_plot(rows, path: Path, dataset: str, floors=()) -> Path | None:
    """Mean VOI against mean inference throughput, error bars the 95% interval; ``floors``
    (the best control per post-processor, :mod:`bench.report.floor`) drawn as horizontal
    lines."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    pts = [(r["infer_voxels_per_s"], r["voi"], r) for r in rows
           if r.get("infer_voxels_per_s") and r.get("voi") is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ordered = sorted(pts, key=lambda p: (p[0], p[1]))
    colors = family_colors()  # one registry walk per plot
    for x, y, r in ordered:
        lo, hi = r.get("ci_low"), r.get("ci_high")
        if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
            ax.errorbar(x, y, yerr=[[max(y - lo, 0.0)], [max(hi - y, 0.0)]], color="0.3",
                        capsize=3, linewidth=1, zorder=2.5)
        ax.scatter(x, y, s=60, color=colors.get(r["family"], DEFAULT_FAMILY_COLOR),
                   edgecolor="black", zorder=3)
    draw_floors(ax, floors, {r["postprocess"] for r in rows})
    front = pareto_front([(x, y) for x, y, _ in pts])
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="0.4",
            linestyle="--", label="Pareto front (means)", zorder=2)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor ticks crowd a short log axis
    ax.margins(x=0.25, y=0.1)  # room for the labels of the outermost points
    fig.canvas.draw()  # fix the limits, so labels can be measured in pixels
    place_labels(ax, [(x, y, point_label(r)) for x, y, r in ordered])
    ax.set_xlabel("inference throughput (voxels/s, log scale; mean over seeds)")
    ax.set_ylabel("test VOI (bits, lower is better)")
    ax.set_title(f"{dataset}: accuracy vs speed (bars: 95% interval)")
    for fam, color in colors.items():
        if fam != CONTROL_FAMILY:  # controls are drawn as the floor line, not as points
            ax.scatter([], [], color=color, edgecolor="black", label=fam)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def draw_floors(ax, floors, postprocessors) -> None:
    """One horizontal line per floor (a control's test VOI), in the post-processor's line
    style, labelled with the control."""
    every = set(postprocessors) | {f["postprocess"] for f in floors}
    for f in floors:
        if f.get("voi") is None:
            continue
        ax.axhline(f["voi"], color="black", linewidth=1.2, zorder=1.5,
                   linestyle=line_style(f["postprocess"], every),
                   label=f"floor: {f['method']} ({f['postprocess']}) {f['voi']:.3f}")


def place_labels(ax, points: list[tuple[float, float, str]]) -> None:
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


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten in both throughput (higher) and VOI (lower), by throughput."""
    front = []
    for x, y in sorted(points, key=lambda p: (-p[0], p[1])):
        if not front or y < front[-1][1]:
            front.append((x, y))
    return sorted(front)


def sweeps_plot(rows, curves, path: Path, dataset: str) -> Path | None:
    import matplotlib.pyplot as plt

    curves = _series(rows, curves, "validation_curve")
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for r, curve in curves:
        xs = [c["voi_merge"] for c in curve]
        ys = [c["voi_split"] for c in curve]
        # colour per method, line style per post-processor: more curves than distinct colours
        line, = ax.plot(xs, ys, marker="o", markersize=3, label=point_label(r),
                        **_series_style(r, rows))
        chosen = [c for c in curve if np.isclose(c["value"], r["param_value"])]
        if chosen:
            ax.scatter(chosen[0]["voi_merge"], chosen[0]["voi_split"], s=90, facecolor="none",
                       edgecolor=line.get_color(), linewidth=2)
    return finish_plot(fig, ax, path, "VOI merge (bits)", "VOI split (bits)",
                       f"{dataset}: validation sweep (circled: chosen parameter)")


def per_section_plot(rows, curves, path: Path, dataset: str, floors=()) -> Path | None:
    """Each result's 2D VOI per test section; ``floors`` (the floor controls' rows) as black
    lines."""
    import matplotlib.pyplot as plt

    series = _series(rows, curves, "per_section")
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for r, s in series:
        ax.plot(range(len(s)), [p["voi"] for p in s], marker=".", label=point_label(r),
                **_series_style(r, rows))
    every = {r["postprocess"] for r in [*rows, *floors]}
    for r, s in _series(list(floors), curves, "per_section"):
        ax.plot(range(len(s)), [p["voi"] for p in s], color="black", linewidth=1.2,
                linestyle=line_style(r["postprocess"], every),
                label=f"floor: {point_label(r)}")
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
            out.append((r, records(points)))
    return out


def finish_plot(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    """Label ``ax``, save ``fig`` to ``path`` and close it; returns ``path``."""
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
