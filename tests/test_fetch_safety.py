"""``bench data fetch`` against hostile or careless mirrors (issue 29, items 6-13).

Every download goes to a server on 127.0.0.1 (``EMSEG_BENCH_MIRROR``), whose answers each test
writes itself: junk instead of a file, an endless body, a trickle, a bad header, a redirect to
``file://`` or a loop. Caps, deadlines and rates are made small for the test; every server
answer is bounded in time so that nothing here can hang.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.data import fetch as fetch_mod
from bench.data import sources
from bench.data.fetch import FetchError, fetch
from bench.data.sources import RemoteFile, Source

REPO = Path(__file__).resolve().parents[1]
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
HTML = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers ``/files/NAME`` with ``server.routes[NAME](handler)``; 404 for other names."""

    timeout = 10  # a stuck client cannot hold a server thread for ever
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        name = self.path.rsplit("/", 1)[-1]
        self.server.requests.append(self.path)
        route = self.server.routes.get(name)
        if route is None:
            self.send_error(404, "Not Found")
            return
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up: expected here
            pass

    def log_message(self, *args) -> None:
        pass


def _body(data: bytes, headers: dict[str, str] | None = None) -> Callable:
    def send(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)
    return send


def _trickle(n_bytes: int, every_s: float, length: int | None = None) -> Callable:
    """``n_bytes`` one byte at a time, ``every_s`` apart (bounded: the test gives up first)."""
    def send(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(length or n_bytes))
        h.end_headers()
        for _ in range(n_bytes):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(every_s)
    return send


