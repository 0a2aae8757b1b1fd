"""The lsd sample: its section order recovered from label overlap, its fetch from the origin's
files (through a local mirror) and the registered dataset's split.

The shared copy (``../shared/data/lsd_sample``) is in z order; its README gives the source file
number of every section. The tests scramble it back into file order and write the files
exactly as the origin lays them out (same bytes: the pinned per-file SHA-256 then verify)."""

from __future__ import annotations

import functools
import http.server
import io
import json
import struct
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from bench.data.section_order import chain_sections, overlap_matrix

#: ../shared/data/README.md: the source file number of each section z of the shared file
README_ORDER = [int(n) for n in """
35 26 29 12 25 14 11 22 6 47 37 23 9 43 45 1 41 19 15 46 3 4 42 48 38 2 36 10 13 16 21 34 44 27 8 0
7 40 39 5 17 31 49 33 20 28 30 32 18 24
63 69 55 84 89 90 60 61 91 51 54 62 77 67 59 98 72 64 86 58 50 92 66 53 96 79 95 87 76 75
88 82 85 56 68 57 70 80 99 81 83 78 52 71 74 94 97 93 65 73""".split()]
SHARED_FILE = "lsd_sample/lsd_sample.cremi.h5"


def _shared_arrays(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(shared_data / SHARED_FILE, "r") as f:
        return f["volumes/raw"][...], f["volumes/labels/neuron_ids"][...]


def _file_order(volume: np.ndarray) -> np.ndarray:
    """The shared file's sections rearranged into source file order (file n at index n)."""
    out = np.empty_like(volume)
    out[README_ORDER] = volume
    return out


def source_tiff(section: np.ndarray) -> bytes:
    """One section as the lsd repository's files are written, byte for byte: an uncompressed
    little-endian single-strip TIFF with the tags of tifffile of that time (14 entries, a
    JSON shape description, the pixels at offset 304)."""
    h, w = section.shape
    data = np.ascontiguousarray(section, section.dtype.newbyteorder("<")).tobytes()
    desc = json.dumps({"shape": [h, w]}).encode() + b"\0"
    short, long_, ascii_, rational = 3, 4, 2, 5
    entries = [(256, long_, 1, w), (257, long_, 1, h), (258, short, 1, 8 * section.itemsize),
               (259, short, 1, 1), (262, short, 1, 1), (270, ascii_, len(desc), 182),
               (273, long_, 1, 304), (277, short, 1, 1), (278, long_, 1, h),
               (279, long_, 1, len(data)), (282, rational, 1, 268), (283, rational, 1, 276),
               (296, short, 1, 1), (305, ascii_, 12, 284)]
    out = bytearray(b"II" + struct.pack("<HIH", 42, 8, len(entries)))
    for tag, kind, count, value in entries:
        out += struct.pack("<HHI", tag, kind, count)
        out += struct.pack("<HH", value, 0) if kind == short else struct.pack("<I", value)
    out += struct.pack("<I", 0) + desc
    out += bytes(268 - len(out)) + struct.pack("<4I", 1, 1, 1, 1) + b"tifffile.py\0"
    return bytes(out + bytes(304 - len(out))) + data


# -- the ordering ------------------------------------------------------------------------------
def test_chain_recovers_a_known_order_from_scrambled_sections():
    rng = np.random.default_rng(3)
    seeds = rng.integers(0, 64, (40, 2))
    yy, xx = np.mgrid[:64, :96]
    base = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2,
                     axis=-1) + 1
    stack = np.stack([np.roll(base, 2 * z, axis=1) for z in range(12)])  # drifts with z
    perm = rng.permutation(12)
    order = chain_sections(stack[perm])
    recovered = [int(perm[i]) for i in order]
    assert recovered in (list(range(12)), list(range(12))[::-1])
    overlap = overlap_matrix(stack)
    assert np.allclose(overlap, overlap.T) and np.all(np.diag(overlap) == 0)
    assert overlap[0, 1] > overlap[0, 5]


@pytest.mark.shared
def test_chain_reproduces_the_readme_order_of_the_lsd_sample(shared_data):
    _, labels = _shared_arrays(shared_data)
    scrambled = _file_order(labels)  # as the source files number them
    for start in (0, 50):
        found = [start + k for k in chain_sections(scrambled[start:start + 50])]
        assert found == README_ORDER[start:start + 50]


# -- the fetch ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def origin_files(shared_data, tmp_path_factory) -> Path:
    """The 200 source TIFFs, written from the shared copy in file order."""
    raw, labels = _shared_arrays(shared_data)
    folder = tmp_path_factory.mktemp("lsd-origin")
    for kind, volume in (("raw", _file_order(raw)), ("labels", _file_order(labels))):
        for n, section in enumerate(volume):
            (folder / f"{kind}_{n}.tif").write_bytes(source_tiff(section))
    return folder


