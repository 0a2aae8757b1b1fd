"""CAD as registered methods: ``cad`` and its ablations ``cad-nofgi`` and ``cad-nodistill``.

The student is the 2D Y-net (:class:`bench.nets.ynet.YNetStudent`), the teacher the residual
3D U-Net (:class:`bench.nets.unet3d.SuperhumanUNet3D`); both are trained jointly by
:func:`cad.train.cad_step_fn` (docs/cad.md). Only the student predicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from bench.data.fetch import resolve_checkpoint
from bench.method import check_raw
from bench.nets.unet3d import SuperhumanUNet3D
from bench.nets.ynet import YNetStudent
from bench.registry import register_method
from bench.train.method import RecipeMethod, SectionPairPredictor
from cad.checkpoint import load_official_student
from cad.train import CAD_COLUMNS, cad_step_fn

__all__ = ["CAD_RECIPE", "CADMethod"]

#: the recipe of ``cad`` and its ablations (``variants`` in the file)
CAD_RECIPE = Path(__file__).parent / "configs" / "cad.yaml"


class CADMethod(SectionPairPredictor, RecipeMethod):
    """CAD: 2D student distilled from a jointly trained 3D teacher (CVPR 2024)."""

    name = "cad"
    family = "distilled"
    recipe_file = CAD_RECIPE
    inference_module = "student"
    columns = CAD_COLUMNS

    def __init__(
        self,
        profile: str = "quick",
        overrides: dict[str, Any] | None = None,
        checkpoint: str | Path | None = None,
        name: str = "cad",
    ):
        self.name = name
        super().__init__(profile, overrides, checkpoint=checkpoint)

    def load_checkpoint(self, path: str | Path) -> None:
        """A ``model.pt`` of this harness (student and teacher), or an official CAD checkpoint
        (``ckpt/*.ckpt``, the student only; :mod:`cad.checkpoint`); ``official:NAME`` fetches
        the authors' file into the data root first (:mod:`bench.data.fetch`)."""
        path = resolve_checkpoint(str(path)) if str(path).startswith("official:") else path
        try:
            self.read_weights(path)
        except ValueError:
            self._nets["student"] = load_official_student(path)
            return
        self.load(path)

    def build_nets(self) -> dict[str, nn.Module]:
        return {"student": YNetStudent(), "teacher": SuperhumanUNet3D()}

    def param_groups(self) -> list[dict[str, Any]]:
        lr = float(self.config["lr"])
        return [
            {"params": list(self._nets["student"].parameters()), "lr": lr},
            {
                "params": list(self._nets["teacher"].parameters()),
                "lr": lr * float(self.config["teacher_lr_ratio"]),
            },
        ]

    def make_step(self, optimizer, sampler, device):
        return cad_step_fn(
            self._nets["student"], self._nets["teacher"], optimizer, sampler, self.config, device
        )

    def predict(self, raw: np.ndarray) -> np.ndarray:
        check_raw(raw)
        return self.predict_pairs(self._nets["student"], raw)


def _create(name: str, overrides: dict[str, Any]) -> CADMethod:
    overrides = dict(overrides)
    profile = overrides.pop("profile", "quick")
    checkpoint = overrides.pop("checkpoint", None)
    return CADMethod(profile, overrides, checkpoint=checkpoint, name=name)


@register_method("cad", family="distilled")
def cad(**overrides: Any) -> CADMethod:
    """CAD: 2D Y-net student + 3D superhuman teacher, jointly trained (slice, 3D, cross, FGI)."""
    return _create("cad", overrides)


@register_method("cad-nofgi", family="distilled")
def cad_nofgi(**overrides: Any) -> CADMethod:
    """CAD ablation without the feature-grafting interaction (FGI) loss."""
    return _create("cad-nofgi", overrides)


@register_method("cad-nodistill", family="distilled")
def cad_nodistill(**overrides: Any) -> CADMethod:
    """CAD ablation without distillation (no cross-dimension, no FGI loss)."""
    return _create("cad-nodistill", overrides)
