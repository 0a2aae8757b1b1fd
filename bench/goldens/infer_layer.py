"""Inference goldens: every registered method predicts the committed crop from fixed weights.

Weights. The networks hold 0.9 M (Y-net) to 84 M (MALA) parameters, 3.6 MB and more each as
float32, far over the 2 MB budget for committed weights. So the network weights are a *seeded
initialisation* rather than a file: :func:`seeded_state` draws every tensor from NumPy's PCG64
generator (stable across platforms and NumPy versions by NumPy's policy) keyed by the method
and the tensor's name, and the SHA-256 of the result is itself a golden (``<m>/weights``), so
a change in the networks' layout or in the generator shows there first. MALA runs at a narrow
layout (``base=2, factor=2``, same code path) with one 40 x 268 x 268 window over the crop:
the 84 M layout takes minutes per window on two cores. The random forest (``rf``) is
committed as a skops file (``rf.skops``, 138 kB; loaded with the rf method's allow-list of
types), trained once on the crop's sections 0-5.

The section-pair nets (cad, unet2d) run 32-pixel tiles overlapping by 8 pixels and the 3D nets
their smoke windows (4 x 32 x 32, stride 3 x 24 x 24, Gaussian blending), so tiling and
blending are part of what is compared.

The null controls (``learned = False``: no weights) predict the same crop from their rules; the
two that translate another run's affinities (``needs_source_run``) translate a stand-in run
written to a temporary folder, whose affinities are those of the crop's labels.

Quantities per method: ``<m>/weights`` (exact; not for the controls), ``<m>/n_parameters``
of the registered layout (exact) and, from the affinities (float32 ``(3, Z, Y, X)``), per
channel the mean of every section, row and column (profiles along z, y and x: tiling seams and
shifts show in them) and 256 voxels at seeded positions: compared at :data:`TOLERANCE`.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path
from typing import Any

import numpy as np

#: absolute tolerance on affinity values and profile means. Measured with
#: ``python -m bench.goldens.matrix --layer infer``: the largest difference over
#: ATEN_CPU_CAPABILITY=default/avx2 x 1/2 threads, against goldens written with this host's own
#: capability (AVX512) and 2 threads, was 1.19e-6 (superhuman3d, default kernels, 2 threads);
#: the tolerance is ten times that, at least 1e-6.
MEASURED_MAX_DIFF = 1.2e-6
TOLERANCE = max(10 * MEASURED_MAX_DIFF, 1e-6)
RULE = f"affinities within {TOLERANCE:g}"
RF_FILE = "rf.skops"
#: MALA's narrow layout for the golden (same code, a fraction of the cost)
MALA_LAYOUT = {"base": 2, "factor": 2}
N_SAMPLES = 256


def tolerance(quantity: str) -> float:
    return 0.0 if quantity.endswith(("/weights", "/n_parameters")) else TOLERANCE


def seeded_state(module, key: str) -> dict[str, Any]:
    """A state dict for ``module`` drawn from PCG64 seeded by ``key`` and each tensor's name:
    He-uniform weights (bound sqrt(6 / fan_in)), biases and BatchNorm shifts in [-0.1, 0.1],
    BatchNorm scales and running variances near 1."""
    import torch

    state = {}
    for name, t in module.state_dict().items():
        if not t.is_floating_point():
            state[name] = t.clone()
            continue
        rng = np.random.default_rng([zlib.crc32(key.encode()), zlib.crc32(name.encode())])
        if t.ndim >= 2:
            bound = float(np.sqrt(6.0 / max(t[0].numel(), 1)))
            v = rng.uniform(-bound, bound, tuple(t.shape))
        elif name.endswith("running_var"):
            v = 1.0 + rng.uniform(0.0, 0.2, tuple(t.shape))
        elif name.endswith("weight"):
            v = 1.0 + rng.uniform(-0.1, 0.1, tuple(t.shape))
        else:
            v = rng.uniform(-0.1, 0.1, tuple(t.shape))
        state[name] = torch.from_numpy(v.astype(np.float32))
    return state


def _state_sha(nets: dict[str, Any]) -> str:
    h = hashlib.sha256()
    for key in sorted(nets):
        for name, t in nets[key].state_dict().items():
            h.update(f"{key}.{name}".encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def golden_method(name: str, goldens: Path, raw_train=None, labels_train=None):
    """Method ``name`` (smoke profile, CPU, float32) with its golden weights, and the number of
    parameters of its registered layout."""
    from bench.registry import METHODS

    method = METHODS.create(name, profile="smoke", device="cpu", **_overrides(name))
    if "infer_tile" in method.config:
        # 32-pixel tiles overlapping by 8 on the 48-pixel crop: the tiling is exercised
        method = METHODS.create(name, profile="smoke", device="cpu", infer_tile=32,
                                infer_overlap=8, **_overrides(name))
    n_parameters = int(method.n_parameters())
    if name == "rf":
        path = Path(goldens) / RF_FILE
        if not path.is_file():
            if raw_train is None:
                raise FileNotFoundError(f"{path} not found; write it with `python -m bench "
                                        "check --update --layer infer`")
            _fit_rf(method, raw_train, labels_train, path)
        return method.load(path), n_parameters
    if name == "mala3d":
        from bench.nets.unet3d import MalaUNet3D

        method._nets = {"net": MalaUNet3D(**MALA_LAYOUT)}
    for key, net in method.nets.items():
        net.load_state_dict(seeded_state(net, f"{name}.{key}"))
        net.eval()
    return method, n_parameters


def _overrides(name: str) -> dict[str, Any]:
    if name == "rf":
        return {}
    out: dict[str, Any] = {"amp": False}
    if name == "mala3d":
        # output 12 x 56 x 56: one window covers the crop
        out["infer_window"] = [40, 268, 268]
    return out


def _fit_rf(method, raw, labels, path: Path) -> None:
    import tempfile

    from bench.data.types import Volume

    vol = Volume(raw=raw, labels=labels.astype(np.uint64), resolution_nm=(40.0, 4.0, 4.0),
                 name="golden")
    with tempfile.TemporaryDirectory(prefix="bench-golden-") as tmp:
        method.fit(vol, None, run_dir=Path(tmp), profile="smoke")
    method.save(path)


def _summary(affs: np.ndarray, prefix: str) -> dict[str, Any]:
    a = np.asarray(affs, np.float64)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, a.size, N_SAMPLES)
    return {
        f"{prefix}/z_profile": a.mean(axis=(2, 3)).ravel().tolist(),
        f"{prefix}/y_profile": a.mean(axis=(1, 3)).ravel().tolist(),
        f"{prefix}/x_profile": a.mean(axis=(1, 2)).ravel().tolist(),
        f"{prefix}/samples": a.ravel()[idx].tolist(),
    }


def _source_run(folder: Path, raw: np.ndarray, labels: np.ndarray) -> Path:
    """A stand-in run directory for the controls that translate a run's affinities: its
    ``predictions.h5`` holds the affinities of ``labels`` as both splits of ``raw``."""
    import h5py

    from bench.affinity import affinities_from_labels
    from bench.method import raw_fingerprint

    affs = affinities_from_labels(labels, pad="replicate")
    with h5py.File(folder / "predictions.h5", "w") as f:
        for split in ("val", "test"):
            f.create_dataset(f"{split}/affs", data=affs)
            f[f"{split}/affs"].attrs["raw_sha256"] = raw_fingerprint(raw)
    return folder


def compute(goldens: Path, *, update: bool = False) -> dict[str, Any]:
    import tempfile

    from bench.goldens import with_goldens
    from bench.goldens.eval_layer import load_inputs
    from bench.registry import METHODS, method_class

    inp = load_inputs(goldens, create=update)
    raw, labels = inp["raw"], inp["labels"]
    half = raw.shape[0] // 2
    out: dict[str, Any] = {}
    for name in with_goldens(METHODS):
        cls = method_class(name)
        if not getattr(cls, "learned", True):  # a control: no weights, a rule
            with tempfile.TemporaryDirectory(prefix="bench-golden-") as tmp:
                source = ({"source_run": str(_source_run(Path(tmp), raw, labels))}
                          if getattr(cls, "needs_source_run", False) else {})
                method = METHODS.create(name, profile="smoke", device="cpu", **source)
                out[f"{name}/n_parameters"] = int(method.n_parameters())
                out.update(_summary(method.predict(raw), name))
            continue
        method, out[f"{name}/n_parameters"] = golden_method(name, goldens, raw[:half],
                                                            labels[:half])
        if name != "rf":
            out[f"{name}/weights"] = _state_sha(method.nets)
        affs = method.predict(raw)
        out.update(_summary(affs, name))
    return out


def outside() -> list[tuple[str, str]]:
    """The registered methods this layer leaves out (no goldens here), as (name, kind)."""
    from bench.goldens import without_goldens
    from bench.registry import METHODS

    return [(n, "method") for n in without_goldens(METHODS)]
