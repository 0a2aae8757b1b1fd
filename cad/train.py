"""CAD's training step: the joint student/teacher iteration.

Like the 2D and 3D steps of :mod:`bench.train.steps`, :func:`cad_step_fn` returns the callable
that :func:`bench.train.loop.run_training` runs once per iteration; it draws its batch from a
:class:`bench.train.sampler.PatchSampler`, computes the losses of :mod:`bench.train.losses` and
:mod:`cad.losses` and takes one optimiser step. Tensors are ``(B, C, Z, Y, X)`` (3D) or
``(B, C, H, W)`` (2D); affinities follow :mod:`bench.affinity`.

CAD iteration (docs/cad.md section 4), D = patch depth:

1. ``faithful`` only: a "dead" no-grad 2D batch through the student in train mode (its loss
   is never used; it only moves BatchNorm running statistics, as in the official code).
2. Teacher on the 3D batch: embedding E3, raw-cosine affinities, ``L_3d`` and the distillation
   targets P3.
3. Student on every pair (z, z+1), z = 0..D-2: ``L_slice`` against the 3D targets at z+1,
   ``L_cross`` against P3 at z+1 and the FGI term ``L_int`` (:func:`cad.losses.fgi_terms`).
   The official code runs the student once per pair; ``student_batch_pairs`` runs the D-1 pairs
   as one batch (:func:`student_pairs`).
4. Before ``start_ft`` the loss is ``L_3d + L_slice``; the official code also computes cross and
   FGI then, for its log only. Here they are skipped (logged as 0): they change neither the loss,
   nor a gradient, nor the random stream. From ``start_ft`` on all four terms, summed over z, and
   the teacher also receives the cross and FGI gradients.

The 3D targets' weight maps (used by every term) follow ``weights_3d``: one ratio over the 12
channels (official, ``faithful``) or one per channel over its valid voxels (``fixed``). On an
8x48x48 patch of the quick synthetic volume the official choice weights boundary voxels of the
nearest channels 1.4 where a per-channel ratio gives 4-9; the student's y/x affinities then
come out too high (merges).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.affinity.embedding import (
    TEACHER_OFFSETS,
    embedding_affinities_3d,
    l2_normalize,
    trunc_affinities,
)
from bench.train.augment import AugmentConfig
from bench.train.loop import autocast
from bench.train.losses import loss_3d, trunc_slice_loss
from bench.train.sampler import PatchSampler
from bench.train.steps import student_pair
from cad.losses import MODES, cross_loss, fgi_loss, fgi_terms, teacher_distill_targets

__all__ = ["CAD_COLUMNS", "CAD_RECIPE", "cad_step_fn", "student_pairs"]

#: the recipe of ``cad`` and its ablations (``variants`` in the file), which the step reads
CAD_RECIPE = Path(__file__).parent / "configs" / "cad.yaml"

CAD_COLUMNS = ["loss", "loss_3d", "loss_slice", "loss_cross", "loss_int", "distill_on"]


def student_pairs(
    student: nn.Module, x: torch.Tensor, device: torch.device, amp: bool, batched: bool
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The student's embeddings ``(e_z, e_z+1)`` of every section pair of the 3D batch ``x``
    ``(B, 1, D, H, W)``, one tuple per z = 0..D-2.

    ``batched=False`` runs one forward pass per pair (the official loop: BatchNorm normalises
    each pair's batch of B on its own and updates its running statistics D-1 times);
    ``batched=True`` runs the D-1 pairs as one batch of (D-1)*B (statistics over all pairs, one
    update). The losses are computed per pair either way.
    """
    pairs = [x[:, 0, z : z + 2] for z in range(x.shape[2] - 1)]
    if not batched:
        return [student_pair(student, pair, device, amp) for pair in pairs]
    e_t, e_tn = student_pair(student, torch.cat(pairs), device, amp)
    return list(zip(e_t.chunk(len(pairs)), e_tn.chunk(len(pairs)), strict=True))


