"""One registry implementation (issue 30): methods, post-processors, datasets, metrics and fetch
sources behave the same way for an unknown name and a taken one, and metrics arrive through an
entry point like the other kinds (a broken one skipped, never fatal).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.data import load_dataset
from bench.data.registry import DATASETS, DatasetInfo, get_dataset, register_dataset
from bench.data.sources import SOURCES, get_source, register_source
from bench.data.splits import FractionSplits
from bench.registry import METHODS, POSTPROCESSORS, register_method, register_postprocessor
from emseg_registry import DuplicateName, Registry, UnknownName
from metrics.spec import METRICS, Metric, register_metric

REPO = Path(__file__).resolve().parents[1]


# -- the implementation ------------------------------------------------------------------------
def test_a_registry_registers_lists_and_looks_up_in_registration_order():
    reg: Registry[int] = Registry("widget")
    reg.register("b", 2)
    reg.register("a", 1)
    assert reg.names() == ["b", "a"] and reg.items() == [("b", 2), ("a", 1)]
    assert reg.get("a") == reg["a"] == 1 and "a" in reg and len(reg) == 2
    assert reg.get("zz", None) is None
    reg.register("a", 1)  # the same entry again (a module imported twice) is no conflict
    with pytest.raises(DuplicateName, match="widget 'a' is registered twice"):
        reg.register("a", 3)
    reg.unregister("a")
    assert reg.names() == ["b"]


def test_an_unknown_name_is_a_key_error_that_lists_the_registered_names():
    reg: Registry[int] = Registry("widget")
    reg.register("gear", 1)
    reg.register("cog", 2)
    with pytest.raises(UnknownName) as caught:
        reg.get("sprocket")
    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == "unknown widget 'sprocket'; valid names: gear, cog"
    assert caught.value.valid == ["gear", "cog"]


# -- every kind --------------------------------------------------------------------------------
LOOKUPS = {
    "method": (lambda n: METHODS.get(n), "unet2d"),
    "post-processor": (lambda n: POSTPROCESSORS.get(n), "waterz"),
    "dataset": (get_dataset, "synthetic"),
    "metric": (lambda n: METRICS[n], "voi"),
    "fetch name": (get_source, "cremiA"),
}


@pytest.mark.parametrize("kind", sorted(LOOKUPS))
def test_every_kind_raises_the_same_error_for_an_unknown_name(kind):
    lookup, known = LOOKUPS[kind]
    assert lookup(known) is not None
    with pytest.raises(UnknownName, match=rf"^unknown {kind} 'no-such-thing'; valid names: "
                                          rf".*\b{known}\b"):
        lookup("no-such-thing")


def test_an_unknown_dataset_name_also_names_the_file_spec_form():
    with pytest.raises(UnknownName, match=r"valid names: synthetic, .*or a file spec"):
        load_dataset("no-such-dataset")


def _toy_dataset_args():
    info = DatasetInfo("a stand-in", resolution_nm=(40.0, 4.0, 4.0))
    return info, (lambda ctx: {}), FractionSplits(min_test=1, min_val=1)


def test_every_kind_refuses_a_name_that_is_taken():
    with pytest.raises(DuplicateName):
        register_method("unet2d", family="2d")(lambda **kw: None)
    with pytest.raises(DuplicateName):
        @register_postprocessor
        class Again:
            name = "waterz"
    with pytest.raises(DuplicateName):
        register_dataset("synthetic", *_toy_dataset_args())
    with pytest.raises(DuplicateName):
        register_metric(Metric("voi", "VOI", "again", compute=lambda table: 0.0))
    with pytest.raises(DuplicateName):
        register_source(SOURCES["cremiA"].__class__(
            name="cremiA", kind="dataset", files=(), homepage="", licence="", citation=""))
    # each registry is unchanged by the refusals
    assert METHODS.get("unet2d").family == "2d"
    assert "Again" not in repr(POSTPROCESSORS.get("waterz").cls)
    assert DATASETS.get("synthetic").info.description != "a stand-in"
    assert METRICS["voi"].description.startswith("variation of information")
    assert SOURCES["cremiA"].files


# -- where the built-ins are loaded -----------------------------------------------------------
def test_the_built_in_packages_are_imported_where_the_layers_contract_sees_it():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("bench", "baselines", "cad", "metrics", "emseg_registry")
    direct = graph.find_modules_directly_imported_by
    assert {"baselines", "cad", "bench.segment"} <= direct("bench.registry")
    # what the method packages register into imports none of them, by name or by string
    assert not {m for m in direct("bench.registries")
                if m.split(".")[0] in ("baselines", "cad") or m.startswith("bench.segment")}
    assert "import_module" not in (REPO / "bench" / "registries.py").read_text()
    assert not {m for m in direct("emseg_registry") if m.split(".")[0] != "emseg_registry"}


# -- metrics through an entry point ------------------------------------------------------------
TOY_METRIC = '''\
from metrics.spec import Metric

METRIC = Metric(key="toy_ratio", label="ratio", description="segments per ground-truth object",
                compute=lambda table: len(table.seg_ids) / max(len(table.gt_ids), 1))
'''
BROKEN_METRIC = 'raise RuntimeError("planted metric failure")\n'
ENTRY_POINTS = ("[emseg_bench.metrics]\ntoy_ratio = toy_metric:METRIC\n"
                "badmetric = broken_metric\n")

PROBE = '''\
import numpy as np
from metrics.spec import METRICS, leaderboard_metrics, table_scores
from metrics.table import overlap_table

gt = np.array([[1, 1, 2, 2]], dtype=np.uint64)
seg = np.array([[1, 2, 3, 4]], dtype=np.uint64)
print("names", ",".join(METRICS.names()))
print("shown", ",".join(m.key for m in leaderboard_metrics()))
print("value", table_scores(overlap_table(gt, seg), {})["toy_ratio"])
try:
    METRICS.get("badmetric")
except KeyError as exc:
    print("error", type(exc).__name__, exc)
'''


@pytest.fixture(scope="module")
def metric_site(tmp_path_factory) -> Path:
    """A hand-written ``.dist-info`` (no pip) declaring a toy metric and a broken one."""
    site = tmp_path_factory.mktemp("metrics") / "site"
    info = site / "emseg_toy_metrics-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: emseg-toy-metrics\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "toy_metric.py").write_text(TOY_METRIC)
    (site / "broken_metric.py").write_text(BROKEN_METRIC)
    return site


@pytest.fixture(scope="module")
def probe(metric_site) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(metric_site), str(REPO)])}
    return subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=metric_site.parent,
                          capture_output=True, text=True, timeout=300)


def _line(proc: subprocess.CompletedProcess, tag: str) -> str:
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith(tag + " ")]
    return line[len(tag) + 1:]


def test_a_metric_arrives_through_the_entry_point_group(probe):
    assert probe.returncode == 0, probe.stderr
    assert _line(probe, "names").split(",")[-1] == "toy_ratio"  # after the built-in columns
    assert "toy_ratio" in _line(probe, "shown").split(",")
    assert float(_line(probe, "value")) == pytest.approx(2.0)  # 4 segments / 2 objects


def test_a_broken_metric_plugin_is_skipped_with_the_log_line(probe):
    assert probe.returncode == 0, probe.stderr
    assert "skipping plugin badmetric (distribution emseg-toy-metrics)" in probe.stderr
    assert "planted metric failure" in probe.stderr and "Traceback" not in probe.stderr
    error = _line(probe, "error")
    assert error.startswith("UnknownName metric 'badmetric': plugin 'badmetric' "
                            "(distribution emseg-toy-metrics) was skipped")
    assert "planted metric failure" in error
