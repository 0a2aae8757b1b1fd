"""``python -m bench view RUN_ID``: a run's volumes in a local neuroglancer viewer.

Layers: the test split's raw images and ground truth, the predicted test affinities (z, y, x as
red, green, blue), and each post-processor's test segmentation. Coordinates are (z, y, x) in nm
from the dataset's resolution, so a voxel position from the report (``neuron_errors.json``,
the worst-errors table) maps to ``position * resolution``. The viewer's web server binds to
127.0.0.1 only: the volumes are served to this machine and nobody else. Needs the optional
``neuroglancer`` package (``pip install "emseg-bench[view]"``); nothing else in the project
does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: the only address the viewer's server listens on
BIND_ADDRESS = "127.0.0.1"

#: neuroglancer shader showing the three affinity channels as one RGB image
AFFINITY_SHADER = """void main() {
  emitRGB(vec3(toNormalized(getDataValue(0)), toNormalized(getDataValue(1)),
               toNormalized(getDataValue(2))));
}"""


@dataclass
class Layer:
    """One volume to show: ``kind`` is ``image`` or ``segmentation``; ``data`` is (Z, Y, X), or
    (C, Z, Y, X) for affinities."""

    name: str
    kind: str
    data: Any
    shader: str | None = None


def _neuroglancer():
    try:
        import neuroglancer
    except ImportError as exc:
        raise ImportError(
            "python -m bench view needs the neuroglancer package: "
            'pip install "emseg-bench[view]" (or pip install neuroglancer)'
        ) from exc
    return neuroglancer


def run_layers(run_dir: Path) -> tuple[list[Layer], tuple[float, float, float]]:
    """The layers of a finished run and the (z, y, x) resolution in nm."""
    import h5py
    import yaml

    from bench.data import load_dataset

    cfg = run_dir / "config.yaml"
    if not cfg.exists():
        raise FileNotFoundError(f"{cfg} not found: is {run_dir.name!r} a run id?")
    spec = yaml.safe_load(cfg.read_text())["spec"]
    dataset = load_dataset(spec["dataset"], data_root=spec.get("data_root"),
                           profile=spec.get("profile", "quick"), seed=spec.get("seed", 0))
    test = dataset.split("test").load()
    layers = [Layer("raw", "image", test.raw), Layer("ground truth", "segmentation", test.labels)]
    pred = run_dir / "predictions.h5"
    if pred.exists():
        with h5py.File(pred, "r") as f:
            if "test/affs" in f:
                layers.append(Layer("affinities", "image", f["test/affs"][...], AFFINITY_SHADER))
    seg_file = run_dir / "segmentation.h5"
    if seg_file.exists():
        with h5py.File(seg_file, "r") as f:
            for name in sorted(f):
                if isinstance(f[name], h5py.Dataset) and f[name].ndim == 3:
                    layers.append(Layer(f"segmentation {name}", "segmentation", f[name][...]))
    return layers, tuple(float(r) for r in dataset.resolution_nm)


def build_state(layers: list[Layer], resolution, position=None):
    """A ``neuroglancer.ViewerState`` with ``layers`` and the view centred on ``position``
    (a (z, y, x) voxel; the volume's centre when ``None``)."""
    ng = _neuroglancer()
    state = ng.ViewerState()
    space = ng.CoordinateSpace(names=["z", "y", "x"], units="nm", scales=list(resolution))
    state.dimensions = space
    shape = None
    for layer in layers:
        data = np.ascontiguousarray(layer.data)
        if data.ndim == 4:  # channels first: neuroglancer's "c^" is a channel dimension
            dims = ng.CoordinateSpace(names=["c^", "z", "y", "x"],
                                      units=["", "nm", "nm", "nm"],
                                      scales=[1, *resolution])
        else:
            dims = space
        shape = shape or data.shape[-3:]
        volume = ng.LocalVolume(data, dimensions=dims,
                                volume_type="segmentation" if layer.kind == "segmentation"
                                else "image")
        if layer.kind == "segmentation":
            state.layers[layer.name] = ng.SegmentationLayer(source=volume)
        elif layer.shader:
            state.layers[layer.name] = ng.ImageLayer(source=volume, shader=layer.shader)
        else:
            state.layers[layer.name] = ng.ImageLayer(source=volume)
    if position is None and shape is not None:
        position = [s // 2 for s in shape]
    if position is not None:
        # neuroglancer positions are in voxels of the global dimensions; +0.5 is a voxel's centre
        state.position = [float(p) + 0.5 for p in position]
    state.layout = "4panel"
    return state


def worst_positions(run_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """(post-processor, error record) of each result's worst errors (see bench.neuron_errors)."""
    f = run_dir / "metrics.json"
    if not f.exists():
        return []
    details = json.loads(f.read_text()).get("details", {})
    return [(pp, e) for pp, d in details.items() for e in d.get("worst_errors", [])]


def serve(run_dir: Path, *, position=None, port: int = 0):
    """Start the local viewer (127.0.0.1 only) showing the run; returns the viewer."""
    ng = _neuroglancer()
    layers, resolution = run_layers(run_dir)
    ng.set_server_bind_address(BIND_ADDRESS, bind_port=port)
    viewer = ng.Viewer()
    viewer.set_state(build_state(layers, resolution, position))
    return viewer


def url_at(viewer, position) -> str:
    """A URL of ``viewer`` whose state is centred on the (z, y, x) voxel ``position``."""
    ng = _neuroglancer()
    state = ng.ViewerState(viewer.state.to_json())
    state.position = [float(p) + 0.5 for p in position]
    return ng.to_url(state, prefix=viewer.get_viewer_url())