@pytest.fixture
def http_mirror(origin_files, monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(origin_files))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", f"http://127.0.0.1:{srv.server_address[1]}")
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


@pytest.mark.shared
def test_fetch_through_a_local_mirror_reproduces_the_shared_arrays(
        shared_data, http_mirror, tmp_path):
    from bench.data import load_dataset
    from bench.data.fetch import fetch
    from bench.data.sources import LSD_COMMIT, get_source

    source = get_source("lsd_sample")
    assert len(source.files) == 200 and all(f.known_hash for f in source.files)
    assert all(LSD_COMMIT in f.url and f.url.startswith("https://raw.githubusercontent.com/")
               for f in source.files)
    root = tmp_path / "data"
    [path] = fetch("lsd_sample", root, out=io.StringIO())
    assert not (root / "hashes.json").exists()  # every file was checked against its pin
    raw, labels = _shared_arrays(shared_data)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["volumes/raw"][...], raw)
        np.testing.assert_array_equal(f["volumes/labels/neuron_ids"][...], labels)
        assert f["volumes/labels/neuron_ids"].dtype == np.uint64
        assert list(f.attrs["section_files"]) == README_ORDER
    ds = load_dataset("lsd_sample", data_root=root)
    spec = load_dataset(str(shared_data / SHARED_FILE))
    assert {k: (s.start, s.stop) for k, s in ds.splits.items()} == {
        "train": (0, 60), "val": (60, 75), "test": (75, 100)}
    assert ds.split_hash() == spec.split_hash()
    assert ds.resolution_nm == (40.0, 4.0, 4.0)


@pytest.mark.shared
def test_a_wrong_order_or_a_changed_file_is_refused(origin_files, tmp_path, monkeypatch):
    import bench.data.section_order as order_mod
    from bench.data.fetch import ChecksumError, FetchError, fetch
    from bench.data.loaders import DataFormatError

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for f in origin_files.iterdir():
        (mirror / f.name).symlink_to(f)
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", str(mirror))
    root = tmp_path / "data"
    monkeypatch.setattr(order_mod, "chain_sections", lambda labels: list(range(len(labels))))
    # every download matched its pinned checksum: the conversion, not the files, is at fault
    with pytest.raises(FetchError, match="expected 3639ee7a.*conversion is at fault") as info:
        fetch("lsd_sample", root, out=io.StringIO())
    assert isinstance(info.value.__cause__, DataFormatError)
    assert not (root / SHARED_FILE).exists()
    monkeypatch.undo()
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", str(mirror))
    (root / "lsd_sample/source/raw/raw_7.tif").unlink()
    (mirror / "raw_7.tif").unlink()
    (mirror / "raw_7.tif").write_bytes((origin_files / "raw_8.tif").read_bytes())
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        fetch("lsd_sample", root, out=io.StringIO())


@pytest.mark.shared
def test_registered_dataset_reads_the_shared_copy_with_the_file_spec_split(shared_data):
    from bench.data import load_dataset

    ds = load_dataset("lsd_sample", data_root=shared_data)
    assert ds.split("test").shape == (25, 250, 250)
    assert ds.split_hash() == load_dataset(str(shared_data / SHARED_FILE)).split_hash()


# -- the suite ---------------------------------------------------------------------------------
def test_real_small_suite_names_the_small_real_volumes(capsys, tmp_path):
    from bench.cli import main
    from bench.data.registry import expand_suite, suites

    assert expand_suite("real-small") == ["lsd_sample", "gala_fib"]
    assert expand_suite("synthetic") == ["synthetic"]
    assert expand_suite("x.h5:raw:labels") == ["x.h5:raw:labels"]
    assert "real-small" in suites()
    assert main(["data", "list", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "real-small: suite" in out and "lsd_sample, gala_fib" in out
    assert "bench data fetch lsd_sample" in out or "lsd_sample" in out


@pytest.mark.slow
@pytest.mark.shared
def test_run_on_a_suite_runs_each_dataset(shared_data, tmp_path):
    from bench.cli import main
    from bench.results import ResultsStore

    results = tmp_path / "results"
    assert main(["run", "--method", "membrane", "--dataset", "real-small", "--data-root",
                 str(shared_data), "--results", str(results)]) == 0
    rows = ResultsStore(results).rows()
    assert sorted(r["dataset"] for r in rows) == ["gala_fib", "lsd_sample"]
