"""CAD as registered methods: ``cad`` and its ablations ``cad-nofgi`` and ``cad-nodistill``.

Also the base class :class:`RecipeMethod` shared with :mod:`baselines.methods`: a method whose
networks are trained by one recipe (:func:`bench.train.recipe.load_recipe`) through the
resumable loop of :mod:`bench.train.loop`, saved and loaded as one weights file.

Inputs and outputs follow :class:`bench.method.Method`: raw ``(Z, Y, X)`` uint8 in, float32
affinities ``(3, Z, Y, X)`` in [0, 1] out, channel order (z, y, x), value at v = affinity of v
to its predecessor on that axis.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from bench.infer import predict_section_pairs
from bench.method import Method
from bench.nets.ynet import YNetStudent
from bench.registry import register_method
from bench.train.loop import (
    make_adam,
    resolve_device,
    run_training,
    save_checkpoint,
    seed_everything,
)
from bench.train.recipe import load_recipe
from bench.train.sampler import PatchSampler, prepare_labels
from bench.train.targets import seg_to_aff, seg_widen_border
from cad.checkpoint import load_official_student
from cad.train import CAD_COLUMNS, cad_step_fn

__all__ = ["CADMethod", "RecipeMethod", "affinity_agreement"]

MODEL_NAME = "model.pt"
RECIPE_NAME = "recipe.yaml"
# factory keywords that are not recipe keys
_FACTORY_KEYS = ("profile", "checkpoint")


def affinity_agreement(pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Affinity-level accuracy against ``seg_to_aff`` of border-widened labels.

    Returns the mean absolute error and the F1 of the boundary class (affinity < 0.5), over the
    three channels (the first slab of each channel, which has no predecessor, included as the
    ``replicate`` pad defines it).
    """
    labels = np.asarray(labels)
    pred = np.asarray(pred)
    gt = seg_to_aff(seg_widen_border(labels), pad="replicate")
    if pred.shape != gt.shape:
        raise ValueError(f"pred: expected shape {gt.shape}, got {pred.shape}")
    pb, gb = pred < 0.5, gt < 0.5
    tp = float(np.count_nonzero(pb & gb))
    fp = float(np.count_nonzero(pb & ~gb))
    fn = float(np.count_nonzero(~pb & gb))
    f1 = 2 * tp / max(2 * tp + fp + fn, 1.0)
    return {"aff_mae": float(np.abs(pred - gt).mean()), "boundary_f1": f1}


