"""Result tables of the README and the documentation, generated from committed records.

A table in a Markdown file sits between two markers::

    <!-- generated: synthetic-quick-3seeds -->
    ...
    <!-- end generated -->

and its text is exactly :func:`render` of that name, from a committed file of records
(:data:`TABLES` says which file and which columns). ``python -m bench docs tables`` lists the
tables whose text differs from what their records give (exit 1); ``--write`` rewrites them.
``tests/test_doc_tables.py`` runs the same comparison, so a hand-edited number, or records
changed without regenerating, fail the default test run.

A leaderboard record file (``docs/results/*.json``) holds one study on one scored region: its
``title``, ``measured`` (date), ``code_commit``, ``machine``, ``command``, ``source`` (where
the numbers come from), ``rows`` (one per method and post-processor: ``rank``, ``method``,
``family``, ``postprocess``, ``voi_mean``, ``voi_std``, ``voi_ci95``, ``voi_split``,
``voi_merge``, ``arand``, ``nerl`` or ``cremi_score``, ``train_s``, ``infer_voxels_per_s``) and
optionally ``pairwise`` verdicts (``a``, ``b``, ``postprocess``, ``delta_voi``, ``ci95``,
``p_holm``, ``significant``). Rows of family ``control`` are a number's floor: a table's
``floor`` column shows, for each post-processor, the lowest VOI any control reached on the same
region, and ``(no control run yet)`` until a control row is recorded. A control row measured
apart from the study carries its own ``measured`` and ``code_commit``, which the caption names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TABLES", "TableSpec", "markdown_files", "render", "stale_tables", "unused_tables",
           "update_tables"]

#: the repository root (the README and ``docs/`` live there, beside the packages)
ROOT = Path(__file__).resolve().parents[2]

BEGIN = re.compile(r"<!-- generated: ([A-Za-z0-9_.-]+) -->\n")
END = "<!-- end generated -->"
NO_FLOOR = "(no control run yet)"


@dataclass(frozen=True)
class TableSpec:
    """One generated table: its ``kind``, its record file (relative to the repository root)
    and, for a leaderboard, the columns it shows (keys of :data:`COLUMNS`)."""

    kind: str
    source: str
    columns: tuple[str, ...] = ()
    #: leave rows of family ``control`` out of the rows (they still give the floor)
    hide_controls: bool = False


#: column key -> (header, cell of one row)
COLUMNS: dict[str, tuple[str, Any]] = {
    "rank": ("rank", lambda r: str(r["rank"])),
    "method": ("method", lambda r: r["method"]),
    "family": ("family", lambda r: r["family"]),
    "postprocess": ("post-proc", lambda r: r["postprocess"]),
    "voi": ("VOI ({n} seeds)", lambda r: f"{r['voi_mean']:.3f} ± {r['voi_std']:.3f}"),
    "interval": ("95 % interval", lambda r: _interval(r["voi_ci95"])),
    "voi_split": ("split", lambda r: f"{r['voi_split']:.3f}"),
    "voi_merge": ("merge", lambda r: f"{r['voi_merge']:.3f}"),
    "arand": ("ARAND", lambda r: f"{r['arand']:.3f}"),
    "nerl": ("NERL", lambda r: f"{r['nerl']:.3f}"),
    "cremi_score": ("CREMI", lambda r: f"{r['cremi_score']:.3f}"),
    "train_s": ("train s", lambda r: f"{r['train_s']:,}"),
    "infer_voxels_per_s": ("infer voxels/s", lambda r: f"{r['infer_voxels_per_s']:,}"),
    "floor": ("floor (best control VOI)", None),  # filled per post-processor
}

_FULL = ("rank", "method", "family", "postprocess", "voi", "interval", "voi_split", "voi_merge",
         "arand")

#: every generated table, by the name its markers carry
TABLES: dict[str, TableSpec] = {
    "synthetic-quick-readme": TableSpec(
        "leaderboard", "docs/results/synthetic-quick-3seeds.json",
        ("rank", "method", "family", "postprocess", "voi", "interval", "arand", "nerl",
         "floor"), hide_controls=True),
    "synthetic-quick-3seeds": TableSpec(
        "leaderboard", "docs/results/synthetic-quick-3seeds.json",
        (*_FULL, "nerl", "train_s", "infer_voxels_per_s", "floor")),
    "synthetic-quick-3seeds-pairwise": TableSpec(
        "pairwise", "docs/results/synthetic-quick-3seeds.json"),
    "gala-fib-3seeds": TableSpec(
        "leaderboard", "docs/results/gala-fib-3seeds.json",
        (*_FULL, "cremi_score", "train_s", "infer_voxels_per_s", "floor")),
    "gala-fib-3seeds-pairwise": TableSpec("pairwise", "docs/results/gala-fib-3seeds.json"),
    "smoke-baseline": TableSpec("baseline", "results/baseline.json"),
}


def _minus(x: float, fmt: str = ".3f") -> str:
    """``x`` formatted, with a typographic minus (as the report's tables print it)."""
    return format(x, fmt).replace("-", "−")


def _signed(x: float) -> str:
    return ("+" if x >= 0 else "") + _minus(x)


def _interval(ci: list[float]) -> str:
    return f"[{_minus(ci[0])}, {_minus(ci[1])}]"


def _read(root: Path, source: str) -> dict[str, Any]:
    path = root / source
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"generated table records {source}: {exc}") from None