def cad_step_fn(
    student: nn.Module,
    teacher: nn.Module,
    optimizer: torch.optim.Optimizer,
    sampler: PatchSampler,
    recipe: dict[str, Any],
    device: torch.device,
) -> Callable[[int], dict[str, float]]:
    """One joint CAD iteration (see the module docstring)."""
    mode = recipe["mode"]
    if mode not in MODES:
        raise ValueError(f"recipe 'mode': expected one of {MODES}, got {mode!r}")
    depth, h, w = (int(v) for v in recipe["patch_3d"])
    if depth < 2:
        raise ValueError(f"recipe 'patch_3d': depth must be >= 2, got {recipe['patch_3d']}")
    aug3 = AugmentConfig.from_dict(recipe["augment"])
    aug2 = AugmentConfig.from_dict(recipe["augment_2d"])
    amp = bool(recipe["amp"])
    start_ft = int(recipe["start_ft"])
    w3d, wsl = float(recipe["loss_3d_weight"]), float(recipe["loss_slice_weight"])
    wcr, wint = float(recipe["loss_cross_weight"]), float(recipe["loss_interaction_weight"])
    a0_2d, a0_3d = float(recipe["affs0_weight_2d"]), float(recipe["affs0_weight_3d"])
    terms_per_z = [fgi_terms(z, depth, mode) for z in range(depth - 1)]
    batch_pairs = bool(recipe["student_batch_pairs"])
    weights = recipe["weights_3d"]
    if weights == "auto":
        weights = "global" if mode == "faithful" else "per_channel"

    def step(it: int) -> dict[str, float]:
        student.train()
        teacher.train()  # never eval during training (official behaviour)
        if mode == "faithful" and int(recipe["batch_2d"]) > 0:
            x2, _, _ = sampler.batch_2d(
                int(recipe["batch_2d"]), int(recipe["patch_2d"]), int(recipe["padding_2d"]), aug2
            )
            with torch.no_grad():
                student_pair(student, x2.to(device), device, amp)
        x, t, wt = (
            a.to(device)
            for a in sampler.batch_3d(
                int(recipe["batch_3d"]),
                (depth, h, w),
                int(recipe["padding_3d"]),
                aug3,
                weights=weights,
            )
        )
        distill = it >= start_ft
        with autocast(device, amp):
            e3 = teacher(x)
        e3 = e3.float()
        aff3 = embedding_affinities_3d(e3, TEACHER_OFFSETS)
        l3d = loss_3d(aff3, t, wt, TEACHER_OFFSETS, near_weight=a0_3d)
        if distill:
            p3 = teacher_distill_targets(aff3)
            e3_fgi = l2_normalize(e3) if mode == "fixed" else e3
        l_slice = x.new_zeros(())
        l_cross = x.new_zeros(())
        l_int = x.new_zeros(())
        for z, (e_t, e_tn) in enumerate(student_pairs(student, x, device, amp, batch_pairs)):
            p2 = trunc_affinities(e_t, e_tn)
            tz, wz = t[:, :3, z + 1], wt[:, :3, z + 1]
            l_slice = l_slice + trunc_slice_loss(p2, tz, wz, a0_2d)
            if not distill:
                continue  # cross and FGI would be computed for the log only (see above)
            if wcr > 0:
                l_cross = l_cross + cross_loss(
                    p2, p3[:, :, z + 1], wz, z=z, mode=mode, after_start_ft=True
                )
            if wint > 0 and terms_per_z[z]:
                et, etn = e_t, e_tn
                if mode == "fixed":
                    et, etn = l2_normalize(et), l2_normalize(etn)
                l_int = l_int + fgi_loss(et, etn, e3_fgi, t, wt, terms_per_z[z])
        loss = w3d * l3d + wsl * l_slice
        if distill:
            loss = loss + wcr * l_cross + wint * l_int
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {
            "loss": float(loss.detach()),
            "loss_3d": float(l3d.detach()),
            "loss_slice": float(l_slice.detach()),
            "loss_cross": float(l_cross.detach()),
            "loss_int": float(l_int.detach()),
            "distill_on": int(distill),
        }

    return step
