"""A broken plugin is skipped and named, never fatal (issue 29, item 2).

One installed distribution (a hand-written ``.dist-info`` on ``PYTHONPATH``, no pip) declares a
method, a dataset and a post-processor whose module raises at import. Everything that does not
ask for them still works and names the skipped plugin; asking for one fails with its error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

DIST_INFO = {
    "METADATA": "Metadata-Version: 2.1\nName: emseg-broken\nVersion: 0.1\n",
    "entry_points.txt": ("[emseg_bench.methods]\nbadnet = broken_plugin:factory\n"
                         "[emseg_bench.datasets]\nbaddata = broken_plugin\n"
                         "[emseg_bench.postprocessors]\nbadpp = broken_plugin:Post\n"),
}
BROKEN_MODULE = 'raise RuntimeError("planted import failure")\n'


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("broken") / "site"
    info = site / "emseg_broken-0.1.dist-info"
    info.mkdir(parents=True)
    for name, text in DIST_INFO.items():
        (info / name).write_text(text)
    (site / "broken_plugin.py").write_text(BROKEN_MODULE)
    return site


def _bench(args: list[str], site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
           "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.run([sys.executable, "-m", "bench", *args], env=env, cwd=site.parent,
                          capture_output=True, text=True, timeout=600)


def _names_skipped(proc: subprocess.CompletedProcess, name: str) -> bool:
    return (f"skipping plugin {name} (distribution emseg-broken)" in proc.stderr
            and "planted import failure" in proc.stderr)


def test_list_names_each_skipped_plugin_and_lists_the_rest(broken_site):
    proc = _bench(["list"], broken_site)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for name in ("badnet", "baddata", "badpp"):
        assert _names_skipped(proc, name), proc.stderr
    assert "unet2d" in proc.stdout and "waterz" in proc.stdout and "synthetic" in proc.stdout


def test_data_list_survives_a_broken_dataset_plugin(broken_site):
    proc = _bench(["data", "list"], broken_site)
    assert proc.returncode == 0, proc.stderr
    assert _names_skipped(proc, "baddata") and "synthetic" in proc.stdout


def test_a_built_in_method_runs_and_reports_beside_broken_plugins(broken_site, tmp_path):
    results = tmp_path / "results"
    proc = _bench(["run", "--method", "unet2d", "--profile", "smoke", "--device", "cpu",
                   "--results", str(results)], broken_site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _names_skipped(proc, "badnet")
    report = _bench(["report", "--results", str(results)], broken_site)
    assert report.returncode == 0, report.stdout + report.stderr
    assert _names_skipped(report, "badnet")
    assert (results / "report" / "leaderboard.md").is_file()


@pytest.mark.parametrize("args", [
    ["run", "--method", "badnet", "--profile", "smoke"],
    ["run", "--method", "unet2d", "--profile", "smoke", "--dataset", "baddata"],
    ["run", "--method", "unet2d", "--profile", "smoke", "--postprocess", "badpp"],
])
def test_asking_for_a_broken_plugin_fails_with_its_error(broken_site, tmp_path, args):
    proc = _bench([*args, "--results", str(tmp_path / "r")], broken_site)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "planted import failure" in last and "emseg-broken" in last, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r" / "runs").exists()
