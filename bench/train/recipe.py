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

__all__ = ["BASE_PROFILES", "PROFILES", "check_profile", "check_ranges", "load_recipe",
           "parse_value", "recipe_section", "safe_load_plain"]

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
    a number for a float key, a mapping for a mapping, a flat list of numbers like the
    default's for a list, ...); otherwise a ``ValueError`` naming the key. A key whose default
    is null takes null, an integer or a flat list of integers (``infer_pad``: per-axis sizes)."""
    def bad(expected: str) -> ValueError:
        return ValueError(f"recipe key {key!r}: expected {expected}, got {_short(value)}")

    if value is None:
        if default is None:
            return None
        raise bad(f"a {type(default).__name__}")
    if isinstance(default, dict):
        raise bad("a mapping of its keys (" + ", ".join(sorted(default)) + "), e.g. "
                  f"--set {key}.{next(iter(default), 'key')}=VALUE" if default else "a mapping")
    if default is None and isinstance(value, list):
        # e.g. infer_stride / infer_pad: null (automatic) or per-axis sizes
        if not all(_is_int(v) for v in value):
            raise bad("null, an integer or a flat list of integers")
        return [int(v) for v in value]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int) or default is None:
        if not _is_int(value):
            raise bad("an integer" + (", a list of integers or null" if default is None else ""))
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise bad("a string")
    if isinstance(default, list):
        if not isinstance(value, list):
            raise bad("a list, e.g. [8, 48, 48]")
        if default and all(_is_int(v) for v in default):
            if not all(_is_int(v) for v in value):
                raise bad("a flat list of integers, e.g. " + str(default))
            return [int(v) for v in value]
        if default and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           for v in default):
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise bad("a flat list of numbers, e.g. " + str(default))
    return value


def _is_int(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and value == value and abs(value) != float("inf") and value == int(value))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


#: ranges of the keys the shared training machinery (bench.train) reads, checked when the
#: recipe is resolved, before any run folder: ``(low, high)``, either end None for open. A
#: recipe need not have every key; lists are checked element by element.
RANGES: dict[str, tuple[float | None, float | None]] = {
    **dict.fromkeys(("iters", "checkpoint_every", "log_every", "stop_after", "batch_2d",
                     "batch_3d", "patch_2d", "patch_3d", "infer_tile", "infer_batch",
                     "infer_window", "infer_stride"), (1, None)),
    **dict.fromkeys(("padding_2d", "padding_3d", "infer_overlap", "infer_pad", "start_ft",
                     "weight_decay", "bn_recalibration_batches"), (0, None)),
    **dict.fromkeys(("lr", "eps"), (0, None)),
    **dict.fromkeys(("beta1", "beta2"), (0, 1)),
}
#: keys that must be strictly greater than their low end (a learning rate of 0 trains nothing)
_STRICT = ("lr", "eps")
#: keys whose value is one integer, never a list (their default is null)
_SCALAR = ("stop_after",)


def check_ranges(recipe: dict[str, Any], where: str = "") -> None:
    """Raise ``ValueError`` naming the key when a value is out of :data:`RANGES`, or when a
    probability (a key named ``p_*``, at any depth) is outside [0, 1]."""
    for key, value in recipe.items():
        name = f"{where}{key}"
        if isinstance(value, dict):
            check_ranges(value, f"{name}.")
            continue
        if key in _SCALAR and isinstance(value, list):
            raise ValueError(f"recipe key {name!r}: expected one integer (or null), got "
                             f"{_short(value)}")
        low, high = RANGES.get(key, (0, 1) if key.startswith("p_") else (None, None))
        if low is None and high is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            strict = key in _STRICT
            if low is not None and (v < low or (strict and v == low)):
                raise ValueError(f"recipe key {name!r}: expected "
                                 f"{'> ' if strict else '>= '}{low:g}"
                                 f"{'' if high is None else f' and <= {high:g}'}, got "
                                 f"{_short(value)}")
            if high is not None and v > high:
                raise ValueError(f"recipe key {name!r}: expected a value in [{low:g}, {high:g}], "
                                 f"got {_short(value)}")


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases (``*name``, and so ``<<: *name`` merges).

    A recipe never needs one, and a few nested aliases make a 300-byte file expand to
    gigabytes once anything walks it (an alias bomb in a colleague's ``--config``)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"YAML aliases (*{event.anchor}) are not accepted in recipe "
                "values; write the value out", event.start_mark)
        return super().compose_node(parent, index)


def safe_load_plain(stream: Any) -> Any:
    """``yaml.safe_load`` without aliases (:class:`_NoAliasLoader`): for ``--config`` files and
    ``--set`` values, which may come from anyone."""
    loader = _NoAliasLoader(stream)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def parse_value(value: Any) -> Any:
    """A recipe value given as text (``--set key=value``, keyword overrides) parsed as YAML, with
    ``3e-4``-style numbers read as floats (YAML 1.1 reads them as strings). Non-strings pass."""
    if not isinstance(value, str):
        return value
    parsed = safe_load_plain(value)
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
    check_ranges(recipe)
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