def _caption(doc: dict[str, Any], source: str) -> str:
    text = (f"*Measured {doc['measured']} at commit {doc['code_commit']} ({doc['machine']}). "
            f"Records: `{source}`; {doc['source']}.")
    # control rows may come from a later run than the study: say when, if they carry it
    when = sorted({f"{r['measured']} at commit {r.get('code_commit', '?')}"
                   for r in doc["rows"] if r.get("family") == "control" and "measured" in r})
    if when:
        text += f" Floor: controls measured {'; '.join(when)}."
    return text + "*"


def _floors(rows: list[dict[str, Any]]) -> dict[str, str]:
    """``{post-processor: floor cell}``: the lowest control VOI on this region, per
    post-processor (the control keeps the post-processor and the region of the row)."""
    out: dict[str, str] = {}
    for r in rows:
        if r.get("family") != "control":
            continue
        best = out.get(r["postprocess"])
        if best is None or r["voi_mean"] < float(best.split()[0]):
            out[r["postprocess"]] = f"{r['voi_mean']:.3f} ({r['method']})"
    return out


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines


def _leaderboard(spec: TableSpec, doc: dict[str, Any]) -> list[str]:
    n_seeds = len(doc.get("seeds", [])) or "?"
    rows = doc["rows"]
    floors = _floors(rows)
    shown = [r for r in rows if not (spec.hide_controls and r.get("family") == "control")]
    header = [COLUMNS[c][0].format(n=n_seeds) for c in spec.columns]
    body = []
    for r in shown:
        cells = []
        for c in spec.columns:
            if c == "floor":
                cells.append(floors.get(r["postprocess"], NO_FLOOR))
            else:
                cells.append(COLUMNS[c][1](r))
        body.append(cells)
    return _table(header, body)


def _pairwise(doc: dict[str, Any]) -> list[str]:
    pairs = doc.get("pairwise", [])
    posts = list(dict.fromkeys(p["postprocess"] for p in pairs))
    keys = list(dict.fromkeys((p["a"], p["b"]) for p in pairs))
    cell = {(p["a"], p["b"], p["postprocess"]): p for p in pairs}
    header = ["A vs B", *[f"{pp} ΔVOI [95 %], p (Holm)" for pp in posts]]
    body = []
    for a, b in keys:
        row = [f"{a} vs {b}"]
        for pp in posts:
            p = cell.get((a, b, pp))
            row.append("–" if p is None else
                       f"{_signed(p['delta_voi'])} {_interval(p['ci95'])}, {p['p_holm']:g}, "
                       + ("significant" if p["significant"] else "not significant"))
        body.append(row)
    return _table(header, body)


