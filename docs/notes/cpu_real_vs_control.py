"""Paired per-slab bootstrap of a method's runs against a control run (docs/notes/cpu-real-profile.md).

  python docs/notes/cpu_real_vs_control.py CONTROL_RUN_DIR RUN_DIR [RUN_DIR ...]

The control is deterministic (no training), so each seed's run is paired with the same control
tables: bench.stats.compare(method seeds, control repeated per seed), waterz rows.
"""
import json
import sys
from pathlib import Path

import numpy as np

from bench import stats
from bench.results import load_overlap_tables


def tables(run_dir: Path):
    e = load_overlap_tables(run_dir.parent.parent, [run_dir.name])
    e = e[e["postprocess"] == "waterz"]
    return stats.slab_tables(e, np.unique(e["slab"]))


def main():
    control = Path(sys.argv[1])
    runs = [Path(p) for p in sys.argv[2:]]
    c = tables(control)
    a, seeds = {}, []
    for r in runs:
        seed = int(json.loads((r / "metrics.json").read_text())["rows"][0]["seed"])
        a[seed] = tables(r)
        seeds.append(seed)
    res = stats.compare(a, {s: c for s in seeds})
    vois = {s: round(float(t.voi()), 3) for s, t in a.items()}
    print(json.dumps({"runs": vois, "control": round(float(c.voi()), 3), **res}))


if __name__ == "__main__":
    main()
