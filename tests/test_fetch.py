"""``bench data fetch`` and ``--checkpoint official:NAME`` against a local HTTP server.

Every download goes through ``EMSEG_BENCH_MIRROR`` to a server on 127.0.0.1 (or to a local
folder): nothing here reaches the internet. Test entries are added to the registry for the
duration of a test only.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import shutil
import socket
import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.data import fetch as fetch_mod
from bench.data import sources
from bench.data.fetch import ChecksumError, FetchError, fetch, resolve_checkpoint
from bench.data.sources import RemoteFile, Source

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET /good.bin: the payload; /half.bin: announces the payload's length, sends half of it
    and closes the connection; /stall.bin: sends a quarter and stops sending; else 404."""

    timeout = 10  # a stuck client cannot hold the server thread for ever

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.requests.append(self.path)
        name = self.path.rsplit("/", 1)[-1]
        if name not in ("good.bin", "half.bin", "stall.bin"):
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        if name == "good.bin":
            self.wfile.write(PAYLOAD)
        elif name == "stall.bin":  # a quarter, then silence (the client gives up first)
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 4])
            self.wfile.flush()
            time.sleep(3)
        else:
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def server(monkeypatch):
    """A local HTTP server as the mirror; yields it (``.requests`` lists the paths asked for)."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.requests = []
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", f"http://127.0.0.1:{srv.server_address[1]}/files")
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _register(monkeypatch, name: str, fname: str, known_hash: str | None) -> Source:
    source = Source(name=name, kind="dataset", homepage="http://example.invalid",
                    licence="test licence", citation="test citation",
                    files=(RemoteFile(fname, f"{name}/{fname}",
                                      f"http://example.invalid/origin/{fname}", known_hash),))
    monkeypatch.setitem(sources.SOURCES, name, source)
    return source


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_good_download_lands_verified_and_a_second_fetch_needs_no_network(
        server, tmp_path, monkeypatch, capsys):
    _register(monkeypatch, "t-good", "good.bin", f"sha256:{SHA}")
    [path] = fetch("t-good", tmp_path)
    assert path == tmp_path / "t-good" / "good.bin"
    assert path.read_bytes() == PAYLOAD
    assert server.requests == ["/files/good.bin"]  # MIRROR/NAME replaced the origin
    err = capsys.readouterr().err
    assert "t-good: licence: test licence" in err and "good.bin" in err  # licence, progress bar
    # the second fetch finds the verified file: no request, even with the mirror unreachable
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", "http://127.0.0.1:9/")
    assert fetch("t-good", tmp_path) == [path]
    assert server.requests == ["/files/good.bin"]


def test_checksum_mismatch_names_url_and_both_hashes_and_leaves_nothing(
        server, tmp_path, monkeypatch):
    _register(monkeypatch, "t-bad", "good.bin", "sha256:" + "0" * 64)
    with pytest.raises(ChecksumError) as info:
        fetch("t-bad", tmp_path)
    msg = str(info.value)
    assert f"http://127.0.0.1:{server.server_address[1]}/files/good.bin" in msg
    assert "0" * 64 in msg and SHA in msg
    assert _leftovers(tmp_path) == []


def test_404_says_which_url_and_where_to_put_the_file(server, tmp_path, monkeypatch):
    _register(monkeypatch, "t-404", "absent.bin", None)
    with pytest.raises(FetchError, match=r"absent\.bin: HTTP 404") as info:
        fetch("t-404", tmp_path)
    assert "EMSEG_BENCH_MIRROR" in str(info.value)
    assert str(tmp_path / "t-404" / "absent.bin") in str(info.value)
    assert _leftovers(tmp_path) == []


def test_connection_closed_half_way_leaves_no_file(server, tmp_path, monkeypatch):
    _register(monkeypatch, "t-half", "half.bin", None)  # no hash: only the length catches it
    with pytest.raises(FetchError, match="cut off"):
        fetch("t-half", tmp_path)
    assert not (tmp_path / "t-half" / "half.bin").exists()
    assert _leftovers(tmp_path) == []


def test_stalled_download_times_out_and_leaves_no_file(server, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_mod, "READ_TIMEOUT_S", 0.5)
    _register(monkeypatch, "t-stall", "stall.bin", f"sha256:{SHA}")
    with pytest.raises(FetchError, match=r"stall\.bin stalled \(no data for 0\.5 s\)"):
        fetch("t-stall", tmp_path)
    assert _leftovers(tmp_path) == []


def test_refused_connection_fails_fast_with_what_to_do(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", f"http://127.0.0.1:{port}")
    _register(monkeypatch, "t-refused", "good.bin", f"sha256:{SHA}")
    t0 = time.perf_counter()
    with pytest.raises(FetchError) as info:
        fetch("t-refused", tmp_path)
    assert time.perf_counter() - t0 < 10  # the issue allows 30 s
    msg = str(info.value)
    assert f"http://127.0.0.1:{port}/good.bin" in msg
    assert "EMSEG_BENCH_MIRROR" in msg and str(tmp_path / "t-refused" / "good.bin") in msg


def test_unknown_hash_is_recorded_then_checked(server, tmp_path, monkeypatch):
    _register(monkeypatch, "t-rec", "good.bin", None)
    [path] = fetch("t-rec", tmp_path)
    record = json.loads((tmp_path / "hashes.json").read_text())["files"]["t-rec/good.bin"]
    assert record["sha256"] == SHA and record["size_bytes"] == len(PAYLOAD)
    path.write_bytes(PAYLOAD[:-1] + b"x")  # the cached file changes afterwards
    with pytest.raises(ChecksumError, match=f"expected sha256 {SHA}"):
        fetch("t-rec", tmp_path)


@pytest.mark.filterwarnings("ignore:.*no 'resolution' attribute")  # TIFF stacks have none
def test_local_folder_mirror_and_conversions(tmp_path, monkeypatch):
    """A folder as the mirror; the SNEMI3D zips and the ISBI TIFFs converted into what the
    loaders read (the registry's pinned hashes are dropped: these are stand-in files)."""
    import tifffile

    from bench.data import load_cremi_file, load_dataset

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (3, 16, 20), dtype=np.uint8)
    mask = np.full(raw.shape, 255, np.uint8)
    mask[:, :, 10] = 0  # one membrane line: two cells per section
    tifffile.imwrite(mirror / "train-volume.tif", raw, photometric="minisblack")
    tifffile.imwrite(mirror / "train-labels.tif", mask, photometric="minisblack")
    for stem, arr in (("train-input", raw), ("train-labels", mask.astype(np.uint16))):
        buf = io.BytesIO()
        tifffile.imwrite(buf, arr, photometric="minisblack")
        with zipfile.ZipFile(mirror / f"{stem}.zip", "w") as zf:
            zf.writestr(f"{stem}.tif", buf.getvalue())
    for name in ("isbi2012", "snemi3d"):
        src = sources.SOURCES[name]
        monkeypatch.setitem(sources.SOURCES, name, replace(
            src, files=tuple(replace(f, known_hash=None) for f in src.files)))
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", str(mirror))
    root = tmp_path / "root"
    [h5] = fetch("isbi2012", root)
    vol = load_cremi_file(h5)
    assert vol.resolution_nm == (50.0, 4.0, 4.0)
    np.testing.assert_array_equal(vol.raw[...], raw)
    labels = np.asarray(vol.labels[...])
    assert (labels[:, :, 10] == 0).all() and len(np.unique(labels)) == 1 + 2 * 3  # 2 per section
    tifs = fetch("snemi3d", root)
    assert [p.name for p in tifs] == ["train-input.tif", "train-labels.tif"]
    ds = load_dataset("ac3_ac4/train-input.tif:train-labels.tif", data_root=root)
    np.testing.assert_array_equal(ds.volumes["volume"].raw[...], raw)