def _endless(chunk: int = 1 << 16, limit: int = 64 << 20) -> Callable:
    """No Content-Length and a body that goes on (up to ``limit``, so a test cannot fill the
    disk when the cap it checks is missing)."""
    def send(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        sent = 0
        while sent < limit:
            h.wfile.write(b"\0" * chunk)
            sent += chunk
    return send


def _redirect(location: str) -> Callable:
    def send(h: _Handler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return send


@pytest.fixture
def mirror(monkeypatch):
    """A local HTTP server as ``EMSEG_BENCH_MIRROR``; tests fill ``mirror.routes``."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.routes, srv.requests = {}, []
    srv.daemon_threads = True
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}/files"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", srv.base)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _register(monkeypatch, name: str, *files: RemoteFile, convert: str | None = None,
              made: tuple[str, ...] = ()) -> Source:
    source = Source(name=name, kind="dataset", homepage="http://example.invalid",
                    licence="test licence", citation="test citation", files=files,
                    convert=convert, made=made)
    monkeypatch.setitem(sources.SOURCES, name, source)
    return source


def _file(name: str, fname: str, known_hash: str | None = None,
          size: int | None = None) -> RemoteFile:
    return RemoteFile(fname, f"{name}/{fname}", f"http://example.invalid/origin/{fname}",
                      known_hash, size)


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) \
        if root.exists() else []


def _hashes(root: Path) -> dict:
    path = root / "hashes.json"
    return json.loads(path.read_text())["files"] if path.exists() else {}


# -- 11: a malformed hashes.json entry ----------------------------------------------------------
def test_11_hashes_entry_that_is_a_string_is_a_clear_error(mirror, tmp_path, monkeypatch):
    _register(monkeypatch, "t-str", _file("t-str", "a.h5"))
    (tmp_path / "hashes.json").write_text(json.dumps({"files": {"t-str/a.h5": "abc"}}))
    with pytest.raises(FetchError) as info:
        fetch("t-str", tmp_path)
    msg = str(info.value)
    assert "hashes.json" in msg and "t-str/a.h5" in msg and "'abc'" in msg
    assert mirror.requests == []  # refused before any download


# -- 12: concurrent fetches into one data root keep every record --------------------------------
_CONCURRENT = textwrap.dedent("""
    import sys, time
    from bench.data import sources
    from bench.data.fetch import fetch
    from bench.data.sources import RemoteFile, Source
    tag, n, root, start = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    names = []
    for i in range(n):
        name = f"t-{tag}-{i}"
        sources.SOURCES[name] = Source(
            name=name, kind="dataset", homepage="h", licence="l", citation="c",
            files=(RemoteFile(f"f{i}.bin", f"{name}/f{i}.bin", "http://example.invalid/x"),))
        names.append(name)
    while time.time() < start:  # every process starts fetching at the same moment
        time.sleep(0.005)
    for name in names:
        fetch(name, root, out=open("/dev/null", "w"))
""")


def _mirror_folder(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    for i in range(n):
        (folder / f"f{i}.bin").write_bytes(b"payload %d" % i)
    return folder


def test_12_concurrent_processes_keep_every_hashes_record(tmp_path):
    n_proc, n_each = 6, 25
    root = tmp_path / "root"
    env = {**os.environ, "EMSEG_BENCH_MIRROR": str(_mirror_folder(tmp_path, n_each)),
           "PYTHONPATH": str(REPO)}
    start = time.time() + 4.0  # after every interpreter has imported bench
    procs = [subprocess.Popen([sys.executable, "-c", _CONCURRENT, f"p{k}", str(n_each),
                               str(root), str(start)], env=env, stderr=subprocess.PIPE)
             for k in range(n_proc)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    recorded = _hashes(root)
    assert len(recorded) == n_proc * n_each
    assert recorded["t-p0-3/f3.bin"]["sha256"] == hashlib.sha256(b"payload 3").hexdigest()


def test_12_concurrent_threads_keep_every_hashes_record(tmp_path, monkeypatch):
    n_threads, n_each = 8, 15
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", str(_mirror_folder(tmp_path, n_each)))
    for t in range(n_threads):
        for i in range(n_each):
            _register(monkeypatch, f"t-th{t}-{i}", _file(f"t-th{t}-{i}", f"f{i}.bin"))
    root = tmp_path / "root"
    barrier, errors = threading.Barrier(n_threads), []

    def work(t: int) -> None:
        barrier.wait(timeout=30)
        try:
            for i in range(n_each):
                fetch(f"t-th{t}-{i}", root, out=io.StringIO())
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert errors == [] and len(_hashes(root)) == n_threads * n_each


# -- 10: messages that say what happened --------------------------------------------------------
def test_10_invalid_content_length_names_the_url(mirror, tmp_path, monkeypatch):
    def bad_length(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "abc")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        h.wfile.write(b"some bytes")

    mirror.routes["len.bin"] = bad_length
    _register(monkeypatch, "t-len", _file("t-len", "len.bin"))
    with pytest.raises(FetchError) as info:
        fetch("t-len", tmp_path)
    msg = str(info.value)
    assert f"{mirror.base}/len.bin" in msg and "Content-Length" in msg and "'abc'" in msg
    assert "invalid literal" not in msg and _files(tmp_path) == []


def test_10_redirect_to_file_url_is_refused_and_says_so(mirror, tmp_path, monkeypatch):
    mirror.routes["go.bin"] = _redirect("file:///etc/passwd")
    _register(monkeypatch, "t-file", _file("t-file", "go.bin"))
    with pytest.raises(FetchError) as info:
        fetch("t-file", tmp_path)
    msg = str(info.value)
    assert "redirected to file:///etc/passwd" in msg and "refused" in msg
    assert "no network" not in msg and _files(tmp_path) == []


def test_10_redirect_loop_says_loop(mirror, tmp_path, monkeypatch):
    mirror.routes["ping.bin"] = _redirect(f"{mirror.base}/pong.bin")
    mirror.routes["pong.bin"] = _redirect("ping.bin")  # relative: back to the first
    _register(monkeypatch, "t-loop", _file("t-loop", "ping.bin"))
    with pytest.raises(FetchError) as info:
        fetch("t-loop", tmp_path)
    msg = str(info.value)
    assert "loop" in msg and f"{mirror.base}/pong.bin" in msg and "no network" not in msg
    assert len(mirror.requests) <= 3 and _files(tmp_path) == []


def test_10_a_followed_redirect_still_downloads(mirror, tmp_path, monkeypatch):
    mirror.routes["old.bin"] = _redirect("new.bin")
    mirror.routes["new.bin"] = _body(b"the file")
    _register(monkeypatch, "t-moved", _file("t-moved", "old.bin",
                                            "sha256:" + hashlib.sha256(b"the file").hexdigest()))
    [path] = fetch("t-moved", tmp_path)
    assert path.read_bytes() == b"the file"


# -- 7: size caps -------------------------------------------------------------------------------
def test_7_endless_body_stops_at_the_pinned_size(mirror, tmp_path, monkeypatch):
    mirror.routes["big.ckpt"] = _endless()
    _register(monkeypatch, "t-pinned", _file("t-pinned", "big.ckpt", "sha256:" + "0" * 64,
                                             size=100_000))
    with pytest.raises(FetchError, match=r"stopped after [\d,]+ bytes: its size is pinned at "
                                         r"100,000 bytes"):
        fetch("t-pinned", tmp_path)
    assert _files(tmp_path) == []


def test_7_announced_size_over_the_pin_is_refused_before_the_body(mirror, tmp_path,
                                                                   monkeypatch):
    mirror.routes["big.ckpt"] = _body(b"\0" * 200_000)
    _register(monkeypatch, "t-announce", _file("t-announce", "big.ckpt", "sha256:" + "0" * 64,
                                               size=100_000))
    with pytest.raises(FetchError, match="announces 200,000 bytes, refused before"):
        fetch("t-announce", tmp_path)
    assert _files(tmp_path) == []


def test_7_unpinned_file_stops_at_the_ceiling(mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("EMSEG_BENCH_MAX_BYTES", "300000")
    mirror.routes["any.h5"] = _endless()
    _register(monkeypatch, "t-ceiling", _file("t-ceiling", "any.h5"))
    with pytest.raises(FetchError, match=r"ceiling .* 300,000 bytes \(\$EMSEG_BENCH_MAX_BYTES"):
        fetch("t-ceiling", tmp_path)
    assert _files(tmp_path) == [] and _hashes(tmp_path) == {}


def test_7_zip_that_unpacks_past_the_cap_is_refused(tmp_path, monkeypatch):
    from bench.data import convert

    monkeypatch.setattr(convert, "MAX_UNPACKED_BYTES", 1 << 20, raising=False)
    folder = tmp_path / "mirror"
    folder.mkdir()
    for stem in ("train-input", "train-labels"):
        with zipfile.ZipFile(folder / f"{stem}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{stem}.tif", b"II*\0" + b"\0" * (8 << 20))  # 8 MiB from a few kB
        assert (folder / f"{stem}.zip").stat().st_size < 100_000
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", str(folder))
    root = tmp_path / "root"
    with pytest.raises(Exception, match="unpacks to .*1,048,576"):
        fetch("snemi3d", root)
    assert not (root / "ac3_ac4").exists() or _files(root / "ac3_ac4") == []


# -- 8: a deadline and a minimum rate for each download -----------------------------------------
def test_8_a_trickle_below_the_minimum_rate_is_stopped(mirror, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_mod, "RATE_WINDOW_S", 0.5, raising=False)
    monkeypatch.setenv("EMSEG_BENCH_FETCH_MIN_RATE", "1000")
    mirror.routes["slow.h5"] = _trickle(200, 0.05)  # 20 bytes/s, 10 s in all
    _register(monkeypatch, "t-slow", _file("t-slow", "slow.h5"))
    t0 = time.monotonic()
    with pytest.raises(FetchError, match=r"bytes/s over the last \d+ s, below the minimum of "
                                         r"1,000 bytes/s"):
        fetch("t-slow", tmp_path)
    assert time.monotonic() - t0 < 5 and _files(tmp_path) == []


def test_8_a_download_past_its_deadline_is_stopped(mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("EMSEG_BENCH_FETCH_DEADLINE_S", "1")
    mirror.routes["long.h5"] = _trickle(200, 0.05)  # fast enough for the rate, too long
    _register(monkeypatch, "t-long", _file("t-long", "long.h5"))
    t0 = time.monotonic()
    with pytest.raises(FetchError, match=r"past its deadline of 1 s"):
        fetch("t-long", tmp_path)
    assert time.monotonic() - t0 < 5 and _files(tmp_path) == []


# -- 13: credentials in the mirror URL ----------------------------------------------------------
def test_13_mirror_credentials_stay_out_of_messages_and_hashes_json(mirror, tmp_path,
                                                                    monkeypatch):
    import base64

    seen_auth = []

    def good(h: _Handler) -> None:
        seen_auth.append(h.headers.get("Authorization"))
        _body(HDF5_MAGIC + b"\0" * 100)(h)

    mirror.routes["a.h5"] = good
    mirror.routes["b.h5"] = _body(b"not what was pinned")
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", mirror.base.replace("http://",
                                                                 "http://alice:s3cret@"))
    _register(monkeypatch, "t-cred", _file("t-cred", "a.h5"))
    fetch("t-cred", tmp_path)
    assert seen_auth == ["Basic " + base64.b64encode(b"alice:s3cret").decode()]  # still used
    text = (tmp_path / "hashes.json").read_text()
    assert "s3cret" not in text and "alice" not in text
    assert _hashes(tmp_path)["t-cred/a.h5"]["origin"] == mirror.base.replace(
        "http://", "http://***@") + "/a.h5"
    for name, known in (("b.h5", "sha256:" + "0" * 64), ("absent.h5", None)):
        _register(monkeypatch, "t-cred2", _file("t-cred2", name, known))
        with pytest.raises(FetchError) as info:
            fetch("t-cred2", tmp_path)
        assert "s3cret" not in str(info.value) and "alice" not in str(info.value)
        assert "http://***@127.0.0.1" in str(info.value)


# -- 9: partial downloads: stale ones removed, SIGTERM cleans up like Ctrl-C --------------------
def test_9_stale_part_files_are_removed_at_the_start_of_a_fetch(mirror, tmp_path, monkeypatch):
    import socket as socket_mod

    data = HDF5_MAGIC + b"\0" * 100
    mirror.routes["a.h5"] = _body(data)
    _register(monkeypatch, "t-stale", _file("t-stale", "a.h5"))
    folder = tmp_path / "t-stale"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host = "".join(c if c.isalnum() or c == "_" else "_" for c in socket_mod.gethostname())
    old = folder / ".a.h5.k3x9q_1z.part"  # from an older version, a day old
    old.write_bytes(b"x" * 10)
    os.utime(old, (time.time() - 86400,) * 2)
    killed = folder / f".a.h5.{host[:40]}-{dead}.ab12cd_e.part"  # its writer is gone
    killed.write_bytes(b"x" * 10)
    other = folder / ".b.h5.k3x9q_1z.part"  # another file's: not this fetch's business
    other.write_bytes(b"x")
    os.utime(other, (time.time() - 86400,) * 2)
    fetch("t-stale", tmp_path)
    assert _files(folder) == [".b.h5.k3x9q_1z.part", "a.h5"]


_TERM = textwrap.dedent("""
    import sys
    from bench.cli import main
    from bench.data import sources
    from bench.data.sources import RemoteFile, Source
    sources.SOURCES["t-term"] = Source(
        name="t-term", kind="dataset", homepage="h", licence="l", citation="c",
        files=(RemoteFile("slow.h5", "t-term/slow.h5", "http://example.invalid/slow.h5"),))
    sys.exit(main(["data", "fetch", "t-term", "--data-root", sys.argv[1]]))
""")


def test_9_sigterm_stops_a_fetch_like_ctrl_c_and_leaves_no_part(mirror, tmp_path):
    mirror.routes["slow.h5"] = _trickle(300, 0.05)  # 15 s unless stopped
    root = tmp_path / "root"
    env = {**os.environ, "EMSEG_BENCH_MIRROR": mirror.base, "PYTHONPATH": str(REPO),
           "EMSEG_BENCH_FETCH_MIN_RATE": "0"}
    proc = subprocess.Popen([sys.executable, "-c", _TERM, str(root)], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while not list((root / "t-term").glob(".slow.h5.*.part")):
            assert time.monotonic() - t0 < 30 and proc.poll() is None, "no download started"
            time.sleep(0.05)
        time.sleep(0.3)  # some bytes written
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 130 and "interrupted" in err
    assert _files(root) == []


# -- 6: trust on first use records only what looks like the file --------------------------------
def _zip_of(stem: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{stem}.tif", data)
    return buf.getvalue()


def test_6_html_instead_of_a_zip_is_not_recorded_and_a_good_mirror_repairs_it(
        mirror, tmp_path, monkeypatch):
    tif = b"II*\0" + b"\0" * 64
    for stem in ("train-input", "train-labels"):
        mirror.routes[f"{stem}.zip"] = _body(HTML, {"Content-Type": "text/html"})
    with pytest.raises(FetchError) as info:
        fetch("snemi3d", tmp_path)
    msg = str(info.value)
    assert "not a zip archive" in msg and "HTML page" in msg and "not recorded" in msg
    assert _hashes(tmp_path) == {} and not (tmp_path / "snemi3d" / "train-input.zip").exists()
    for stem in ("train-input", "train-labels"):  # the good mirror: no stale record in the way
        mirror.routes[f"{stem}.zip"] = _body(_zip_of(stem, tif))
    paths = fetch("snemi3d", tmp_path)
    assert [p.read_bytes() for p in paths] == [tif, tif]
    assert sorted(_hashes(tmp_path)) == ["snemi3d/train-input.zip", "snemi3d/train-labels.zip"]


def test_6_wafer4_junk_is_refused_not_reported_ready(mirror, tmp_path, monkeypatch, capsys):
    from bench.cli import main

    mirror.routes["wafer4_inputs.h5"] = _body(HTML)
    mirror.routes["wafer4_labels.h5"] = _body(b"\0" * 4096)
    assert main(["data", "fetch", "wafer4", "--data-root", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "ready" not in captured.out and "not an HDF5 file" in captured.err
    assert _hashes(tmp_path) == {} and not (tmp_path / "wafer4" / "wafer4_inputs.h5").exists()


def test_6_junk_already_in_the_data_root_is_not_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("EMSEG_BENCH_MIRROR", str(tmp_path / "no-mirror"))
    (tmp_path / "wafer4").mkdir()
    for name in ("wafer4_inputs.h5", "wafer4_labels.h5"):
        (tmp_path / "wafer4" / name).write_bytes(HTML)
    with pytest.raises(FetchError, match=r"wafer4_inputs\.h5 \(already in the data root\): "
                                         r"not an HDF5 file .*Delete the file"):
        fetch("wafer4", tmp_path)
    assert _hashes(tmp_path) == {}


def test_6_failed_conversion_drops_the_record_and_names_the_files(mirror, tmp_path):
    for stem in ("train-input", "train-labels"):  # a zip, but without the one TIFF inside
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("README.txt", b"nothing here")
        mirror.routes[f"{stem}.zip"] = _body(buf.getvalue())
    with pytest.raises(FetchError) as info:
        fetch("snemi3d", tmp_path)
    msg = str(info.value)
    assert "could not be converted" in msg and "expected one TIFF" in msg
    assert f"Delete {tmp_path / 'snemi3d' / 'train-input.zip'}, " in msg
    assert _hashes(tmp_path) == {}  # recorded on download, dropped when the conversion failed