def _baseline(doc: dict[str, Any], source: str) -> list[str]:
    bench = doc["benchmark"]
    header = ["method / post-proc", "seeds", "test VOI (mean ± std)", "ARAND (mean ± std)",
              "VOI per seed"]
    body = []
    for key, res in doc["results"].items():
        per_seed = ", ".join(f"{s}: {v['voi']:.3f}" for s, v in sorted(
            res["per_seed"].items(), key=lambda kv: int(kv[0])))
        body.append([key, str(res["n_seeds"]), f"{res['voi']:.3f} ± {res['voi_std']:.3f}",
                     f"{res['arand']:.3f} ± {res['arand_std']:.3f}", per_seed])
    overrides = ", ".join(f"{k}={v}" for k, v in doc.get("default_overrides", {}).items())
    posts = ", ".join(bench["postprocess"])
    caption = (f"*The {bench['dataset']} {bench['profile']} benchmark ({posts}, "
               f"{bench['device']}{', ' + overrides if overrides else ''}), recorded: "
               f"{doc['recorded']}. Records: `{source}`.*")
    return [*_table(header, body), "", caption]


def render(name: str, root: Path = ROOT) -> str:
    """The Markdown of generated table ``name`` (without its markers), ending in a newline."""
    try:
        spec = TABLES[name]
    except KeyError:
        raise KeyError(f"unknown generated table {name!r}; known: "
                       f"{', '.join(sorted(TABLES))}") from None
    doc = _read(root, spec.source)
    if spec.kind == "leaderboard":
        lines = [*_leaderboard(spec, doc), "", _caption(doc, spec.source)]
    elif spec.kind == "pairwise":
        lines = _pairwise(doc)
    elif spec.kind == "baseline":
        lines = _baseline(doc, spec.source)
    else:  # pragma: no cover - TABLES is ours
        raise ValueError(f"unknown table kind {spec.kind!r}")
    return "\n".join(lines) + "\n"


def markdown_files(root: Path = ROOT) -> list[Path]:
    """The files that may hold generated tables: the README and every page under ``docs/``."""
    docs = sorted(p for p in (root / "docs").rglob("*.md") if "_build" not in p.parts)
    return [root / "README.md", *docs]


def _blocks(text: str, where: str) -> list[tuple[str, int, int]]:
    """``(name, start, end)`` of every generated block's body in ``text``."""
    out = []
    for m in BEGIN.finditer(text):
        end = text.find(END, m.end())
        if end < 0:
            raise ValueError(f"{where}: '<!-- generated: {m.group(1)} -->' has no "
                             f"'{END}' after it")
        out.append((m.group(1), m.end(), end))
    return out


def _regenerated(text: str, where: str, root: Path) -> tuple[str, list[str]]:
    """``text`` with every generated block rewritten, and the names of those that changed."""
    changed, pieces, at = [], [], 0
    for name, start, end in _blocks(text, where):
        fresh = render(name, root)
        if text[start:end] != fresh:
            changed.append(name)
        pieces += [text[at:start], fresh]
        at = end
    pieces.append(text[at:])
    return "".join(pieces), changed


def stale_tables(root: Path = ROOT) -> list[str]:
    """``"FILE: NAME"`` for every generated table whose text differs from its records."""
    out = []
    for path in markdown_files(root):
        if path.is_file():
            rel = path.relative_to(root)
            _, changed = _regenerated(path.read_text(encoding="utf-8"), str(rel), root)
            out += [f"{rel}: {name}" for name in changed]
    return out


def update_tables(root: Path = ROOT) -> list[str]:
    """Rewrite every stale generated table in place; returns what :func:`stale_tables` did."""
    out = []
    for path in markdown_files(root):
        if path.is_file():
            rel = path.relative_to(root)
            text = path.read_text(encoding="utf-8")
            fresh, changed = _regenerated(text, str(rel), root)
            if changed:
                path.write_text(fresh, encoding="utf-8")
                out += [f"{rel}: {name}" for name in changed]
    return out


def unused_tables(root: Path = ROOT) -> list[str]:
    """Names in :data:`TABLES` that no README or docs page shows (a table nobody reads)."""
    used: set[str] = set()
    for path in markdown_files(root):
        if path.is_file():
            used |= {name for name, _, _ in _blocks(path.read_text(encoding="utf-8"), str(path))}
    return sorted(set(TABLES) - used)