def test_drive_dataset_without_gdown_or_mirror_prints_licence_then_manual_steps(
        tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("EMSEG_BENCH_MIRROR", raising=False)
    monkeypatch.setitem(__import__("sys").modules, "gdown", None)  # as if not installed
    with pytest.raises(FetchError) as info:
        fetch("wafer4", tmp_path)
    msg = str(info.value)
    assert "drive.google.com/drive/folders/1QsMc71wWDozitktVDXSvZtu5OEP2JT5y" in msg
    assert "emseg-bench[gdrive]" in msg and str(tmp_path / "wafer4" / "wafer4_inputs.h5") in msg
    assert "CC-BY-NC" in capsys.readouterr().err  # the licence came before any attempt


def test_run_without_the_files_names_the_fetch_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMSEG_BENCH_DATA", str(tmp_path / "cache"))
    assert main(["run", "--method", "cad", "--dataset", "cremiA",
                 "--results", str(tmp_path / "r")]) == 2
    assert "python -m bench data fetch cremiA" in capsys.readouterr().err


def test_unknown_official_weights_list_the_valid_names():
    with pytest.raises(KeyError, match="official:CremiA.*official:AC34"):
        resolve_checkpoint("official:CremiD")
    assert resolve_checkpoint("/some/model.pt") == "/some/model.pt"


@pytest.fixture
def wafer4_mirror(shared_data, tmp_path, monkeypatch) -> Path:
    """A mirror folder holding the authors' wafer4.ckpt (from ../shared/data)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copyfile(shared_data / "cad_official" / "wafer4.ckpt", mirror / "wafer4.ckpt")
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", str(mirror))
    monkeypatch.setenv("EMSEG_BENCH_DATA", str(tmp_path / "cache"))
    return mirror


@pytest.mark.shared
def test_official_wafer4_runs_from_the_mirror_and_records_a_row(wafer4_mirror, tmp_path):
    from bench.results import ResultsStore

    results = tmp_path / "results"
    assert main(["run", "--method", "cad", "--profile", "smoke", "--checkpoint",
                 "official:wafer4", "--results", str(results)]) == 0
    cached = tmp_path / "cache" / "weights" / "cad" / "wafer4.ckpt"
    assert cached.read_bytes() == (wafer4_mirror / "wafer4.ckpt").read_bytes()
    rows = ResultsStore(results).rows()
    assert len(rows) == 1 and rows[0]["method"] == "cad"
    assert rows[0]["train_seconds"] == 0.0


@pytest.mark.shared
def test_truncated_official_checkpoint_is_refused_and_leaves_nothing(
        wafer4_mirror, tmp_path, capsys):
    ckpt = wafer4_mirror / "wafer4.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:1_000_000])
    results = tmp_path / "results"
    assert main(["run", "--method", "cad", "--profile", "smoke", "--checkpoint",
                 "official:wafer4", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and fetch_mod.ENV_MIRROR in err
    assert sources.SOURCES["official:wafer4"].files[0].known_hash.split(":")[1] in err
    assert _leftovers(tmp_path / "cache") == [] and not results.exists()


def test_data_list_shows_presence_source_size_and_licence(tmp_path, capsys):
    (tmp_path / "weights" / "cad").mkdir(parents=True)
    (tmp_path / "weights" / "cad" / "CremiA.ckpt").write_bytes(b"x")
    assert main(["data", "list", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    cremi = out[out.index("cremiA: "):out.index("cremiB: ")]
    assert "fetch: not present (python -m bench data fetch cremiA)" in cremi
    assert "source: https://cremi.org/static/data/" in cremi
    assert "size: " in cremi and "licence: " in cremi
    wafer = out[out.index("wafer4: "):]
    assert "CC-BY-NC 4.0" in wafer and "drive.google.com" in wafer
    weights = out[out.index("official:CremiA\n"):out.index("official:CremiB\n")]
    assert "fetch: present" in weights and "size: 3.5 MiB" in weights


def test_fetch_command_checks_every_name_before_downloading(tmp_path, capsys):
    assert main(["data", "fetch", "official:wafer4", "cremiZ", "--data-root",
                 str(tmp_path)]) == 2
    assert "unknown fetch name 'cremiZ'" in capsys.readouterr().err
    assert _leftovers(tmp_path) == []


def test_drive_folder_through_gdown_is_checked_recorded_and_moved_into_place(
        tmp_path, monkeypatch):
    """gdown itself is replaced by a stand-in that writes what a Drive folder would hold."""
    import sys
    import types

    calls = []

    def download_folder(id, output, quiet):  # noqa: A002 (gdown's keyword)
        calls.append(id)
        sub = Path(output) / "wafer4"  # gdown keeps the folder's name as a sub-folder
        sub.mkdir()
        for name in ("wafer4_inputs.h5", "wafer4_labels.h5"):
            (sub / name).write_bytes(b"\x89HDF\r\n\x1a\n" + name.encode() * 100)  # HDF5-like

    monkeypatch.setitem(sys.modules, "gdown",
                        types.SimpleNamespace(download_folder=download_folder))
    monkeypatch.delenv("EMSEG_BENCH_MIRROR", raising=False)
    paths = fetch("wafer4", tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "wafer4/wafer4_inputs.h5", "wafer4/wafer4_labels.h5"]
    assert calls == ["1QsMc71wWDozitktVDXSvZtu5OEP2JT5y"]
    recorded = json.loads((tmp_path / "hashes.json").read_text())["files"]
    assert recorded["wafer4/wafer4_labels.h5"]["sha256"] == hashlib.sha256(
        b"\x89HDF\r\n\x1a\n" + b"wafer4_labels.h5" * 100).hexdigest()
    # no temporary file; the lock that guards hashes.json stays (an empty file)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hashes.json.lock", "hashes.json",
                                                          "wafer4"]
    assert fetch("wafer4", tmp_path) == paths and calls == ["1QsMc71wWDozitktVDXSvZtu5OEP2JT5y"]
