"""``rf``: an Ilastik-style random-forest pixel classifier (family ``classical``).

Training (:meth:`RandomForestMethod.fit`):

1. the filter bank of :mod:`baselines.features` at the recipe's ``sigmas``, 3D or per section
   by the train volume's resolution (:func:`baselines.features.filter_geometry`); per section
   the recipe's ``sigmas_2d`` instead when set (null: ``sigmas``): 2D filters need no z halo,
   so anisotropic volumes can use scales that a short 3D validation split could not hold;
2. targets from the train labels: a voxel is *boundary* when its label is 0 or differs from a
   neighbour along a filtered axis (so in 2D geometry, in-plane neighbours only);
3. ``n_samples`` voxels drawn without replacement, half boundary and half interior (fewer of
   a class when it has fewer voxels), with ``numpy.random.default_rng(seed)``;
4. ``sklearn.ensemble.RandomForestClassifier`` with ``random_state=seed``.

With ``z_forest: true`` (opt-in; only for per-section filters) a second forest of the same
settings learns the z affinity itself: whether voxel v and v - e_z carry the same nonzero label,
from the features of both sections and their absolute difference (``3 x`` the bank), on
``n_samples`` voxels balanced between the two classes. Per-section boundaries alone cannot see
a neurite that ends, or is replaced by another, between two 40 nm sections
(docs/notes/cpu-real-profile.md).

Prediction: boundary probability ``p`` block by block (bounded memory), then affinities with
:func:`bench.affinity.affinities_from_boundary`: the project convention (float32 ``(3, Z, Y, X)``,
channel order z, y, x, value at v = affinity of v to v - e_axis) with
``aff(v) = min(1 - p(v), 1 - p(v - e_axis))``.

Same recipe and seed give the same forest and the same affinities (the forest's trees are
seeded from ``random_state`` whatever ``n_jobs`` is). :meth:`save` writes a skops file and
:meth:`load` reads it back with an explicit allow-list of types (no arbitrary unpickling).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from baselines.features import (
    FilterGeometry,
    check_size,
    feature_names,
    features_blockwise,
    filter_geometry,
    halo,
)
from bench import progress
from bench.affinity import affinities_from_boundary
from bench.atomic import atomic_path
from bench.method import Method
from bench.registries import register_method
from bench.train.recipe import PROFILES as RECIPE_PROFILES
from bench.train.recipe import check_profile

__all__ = ["RandomForestMethod", "boundary_targets"]

RECIPE = Path(__file__).parent / "configs" / "rf.yaml"
PROFILES = RECIPE_PROFILES
#: the only types a saved forest may contain (skops refuses anything else)
TRUSTED_TYPES = (
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
    "numpy.dtype",
    "numpy.ndarray",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
)


def load_rf_recipe(profile: str = "quick", overrides: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """The ``rf`` recipe for ``profile`` with ``overrides`` (strings parsed as YAML)."""
    doc = yaml.safe_load(RECIPE.read_text())
    check_profile(doc, profile, RECIPE, "rf")
    recipe = copy.deepcopy(doc["defaults"])
    recipe.update(doc.get("profiles", {}).get(profile) or {})
    for key, value in (overrides or {}).items():
        if key not in recipe:
            raise KeyError(f"rf recipe has no key {key!r}; valid keys: {sorted(recipe)}")
        recipe[key] = yaml.safe_load(value) if isinstance(value, str) else value
    recipe["profile"] = profile
    _validate(recipe)
    return recipe


def _validate(recipe: dict[str, Any]) -> None:
    for key in ("sigmas", "sigmas_2d"):
        sigmas = recipe.get(key)
        if key == "sigmas_2d" and sigmas is None:
            continue
        if not isinstance(sigmas, list) or not sigmas or any(float(s) <= 0 for s in sigmas):
            raise ValueError(f"rf recipe: {key} must be a non-empty list of positive values"
                             f"{' or null' if key == 'sigmas_2d' else ''}, got {sigmas!r}")
    if int(recipe["n_samples"]) < 2:
        raise ValueError(
            f"rf recipe: n_samples must be at least 2 (one boundary and one interior voxel), "
            f"got {recipe['n_samples']!r}"
        )
    if int(recipe["n_estimators"]) < 1:
        raise ValueError(f"rf recipe: n_estimators must be >= 1, got {recipe['n_estimators']!r}")
    if int(recipe["block_z"]) < 1:
        raise ValueError(f"rf recipe: block_z must be >= 1, got {recipe['block_z']!r}")


def recipe_sigmas(recipe: dict[str, Any], geometry: FilterGeometry) -> list[float]:
    """The filter scales for ``geometry``: ``sigmas_2d`` per section when the recipe sets it
    (a forest saved before the key existed has none), else ``sigmas``."""
    if geometry.ndim == 2 and recipe.get("sigmas_2d"):
        return [float(s) for s in recipe["sigmas_2d"]]
    return [float(s) for s in recipe["sigmas"]]


def boundary_targets(labels: np.ndarray, ndim: int) -> np.ndarray:
    """bool ``(Z, Y, X)``: label 0, or a different label at a neighbour along the last ``ndim``
    axes (both sides of an interface are boundary)."""
    labels = np.asarray(labels)
    out = labels == 0
    for axis in range(3 - ndim, 3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[axis], b[axis] = slice(1, None), slice(None, -1)
        diff = labels[tuple(a)] != labels[tuple(b)]
        out[tuple(a)] |= diff
        out[tuple(b)] |= diff
    return out


@register_method
class RandomForestMethod(Method):
    """Ilastik-style random-forest pixel classifier (filter bank + scikit-learn forest).

    Pixel classification: filter bank + random forest -> boundary -> affinities.
    """

    name = "rf"
    family = "classical"
    family_color = "#ff7f0e"

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.forest = None
        self.forest_z = None  # the z-affinity forest (recipe z_forest, per-section filters)
        self.geometry: FilterGeometry | None = None
        self._overrides: dict[str, Any] = {}

    @classmethod
    def create(cls, **overrides: Any) -> RandomForestMethod:
        """The registry factory: ``profile`` selects the recipe, the rest override its keys."""
        overrides = dict(overrides)
        profile = overrides.pop("profile", "quick")
        overrides.pop("device", None)  # CPU only: scikit-learn
        if overrides.pop("checkpoint", None) is not None:
            raise ValueError("checkpoint: rf has no external checkpoint format; use .load(path)")
        method = cls(load_rf_recipe(profile, overrides))
        method._overrides = overrides
        return method

    @classmethod
    def resolved_recipe(cls, profile: str = "quick",
                        overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The recipe the forest is trained with under ``profile`` with ``overrides`` (what
        ``python -m bench recipe show rf`` prints)."""
        return load_rf_recipe(profile, overrides)

    @classmethod
    def check_overrides(cls, name: str) -> dict[str, Any]:
        """``python -m bench check``'s overrides on top of the smoke profile: the recipe
        file's ``check`` mapping."""
        from bench.train.recipe import recipe_section

        return recipe_section(RECIPE, "check")

    # -- training ----------------------------------------------------------------------------
    def _sample(self, boundary: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Flat indices of the class-balanced sample, sorted (so blocks read them in order)."""
        n = int(self.config["n_samples"])
        picks = []
        for cls in (True, False):
            idx = np.flatnonzero(boundary.ravel() == cls)
            if idx.size == 0:
                raise ValueError(
                    f"rf: the train labels have no {'boundary' if cls else 'interior'} voxels; "
                    "cannot train a boundary classifier"
                )
            k = min(idx.size, n // 2 if cls else n - n // 2)
            picks.append(rng.choice(idx, size=k, replace=False))
        return np.sort(np.concatenate(picks))

    def fit(self, train, val=None, *, run_dir: Path | None = None, profile: str | None = None
            ) -> dict[str, Any]:
        """Train on ``train`` (a labelled :class:`bench.data.Volume`); ``val`` is unused (the
        forest has no checkpoints to choose between). Returns timings and sample counts."""
        from sklearn.ensemble import RandomForestClassifier

        if profile is not None and profile != self.config["profile"]:
            self.config = load_rf_recipe(profile, self._overrides)
        if train is None or getattr(train, "labels", None) is None:
            raise ValueError("rf.fit needs a labelled train volume (train.labels is None)")
        cfg = self.config
        raw = np.asarray(train.raw[...])
        labels = np.asarray(train.labels[...])
        if raw.shape != labels.shape:
            raise ValueError(f"train raw {raw.shape} and labels {labels.shape} differ in shape")
        geometry = filter_geometry(train.resolution_nm)
        sigmas = recipe_sigmas(cfg, geometry)
        check_size(raw.shape, sigmas, geometry)
        rng = np.random.default_rng(int(cfg["seed"]))
        boundary = boundary_targets(labels, geometry.ndim)
        idx = self._sample(boundary, rng)
        plane = raw.shape[1] * raw.shape[2]
        use_z = bool(cfg.get("z_forest")) and geometry.ndim == 2 and raw.shape[0] >= 2
        if use_z:
            same = (labels[1:] == labels[:-1]) & (labels[1:] > 0)
            # a z forest needs both classes (a volume whose labels never change along z has
            # nothing to learn: the boundary rule stays)
            use_z = bool(same.any()) and not bool(same.all())
        if use_z:  # voxels v (z >= 1) of the z forest, as flat indices into the volume
            zidx = self._sample(same, rng) + plane
            z_rows: list[np.ndarray] = []
        t0 = time.perf_counter()
        rows = []
        last = None  # the previous slab's last section, (features, Y * X)
        slabs = features_blockwise(raw, sigmas, geometry, int(cfg["block_z"]))
        for z0, z1, feats in progress.bar(slabs, total=-(-raw.shape[0] // int(cfg["block_z"])),
                                          desc="rf features", unit="slab"):
            flat = feats.reshape(feats.shape[0], -1)
            sel = idx[(idx >= z0 * plane) & (idx < z1 * plane)] - z0 * plane
            rows.append(flat[:, sel].T)
            if use_z:
                v = zidx[(zidx >= z0 * plane) & (zidx < z1 * plane)] - z0 * plane
                prev = np.empty((v.size, flat.shape[0]), np.float32)
                inside = v >= plane
                prev[inside] = flat[:, v[inside] - plane].T
                if not inside.all():  # v in the slab's first section: z0 >= 1, so `last` is set
                    prev[~inside] = last[:, v[~inside]].T
                z_rows.append(_pair_features(flat[:, v].T, prev))
                last = flat[:, -plane:].copy()
        x = np.concatenate(rows)
        y = boundary.ravel()[idx]
        feature_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        forest = RandomForestClassifier(
            n_estimators=int(cfg["n_estimators"]),
            max_depth=None if cfg["max_depth"] is None else int(cfg["max_depth"]),
            min_samples_leaf=int(cfg["min_samples_leaf"]),
            max_features=cfg["max_features"],
            n_jobs=int(cfg["n_jobs"]),
            random_state=int(cfg["seed"]),
        )
        _fit_with_progress(forest, x, y)
        self.forest, self.geometry = forest, geometry
        self.forest_z = None
        extra: dict[str, Any] = {}
        n_features = int(x.shape[1])
        accuracy = float(forest.score(x, y))
        if use_z:
            del x
            xz = np.concatenate(z_rows)
            yz = same.ravel()[zidx - plane]
            self.forest_z = RandomForestClassifier(**forest.get_params())
            _fit_with_progress(self.forest_z, xz, yz)
            extra = {"z_forest_samples": int(yz.size),
                     "z_forest_same_samples": int(yz.sum())}
        return {
            **extra,
            "n_samples": int(y.size),
            "n_boundary_samples": int(y.sum()),
            "n_features": n_features,
            "features": feature_names(sigmas, geometry.ndim),
            "filter_ndim": geometry.ndim,
            "feature_seconds": feature_seconds,
            "forest_seconds": time.perf_counter() - t0,
            "train_accuracy_in_sample": accuracy,
        }

    # -- inference ---------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.forest is None or self.geometry is None:
            raise RuntimeError("rf: call fit() or load() before predict()")

    def predict_boundary(self, raw: np.ndarray) -> np.ndarray:
        """Boundary probability float32 ``(Z, Y, X)``, computed block by block."""
        return self._predict(raw, with_z=False)[0]

    def _predict(self, raw: np.ndarray, with_z: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Boundary probability and, with the z forest, the z affinity (section 0: None's
        convention of :func:`affinities_from_boundary`, filled by the caller)."""
        self._require_fitted()
        raw = np.asarray(raw)
        if raw.ndim != 3 or raw.dtype != np.uint8:
            raise ValueError(f"rf.predict expects (Z, Y, X) uint8 raw, got {raw.shape} {raw.dtype}")
        out = np.empty(raw.shape, dtype=np.float32)
        use_z = with_z and self.forest_z is not None and self.geometry.ndim == 2
        out_z = np.empty(raw.shape, dtype=np.float32) if use_z else None
        sigmas = recipe_sigmas(self.config, self.geometry)
        block_z = int(self.config["block_z"])
        slabs = features_blockwise(raw, sigmas, self.geometry, block_z)
        last = None
        for z0, z1, feats in progress.bar(slabs, total=-(-raw.shape[0] // block_z),
                                          desc="rf predict", unit="slab"):
            # one C-contiguous (voxels, features) copy, which scikit-learn uses as is
            x = np.empty((feats[0].size, feats.shape[0]), dtype=np.float32)
            for f in range(feats.shape[0]):
                x[:, f] = feats[f].ravel()
            del feats
            out[z0:z1] = self.forest.predict_proba(x)[:, 1].reshape(out[z0:z1].shape)
            if use_z:
                plane = raw.shape[1] * raw.shape[2]
                for k in range(z1 - z0):
                    cur = x[k * plane:(k + 1) * plane]
                    prev = x[(k - 1) * plane:k * plane] if k else last
                    if prev is None:  # section 0 of the volume has no partner
                        out_z[z0] = 1.0 - out[z0]
                    else:
                        out_z[z0 + k] = self.forest_z.predict_proba(
                            _pair_features(cur, prev))[:, 1].reshape(raw.shape[1:])
                last = x[-plane:].copy()
        return out, out_z

    def predict(self, raw: np.ndarray) -> np.ndarray:
        p, pz = self._predict(raw, with_z=True)
        affs = affinities_from_boundary(p)
        if pz is not None:
            affs[0] = pz
        return affs

    def block_context(self) -> tuple[tuple[int, int], ...]:
        """Raw voxels a block needs around its write region for exact blockwise prediction
        (:mod:`bench.blockwise`): the filter halo on the filtered axes, plus one voxel before
        on every axis for the ``v - e_axis`` partner of the affinities."""
        self._require_fitted()
        sigmas = recipe_sigmas(self.config, self.geometry)
        h = list(halo(sigmas, self.geometry))
        if self.geometry.ndim == 2:
            h = [0, *h]
        return tuple((r + 1, r) for r in h)

    def n_parameters(self) -> int:
        """Total node count of the forest (split and leaf nodes of all trees): what inference
        stores and walks, the forest's counterpart of a network's weights. 0 before fit."""
        if self.forest is None:
            return 0
        forests = [self.forest] + ([self.forest_z] if self.forest_z is not None else [])
        return int(sum(t.tree_.node_count for f in forests for t in f.estimators_))

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Forest, filter geometry and recipe in one skops file, written atomically."""
        import skops.io as sio

        self._require_fitted()
        state = {
            "method": self.name,
            "forest": self.forest,
            "geometry_ndim": self.geometry.ndim,
            "geometry_axis_scale": [float(a) for a in self.geometry.axis_scale],
            "recipe": yaml.safe_dump(self.config),
        }
        if self.forest_z is not None:
            state["forest_z"] = self.forest_z
        with atomic_path(path) as tmp:
            sio.dump(state, tmp)

    def load(self, path: str | Path) -> RandomForestMethod:
        """Read a file written by :meth:`save`; refuses types outside :data:`TRUSTED_TYPES`."""
        import skops.io as sio

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"rf model file {str(path)!r} does not exist")
        try:
            untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES)
        except Exception as exc:  # zipfile, KeyError, JSON errors: anything but a skops file
            raise ValueError(
                f"{path}: not an rf model file (expected the skops archive that rf writes as "
                f"model.pt; {type(exc).__name__}: {exc})"
            ) from None
        if untrusted:
            raise ValueError(
                f"{path}: refusing to load types outside the rf allow-list: {sorted(untrusted)}"
            )
        try:
            state = sio.load(path, trusted=list(TRUSTED_TYPES))
        except Exception as exc:  # a damaged archive whose schema still listed safe types
            raise ValueError(f"{path}: not a readable rf model file ({type(exc).__name__}: "
                             f"{exc})") from None
        if not isinstance(state, dict) or state.get("method") != self.name:
            raise ValueError(f"{path} is not an rf model saved by this harness")
        from sklearn.ensemble import RandomForestClassifier

        # skops trusts every scikit-learn estimator by default; the rf allow-list is narrower
        if type(state.get("forest")) is not RandomForestClassifier:
            raise ValueError(
                f"{path}: 'forest' is a {type(state.get('forest')).__name__}, outside the rf "
                "allow-list (RandomForestClassifier)"
            )
        if "forest_z" in state and type(state["forest_z"]) is not RandomForestClassifier:
            raise ValueError(f"{path}: 'forest_z' is a {type(state['forest_z']).__name__}, "
                             "outside the rf allow-list (RandomForestClassifier)")
        self.forest = state["forest"]
        self.forest_z = state.get("forest_z")
        self.geometry = FilterGeometry(int(state["geometry_ndim"]),
                                       tuple(state["geometry_axis_scale"]))
        self.config = yaml.safe_load(state["recipe"])
        return self


def _pair_features(cur: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """The z forest's rows: features of v, of v - e_z and their absolute difference."""
    return np.concatenate([cur, prev, np.abs(cur - prev)], axis=1)


def _fit_with_progress(forest: Any, x: np.ndarray, y: np.ndarray, steps: int = 10) -> None:
    """``forest.fit(x, y)`` in about ``steps`` rounds of trees, with a progress bar.

    scikit-learn's ``warm_start`` adds trees to a fitted forest and draws each new tree's seed
    as one single ``fit`` would, so the trees are the same as without the rounds (a test checks
    it); only the bar is new.
    """
    n_trees = int(forest.n_estimators)
    per_round = max(1, -(-n_trees // steps))
    forest.set_params(warm_start=True, n_estimators=min(per_round, n_trees))
    with progress.bar(total=n_trees, desc="rf forest", unit="tree") as shown:
        while True:
            forest.fit(x, y)
            shown.update(forest.n_estimators - shown.n)
            if forest.n_estimators >= n_trees:
                break
            forest.set_params(n_estimators=min(n_trees, forest.n_estimators + per_round))
    forest.set_params(warm_start=False)
