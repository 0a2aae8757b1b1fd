"""Null controls (family ``control``): affinities that carry no learned information.

A control replaces where the affinities come from and keeps everything else of a run: the
post-processor, its parameter chosen on the validation split, the test split, the metrics and
the result rows. What a control scores is therefore the floor of the pipeline on a dataset:
a method that does not beat the best control significantly has learned nothing the
post-processor could not find in the raw image (or in the shape of any affinity map).

==============  ==========================================================================
``random``      uniform in [0, 1), one fixed generator seed (``noise_seed``): no information
``intensity``   ``1 - |I(v) - I(v - e)|``, ``I = raw / 255``: similar intensity, high affinity
``membrane``    ``min(I(v), I(v - e))``: membranes are dark in EM, so a dark voxel on either
                side of an edge gives a low affinity
``rolled``      a named run's own affinities (its ``predictions.h5``), all channels translated
                by one vector (``shift``, a fraction of each axis, with wrap-around): the same
                values and statistics in the wrong place
``shuffled``    the same, each channel by its own vector (``shifts``): also breaks the
                agreement of the three channels with each other
==============  ==========================================================================

``v - e`` is the convention of :mod:`bench.affinity` (channel order z, y, x; the value at
``v`` is its affinity to ``v - e_axis``) and the plane without a partner voxel follows its
border rule (:func:`bench.affinity.fill_nearest_borders`). None of them trains (``learned =
False``) and none depends on the training seed, so one run stands for every seed (the report
pairs it with each seed of a method). ``rolled`` and ``shuffled`` need the run to roll
(``needs_source_run``: ``bench run --source-run RUN_ID``) and refuse a volume that is neither
the validation nor the test split that run predicted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from bench.affinity import NEAREST_OFFSETS, fill_nearest_borders, shifted_slices
from bench.atomic import write_atomic
from bench.method import CONTROL_FAMILY, Method, check_raw, raw_fingerprint
from bench.registries import register_method

__all__ = ["ControlMethod", "IntensityControl", "MembraneControl", "RandomControl",
           "RolledControl", "ShuffledControl", "roll_affinities"]

#: harness options every factory receives; a control has no use for them
_HARNESS_KEYS = ("profile", "device", "seed")


class ControlMethod(Method):
    """Base of the null controls: no training, no parameters, affinities from a rule."""

    family = CONTROL_FAMILY
    family_color = "#4d4d4d"
    learned = False
    #: the control's settings and their defaults (``--set KEY=VALUE`` overrides them)
    defaults: dict[str, Any] = {}

    @classmethod
    def create(cls, **overrides: Any) -> ControlMethod:
        """The registry factory: the harness options are accepted and ignored (a control
        neither trains nor depends on the seed); any other key must be one of ``defaults``."""
        overrides = {k: v for k, v in overrides.items() if k not in _HARNESS_KEYS}
        if overrides.pop("checkpoint", None) is not None:
            raise ValueError(f"{cls.name}: a control has no weights to load (no --checkpoint)")
        unknown = sorted(set(overrides) - set(cls.defaults))
        if unknown:
            valid = ", ".join(sorted(cls.defaults)) or "none"
            raise KeyError(f"control {cls.name!r} has no setting {', '.join(unknown)}; valid "
                           f"settings: {valid}")
        method = cls({**cls.defaults, **overrides})
        method.check_config()
        return method

    def check_config(self) -> None:
        """Raise ``ValueError`` naming a bad setting (called by :meth:`create`)."""

    def fit(self, train, val=None, *, run_dir: Path | None = None, profile: str | None = None
            ) -> dict[str, Any]:
        """Nothing to train: returns the settings, so the run's summary records them."""
        return {"control": self.name, "settings": dict(self.config)}

    def n_parameters(self) -> int:
        return 0

    def save(self, path: str | Path) -> None:
        """The settings as JSON (a control's whole state)."""
        write_atomic(Path(path), json.dumps({"control": self.name, "config": self.config},
                                            sort_keys=True))

    def load(self, path: str | Path) -> ControlMethod:
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{path}: not a control's settings file ({exc})") from None
        if not isinstance(doc, dict) or doc.get("control") != self.name:
            raise ValueError(f"{path}: not the settings of control {self.name!r}")
        self.config = dict(doc["config"])
        self.check_config()
        return self


