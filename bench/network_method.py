"""Public bases of the network methods: section-pair (2D) and 3D embedding networks.

A new network method subclasses one of these, sets its metadata once as class attributes
(``name``, ``family``, ``family_color``, ``recipe_file``), builds its networks and registers the
class with :func:`bench.registry.register_method`::

    @register_method
    class MyNet3D(Embedding3DMethod):
        # its docstring's first line is what ``python -m bench list`` shows

        name = "mynet3d"
        recipe_file = Path(__file__).parent / "configs" / "mynet3d.yaml"

        def build_nets(self):
            return {"net": MyEmbeddingNet()}

Everything the harness needs beyond training is read from the recipe (a YAML file,
:mod:`bench.train.recipe`) or from these classes, never from the method's name:

- inference: the recipe's ``infer_*`` keys (window, stride, pad, batch; tile and overlap for
  section pairs);
- blockwise context (:meth:`block_context`): one section before plus ``infer_overlap`` pixels for
  section pairs, half the inference window for 3D networks;
- ``python -m bench perf infer``: the ``paper`` profile with the recipe's ``perf`` mapping on top
  (:meth:`~bench.train.recipe_method.RecipeMethod.perf_overrides`);
- ``python -m bench check``: the ``smoke`` profile with the recipe's ``check`` mapping on top.

Affinities follow :class:`bench.method.Method`: float32 ``(C, Z, Y, X)`` in [0, 1], channel order
(z, y, x) for the nearest three, value at v = affinity of v to ``v + offset``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from bench.affinity import LONG_RANGE_OFFSETS, NEAREST_OFFSETS
from bench.infer import embedding_affinity_fn, predict_section_pairs, predict_sliding_window
from bench.method import check_raw
from bench.train.augment import AugmentConfig
from bench.train.loop import recalibrate_batchnorm
from bench.train.recipe_method import RecipeMethod
from bench.train.sampler import PatchSampler
from bench.train.steps import net3d_step_fn

__all__ = ["Embedding3DMethod", "SectionPairMethod"]


def _triple_or_none(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(v) for v in value)


class SectionPairMethod(RecipeMethod):
    """A method whose inference network is a 2D section-pair net (``(B, 2, h, w)`` ->
    two embeddings): every pair (z-1, z) of the volume, section 0 paired with itself, by the
    recipe's ``infer_tile``, ``infer_overlap``, ``infer_batch`` and ``amp`` keys
    (:func:`bench.infer.predict_section_pairs`)."""

    family = "2d"
    family_color = "#1f77b4"
    inference_module = "student"

    def predict(self, raw: np.ndarray) -> np.ndarray:
        check_raw(raw)
        return self.predict_pairs(self.nets[self.inference_module], raw)

    def predict_pairs(self, net: nn.Module, raw: np.ndarray) -> np.ndarray:
        """Affinities of ``raw`` from the section-pair network ``net``."""
        t = int(self.config["infer_tile"])
        affs = predict_section_pairs(
            net,
            raw,
            tile=(t, t),
            overlap=int(self.config["infer_overlap"]),
            batch_size=int(self.config["infer_batch"]),
            device=self.device,
            amp=bool(self.config["amp"]),
        )
        return np.clip(affs, 0.0, 1.0).astype(np.float32, copy=False)

    def block_context(self) -> tuple[tuple[int, int], ...]:
        """One section before in z (the pair (z-1, z)) and ``infer_overlap`` pixels in y/x."""
        h = int(self.config.get("infer_overlap", 0) or 0)
        return ((1, 0), (h, h), (h, h))

    def describe_inference(self) -> str:
        t = int(self.config["infer_tile"])
        return f"section pairs (z-1, z), tiles up to {t}x{t} (whole sections when smaller)"


class Embedding3DMethod(RecipeMethod):
    """A 3D embedding network (``(B, 1, z, y, x)`` -> ``(B, E, z', y', x')``) trained on the
    12-channel long-range affinity loss, predicted by a sliding window.

    Inference follows the recipe: ``infer_window`` (input window), ``infer_stride`` (null: half
    the output window), ``infer_pad`` (null: :func:`bench.infer.predict_sliding_window`'s
    default), ``infer_batch`` and ``amp``. A valid-convolution network overrides
    :meth:`output_shape`. BatchNorm statistics are re-estimated after training on
    ``bn_recalibration_batches`` fresh patches.
    """

    family = "3d"
    family_color = "#d62728"
    inference_module = "net"
    long_range = True
    #: ``perf infer`` warms the method up on a small volume first (False where a warm-up costs
    #: as much as a measurement)
    throughput_warmup: ClassVar[bool] = True

    def output_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int] | None:
        """The network's output size for an input window; None: the same size."""
        return None

    def make_step(self, optimizer, sampler, device):
        shape = tuple(int(v) for v in self.config["patch_3d"])
        return net3d_step_fn(
            self.nets["net"], optimizer, sampler, self.config, device, self.output_shape(shape)
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
        layers = recalibrate_batchnorm(self.nets["net"], batches)
        return {"bn_recalibrated_layers": layers, "bn_recalibration_batches": n}

    def window_kwargs(self) -> dict[str, Any]:
        """The sliding window of the recipe: ``window``, ``stride``, ``output_window``, ``pad``
        as :func:`bench.infer.predict_sliding_window` takes them."""
        window = tuple(int(v) for v in self.config["infer_window"])
        return {
            "window": window,
            "stride": _triple_or_none(self.config["infer_stride"]),
            "output_window": self.output_shape(window),
            "pad": _triple_or_none(self.config.get("infer_pad")),
        }

    def predict_offsets(self, raw: np.ndarray, offsets) -> np.ndarray:
        """Affinities at ``offsets`` (clamped cosines), blended over the sliding window."""
        check_raw(raw)
        fn = embedding_affinity_fn(self.nets["net"], offsets)
        affs = predict_sliding_window(
            fn,
            raw,
            out_channels=len(offsets),
            batch_size=int(self.config["infer_batch"]),
            device=self.device,
            amp=bool(self.config["amp"]),
            **self.window_kwargs(),
        )
        return np.clip(affs, 0.0, 1.0).astype(np.float32, copy=False)

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return self.predict_offsets(raw, NEAREST_OFFSETS)

    def predict_long_range(self, raw: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """All 12 channels (clamped cosines) and their (z, y, x) offsets."""
        return self.predict_offsets(raw, LONG_RANGE_OFFSETS), list(LONG_RANGE_OFFSETS)

    def block_context(self) -> tuple[int, ...]:
        """Half the inference window on every side."""
        return tuple(int(w) // 2 for w in self.config["infer_window"])

    def describe_inference(self) -> str:
        w = self.window_kwargs()
        pad = "default" if w["pad"] is None else w["pad"]
        return f"window {w['window']}, stride {w['stride']}, pad {pad}, gaussian blend"
