"""``synthetic``: the embedded serial-section EM phantom (generated, no download)."""

from __future__ import annotations

from bench.data.registry import DatasetInfo, LoadContext, register_dataset
from bench.data.splits import FractionSplits
from bench.data.synthetic import SyntheticParams, generate_synthetic
from bench.data.types import Dataset, Volume

#: synthetic volume shape (Z, Y, X) per profile
SYNTHETIC_PROFILES: dict[str, tuple[int, int, int]] = {
    "smoke": (24, 96, 96),
    "quick": (64, 256, 256),
    "cpu-real": (64, 256, 256),  # the cpu-real training profile on the quick phantom
    "paper": (125, 512, 512),
}
SPLITS = FractionSplits(min_test=8, min_val=2)

SYNTHETIC_INFO = DatasetInfo(
    "embedded synthetic serial-section EM phantom (generated, no download); "
    + ", ".join(f"{p} {'x'.join(map(str, s))}" for p, s in SYNTHETIC_PROFILES.items()),
    SyntheticParams().resolution_nm,
)

_CACHE: dict[tuple[str, int], Volume] = {}


def synthetic_volume(profile: str = "quick", seed: int = 0) -> Volume:
    """The phantom for ``profile`` (cached in memory per (profile, seed), read-only arrays)."""
    if profile not in SYNTHETIC_PROFILES:
        raise ValueError(f"unknown profile {profile!r} for dataset 'synthetic'; valid: "
                         f"{sorted(SYNTHETIC_PROFILES)}")
    key = (profile, int(seed))
    if key not in _CACHE:
        shape = SYNTHETIC_PROFILES[profile]
        vol = generate_synthetic(shape, seed=seed, name=f"synthetic-{profile}-s{seed}")
        vol.raw.setflags(write=False)  # shared by every caller of the cache
        vol.labels.setflags(write=False)
        _CACHE[key] = vol
    return _CACHE[key]


def _load(ctx: LoadContext) -> dict[str, Volume]:
    return {"volume": synthetic_volume(ctx.profile, ctx.seed)}


ENTRY = register_dataset("synthetic", SYNTHETIC_INFO, _load, SPLITS)


def synthetic_dataset(profile: str = "quick", seed: int = 0) -> Dataset:
    """The embedded dataset for ``profile`` with its splits (the volume is cached)."""
    vol = synthetic_volume(profile, seed)
    return Dataset("synthetic", {"volume": vol}, SPLITS("synthetic", {"volume": vol}),
                   SYNTHETIC_INFO.description)
