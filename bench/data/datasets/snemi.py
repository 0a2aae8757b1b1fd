"""``ac3ac4``: Kasthuri AC4 (train) and AC3 (test), the SNEMI3D volumes. AC4 is read from the
CAD layout (``ac3_ac4/AC4_{inputs,labels}.h5``) or, failing that, from the SNEMI3D release's
TIFF stacks (``ac3_ac4/train-{input,labels}.tif``, which is AC4); AC3 from the CAD layout."""

from __future__ import annotations

from bench.data.datasets.cad_h5 import load_pair
from bench.data.registry import DatasetInfo, LoadContext, register_dataset
from bench.data.splits import SectionRanges
from bench.data.types import Volume

AC_SPLITS = SectionRanges(
    {"train": ("AC4", 0, 70), "val": ("AC4", 70, 80), "test": ("AC3", 0, 100)},
    label="the paper protocol")


def _load(ctx: LoadContext) -> dict[str, Volume]:
    root = ctx.root()
    ac4 = load_pair(ctx, root, "ac3_ac4/AC4_inputs.h5", "ac3_ac4/AC4_labels.h5", "AC4")
    if ac4 is None:  # the SNEMI3D release names AC4 train-input / train-labels
        ac4 = load_pair(ctx, root, "ac3_ac4/train-input.tif", "ac3_ac4/train-labels.tif", "AC4")
    ac3 = load_pair(ctx, root, "ac3_ac4/AC3_inputs.h5", "ac3_ac4/AC3_labels.h5", "AC3")
    missing = [] if ac4 is not None else ["ac3_ac4/AC4_inputs.h5", "ac3_ac4/AC4_labels.h5"]
    missing += [] if ac3 is not None else ["ac3_ac4/AC3_inputs.h5", "ac3_ac4/AC3_labels.h5"]
    if missing:
        raise ctx.missing(root, missing)
    return {"AC4": ac4, "AC3": ac3}


register_dataset(
    "ac3ac4",
    DatasetInfo(
        "Kasthuri AC4 (train) / AC3 (test), ssSEM mouse cortex (SNEMI3D)",
        (30.0, 6.0, 6.0),
        ("ac3_ac4/AC3_inputs.h5", "ac3_ac4/AC3_labels.h5", "ac3_ac4/AC4_inputs.h5",
         "ac3_ac4/AC4_labels.h5"),
        alternatives=("ac3_ac4/AC{3,4}_{inputs,labels}.tif",
                      "ac3_ac4/train-input.tif + train-labels.tif (SNEMI3D = AC4)"),
        sources=("ac3ac4",),
    ),
    _load,
    AC_SPLITS,
)
