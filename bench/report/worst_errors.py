"""The report's skeleton parts: NERL next to VOI, and each result's worst errors with crops.

Kept apart from :mod:`bench.report` so that module only calls in: ``nerl_plot`` returns a PNG
path (or ``None`` when no row has NERL), ``worst_errors_section`` returns Markdown lines and an
HTML fragment listing, per test result, the ground-truth neurons with the largest split and
merge contributions (see :mod:`bench.neuron_errors`), a crop image of each, and the
``python -m bench view`` command that opens the neuroglancer viewer at that position.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.names import file_stem
from bench.registry import DEFAULT_FAMILY_COLOR, family_colors
from bench.report.panels import colorize
from bench.report.plots import place_labels, point_label
from bench.results import CORRUPT_FILE_ERRORS, ResultsStore, skip_file
from bench.text_tables import md_cell, md_code

#: error rows shown per result: all of worst_errors (neuron_errors.json keeps every neuron)
SHOWN = 12


def nerl_plot(rows: list[dict[str, Any]], path: Path, dataset: str) -> Path | None:
    """Test VOI (x) against test NERL (y), one point per result: the two views of accuracy."""
    import matplotlib.pyplot as plt

    pts = [(r["voi"], r["nerl"], r) for r in rows
           if r.get("nerl") is not None and r.get("voi") is not None
           and np.isfinite(r["nerl"])]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    colors = family_colors()
    for x, y, r in pts:
        ax.scatter(x, y, s=60, color=colors.get(r.get("family"), DEFAULT_FAMILY_COLOR),
                   edgecolor="black", zorder=3)
    ax.margins(x=0.25, y=0.15)
    ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]), top=max(1.05, ax.get_ylim()[1]))
    fig.canvas.draw()
    place_labels(ax, [(x, y, point_label(r)) for x, y, r in pts])
    ax.set_xlabel("test VOI (bits, lower is better)")
    ax.set_ylabel("test NERL (higher is better, 1 = perfect)")
    ax.set_title(f"{dataset}: skeleton run length vs VOI")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _crop_png(store: ResultsStore, r: dict[str, Any], i: int, label: int, path: Path
              ) -> Path | None:
    """raw | ground truth (the neuron in red) | segmentation, for error ``i`` of result ``r``."""
    import h5py
    import matplotlib.pyplot as plt


    f = store.run_dir(r["run_id"]) / "segmentation.h5"
    key = f"errors/{r['postprocess']}/{i}"
    if not f.exists():
        return None
    with h5py.File(f, "r") as h:
        if key not in h:
            return None
        raw, gt, seg = (h[key][k][...] for k in ("raw", "gt", "seg"))
    gt_rgb = colorize(gt) * 0.45
    gt_rgb[gt == label] = (1.0, 0.1, 0.1)
    seg_rgb = colorize(seg)
    # outline of the neuron on the segmentation, so a merge or a split is visible at a glance
    inside = gt == label
    edge = inside & ~(np.roll(inside, 1, 0) & np.roll(inside, -1, 0) & np.roll(inside, 1, 1)
                      & np.roll(inside, -1, 1))
    seg_rgb[edge] = (1.0, 1.0, 1.0)
    fig, axes = plt.subplots(1, 3, figsize=(5.4, 2.1), dpi=90)
    for ax, img, title, cmap in zip(axes, (raw, gt_rgb, seg_rgb),
                                    ("raw", f"gt {label}", "segmentation"),
                                    ("gray", None, None), strict=True):
        ax.imshow(img, cmap=cmap, interpolation="nearest")
        ax.set_title(title, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(pad=0.4)
    fig.savefig(path)
    plt.close(fig)
    return path


def _view_command(r: dict[str, Any], pos: list[int]) -> str:
    return f"python -m bench view {r['run_id']} --position {','.join(map(str, pos))}"


def worst_errors_section(store: ResultsStore, rows: list[dict[str, Any]], out_dir: Path,
                         dataset: str, skipped: list[tuple[Path, str]] | None = None
                         ) -> tuple[list[str], str]:
    """Markdown lines and an HTML fragment: the worst errors of each result in ``rows``.

    A result whose ``metrics.json`` or crops in ``segmentation.h5`` cannot be read is left
    out and appended to ``skipped`` as ``(path, why)`` (raised as ``ValueError`` without it).
    """
    md: list[str] = []
    parts: list[str] = []
    for r in rows:
        f = store.run_dir(r["run_id"]) / "metrics.json"
        if not f.exists():
            continue
        try:
            worst = _worst_errors(f, r["postprocess"])
        except CORRUPT_FILE_ERRORS as exc:
            skip_file(skipped, f, f"worst errors unreadable ({type(exc).__name__}: {exc})")
            continue
        if not worst:
            continue
        try:
            section = _result_section(store, r, worst, out_dir, dataset)
        except CORRUPT_FILE_ERRORS as exc:
            seg = store.run_dir(r["run_id"]) / "segmentation.h5"
            skip_file(skipped, seg, f"error crops unreadable ({type(exc).__name__}: {exc})")
            continue
        md += section[0]
        parts.append(section[1])
    if md:
        md = ["Worst errors per result: ground-truth neurons ranked by the expected run length "
              "they cost (skeleton view) and by their VOI split and merge terms (voxel view); "
              "every neuron is in the run's `neuron_errors.json`.", ""] + md
        parts.insert(0, "<p class='note'>Worst errors per result: ground-truth neurons ranked "
                        "by the expected run length they cost and by their VOI split and merge "
                        "terms; every neuron is in the run's <code>neuron_errors.json</code>.</p>")
    return md, "".join(parts)


#: each worst-error entry's fields and their types, as bench.neuron_errors writes them
_ERROR_FIELDS = {"label": int, "error": str, "lost_erl_nm": (int, float),
                 "run_nm": (int, float), "length_nm": (int, float),
                 "voi_split": (int, float), "voi_merge": (int, float), "merged_with": list,
                 "position": list}


def _worst_errors(path: Path, postprocess: str) -> list[dict[str, Any]]:
    """``details[postprocess]["worst_errors"]`` of a ``metrics.json``, each entry checked."""
    details = json.loads(path.read_text()).get("details", {})
    worst = details.get(postprocess, {}).get("worst_errors") if isinstance(details, dict) else []
    if not worst:
        return []
    if not isinstance(worst, list):
        raise TypeError("worst_errors is not a list")
    for i, e in enumerate(worst[:SHOWN]):
        for key, kind in _ERROR_FIELDS.items():
            if not isinstance(e, dict) or not isinstance(e.get(key), kind):
                raise TypeError(f"worst_errors[{i}][{key!r}] is missing or of the wrong type")
        if len(e["position"]) != 3 or not all(isinstance(v, int) for v in e["position"]):
            raise TypeError(f"worst_errors[{i}]['position'] is not three integers z, y, x")
    return worst


def _result_section(store: ResultsStore, r: dict[str, Any], worst: list[dict[str, Any]],
                    out_dir: Path, dataset: str) -> tuple[list[str], str]:
    title = f"{r['method']} ({r['postprocess']}): worst errors"
    md = [f"### {md_cell(title)}", "",
          "| # | gt neuron | error | lost ERL nm | run / length nm | VOI split | VOI merge "
          "| merged with | z, y, x | crop |", "|" + "---|" * 10]
    body = []
    for i, e in enumerate(worst[:SHOWN]):
        png = _crop_png(store, r, i, e["label"],
                        out_dir / f"{file_stem(dataset, r['method'], r['postprocess'])}"
                                  f"_err{i}.png")
        merged = ", ".join(map(str, e["merged_with"][:4])) + (
            " ..." if len(e["merged_with"]) > 4 else "")
        cells = [str(i + 1), str(e["label"]), e["error"], f"{e['lost_erl_nm']:.0f}",
                 f"{e['run_nm']:.0f} / {e['length_nm']:.0f}", f"{e['voi_split']:.3f}",
                 f"{e['voi_merge']:.3f}", merged or "-", ", ".join(map(str, e["position"]))]
        md.append("| " + " | ".join(md_cell(c) for c in cells)
                  + f" | {f'![]({png.name})' if png else '-'} |")
        img = (f'<img alt="crop" src="data:image/png;base64,'
               f'{base64.b64encode(png.read_bytes()).decode()}"/>' if png else "-")
        tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
        body.append(f"<tr>{tds}<td>{img}</td></tr>"
                    f"<tr><td></td><td colspan='10' class='cmd'><code>"
                    f"{html.escape(_view_command(r, e['position']))}</code></td></tr>")
    md += ["", f"Open in neuroglancer: `{md_code(_view_command(r, worst[0]['position']))}` "
           "(each row's position works the same way).", ""]
    head = "".join(f"<th>{h}</th>" for h in (
        "#", "gt neuron", "error", "lost ERL nm", "run / length nm", "VOI split",
        "VOI merge", "merged with", "z, y, x", "crop"))
    return md, (f"<h3>{html.escape(title)}</h3><div class='scroll'><table><thead><tr>"
                f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
