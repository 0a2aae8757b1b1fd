"""Training recipes: one YAML file per method with per-profile defaults, plus overrides.

A recipe file has a ``defaults`` mapping (the published recipe, profile ``paper``), a
``profiles`` mapping (``smoke``, ``quick``, ``paper``) of keys that differ from the defaults and,
for CAD, a ``variants`` mapping (``cad-nofgi``, ``cad-nodistill``) applied on top. Overrides
(``key=value`` from the command line, or keyword arguments) must name existing keys; dotted keys
reach into nested mappings (``augment.p_misalign=0.1``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

__all__ = ["PROFILES", "load_recipe", "recipe_path"]

PROFILES = ("smoke", "quick", "paper")

_CONFIG_DIRS = {
    "cad": Path(__file__).resolve().parents[2] / "cad" / "configs",
    "baselines": Path(__file__).resolve().parents[2] / "baselines" / "configs",
}
# method name -> (config dir, file stem)
_FILES = {
    "cad": ("cad", "cad"),
    "cad-nofgi": ("cad", "cad"),
    "cad-nodistill": ("cad", "cad"),
    "unet2d": ("baselines", "unet2d"),
    "superhuman3d": ("baselines", "superhuman3d"),
    "mala3d": ("baselines", "mala3d"),
}


def recipe_path(method: str) -> Path:
    """The YAML file holding ``method``'s recipe."""
    try:
        where, stem = _FILES[method]
    except KeyError:
        raise KeyError(f"no recipe for method {method!r}; known: {sorted(_FILES)}") from None
    return _CONFIG_DIRS[where] / f"{stem}.yaml"


def _merge(base: dict[str, Any], upd: dict[str, Any], where: str, strict: bool) -> None:
    for key, value in upd.items():
        if strict and key not in base:
            raise KeyError(
                f"unknown recipe key {where}{key!r}; valid keys: {', '.join(sorted(base))}"
            )
        if isinstance(base.get(key), dict) and isinstance(value, dict):
            _merge(base[key], value, f"{where}{key}.", strict)
        else:
            base[key] = copy.deepcopy(value)


def _parse(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    parsed = yaml.safe_load(value)
    if isinstance(parsed, str):
        # YAML 1.1 reads "3e-4" (no dot) as a string; users mean a number
        try:
            return float(parsed)
        except ValueError:
            return parsed
    return parsed


def _nest(key: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cur = out
    parts = key.split(".")
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return out


def load_recipe(
    method: str, profile: str = "quick", overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The resolved recipe of ``method`` for ``profile`` with ``overrides`` applied.

    Parameters
    ----------
    method
        Registry name (``cad``, ``cad-nofgi``, ``cad-nodistill``, ``unet2d``, ``superhuman3d``,
        ``mala3d``).
    profile
        ``smoke`` (seconds, tests), ``quick`` (minutes on a CPU) or ``paper`` (published recipe).
    overrides
        ``{key: value}``; string values are parsed with ``yaml.safe_load`` (so ``"1e-3"``,
        ``"[8, 64, 64]"`` and ``"true"`` work). Unknown keys raise ``KeyError`` listing the
        valid ones.

    Returns
    -------
    dict
        A fresh dict; also holds ``method`` and ``profile``.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {PROFILES}, got {profile!r}")
    path = recipe_path(method)
    with open(path) as f:
        doc = yaml.safe_load(f)
    recipe = copy.deepcopy(doc["defaults"])
    _merge(recipe, doc.get("profiles", {}).get(profile, {}) or {}, f"{path.name}:{profile}:", True)
    _merge(recipe, doc.get("variants", {}).get(method, {}) or {}, f"{path.name}:{method}:", True)
    for key, value in (overrides or {}).items():
        _merge(recipe, _nest(key, _parse(value)), "", True)
    recipe["method"] = method
    recipe["profile"] = profile
    return recipe
