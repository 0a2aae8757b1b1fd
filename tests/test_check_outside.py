"""``python -m bench check`` with an outside method installed (issue 29, item 3).

The golden layers cover the built-in methods (and outside classes that declare
``golden_layers = True``); any other registered method is named "no goldens: outside method"
instead of crashing the layer that expects a network method's members.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.registry import METHODS, register_method

REPO = Path(__file__).resolve().parents[1]

# the README's "Adding a method" example, verbatim
MYNET_MODULE = '''\
import numpy as np
from bench.method import Method

class MyNet(Method):
    name = "mynet"

    def fit(self, train, val=None, *, run_dir, profile="quick"):
        self.scale = 1.0 / 255  # whatever training means for your method
        return {}

    def predict(self, raw):
        x = raw.astype(np.float32) * self.scale
        affs = np.repeat(x[None], 3, axis=0)
        affs[0, 1:] = np.minimum(x[1:], x[:-1])  # to v - e_z
        affs[1, :, 1:] = np.minimum(x[:, 1:], x[:, :-1])  # to v - e_y
        affs[2, :, :, 1:] = np.minimum(x[:, :, 1:], x[:, :, :-1])  # to v - e_x
        return affs

    def n_parameters(self):
        return 0

def mynet(**kwargs):
    return MyNet(kwargs)
'''

DIST_INFO = {
    "METADATA": "Metadata-Version: 2.1\nName: emseg-mynet\nVersion: 0.1\n",
    "entry_points.txt": "[emseg_bench.methods]\nmynet = mypkg:mynet\n",
}


def test_check_passes_with_the_readme_mynet_installed(tmp_path):
    site = tmp_path / "site"
    info = site / "emseg_mynet-0.1.dist-info"
    info.mkdir(parents=True)
    for name, text in DIST_INFO.items():
        (info / name).write_text(text)
    (site / "mypkg.py").write_text(MYNET_MODULE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
           "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run([sys.executable, "-m", "bench", "check", "--layer", "infer,train",
                           "--goldens", str(REPO / "results" / "goldens")], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("mynet: no goldens: outside method") == 2, proc.stdout
    assert "layers passed: infer, train" in proc.stdout


def test_golden_layers_cover_built_in_methods_and_those_that_declare_goldens():
    from bench.goldens import with_goldens, without_goldens
    from bench.method import Method

    class Outside(Method):
        name = "outside-probe"

        def fit(self, train, val=None, *, run_dir, profile="quick"):
            return {}

        def predict(self, raw):
            raise NotImplementedError

        def n_parameters(self):
            return 0

    class Declared(Outside):
        name = "declared-probe"
        golden_layers = True

    register_method(Outside)
    register_method(Declared)
    try:
        covered, outside = with_goldens(METHODS), without_goldens(METHODS)
        assert "outside-probe" in outside and "outside-probe" not in covered
        assert "declared-probe" in covered
        assert {"unet2d", "cad", "rf"} <= set(covered)
        assert METHODS.is_builtin("unet2d") and not METHODS.is_builtin("outside-probe")
    finally:
        METHODS.unregister("outside-probe")
        METHODS.unregister("declared-probe")