class RecipeMethod(Method):
    """A :class:`Method` trained by a YAML recipe; subclasses build nets and the step.

    Parameters
    ----------
    profile
        ``smoke``, ``quick`` or ``paper``.
    overrides
        Recipe keys to override (validated by :func:`bench.train.recipe.load_recipe`).
    """

    #: the module (key of :meth:`modules`) used by :meth:`predict`
    inference_module: str = ""

    def __init__(self, profile: str = "quick", overrides: dict[str, Any] | None = None):
        self._overrides = dict(overrides or {})
        super().__init__(load_recipe(self.name, profile, self._overrides))
        self._nets = self.build_nets()

    # ---- what subclasses provide ----------------------------------------------------------
    @abstractmethod
    def build_nets(self) -> dict[str, nn.Module]:
        """Fresh networks (built after seeding, so initial weights follow the seed)."""

    @abstractmethod
    def make_step(
        self, optimizer: torch.optim.Optimizer, sampler: PatchSampler, device: torch.device
    ) -> Callable[[int], dict[str, float]]:
        """The per-iteration callable for :func:`bench.train.loop.run_training`."""

    columns: list[str] = ["loss"]

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"params": [p for m in self._nets.values() for p in m.parameters()]}]

    def after_training(self, sampler: PatchSampler, device: torch.device) -> dict[str, Any]:
        """Hook run once training has finished (e.g. BatchNorm recalibration)."""
        return {}

    # ---- shared behaviour -----------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return resolve_device(self.config["device"])

    @property
    def nets(self) -> dict[str, nn.Module]:
        return self._nets

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self._nets[self.inference_module].parameters())

    def fit(self, train, val=None, *, run_dir: Path, profile: str | None = None) -> dict[str, Any]:
        """Train on ``train`` (resuming from ``run_dir/checkpoint.pt`` if present).

        Writes ``recipe.yaml``, ``checkpoint.pt``, ``train_log.csv`` and the final weights
        ``model.pt`` into ``run_dir``. With ``val`` (labelled), the summary also holds the
        affinity agreement on it (:func:`affinity_agreement`).
        """
        if profile is not None and profile != self.config["profile"]:
            self.config = load_recipe(self.name, profile, self._overrides)
        if train is None or getattr(train, "labels", None) is None:
            raise ValueError("train: expected a labelled bench.data.Volume")
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / RECIPE_NAME, "w") as f:
            yaml.safe_dump(self.config, f, sort_keys=True)
        device = self.device
        rng = seed_everything(int(self.config["seed"]))
        self._nets = self.build_nets()
        for net in self._nets.values():
            net.to(device)
        vol = train.load()
        if vol.raw.shape != vol.labels.shape:
            raise ValueError(f"train: raw {vol.raw.shape} and labels {vol.labels.shape} differ")
        labels = prepare_labels(vol.labels, bool(self.config["widen_border"]))
        sampler = PatchSampler(np.asarray(vol.raw), labels, rng)
        optimizer = make_adam(self.param_groups(), self.config)
        result = run_training(
            run_dir=run_dir,
            modules=self._nets,
            optimizer=optimizer,
            rng=rng,
            step_fn=self.make_step(optimizer, sampler, device),
            columns=self.columns,
            iters=int(self.config["iters"]),
            checkpoint_every=int(self.config["checkpoint_every"]),
            log_every=int(self.config["log_every"]),
            stop_after=self.config["stop_after"],
            desc=self.name,
        )
        summary: dict[str, Any] = {"method": self.name, "profile": self.config["profile"]}
        summary.update(result)
        if result["finished"]:
            summary.update(self.after_training(sampler, device))
            self.save(run_dir / MODEL_NAME)
            if val is not None and getattr(val, "labels", None) is not None:
                v = val.load()
                summary["val"] = affinity_agreement(self.predict(np.asarray(v.raw)), v.labels)
        with open(run_dir / "summary.json", "w") as f:
            json.dump(summary, f, indent=2, default=float)
        return summary

    def save(self, path: str | Path) -> None:
        """Write the trained weights and recipe (one file, atomically)."""
        save_checkpoint(
            Path(path),
            {
                "method": self.name,
                "recipe": self.config,
                "modules": {k: m.state_dict() for k, m in self._nets.items()},
            },
        )

    def load(self, path: str | Path) -> RecipeMethod:
        """Load weights written by :meth:`save` (strict key matching); returns ``self``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("method") != self.name:
            found = state.get("method") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{path}: holds weights of method {found!r}, not {self.name!r}")
        for name, net in self._nets.items():
            if name not in state["modules"]:
                raise ValueError(f"{path}: lacks the network {name!r}")
            net.load_state_dict(state["modules"][name])
        return self

    def _check_raw(self, raw: np.ndarray) -> None:
        if getattr(raw, "ndim", None) != 3 or getattr(raw, "dtype", None) != np.uint8:
            raise ValueError(
                f"raw: expected a (Z, Y, X) uint8 array, got {getattr(raw, 'dtype', type(raw))} "
                f"with shape {getattr(raw, 'shape', None)}"
            )


class _StudentPredictMixin:
    """Inference of the 2D student over all section pairs (section 0 paired with itself)."""

    config: dict[str, Any]
    device: torch.device

    def _student_predict(self, student: nn.Module, raw: np.ndarray) -> np.ndarray:
        t = int(self.config["infer_tile"])
        affs = predict_section_pairs(
            student,
            raw,
            tile=(t, t),
            overlap=int(self.config["infer_overlap"]),
            batch_size=int(self.config["infer_batch"]),
            device=self.device,
            amp=bool(self.config["amp"]),
        )
        return np.clip(affs, 0.0, 1.0).astype(np.float32, copy=False)


class CADMethod(_StudentPredictMixin, RecipeMethod):
    """CAD: 2D student distilled from a jointly trained 3D teacher (CVPR 2024)."""

    name = "cad"
    family = "distilled"
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
        super().__init__(profile, overrides)
        if checkpoint is not None:
            self._nets["student"] = load_official_student(checkpoint)

    def build_nets(self) -> dict[str, nn.Module]:
        from bench.nets.unet3d import SuperhumanUNet3D

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
        self._check_raw(raw)
        return self._student_predict(self._nets["student"], raw)


def _split_overrides(overrides: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    overrides = dict(overrides)
    profile = overrides.pop("profile", "quick")
    checkpoint = overrides.pop("checkpoint", None)
    return profile, checkpoint, overrides


@register_method("cad", family="distilled")
def cad(**overrides: Any) -> CADMethod:
    """CAD: 2D Y-net student + 3D superhuman teacher, jointly trained (slice, 3D, cross, FGI)."""
    profile, checkpoint, rest = _split_overrides(overrides)
    return CADMethod(profile, rest, checkpoint=checkpoint, name="cad")


@register_method("cad-nofgi", family="distilled")
def cad_nofgi(**overrides: Any) -> CADMethod:
    """CAD ablation without the feature-grafting interaction (FGI) loss."""
    profile, checkpoint, rest = _split_overrides(overrides)
    return CADMethod(profile, rest, checkpoint=checkpoint, name="cad-nofgi")


@register_method("cad-nodistill", family="distilled")
def cad_nodistill(**overrides: Any) -> CADMethod:
    """CAD ablation without distillation (no cross-dimension, no FGI loss)."""
    profile, checkpoint, rest = _split_overrides(overrides)
    return CADMethod(profile, rest, checkpoint=checkpoint, name="cad-nodistill")
