"""The recipe-driven base method every trained network of this benchmark builds on.

:class:`RecipeMethod` is a :class:`bench.method.Method` whose networks are trained by one recipe
(a YAML file in the method package's own ``configs/`` folder, read by
:func:`bench.train.recipe.load_recipe`) through the resumable loop of :mod:`bench.train.loop`,
and saved and loaded as one weights file (``model.pt``). A subclass provides its networks
(:meth:`RecipeMethod.build_nets`), its training step (:meth:`RecipeMethod.make_step`) and
:meth:`~bench.method.Method.predict`; the public bases in :mod:`bench.network_method` add the
inference of section-pair and 3D networks.

Inputs and outputs follow :class:`bench.method.Method`: raw ``(Z, Y, X)`` uint8 in, float32
affinities ``(3, Z, Y, X)`` in [0, 1] out, channel order (z, y, x), value at v = affinity of v
to its predecessor on that axis.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from bench.affinity import affinities_from_labels
from bench.atomic import write_json
from bench.method import Method
from bench.train.loop import (
    make_adam,
    resolve_device,
    run_training,
    save_checkpoint,
    seed_everything,
)
from bench.train.recipe import load_recipe, recipe_section
from bench.train.sampler import PatchSampler, prepare_labels
from bench.train.targets import seg_widen_border

__all__ = ["MODEL_NAME", "RecipeMethod", "affinity_agreement"]

MODEL_NAME = "model.pt"
RECIPE_NAME = "recipe.yaml"


def affinity_agreement(pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Affinity-level accuracy against the affinities of border-widened labels.

    Returns the mean absolute error and the F1 of the boundary class (affinity < 0.5), over the
    three channels (the first slab of each channel, which has no predecessor, included as the
    ``replicate`` pad defines it).
    """
    labels = np.asarray(labels)
    pred = np.asarray(pred)
    gt = affinities_from_labels(seg_widen_border(labels), pad="replicate")
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
    checkpoint
        Weights to start from instead of training: a ``model.pt`` written by :meth:`save`
        (any run of this harness); subclasses may accept more formats
        (:meth:`load_checkpoint`).
    """

    #: the recipe file (``<package>/configs/<name>.yaml``); set by every concrete subclass
    recipe_file: Path | None = None
    #: the module (key of :attr:`nets`) used by :meth:`predict`
    inference_module: str = ""

    def __init__(
        self,
        profile: str = "quick",
        overrides: dict[str, Any] | None = None,
        checkpoint: str | Path | None = None,
    ):
        self._overrides = dict(overrides or {})
        super().__init__(self._recipe(profile))
        self._nets = self.build_nets()
        if checkpoint is not None:
            self.load_checkpoint(checkpoint)

    @classmethod
    def create(cls, **overrides: Any) -> RecipeMethod:
        """The registry factory: ``profile`` and ``checkpoint`` are taken out, the rest are
        recipe overrides."""
        profile = overrides.pop("profile", "quick")
        checkpoint = overrides.pop("checkpoint", None)
        return cls(profile, overrides, checkpoint=checkpoint)

    @classmethod
    def perf_overrides(cls, shape: tuple[int, int, int], options: dict[str, Any]) -> dict[str, Any]:
        """Recipe overrides on top of the ``paper`` profile for ``python -m bench perf infer``
        (a ``shape`` volume, the command's ``options``): the recipe file's ``perf`` mapping."""
        return recipe_section(cls.recipe_file, "perf")

    @classmethod
    def check_overrides(cls, name: str) -> dict[str, Any]:
        """Recipe overrides on top of the ``smoke`` profile for ``python -m bench check``: the
        recipe file's ``check`` mapping (empty: the check's default overrides apply)."""
        return recipe_section(cls.recipe_file, "check")

    @classmethod
    def resolved_recipe(cls, profile: str = "quick",
                        overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The recipe this method trains with under ``profile`` with ``overrides``: the recipe
        file's defaults, the profile, the method's variant, then the overrides (what
        ``python -m bench recipe show`` prints; builds no network)."""
        if cls.recipe_file is None:
            raise TypeError(f"{cls.__name__}: set recipe_file (the method's YAML recipe)")
        return load_recipe(cls.recipe_file, profile, overrides, method=cls.name)

    def _recipe(self, profile: str) -> dict[str, Any]:
        return self.resolved_recipe(profile, self._overrides)

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

        Writes ``recipe.yaml``, ``checkpoint.pt``, ``train_log.csv`` and ``summary.json`` into
        ``run_dir``; the final weights are the caller's to keep (:meth:`save`). With ``val``
        (labelled), the summary also holds the affinity agreement on it
        (:func:`affinity_agreement`).
        """
        if profile is not None and profile != self.config["profile"]:
            self.config = self._recipe(profile)
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
            if val is not None and getattr(val, "labels", None) is not None:
                v = val.load()
                summary["val"] = affinity_agreement(self.predict(np.asarray(v.raw)), v.labels)
        write_json(run_dir / "summary.json", summary)
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
        state = self.read_weights(path)
        if state.get("method") != self.name:
            found = state.get("method")
            raise ValueError(f"{path}: holds weights of method {found!r}, not {self.name!r}")
        for name, net in self._nets.items():
            if name not in state["modules"]:
                raise ValueError(f"{path}: lacks the network {name!r}")
            net.load_state_dict(state["modules"][name])
        return self

    @staticmethod
    def read_weights(path: str | Path) -> dict[str, Any]:
        """The dict a :meth:`save` wrote to ``path``; ``ValueError`` for any other file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for a file it cannot read
            raise ValueError(f"{path}: not a weights file of this harness ({exc})") from exc
        if not isinstance(state, dict) or not isinstance(state.get("modules"), dict):
            raise ValueError(
                f"{path}: not a weights file of this harness (expected a dict with 'method', "
                "'recipe' and 'modules', as RecipeMethod.save writes)"
            )
        return state