def _pairwise(raw: np.ndarray, rule, partnerless) -> np.ndarray:
    """float32 ``(3, Z, Y, X)``: ``rule(I(v), I(v - e))`` per nearest channel, ``I = raw/255``;
    a channel whose axis has one plane gets ``partnerless(I)``; the first plane along each
    channel's axis follows the border rule."""
    shape = check_raw(raw)
    image = np.asarray(raw, np.float32) / np.float32(255.0)
    affs = np.empty((len(NEAREST_OFFSETS), *shape), np.float32)
    for c, offset in enumerate(NEAREST_OFFSETS):
        affs[c] = partnerless(image)
        pair = shifted_slices(offset, shape)
        if pair is not None:
            here, there = pair
            affs[c][here] = rule(image[here], image[there])
    return fill_nearest_borders(affs, NEAREST_OFFSETS)


@register_method
class RandomControl(ControlMethod):
    """Null control: uniform random affinities from a fixed seed (no information at all)."""

    name = "random"
    defaults = {"noise_seed": 0}

    def predict(self, raw: np.ndarray) -> np.ndarray:
        shape = check_raw(raw)
        rng = np.random.default_rng(int(self.config["noise_seed"]))
        return rng.random((len(NEAREST_OFFSETS), *shape), dtype=np.float32)


@register_method
class IntensityControl(ControlMethod):
    """Null control: 1 - |I(v) - I(v - e)| from the raw image (similar grey, high affinity)."""

    name = "intensity"

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return _pairwise(raw, lambda a, b: 1.0 - np.abs(a - b), np.ones_like)


@register_method
class MembraneControl(ControlMethod):
    """Null control: min(I(v), I(v - e)) from the raw image (membranes are dark)."""

    name = "membrane"

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return _pairwise(raw, np.minimum, lambda image: image)


def roll_affinities(affs: np.ndarray, shifts: list[list[float]]) -> np.ndarray:
    """``affs`` (C, Z, Y, X) with channel ``c`` translated (wrapping round) by
    ``round(shifts[c][axis] * extent[axis])`` voxels along each axis; one vector for every
    channel when ``shifts`` holds one. The partner-less planes then follow the border rule."""
    affs = np.asarray(affs)
    extent = affs.shape[1:]
    out = np.empty(affs.shape, np.float32)
    for c in range(affs.shape[0]):
        frac = shifts[c if len(shifts) > 1 else 0]
        vector = tuple(int(round(float(f) * n)) % n for f, n in zip(frac, extent, strict=True))
        out[c] = np.roll(affs[c], vector, axis=(0, 1, 2))
    return fill_nearest_borders(out, NEAREST_OFFSETS)


def _check_shift(name: str, key: str, vectors: Any, n: int | None) -> list[list[float]]:
    try:
        out = [[float(f) for f in v] for v in vectors]
    except TypeError:
        out = []
    if not out or any(len(v) != 3 for v in out) or (n is not None and len(out) != n):
        count = "one vector" if n == 1 else f"{n} vectors (one per channel)"
        raise ValueError(f"{name}: {key} must be {count} of three fractions (z, y, x) of the "
                         f"volume's extent, e.g. [0.5, 0.5, 0.5]; got {vectors!r}")
    if all(f % 1 == 0 for v in out for f in v):
        raise ValueError(f"{name}: {key} {vectors!r} translates by whole extents, i.e. not at "
                         "all: give fractions such as 0.5")
    return out


