"""A new 3D method in one file: the toy below and its recipe are all it takes.

``Toy3DMethod`` subclasses the public 3D base (:class:`bench.network_method.Embedding3DMethod`),
states its metadata once as class attributes and brings one YAML recipe (written here into a
temporary folder). Registered for this module only, it runs through the unchanged harness: a
smoke run end to end, the blockwise path (``run --blockwise``), ``perf infer`` and ``list``.
A toy post-processor is likewise one class, registered from its own attributes.
"""

from __future__ import annotations

import argparse
import json

import h5py
import numpy as np
import pytest
import torch
import zarr
from scipy import ndimage
from torch import nn

from bench.cli import main
from bench.network_method import Embedding3DMethod
from bench.registry import METHODS, POSTPROCESSORS, family_colors
from bench.results import ResultsStore
from bench.segment.base import PostProcessor, renumber

TOY_RECIPE = """\
defaults:
  seed: 7
  device: auto
  amp: false
  iters: 20
  checkpoint_every: 10
  log_every: 5
  stop_after: null
  lr: 1.0e-3
  beta1: 0.9
  beta2: 0.999
  eps: 1.0e-8
  weight_decay: 0.0
  amsgrad: false
  batch_3d: 1
  patch_3d: [4, 32, 32]
  padding_3d: 4
  affs0_weight: 1.0
  widen_border: true
  weights_3d: global
  augment:
    enabled: false
    flip: false
    rotate: false
    rescale: false
    elastic: false
    grayscale: false
    p_misalign: 0.0
    p_missing_section: 0.0
  bn_recalibration_batches: 0
  infer_window: [4, 32, 32]
  infer_stride: [3, 24, 24]
  infer_pad: null
  infer_batch: 1
profiles:
  paper: {}
  quick: {}
  smoke:
    iters: 4
    checkpoint_every: 2
    log_every: 1
"""


class ToyEmbeddingNet(nn.Module):
    """Two same-size 3D convolutions to an 8-channel embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(1, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv3d(8, 8, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Toy3DMethod(Embedding3DMethod):
    """Toy 3D embedding net (two convolutions) on the 12-channel affinity loss."""

    name = "toy3d"
    family = "toy"
    family_color = "#9467bd"

    def build_nets(self) -> dict[str, nn.Module]:
        return {"net": ToyEmbeddingNet()}


N_PARAMETERS = sum(p.numel() for p in ToyEmbeddingNet().parameters())


@pytest.fixture(scope="module")
def toy3d(tmp_path_factory):
    """The toy registered (with its recipe) for this module's tests, unregistered after."""
    recipe = tmp_path_factory.mktemp("toy3d") / "toy3d.yaml"
    recipe.write_text(TOY_RECIPE)
    Toy3DMethod.recipe_file = recipe
    METHODS.register(Toy3DMethod)
    yield Toy3DMethod
    METHODS.unregister("toy3d")


@pytest.fixture(scope="module")
def toy_run(toy3d, tmp_path_factory):
    results = tmp_path_factory.mktemp("toy3d-run")
    assert main(["run", "--method", "toy3d", "--profile", "smoke", "--device", "cpu",
                 "--results", str(results)]) == 0
    return results


