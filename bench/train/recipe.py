"""Training recipes: one YAML file per method with per-profile defaults, plus overrides.

Each method package keeps its recipes in its own ``configs/`` folder and passes the file to
:func:`load_recipe` (:attr:`bench.train.recipe_method.RecipeMethod.recipe_file`). A recipe file
has a ``defaults`` mapping (the published recipe, profile ``paper``), a ``profiles`` mapping
(``smoke``, ``quick``, ``cpu-real``, ``paper``) of keys that differ from the defaults and,
optionally, a
``variants`` mapping (for CAD: ``cad-nofgi``, ``cad-nodistill``) applied on top. Overrides
(``key=value`` from the command line, or keyword arguments) must name existing keys; dotted keys
reach into nested mappings (``augment.p_misalign=0.1``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

__all__ = ["BASE_PROFILES", "PROFILES", "check_profile", "load_recipe", "parse_value", "recipe_section"]

#: every training profile; ``cpu-real`` (minutes on a CPU, sized to learn real EM volumes, not
#: only the phantom: docs/notes/cpu-real-profile.md) must be spelled out in a recipe file that
#: supports it, the other three fall back to the defaults for a file that does not list them
PROFILES = ("smoke", "quick", "cpu-real", "paper")
#: profiles that every recipe file supports, listed or not
BASE_PROFILES = ("smoke", "quick", "paper")


def _merge(base: dict[str, Any], upd: dict[str, Any], where: str, strict: bool) -> None:
    for key, value in upd.items():
        if strict and key not in base:
            raise KeyError(
                f"unknown recipe key {where}{key!r}; valid keys: {', '.join(sorted(base))}"
            )
        if isinstance(base.get(key), dict) and isinstance(value, dict):
            _merge(base[key], value, f"{where}{key}.", strict)
        else:
            base[key] = _typed(f"{where}{key}", base.get(key), copy.deepcopy(value))


def _typed(key: str, default: Any, value: Any) -> Any:
    """``value`` if it has the type of the recipe's ``default`` (an integer for an integer key,
    a number for a float key, ...); otherwise a ``ValueError`` naming the key. A key whose
    default is null takes an integer, a list (e.g. ``infer_pad``) or null."""
    def bad(expected: str) -> ValueError:
        return ValueError(f"recipe key {key!r}: expected {expected}, got {value!r}")

    if value is None:
        if default is None:
            return None
        raise bad(f"a {type(default).__name__}")
    if default is None and isinstance(value, list):
        return value  # e.g. infer_stride / infer_pad: null (automatic) or per-axis sizes
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int) or default is None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise bad("an integer" + (" or null" if default is None else ""))
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise bad("a string")
    if isinstance(default, list) and not isinstance(value, list):
        raise bad("a list, e.g. [8, 48, 48]")
    return value


def parse_value(value: Any) -> Any:
    """A recipe value given as text (``--set key=value``, keyword overrides) parsed as YAML, with
    ``3e-4``-style numbers read as floats (YAML 1.1 reads them as strings). Non-strings pass."""
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
    path: str | Path,
    profile: str = "quick",
    overrides: dict[str, Any] | None = None,
    *,
    method: str | None = None,
) -> dict[str, Any]:
    """The resolved recipe in the YAML file ``path`` for ``profile`` with ``overrides`` applied.

    Parameters
    ----------
    path
        The method's recipe file, e.g. ``cad/configs/cad.yaml``.
    profile
        ``smoke`` (seconds, tests), ``quick`` (minutes on a CPU, tuned on the phantom),
        ``cpu-real`` (about ten CPU minutes, sized for real EM; only where the file lists it)
        or ``paper`` (published recipe).
    overrides
        ``{key: value}``; string values are parsed with ``yaml.safe_load`` (so ``"1e-3"``,
        ``"[8, 64, 64]"`` and ``"true"`` work). Unknown keys raise ``KeyError`` listing the
        valid ones.

    method
        Registry name of the method (default: the file's stem); selects the file's
        ``variants`` entry of that name, if any.

    Returns
    -------
    dict
        A fresh dict; also holds ``method`` and ``profile``.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {PROFILES}, got {profile!r}")
    path = Path(path)
    doc = _read(path)
    method = method or path.stem
    if not isinstance(doc, dict) or not isinstance(doc.get("defaults"), dict):
        raise ValueError(f"{path}: expected a YAML mapping with a 'defaults' mapping")
    check_profile(doc, profile, path, method)
    recipe = copy.deepcopy(doc["defaults"])
    _merge(recipe, doc.get("profiles", {}).get(profile, {}) or {}, f"{path.name}:{profile}:", True)
    _merge(recipe, doc.get("variants", {}).get(method, {}) or {}, f"{path.name}:{method}:", True)
    for key, value in (overrides or {}).items():
        _merge(recipe, _nest(key, parse_value(value)), "", True)
    recipe["method"] = method
    recipe["profile"] = profile
    return recipe


def check_profile(doc: Any, profile: str, path: str | Path, method: str) -> None:
    """``ValueError`` unless ``profile`` is known and, beyond :data:`BASE_PROFILES`, listed
    under ``profiles`` of the recipe document ``doc`` (a method without a ``cpu-real`` entry
    would otherwise run its published recipe; the file's comment says why it has none)."""
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {PROFILES}, got {profile!r}")
    if profile in BASE_PROFILES:
        return
    listed = (doc.get("profiles") or {}) if isinstance(doc, dict) else {}
    if profile not in listed:
        have = ", ".join(p for p in PROFILES if p in BASE_PROFILES or p in listed)
        raise ValueError(f"method {method!r} has no {profile!r} profile (its recipe "
                         f"{Path(path).name} lists none); its profiles: {have}")


def recipe_section(path: str | Path | None, key: str) -> dict[str, Any]:
    """The top-level mapping ``key`` of the recipe file ``path`` (e.g. ``perf``, ``check``:
    overrides a harness command applies on top of a profile); empty when absent."""
    if path is None:
        return {}
    doc = _read(Path(path))
    section = (doc.get(key) if isinstance(doc, dict) else None) or {}
    if not isinstance(section, dict):
        raise ValueError(f"{path}: {key!r} must be a mapping of recipe keys, got {section!r}")
    return dict(section)


def _read(path: Path) -> Any:
    """The parsed YAML document of the recipe file ``path``."""
    if not path.is_file():
        raise FileNotFoundError(f"recipe file {str(path)!r} does not exist")
    with open(path) as f:
        return yaml.safe_load(f)