class _SourceRunControl(ControlMethod):
    """A control made from another run's affinities (``source_run``: its run directory)."""

    needs_source_run = True

    def check_config(self) -> None:
        source = self.config.get("source_run")
        if not source:
            raise ValueError(
                f"{self.name}: needs the run whose affinities it translates: python -m bench "
                f"run --method {self.name} --source-run RUN_ID (a run of the same dataset)")
        path = Path(str(source))
        if not (path / "predictions.h5").is_file():
            raise FileNotFoundError(
                f"{self.name}: source run {path} has no predictions.h5 (not a run directory, "
                "or a run that has not predicted yet, or a blockwise run)")
        self.shift_vectors()

    def shift_vectors(self) -> list[list[float]]:
        raise NotImplementedError

    def source_dataset(self) -> str | None:
        """The dataset the source run was made on (from its ``config.yaml``), when readable."""
        try:
            doc = yaml.safe_load((Path(self.config["source_run"]) / "config.yaml").read_text())
            return str(doc["spec"]["dataset"])
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            return None

    def fit(self, train, val=None, *, run_dir: Path | None = None, profile: str | None = None
            ) -> dict[str, Any]:
        summary = super().fit(train, val, run_dir=run_dir, profile=profile)
        summary.update(source_run=Path(self.config["source_run"]).name,
                       source_dataset=self.source_dataset())
        return summary

    def _source_affinities(self, raw: np.ndarray) -> np.ndarray:
        """The source run's affinities of the split whose raw volume is ``raw``: matched by the
        raw fingerprint the run recorded, or (runs from before it did) by a unique shape."""
        shape = check_raw(raw)
        source = Path(self.config["source_run"])
        with h5py.File(source / "predictions.h5", "r") as f:
            splits = {s: f[f"{s}/affs"] for s in ("val", "test") if f"{s}/affs" in f}
            fingerprint = raw_fingerprint(raw)
            match = [s for s, d in splits.items() if d.attrs.get("raw_sha256") == fingerprint]
            if not match and not any("raw_sha256" in d.attrs for d in splits.values()):
                match = [s for s, d in splits.items() if tuple(d.shape[1:]) == shape]
                match = match if len(match) == 1 else []
            if not match:
                known = ", ".join(f"{s} {tuple(d.shape[1:])}" for s, d in splits.items())
                raise ValueError(
                    f"{self.name}: the volume to predict ({', '.join(map(str, shape))}) is "
                    f"neither split that source run {source.name} predicted ({known}; dataset "
                    f"{self.source_dataset()}): roll a run of the same dataset and split")
            affs = splits[match[0]][...]
        if affs.shape != (len(NEAREST_OFFSETS), *shape):
            raise ValueError(f"{self.name}: source run {source.name} holds affinities of shape "
                             f"{affs.shape}; expected (3, {', '.join(map(str, shape))})")
        return affs

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return roll_affinities(self._source_affinities(raw), self.shift_vectors())


@register_method
class RolledControl(_SourceRunControl):
    """Null control: a run's own affinities, all channels translated by one vector."""

    name = "rolled"
    defaults = {"source_run": None, "shift": [0.5, 0.5, 0.5]}

    def shift_vectors(self) -> list[list[float]]:
        return _check_shift(self.name, "shift", [self.config["shift"]], 1)


@register_method
class ShuffledControl(_SourceRunControl):
    """Null control: a run's own affinities, each channel translated by its own vector."""

    name = "shuffled"
    defaults = {"source_run": None,
                "shifts": [[0.5, 0.5, 0.5], [0.25, 0.75, 0.375], [0.75, 0.25, 0.625]]}

    def shift_vectors(self) -> list[list[float]]:
        vectors = _check_shift(self.name, "shifts", self.config["shifts"], len(NEAREST_OFFSETS))
        if len({tuple(v) for v in vectors}) < len(vectors):
            raise ValueError(f"{self.name}: shifts must differ between channels (equal ones "
                             f"are the rolled control); got {self.config['shifts']!r}")
        return vectors