def test_the_class_is_the_registry_entry(toy3d, capsys):
    entry = METHODS.get("toy3d")
    assert (entry.family, entry.cls) == ("toy", Toy3DMethod)
    assert entry.description == Toy3DMethod.__doc__
    assert family_colors()["toy"] == "#9467bd"
    assert main(["list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "toy3d" in x)
    assert "toy" in line and f"{N_PARAMETERS:,} params" in line


def test_toy3d_runs_end_to_end(toy_run):
    (row,) = ResultsStore(toy_run).rows(method="toy3d")
    assert row["family"] == "toy" and row["n_parameters"] == N_PARAMETERS
    assert row["profile"] == "smoke" and row["postprocess"] == "waterz"
    assert 0 <= row["arand"] <= 1 and np.isclose(row["voi"], row["voi_split"] + row["voi_merge"])


def test_toy3d_runs_blockwise_with_the_context_of_its_window(toy_run, tmp_path):
    """``run --blockwise`` takes the toy's block context (half its 4x32x32 window) from the 3D
    base; its blocks then differ from the whole-volume prediction only where the windows fall,
    less than the same blocks without context (mean absolute difference 0.028 against 0.042
    when measured)."""
    from bench.blockwise import predictor_for_method, run_blockwise
    from bench.data import load_dataset
    from bench.registry import create_method

    assert main(["run", "--method", "toy3d", "--profile", "smoke", "--device", "cpu",
                 "--blockwise", "--block-shape", "4,48,48", "--results", str(tmp_path)]) == 0
    (row,) = ResultsStore(tmp_path).rows(method="toy3d")
    (whole,) = ResultsStore(toy_run).rows(method="toy3d")
    assert row["n_parameters"] == N_PARAMETERS
    out = zarr.open_group(str(ResultsStore(tmp_path).run_dir(row["run_id"]) / "test.zarr"),
                          mode="r")
    blocks = out["affinities"][...]
    whole_dir = ResultsStore(toy_run).run_dir(whole["run_id"])
    with h5py.File(whole_dir / "predictions.h5") as f:
        ref = f["test/affs"][...]
    assert blocks.shape == ref.shape and out["segmentation"].shape == ref.shape[1:]

    method = create_method("toy3d", profile="smoke", device="cpu",
                           checkpoint=whole_dir / "model.pt")
    assert predictor_for_method(method).context == ((2, 2), (16, 16), (16, 16))
    raw = np.asarray(load_dataset("synthetic", profile="smoke", seed=0).split("test").load().raw)
    run_blockwise(method, raw, tmp_path / "bare.zarr", block_shape=(4, 48, 48), context=0,
                  segment=False)
    bare = zarr.open_group(str(tmp_path / "bare.zarr"), mode="r")["affinities"][...]
    with_context = float(np.abs(blocks - ref).mean())
    assert with_context < float(np.abs(bare - ref).mean())


def test_toy3d_is_timed_by_perf_infer(toy3d, tmp_path, capsys):
    from bench.perf import infer as perf_infer

    parser = argparse.ArgumentParser()
    perf_infer.add_arguments(parser)
    out = tmp_path / "perf.json"
    args = parser.parse_args(["--shape", "4", "32", "32", "--methods", "toy3d", "--device",
                              "cpu", "--out", str(out)])
    assert perf_infer.run(args) == 0
    (row,) = json.loads(out.read_text())["results"]
    assert row["method"] == "toy3d" and row["n_parameters"] == N_PARAMETERS
    assert row["scheme"].startswith("window (4, 32, 32), stride (3, 24, 24)")
    assert row["voxels_per_s"] > 0


class ToyComponents(PostProcessor):
    """Connected components of the voxels whose three affinities all exceed the threshold."""

    name = "toycc"
    description = "toy: connected components above an affinity threshold; sweep: threshold"
    parameter = "threshold"
    default_values = (0.3, 0.5, 0.7)

    def sweep(self, affs, values=None):
        out = []
        for value in self._values(values):
            labels, _ = ndimage.label(np.asarray(affs[:3]).min(axis=0) > value)
            out.append((value, renumber(labels)))
        return out


def test_a_post_processor_is_one_class(toy_run, tmp_path):
    """Registered from its class alone, the toy post-processor is swept on validation and
    scores the test split (the toy method's weights, no training)."""
    POSTPROCESSORS.register(ToyComponents)
    try:
        (whole,) = ResultsStore(toy_run).rows(method="toy3d")
        model = ResultsStore(toy_run).run_dir(whole["run_id"]) / "model.pt"
        assert main(["run", "--method", "toy3d", "--profile", "smoke", "--device", "cpu",
                     "--checkpoint", str(model), "--postprocess", "toycc",
                     "--results", str(tmp_path)]) == 0
    finally:
        POSTPROCESSORS.unregister("toycc")
    (row,) = ResultsStore(tmp_path).rows(method="toy3d")
    # the harness's sweep starts from default_values and refines around the best value
    assert row["postprocess"] == "toycc" and 0.0 < row["param_value"] < 1.0
    assert np.isclose(row["voi"], row["voi_split"] + row["voi_merge"])


OUTSIDE_POSTPROCESSOR = '''\
import numpy as np
from scipy import ndimage

from bench.segment.base import PostProcessor, renumber


class Components(PostProcessor):
    """Connected components above an affinity threshold (an outside package's post-processor)."""

    name = "outsidecc"
    description = "outside: connected components above a threshold; sweep: threshold"
    parameter = "threshold"
    default_values = (0.3, 0.5, 0.7)

    def sweep(self, affs, values=None):
        return [(v, renumber(ndimage.label(np.asarray(affs[:3]).min(axis=0) > v)[0]))
                for v in self._values(values)]
'''


def test_an_outside_post_processor_arrives_through_its_entry_point(tmp_path):
    """A post-processor class named by an ``emseg_bench.postprocessors`` entry point of an
    installed distribution (a hand-written ``.dist-info``, no pip) is listed and segments."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    site = tmp_path / "site"
    info = site / "emseg_outside_pp-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: emseg-outside-pp\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[emseg_bench.postprocessors]\noutsidecc = outside_pp:Components\n")
    (site / "outside_pp.py").write_text(OUTSIDE_POSTPROCESSOR)
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(repo)])}
    listed = subprocess.run([sys.executable, "-m", "bench", "list", "postprocessors"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if "outsidecc" in x)
    assert "outside: connected components" in line
    script = ("import numpy as np\n"
              "from bench.registry import POSTPROCESSORS\n"
              "pp = POSTPROCESSORS.create('outsidecc')\n"
              "affs = np.ones((3, 2, 8, 8), np.float32); affs[:, :, :, 4] = 0.1\n"
              "(value, seg), = pp.sweep(affs, [0.5])\n"
              "print(type(pp).__module__, value, len(np.unique(seg)))\n")
    used = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert used.returncode == 0, used.stderr
    assert used.stdout.split() == ["outside_pp", "0.5", "3"]  # two components and the boundary
