"""Training steps of the 2D and 3D affinity nets, shared by every method.

Each ``*_step_fn`` returns the callable that :func:`bench.train.loop.run_training` runs once
per iteration; it draws its batch from a :class:`bench.train.sampler.PatchSampler`, computes a
loss of :mod:`bench.train.losses` and takes one optimiser step. Tensors are
``(B, C, Z, Y, X)`` (3D) or ``(B, C, H, W)`` (2D); affinities follow :mod:`bench.affinity`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bench.affinity import LONG_RANGE_OFFSETS
from bench.affinity.embedding import embedding_affinities_3d, trunc_affinities
from bench.train.augment import AugmentConfig
from bench.train.loop import autocast
from bench.train.losses import loss_3d, trunc_slice_loss
from bench.train.sampler import PatchSampler

__all__ = ["net2d_step_fn", "net3d_step_fn", "student_pair"]


def student_pair(student: nn.Module, x: torch.Tensor, device: torch.device, amp: bool):
    """The Y-net's two section embeddings ``(e_prev, e_curr)`` of a ``(B, 2, H, W)`` batch, in
    float32 (the forward pass runs under the mixed-precision policy, :func:`autocast`)."""
    with autocast(device, amp):
        e_t, e_tn = student(x)
    return e_t.float(), e_tn.float()


def net2d_step_fn(
    student: nn.Module,
    optimizer: torch.optim.Optimizer,
    sampler: PatchSampler,
    recipe: dict[str, Any],
    device: torch.device,
) -> Callable[[int], dict[str, float]]:
    """The 2D baseline: the Y-net on random section pairs with its own trunc loss only."""
    aug = AugmentConfig.from_dict(recipe["augment"])
    amp = bool(recipe["amp"])
    a0 = float(recipe["affs0_weight"])

    def step(it: int) -> dict[str, float]:
        student.train()
        x, t, w = (
            a.to(device)
            for a in sampler.batch_2d(
                int(recipe["batch_2d"]), int(recipe["patch_2d"]), int(recipe["padding_2d"]), aug
            )
        )
        e_t, e_tn = student_pair(student, x, device, amp)
        loss = trunc_slice_loss(trunc_affinities(e_t, e_tn), t, w, a0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": float(loss.detach())}

    return step


def net3d_step_fn(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    sampler: PatchSampler,
    recipe: dict[str, Any],
    device: torch.device,
    output_shape: tuple[int, int, int] | None = None,
) -> Callable[[int], dict[str, float]]:
    """A 3D embedding net with the teacher's 12-channel loss.

    ``output_shape`` is the net's output for an input of ``recipe["patch_3d"]`` when it differs
    (valid convolutions): the labels are centre-cropped to it before the targets are made.
    """
    aug = AugmentConfig.from_dict(recipe["augment"])
    amp = bool(recipe["amp"])
    a0 = float(recipe["affs0_weight"])
    shape = tuple(int(v) for v in recipe["patch_3d"])

    def step(it: int) -> dict[str, float]:
        net.train()
        x, t, w = (
            a.to(device)
            for a in sampler.batch_3d(
                int(recipe["batch_3d"]),
                shape,
                int(recipe["padding_3d"]),
                aug,
                output_shape,
                weights=recipe["weights_3d"],
            )
        )
        with autocast(device, amp):
            emb = net(x)
        aff = embedding_affinities_3d(emb.float(), LONG_RANGE_OFFSETS)
        loss = loss_3d(aff, t, w, LONG_RANGE_OFFSETS, near_weight=a0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": float(loss.detach())}

    return step
