"""The baselines of the CAD paper as registered methods: ``unet2d``, ``superhuman3d``, ``mala3d``.

- ``unet2d``: CAD's Y-shaped section-pair network trained alone on its trunc affinity loss
  (random section pairs, no teacher): the 2D baseline.
- ``superhuman3d``: the residual 3D U-Net (CAD's teacher) trained alone on the 12-channel
  long-range loss; predicts the three nearest affinities and, for mutex watershed, all 12.
- ``mala3d``: the MALA valid-convolution 3D U-Net trained the same way.

Affinities: float32 ``(C, Z, Y, X)`` in [0, 1], channel order (z, y, x) for the nearest three,
value at v = affinity of v to ``v + offset``. The 3D nets' affinities are the teacher's cosines
clamped to [0, 1], with the empty first slab of each nearest channel filled from the second
(:func:`bench.infer.embedding_affinity_fn`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.affinity import LONG_RANGE_OFFSETS, NEAREST_OFFSETS
from bench.infer import embedding_affinity_fn, embedding_volume_affinities, predict_sliding_window
from bench.method import check_raw
from bench.nets.unet3d import MalaUNet3D, SuperhumanUNet3D
from bench.nets.ynet import YNetStudent
from bench.registry import register_method
from bench.train.augment import AugmentConfig
from bench.train.loop import recalibrate_batchnorm
from bench.train.method import RecipeMethod, SectionPairPredictor
from bench.train.sampler import PatchSampler
from bench.train.steps import net2d_step_fn, net3d_step_fn

__all__ = ["Mala3DMethod", "Superhuman3DMethod", "UNet2DMethod"]

CONFIGS = Path(__file__).parent / "configs"


class UNet2DMethod(SectionPairPredictor, RecipeMethod):
    """2D baseline: the Y-net section-pair network on its own trunc loss, no teacher."""

    name = "unet2d"
    family = "2d"
    recipe_file = CONFIGS / "unet2d.yaml"
    inference_module = "student"

    def build_nets(self) -> dict[str, nn.Module]:
        return {"student": YNetStudent()}

    def make_step(self, optimizer, sampler, device):
        return net2d_step_fn(self._nets["student"], optimizer, sampler, self.config, device)

    def predict(self, raw: np.ndarray) -> np.ndarray:
        check_raw(raw)
        return self.predict_pairs(self._nets["student"], raw)


class _Embedding3DMethod(RecipeMethod):
    """Shared behaviour of the 3D embedding nets (12-channel loss, sliding-window inference)."""

    family = "3d"
    inference_module = "net"
    long_range = True

    def _output_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int] | None:
        return None  # same-size output

    def make_step(self, optimizer, sampler, device):
        shape = tuple(int(v) for v in self.config["patch_3d"])
        return net3d_step_fn(
            self._nets["net"], optimizer, sampler, self.config, device, self._output_shape(shape)
        )

    def after_training(self, sampler: PatchSampler, device: torch.device) -> dict[str, Any]:
        """Re-estimate BatchNorm statistics on fresh training patches.

        The superhuman net's BN momentum is 0.001 (official), so after a short run its running
        statistics are far from the data's; eval-mode inference needs them recalibrated.
        """
        n = int(self.config["bn_recalibration_batches"])
        if n <= 0:
            return {}
        shape = tuple(int(v) for v in self.config["patch_3d"])
        no_aug = AugmentConfig(enabled=False)
        # a separate generator: recalibration must not change the training random stream
        sub = PatchSampler(
            sampler.raw, sampler.labels, np.random.default_rng(sampler.rng.integers(2**32))
        )
        batches = (
            sub.batch_3d(int(self.config["batch_3d"]), shape, 0, no_aug)[0].to(device)
            for _ in range(n)
        )
        layers = recalibrate_batchnorm(self._nets["net"], batches)
        return {"bn_recalibrated_layers": layers, "bn_recalibration_batches": n}

    def _window_kwargs(self) -> dict[str, Any]:
        window = tuple(int(v) for v in self.config["infer_window"])
        stride = self.config["infer_stride"]
        return {
            "window": window,
            "stride": None if stride is None else tuple(int(v) for v in stride),
            "output_window": self._output_shape(window),
        }

    def _predict_offsets(self, raw: np.ndarray, offsets) -> np.ndarray:
        check_raw(raw)
        fn = embedding_affinity_fn(self._nets["net"], offsets)
        affs = predict_sliding_window(
            fn,
            raw,
            out_channels=len(offsets),
            batch_size=int(self.config["infer_batch"]),
            device=self.device,
            amp=bool(self.config["amp"]),
            **self._window_kwargs(),
        )
        return np.clip(affs, 0.0, 1.0).astype(np.float32, copy=False)

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return self._predict_offsets(raw, NEAREST_OFFSETS)

    def predict_long_range(self, raw: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """All 12 teacher channels (clamped cosines) and their (z, y, x) offsets."""
        return self._predict_offsets(raw, LONG_RANGE_OFFSETS), list(LONG_RANGE_OFFSETS)


class Superhuman3DMethod(_Embedding3DMethod):
    """Residual 3D U-Net (superhuman/PNI; CAD's teacher) on the 12-channel affinity loss."""

    name = "superhuman3d"
    recipe_file = CONFIGS / "superhuman3d.yaml"

    def build_nets(self) -> dict[str, nn.Module]:
        return {"net": SuperhumanUNet3D()}


class Mala3DMethod(_Embedding3DMethod):
    """MALA valid-convolution 3D U-Net on the 12-channel affinity loss."""

    name = "mala3d"
    recipe_file = CONFIGS / "mala3d.yaml"

    def build_nets(self) -> dict[str, nn.Module]:
        return {"net": MalaUNet3D()}

    def _output_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        return MalaUNet3D.output_shape(shape)

    def _predict_offsets(self, raw: np.ndarray, offsets) -> np.ndarray:
        """Valid convolutions: windows tiled without overlap (``infer_stride: null``) give
        exactly the whole-volume embedding, so it is stitched first and the affinities are
        computed once, without window seams and with far fewer windows than a half-overlap
        sweep (8x fewer for large output windows). A configured ``infer_stride`` keeps the
        blended per-window affinities of the other 3D nets."""
        if self.config["infer_stride"] is not None:
            return super()._predict_offsets(raw, offsets)
        check_raw(raw)
        net = self._nets["net"]
        window = self._window_kwargs()
        emb = predict_sliding_window(
            net,
            raw,
            out_channels=net.emb_ch,
            window=window["window"],
            output_window=window["output_window"],
            stride=window["output_window"],
            blend="mean",
            batch_size=int(self.config["infer_batch"]),
            device=self.device,
            amp=bool(self.config["amp"]),
        )
        affs = embedding_volume_affinities(emb, offsets, device=self.device)
        return np.clip(affs, 0.0, 1.0).astype(np.float32, copy=False)


@register_method("unet2d", family="2d")
def unet2d(**overrides: Any) -> UNet2DMethod:
    """2D Y-net on section pairs, trained on its own affinity loss (no teacher)."""
    return UNet2DMethod.create(**overrides)


@register_method("superhuman3d", family="3d")
def superhuman3d(**overrides: Any) -> Superhuman3DMethod:
    """Residual 3D U-Net (superhuman, CAD's teacher) with 12 long-range affinity channels."""
    return Superhuman3DMethod.create(**overrides)


@register_method("mala3d", family="3d")
def mala3d(**overrides: Any) -> Mala3DMethod:
    """MALA 3D U-Net (valid convolutions, 84M parameters) with the 12-channel loss."""
    return Mala3DMethod.create(**overrides)
