"""Plain-text and Markdown tables of result rows."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

_NEGATIVE_ZERO = re.compile(r"-0[.,]?0*")

# (column key, header, format)
LEADERBOARD_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("method", "method", "{}"),
    ("family", "family", "{}"),
    ("postprocess", "post-proc", "{}"),
    ("param_value", "param", "{:g}"),
    ("voi", "VOI", "{:.3f}"),
    ("voi_split", "split", "{:.3f}"),
    ("voi_merge", "merge", "{:.3f}"),
    ("arand", "ARAND", "{:.3f}"),
    ("cremi_score", "CREMI", "{:.3f}"),
    ("nerl", "NERL", "{:.3f}"),
    ("n_splits", "#splits", "{}"),
    ("n_merges", "#merges", "{}"),
    ("n_parameters", "params", "{:,}"),
    ("train_seconds", "train s", "{:.0f}"),
    ("infer_voxels_per_s", "infer vox/s", "{:,.0f}"),
)


def format_cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = fmt.format(value)
    # a value that rounds to zero prints as 0, never as "-0.000"
    return text[1:] if _NEGATIVE_ZERO.fullmatch(text) else text


def format_rows(rows: Sequence[dict[str, Any]], *, markdown: bool = False,
                columns=LEADERBOARD_COLUMNS) -> str:
    headers = [h for _, h, _ in columns]
    body = [[format_cell(r, k, f) for k, _, f in columns] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[i]) for c in body)) if body else len(h)
              for i, h in enumerate(headers)]
    fmt_line = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt_line.format(*headers), fmt_line.format(*("-" * w for w in widths))]
    lines += [fmt_line.format(*cells) for cells in body]
    return "\n".join(lines)
