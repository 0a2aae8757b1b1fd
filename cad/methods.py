"""CAD as registered methods: ``cad`` and its ablations ``cad-nofgi`` and ``cad-nodistill``.

The student is the 2D Y-net (:class:`bench.nets.ynet.YNetStudent`), the teacher the residual
3D U-Net (:class:`bench.nets.unet3d.SuperhumanUNet3D`); both are trained jointly by
:func:`cad.train.cad_step_fn` (docs/cad.md). Only the student predicts (section pairs,
:class:`bench.network_method.SectionPairMethod`). The ablations are subclasses that only change
the registry name, which selects the recipe file's ``variants`` entry.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import nn

from bench.data.fetch import resolve_checkpoint
from bench.nets.unet3d import SuperhumanUNet3D
from bench.nets.ynet import YNetStudent
from bench.network_method import SectionPairMethod
from bench.registries import register_method
from cad.checkpoint import load_official_student
from cad.train import CAD_COLUMNS, CAD_RECIPE, cad_step_fn

__all__ = ["CAD_RECIPE", "CADMethod", "CADNoDistillMethod", "CADNoFGIMethod",
           "OFFICIAL_INFERENCE_KEYS"]

log = logging.getLogger(__name__)

#: the recipe keys that define the student's inference; an official checkpoint runs with the
#: paper profile's values of these (:meth:`CADMethod.use_official_inference`)
OFFICIAL_INFERENCE_KEYS = ("infer_tile", "infer_overlap", "infer_batch")


@register_method
class CADMethod(SectionPairMethod):
    """CAD: 2D Y-net student + 3D superhuman teacher, jointly trained (slice, 3D, cross, FGI)."""

    name = "cad"
    family = "distilled"
    family_color = "#2ca02c"
    recipe_file = CAD_RECIPE
    columns = CAD_COLUMNS
    #: the recipe keys an official checkpoint takes from the paper profile (pinned by the
    #: check's protocol layer)
    official_inference_keys = OFFICIAL_INFERENCE_KEYS

    @classmethod
    def overrides_from_config_files(cls, files: list[str]) -> dict[str, Any] | None:
        """The official CAD pair (2D student config, optionally followed by the 3D teacher
        config) mapped onto this recipe (:mod:`cad.official_config`); None for other files."""
        from cad.official_config import overrides_from_files

        return overrides_from_files(files)

    def load_checkpoint(self, path: str | Path) -> None:
        """A ``model.pt`` of this harness (student and teacher), or an official CAD checkpoint
        (``ckpt/*.ckpt``, the student only; :mod:`cad.checkpoint`); ``official:NAME`` fetches
        the authors' file into the data root first (:mod:`bench.data.fetch`)."""
        path = resolve_checkpoint(str(path)) if str(path).startswith("official:") else path
        try:
            self.read_weights(path)
        except ValueError:
            self._nets["student"] = load_official_student(path)
            self.use_official_inference()
            return
        self.load(path)

    def use_official_inference(self) -> None:
        """The authors' weights run the authors' inference: the paper profile's inference keys
        (``infer_tile`` 2048, i.e. whole sections up to 2048 px, its overlap and batch) replace
        the profile's, whatever ``--profile`` says. The student is not tile-invariant (its
        bilinear ``align_corners`` upsampling), so the quick profile's 256-px tiles would score
        another network's output. A key given with ``--set`` is kept (asked for explicitly)."""
        paper = self._recipe("paper")
        changed = {}
        for key in self.official_inference_keys:
            if key in self._overrides or self.config.get(key) == paper[key]:
                continue
            changed[key] = (self.config.get(key), paper[key])
            self.config[key] = paper[key]
        if changed:
            log.info("official checkpoint: the official (paper profile) inference settings "
                     "replace the %s profile's: %s", self.config.get("profile"),
                     ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()))

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


@register_method
class CADNoFGIMethod(CADMethod):
    """CAD ablation without the feature-grafting interaction (FGI) loss."""

    name = "cad-nofgi"


@register_method
class CADNoDistillMethod(CADMethod):
    """CAD ablation without distillation (no cross-dimension, no FGI loss)."""

    name = "cad-nodistill"
