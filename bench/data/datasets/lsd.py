"""``lsd_sample``: the lsd tutorial's ssTEM sample (funkelab/lsd), 100 x 250 x 250 with dense 3D
neuron labels, fetched from its origin and put in z order by ``bench data fetch lsd_sample``
(:func:`bench.data.convert.lsd_sample_arrays`).

Its split is the file-spec default for 100 sections (train 0-59, val 60-74, test 75-99; the
volume is named ``volume`` as a file spec's is), so results compare with those of
``--dataset lsd_sample/lsd_sample.cremi.h5``: the same sections, the same split hash. The
two source stacks meet at z = 50, inside train.
"""

from __future__ import annotations

from bench.data.loaders import load_cremi_file
from bench.data.registry import DatasetInfo, LoadContext, register_dataset
from bench.data.splits import FractionSplits
from bench.data.types import Volume

FILE = "lsd_sample/lsd_sample.cremi.h5"


def _load(ctx: LoadContext) -> dict[str, Volume]:
    root = ctx.root()
    path = root / FILE
    if not path.exists():
        raise ctx.missing(root, [FILE])
    return {"volume": load_cremi_file(path, name="lsd_sample",
                                      default_resolution_nm=ctx.info.resolution_nm)}


register_dataset(
    "lsd_sample",
    DatasetInfo(
        "ssTEM, adult Drosophila (the lsd tutorial's CREMI-like sample), 100 x 250 x 250, dense "
        "3D neuron labels; two 50-section stacks meeting at z = 50",
        (40.0, 4.0, 4.0),
        (FILE,),
        splits={"train": "sections 0-59 (both stacks: the seam at z = 50 is inside train)",
                "val": "sections 60-74", "test": "sections 75-99 (the file-spec default)"},
        sources=("lsd_sample",),
    ),
    _load,
    FractionSplits(min_test=1, min_val=1),
)
