"""Plain-text and Markdown tables of result rows."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

_NEGATIVE_ZERO = re.compile(r"-0[.,]?0*")

Column = tuple[str, str, str]  # (row key, header, format)

#: the columns before and after the scores (the scores come from metrics.spec.METRICS)
_HEAD: tuple[Column, ...] = (
    ("method", "method", "{}"),
    ("family", "family", "{}"),
    ("postprocess", "post-proc", "{}"),
    ("param_value", "param", "{:g}"),
)
_TAIL: tuple[Column, ...] = (
    ("n_parameters", "params", "{:,}"),
    ("train_seconds", "train s", "{:.0f}"),
    ("infer_voxels_per_s", "infer vox/s", "{:,.0f}"),
)


_MD_SPECIAL = {"\\": "\\\\", "|": "\\|", "`": "\\`", "&": "&amp;", "<": "&lt;",
               ">": "&gt;"}


def md_cell(value: object) -> str:
    """``value`` as text safe inside one Markdown table cell or heading.

    Names in a results folder may come from anyone (a planted ``leaderboard.sqlite``): a ``|``
    or a line break in a method name would add cells or whole rows (a forged verdict in a PR
    comment), raw HTML would reach the page, ``[text](url)`` a link. Line breaks become
    spaces; ``|``, ``\\``, backticks and the ``(`` of ``](`` are backslash-escaped; ``& < >``
    become entities. Plain names and intervals (``[0.5, 0.7]``) are left as they are.
    """
    text = " ".join(str(value).split())
    return "".join(_MD_SPECIAL.get(ch, ch) for ch in text).replace("](", "]\\(")


def md_code(value: object) -> str:
    """``value`` for a Markdown code span: one line, no backticks."""
    return " ".join(str(value).split()).replace("`", "'")


def metric_columns(*, means: bool = False) -> tuple[Column, ...]:
    """The leaderboard's score columns, from :func:`metrics.spec.leaderboard_metrics`;
    ``means``: formats of means over seeds (the report's)."""
    from metrics.spec import leaderboard_metrics

    return tuple((m.key, m.label, (m.mean_fmt or m.fmt) if means else m.fmt)
                 for m in leaderboard_metrics())


def metric_note(note: str) -> str:
    """``note`` (which describes the built-in scores) followed by one sentence per score
    registered since (:func:`metrics.spec.register_metric`)."""
    from metrics.spec import BUILTIN, METRICS

    extra = [f" {m.label}: {m.description}; {m.better} is better." for k, m in METRICS.items()
             if k not in BUILTIN and m.leaderboard]
    return note + "".join(extra)


def leaderboard_columns() -> tuple[Column, ...]:
    """The columns of one run's rows as ``bench run`` and ``bench score`` print them."""
    return (*_HEAD, *metric_columns(), *_TAIL)


def format_cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = fmt.format(value)
    # a value that rounds to zero prints as 0, never as "-0.000"
    return text[1:] if _NEGATIVE_ZERO.fullmatch(text) else text


def format_rows(rows: Sequence[dict[str, Any]], *, markdown: bool = False,
                columns: Sequence[Column] | None = None) -> str:
    """``rows`` as an aligned text table, or Markdown; ``columns`` default to
    :func:`leaderboard_columns`."""
    if columns is None:
        columns = leaderboard_columns()
    headers = [h for _, h, _ in columns]
    body = [[format_cell(r, k, f) for k, _, f in columns] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(md_cell(c) for c in cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[i]) for c in body)) if body else len(h)
              for i, h in enumerate(headers)]
    fmt_line = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt_line.format(*headers), fmt_line.format(*("-" * w for w in widths))]
    lines += [fmt_line.format(*cells) for cells in body]
    return "\n".join(lines)
