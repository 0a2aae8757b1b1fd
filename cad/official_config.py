"""Read the official CAD YAML configs and map them onto our ``cad`` recipe.

The official code takes two files (docs/cad.md section 10): a 2D student config (``--cfg``, e.g.
``2d_wafer4_bs16_ps256_loss0.0_slice1.0_cross1.0_interaction1.0.yaml``) and a 3D teacher config
(``--cfg_3d``, e.g. ``3d_wafer4_h160_noft_lr_ratio1_ft10000.yaml``). Keys that change what is
trained become recipe overrides; keys that name things we fix (the architecture, the loss form)
must hold the official values, otherwise a ``ValueError`` says which key is unsupported; keys
with no effect in the official code (e.g. the dead 2D batch's ``loss_weight``, the never-run lr
schedule) are reported as ignored.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from bench.train.recipe import load_recipe, safe_load_plain
from cad.train import CAD_RECIPE

__all__ = ["looks_official", "official_overrides", "overrides_from_files", "recipe_from_official"]

# (section, key) -> required value: parts of the method this harness implements only one way
_REQUIRED_2D = {
    ("MODEL", "input_nc"): 1,
    ("MODEL", "output_nc"): 16,
    ("MODEL", "filter_channel"): 16,
    ("MODEL", "if_sigmoid"): False,
    ("TRAIN", "loss_func"): "WeightedMSELoss",
    ("TRAIN", "loss_mode"): "trunc",
    ("TRAIN", "only_z"): False,
    ("TRAIN", "if_verse"): False,
}
_REQUIRED_3D = {
    ("MODEL", "model_type"): "superhuman",
    ("MODEL", "filters"): [28, 36, 48, 64, 80],
    ("MODEL", "emd"): 16,
    ("MODEL", "merge_mode"): "add",
    ("MODEL", "pad_mode"): "zero",
    ("MODEL", "relu_mode"): "elu",
    ("MODEL", "pre_train"): False,
    ("TRAIN", "embedding_mode"): 5,
}
# (section, key) -> recipe key (value copied, converted by type)
_MAP_2D = {
    ("TRAIN", "affs0_weight"): "affs0_weight_2d",
    ("TRAIN", "loss_2d_slice_weight"): "loss_slice_weight",
    ("TRAIN", "loss_cross_weight"): "loss_cross_weight",
    ("TRAIN", "loss_interaction"): "loss_interaction_weight",
    ("TRAIN", "loss_3d_weight"): "loss_3d_weight",
    ("TRAIN", "total_iters"): "iters",
    ("TRAIN", "base_lr"): "lr",
    ("TRAIN", "batch_size"): "batch_2d",
    ("TRAIN", "random_seed"): "seed",
    ("TRAIN", "display_freq"): "log_every",
    ("TRAIN", "save_freq"): "checkpoint_every",
    ("DATA", "padding"): "padding_2d",
    ("DATA", "if_scale_aug"): "augment_2d.rescale",
    ("DATA", "if_filp_aug"): "augment_2d.flip",
    ("DATA", "if_rotation_aug"): "augment_2d.rotate",
    ("DATA", "if_intensity_aug"): "augment_2d.grayscale",
    ("DATA", "if_elastic_aug"): "augment_2d.elastic",
}
_MAP_3D = {
    ("TRAIN", "affs0_weight"): "affs0_weight_3d",
    ("TRAIN", "start_ft"): "start_ft",
    ("TRAIN", "ft_lr_ratio"): "teacher_lr_ratio",
    ("TRAIN", "batch_size"): "batch_3d",
    ("DATA", "padding"): "padding_3d",
    ("DATA", "if_scale_aug"): "augment.rescale",
    ("DATA", "if_filp_aug"): "augment.flip",
    ("DATA", "if_rotation_aug"): "augment.rotate",
    ("DATA", "if_intensity_aug"): "augment.grayscale",
    ("DATA", "if_elastic_aug"): "augment.elastic",
}
# keys that have no effect on training in the official code, with the reason
_IGNORED = {
    ("TRAIN", "loss_weight"): "weight of the dead no-grad 2D batch (never added to the loss)",
    ("TRAIN", "end_lr"): "lr is constant in the official code (the poly schedule never runs)",
    ("TRAIN", "warmup_iters"): "lr schedule never runs",
    ("TRAIN", "decay_iters"): "lr schedule never runs",
    ("TRAIN", "power"): "lr schedule never runs",
    ("TRAIN", "weight_decay"): "the official optimiser hard-codes weight_decay 1e-6",
    ("TRAIN", "num_workers"): "data loading is single-process here",
    ("TRAIN", "valid_freq"): "validation is the harness's job",
    ("DATA", "if_bg"): "background handling is fixed (0 = boundary)",
}
# keys that describe the data, returned as information (the harness picks the dataset)
_DATA_INFO = ("dataset_name", "valid_dataset", "train_split", "test_split", "data_folder")


def _read(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"official config {str(path)!r} does not exist")
    with open(path) as f:
        doc = safe_load_plain(f)  # no aliases: a --config file may come from anyone
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a YAML mapping with MODEL/TRAIN/DATA sections")
    return doc


def looks_official(path: str | Path) -> bool:
    """True when ``path`` is a YAML file with the official ``MODEL``/``TRAIN``/``DATA`` layout."""
    try:
        doc = _read(path)
    except (FileNotFoundError, ValueError, yaml.YAMLError):
        return False
    return {"MODEL", "TRAIN", "DATA"} <= set(doc)


def _get(doc: dict[str, Any], section: str, key: str) -> tuple[bool, Any]:
    sec = doc.get(section) or {}
    return (key in sec, sec.get(key))


def _apply(
    doc: dict[str, Any],
    path: Path,
    required: dict,
    mapping: dict,
    overrides: dict[str, Any],
    info: dict[str, Any],
) -> None:
    for (sec, key), want in required.items():
        present, value = _get(doc, sec, key)
        if present and value != want:
            raise ValueError(
                f"{path}: {sec}.{key} = {value!r} is not supported (this harness implements "
                f"{want!r} only)"
            )
    for (sec, key), target in mapping.items():
        present, value = _get(doc, sec, key)
        if present and value is not None:
            overrides[target] = value
    for (sec, key), why in _IGNORED.items():
        present, value = _get(doc, sec, key)
        if present:
            info["ignored"][f"{path.name}:{sec}.{key}"] = f"{value!r}: {why}"


def official_overrides(
    cfg_2d: str | Path, cfg_3d: str | Path | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Recipe overrides from the official 2D config (and 3D config, if given).

    Returns
    -------
    (overrides, info)
        ``overrides`` maps recipe keys (dotted for nested ones) to values; ``info`` holds the
        run ``name``, the ``data`` keys (dataset and splits, for the harness) and the
        ``ignored`` keys with the reason each has no effect.
    """
    p2 = Path(cfg_2d)
    doc2 = _read(p2)
    overrides: dict[str, Any] = {}
    info: dict[str, Any] = {"name": doc2.get("NAME"), "data": {}, "ignored": {}}
    _apply(doc2, p2, _REQUIRED_2D, _MAP_2D, overrides, info)
    present, interaction = _get(doc2, "TRAIN", "interaction")
    if present and not interaction:
        overrides["loss_interaction_weight"] = 0.0
    present, patch = _get(doc2, "DATA", "patch_size")
    if present:
        size = [int(v) for v in (patch if isinstance(patch, list) else [patch, patch])]
        if len(set(size)) != 1:
            raise ValueError(f"{p2}: DATA.patch_size {patch} must be square (official trunc)")
        overrides["patch_2d"] = size[0]
    dil = [_get(doc2, "DATA", k) for k in ("if_dilate", "widen_way")]
    if any(p for p, _ in dil):
        overrides["widen_border"] = all(bool(v) for p, v in dil if p)
    for key in _DATA_INFO:
        present, value = _get(doc2, "DATA", key)
        if present:
            info["data"][key] = value
    if cfg_3d is not None:
        p3 = Path(cfg_3d)
        doc3 = _read(p3)
        lr_2d = overrides.get("lr")
        _apply(doc3, p3, _REQUIRED_3D, _MAP_3D, overrides, info)
        present, lr_3d = _get(doc3, "TRAIN", "base_lr")
        if present and lr_2d is not None and float(lr_3d) != float(lr_2d):
            # the official teacher group uses the student's lr times ft_lr_ratio
            info["ignored"][f"{p3.name}:TRAIN.base_lr"] = (
                f"{lr_3d!r}: the teacher's lr is the 2D base_lr x ft_lr_ratio"
            )
        present, patch3 = _get(doc3, "DATA", "patch_size")
        if present and isinstance(patch3, list) and len(patch3) == 3:
            overrides["patch_3d"] = [int(v) for v in patch3]
    return overrides, info


