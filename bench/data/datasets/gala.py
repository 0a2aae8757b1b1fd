"""``gala_fib``: two FIB-SEM crops of the gala project (Janelia FlyEM) in CREMI format, a small
real dataset for tests and a real-data leaderboard."""

from __future__ import annotations

from bench.data.loaders import load_cremi_file
from bench.data.registry import DatasetInfo, LoadContext, register_dataset
from bench.data.splits import SectionRanges
from bench.data.types import Volume


def _load(ctx: LoadContext) -> dict[str, Volume]:
    root = ctx.root()
    files = [root / f for f in ctx.info.expected_files]
    missing = [f for f, path in zip(ctx.info.expected_files, files, strict=True)
               if not path.exists()]
    if missing:
        raise ctx.missing(root, missing)
    train, test = (load_cremi_file(f, name=f.name.split(".")[0],
                                   default_resolution_nm=ctx.info.resolution_nm)
                   for f in files)
    return {"train": train, "test": test}


register_dataset(
    "gala_fib",
    DatasetInfo(
        "FIB-SEM Drosophila medulla crops from the gala project (Janelia FlyEM), CREMI format; "
        "small real volumes for tests and a real-data leaderboard",
        (10.0, 10.0, 10.0),
        ("gala_fib/train.cremi.h5", "gala_fib/test.cremi.h5"),
        splits={"train": "train.cremi.h5 sections 0-39", "val": "train.cremi.h5 sections 40-49",
                "test": "test.cremi.h5 (all 50 sections)"},
    ),
    _load,
    SectionRanges({"train": ("train", 0, 40), "val": ("train", 40, 50),
                   "test": ("test", 0, None)}),
)
