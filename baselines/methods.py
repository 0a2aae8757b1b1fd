"""The baselines of the CAD paper as registered methods: ``unet2d``, ``superhuman3d``, ``mala3d``.

- ``unet2d``: CAD's Y-shaped section-pair network trained alone on its trunc affinity loss
  (random section pairs, no teacher): the 2D baseline.
- ``superhuman3d``: the residual 3D U-Net (CAD's teacher) trained alone on the 12-channel
  long-range loss; predicts the three nearest affinities and, for mutex watershed, all 12.
- ``mala3d``: the MALA valid-convolution 3D U-Net trained the same way.

Affinities: float32 ``(C, Z, Y, X)`` in [0, 1], channel order (z, y, x) for the nearest three,
value at v = affinity of v to ``v + offset``. The 3D nets' affinities are the teacher's cosines
clamped to [0, 1], with the empty first slab of each nearest channel filled from the second
(:func:`bench.infer.embedding_affinity_fn`). The shared behaviour lives in the public bases of
:mod:`bench.network_method`; each class here only names itself, its recipe and its networks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from bench.infer import embedding_volume_affinities, predict_sliding_window
from bench.method import check_raw
from bench.nets.unet3d import MalaUNet3D, SuperhumanUNet3D
from bench.nets.ynet import YNetStudent
from bench.network_method import Embedding3DMethod, SectionPairMethod
from bench.registries import register_method
from bench.train.steps import net2d_step_fn

__all__ = ["Mala3DMethod", "Superhuman3DMethod", "UNet2DMethod"]

CONFIGS = Path(__file__).parent / "configs"


@register_method
class UNet2DMethod(SectionPairMethod):
    """2D Y-net on section pairs, trained on its own affinity loss (no teacher)."""

    name = "unet2d"
    family = "2d"
    recipe_file = CONFIGS / "unet2d.yaml"

    def build_nets(self) -> dict[str, nn.Module]:
        return {"student": YNetStudent()}

    def make_step(self, optimizer, sampler, device):
        return net2d_step_fn(self._nets["student"], optimizer, sampler, self.config, device)


@register_method
class Superhuman3DMethod(Embedding3DMethod):
    """Residual 3D U-Net (superhuman, CAD's teacher) with 12 long-range affinity channels."""

    name = "superhuman3d"
    recipe_file = CONFIGS / "superhuman3d.yaml"

    def build_nets(self) -> dict[str, nn.Module]:
        return {"net": SuperhumanUNet3D()}


@register_method
class Mala3DMethod(Embedding3DMethod):
    """MALA 3D U-Net (valid convolutions, 84M parameters) with the 12-channel loss."""

    name = "mala3d"
    recipe_file = CONFIGS / "mala3d.yaml"
    # one whole-volume window costs as much as the measurement itself
    throughput_warmup = False

    def build_nets(self) -> dict[str, nn.Module]:
        return {"net": MalaUNet3D()}

    def output_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        return MalaUNet3D.output_shape(shape)

    @classmethod
    def perf_overrides(cls, shape: tuple[int, int, int], options: dict[str, Any]) -> dict[str, Any]:
        """``perf infer --mala-window whole`` (default): one window, the smallest valid input
        whose output covers the whole volume; ``official``: the recipe's 53x268x268 windows."""
        out = super().perf_overrides(shape, options)
        if options.get("mala_window", "whole") == "whole":
            out["infer_window"] = list(MalaUNet3D.input_shape_for(shape))
        return out

    def predict_offsets(self, raw: np.ndarray, offsets) -> np.ndarray:
        """Valid convolutions: windows tiled without overlap (``infer_stride: null``) give
        exactly the whole-volume embedding, so it is stitched first and the affinities are
        computed once, without window seams and with far fewer windows than a half-overlap
        sweep (8x fewer for large output windows). A configured ``infer_stride`` keeps the
        blended per-window affinities of the other 3D nets."""
        if self.config["infer_stride"] is not None:
            return super().predict_offsets(raw, offsets)
        check_raw(raw)
        net = self._nets["net"]
        window = self.window_kwargs()
        emb = predict_sliding_window(
            net,
            raw,
            out_channels=net.emb_ch,
            window=window["window"],
            output_window=window["output_window"],
            stride=window["output_window"],
            pad=window["pad"],
            blend="mean",
            batch_size=int(self.config["infer_batch"]),
            device=self.device,
            amp=bool(self.config["amp"]),
        )
        affs = embedding_volume_affinities(emb, offsets, device=self.device)
        return np.clip(affs, 0.0, 1.0).astype(np.float32, copy=False)

    def describe_inference(self) -> str:
        if self.config["infer_stride"] is not None:
            return super().describe_inference()
        window = tuple(int(v) for v in self.config["infer_window"])
        return (f"valid windows {window} -> {self.output_shape(window)}, no overlap, reflect "
                "context, stitched embedding -> affinities")