def overrides_from_files(files: list[str]) -> dict[str, Any] | None:
    """``python -m bench run --config FILE ...`` (:meth:`cad.methods.CADMethod
    .overrides_from_config_files`): the recipe overrides of the official 2D config, optionally
    followed by the official 3D config; None when no file is an official config. Ignored keys
    are logged, each with the reason it has no effect."""
    official = [f for f in files if looks_official(f)]
    if not official:
        return None
    if len(official) != len(files) or len(official) > 2:
        raise ValueError("--config: give the official 2D config, optionally followed by the "
                         f"official 3D config, and nothing else; got {files}")
    overrides, info = official_overrides(*official)
    for key, why in info["ignored"].items():
        logging.getLogger(__name__).info("official config %s ignored: %s", key, why)
    return overrides


def recipe_from_official(
    cfg_2d: str | Path,
    cfg_3d: str | Path | None = None,
    *,
    method: str = "cad",
    profile: str = "paper",
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The full recipe of ``method`` for ``profile`` with the official configs applied.

    ``extra`` (e.g. ``key=value`` pairs from the command line) is applied last.
    Returns ``(recipe, info)`` as :func:`official_overrides` describes ``info``.
    """
    overrides, info = official_overrides(cfg_2d, cfg_3d)
    overrides.update(extra or {})
    return load_recipe(CAD_RECIPE, profile, overrides, method=method), info
