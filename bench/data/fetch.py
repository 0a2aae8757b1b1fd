"""Download, verify and cache the real datasets and the official CAD weights.

``python -m bench data fetch NAME`` and ``--checkpoint official:NAME`` come here. The registry
(:mod:`bench.data.sources`) says what to fetch; this module does it safely:

- one cache folder, the *data root*: ``--data-root``, else ``$EMSEG_BENCH_DATA``, else the
  user's cache directory (``pooch.os_cache("emseg-bench")``). Files land in the layout the
  loaders read, so ``bench run --dataset cremiA`` finds them without options;
- ``$EMSEG_BENCH_MIRROR`` (a URL or a local folder) replaces every origin: a file named NAME is
  fetched as ``MIRROR/NAME`` (labs behind a firewall, CI, tests);
- every download streams (requests, a tqdm bar on stderr) into a temporary file
  beside its destination and is renamed into place only once its checksum matches, so an
  interrupted or corrupt download never leaves a file at the final path;
- a file with no published checksum has its sha256 recorded in ``<root>/hashes.json`` on first
  download and is checked against it afterwards; a file already in place is checked, not
  downloaded again (no network needed);
- short connect timeouts: an unreachable host fails in seconds with the URL, the mirror variable
  and the path where the file can be placed by hand.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TextIO

from bench.atomic import apply_umask, write_atomic
from bench.data.convert import CONVERSIONS
from bench.data.sources import RemoteFile, Source, get_source

ENV_DATA = "EMSEG_BENCH_DATA"
ENV_MIRROR = "EMSEG_BENCH_MIRROR"
#: seconds to wait for a TCP connection, and between two received chunks; a dead network or a
#: blackholed host fails within CONNECT_TIMEOUT_S (well under the 30 s the issue allows)
CONNECT_TIMEOUT_S = 8.0
READ_TIMEOUT_S = 60.0
#: redirects followed per download (http(s) to http(s) only)
MAX_REDIRECTS = 10
#: the most bytes written for a file whose size is not pinned in the registry (a file whose
#: size is pinned stops at that size); ``$EMSEG_BENCH_MAX_BYTES`` overrides it
MAX_UNPINNED_BYTES = 32 << 30
ENV_MAX_BYTES = "EMSEG_BENCH_MAX_BYTES"
#: one download may take at most DEADLINE_S in all, and must average MIN_RATE_BYTES_S over
#: every RATE_WINDOW_S: a server that sends a byte now and then (each read well within
#: READ_TIMEOUT_S) cannot keep a fetch alive for ever. ``$EMSEG_BENCH_FETCH_DEADLINE_S`` and
#: ``$EMSEG_BENCH_FETCH_MIN_RATE`` (bytes/s) override them, for a slow but honest line
DEADLINE_S = 12 * 3600.0
MIN_RATE_BYTES_S = 1024.0
RATE_WINDOW_S = 60.0
ENV_DEADLINE = "EMSEG_BENCH_FETCH_DEADLINE_S"
ENV_MIN_RATE = "EMSEG_BENCH_FETCH_MIN_RATE"
#: a partial download (``.NAME.*.part``) untouched for this long is stale, whoever wrote it: a
#: live download writes at least once every READ_TIMEOUT_S or gives up
STALE_PART_S = 15 * 60.0
HASHES_FILE = "hashes.json"
HASHES_LOCK = ".hashes.json.lock"
_CHUNK = 1 << 20

__all__ = [
    "CONNECT_TIMEOUT_S", "ChecksumError", "ENV_DATA", "ENV_MIRROR", "FetchError",
    "default_data_root", "fetch", "is_present", "resolve_checkpoint", "resolve_data_root",
]


class FetchError(OSError):
    """A file could not be fetched; the message says what to do instead."""


class ChecksumError(FetchError):
    """A download (or a file in the cache) does not have the expected checksum."""


# -- where ------------------------------------------------------------------------------------
def default_data_root() -> Path:
    """``$EMSEG_BENCH_DATA`` when set, else the user's cache directory for emseg-bench."""
    env = os.environ.get(ENV_DATA, "").strip()
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("emseg-bench"))


def resolve_data_root(data_root: str | Path | None) -> Path:
    """``data_root`` when given, else :func:`default_data_root`."""
    return Path(data_root).expanduser() if data_root else default_data_root()


def _origin(f: RemoteFile) -> tuple[str | None, bool]:
    """(where to fetch ``f`` from, whether that is a local path). The mirror, when set, replaces
    the origin: ``MIRROR/<name>``."""
    mirror = os.environ.get(ENV_MIRROR, "").strip()
    if mirror:
        if mirror.startswith("file://"):
            return str(Path(mirror[len("file://"):]) / f.name), True
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", mirror):
            return f"{mirror.rstrip('/')}/{f.name}", False
        return str(Path(mirror).expanduser() / f.name), True
    return f.url, False


def _redact(text: str) -> str:
    """``text`` with the user and password of every URL in it replaced by ``***`` (a mirror
    may be ``http://user:token@host/``): for messages and for ``hashes.json``."""
    return re.sub(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@", r"\1***@", text)


def _by_hand(f: RemoteFile, dest: Path) -> str:
    return (f"Set {ENV_MIRROR} to a URL or folder that serves {f.name}, or place the file by "
            f"hand at {dest} and run the command again.")


# -- checksums --------------------------------------------------------------------------------
def _split_hash(known: str) -> tuple[str, str]:
    alg, _, value = known.partition(":")
    return (alg.lower(), value.lower()) if value else ("sha256", alg.lower())


def _file_hash(path: Path, alg: str) -> str:
    import pooch

    return pooch.file_hash(str(path), alg=alg)


def _hashes_path(root: Path) -> Path:
    return root / HASHES_FILE


def _read_hashes(root: Path) -> dict[str, dict]:
    path = _hashes_path(root)
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FetchError(f"{path}: not valid JSON ({exc}); it records the checksums of files "
                         "fetched without a published one: fix or delete it") from None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, dict):
        raise FetchError(f"{path}: expected {{'files': {{path: {{'sha256': ...}}}}}}")
    return files


@contextmanager
def _hashes_lock(root: Path) -> Iterator[None]:
    """Hold ``<root>/.hashes.json.lock`` (an ``flock``, released by the kernel however the
    holder ends) around a read-modify-write of ``hashes.json``: two fetches into one data root
    at once, in two processes or two threads, must not drop each other's records."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / HASHES_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _update_hashes(root: Path, change: Callable[[dict[str, dict]], None]) -> None:
    """Read ``hashes.json``, apply ``change`` to its records and write it back, under the lock
    (the records on disk now, not those read earlier, are the ones changed)."""
    with _hashes_lock(root):
        files = _read_hashes(root)
        change(files)
        write_atomic(_hashes_path(root), json.dumps({"files": files}, indent=1, sort_keys=True))


def _record_hash(root: Path, f: RemoteFile, path: Path, origin: str | None) -> str:
    sha = _file_hash(path, "sha256")
    entry = {"sha256": sha, "size_bytes": path.stat().st_size, "origin": origin,
             "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _update_hashes(root, lambda files: files.__setitem__(f.dest, entry))
    return sha


def _expected(root: Path, f: RemoteFile) -> str | None:
    """The pinned checksum, else the one recorded on first download, else None."""
    if f.known_hash:
        return f.known_hash
    entry = _read_hashes(root).get(f.dest)
    if entry is None:
        return None
    sha = entry.get("sha256") if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or not (
            isinstance(sha, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha)):
        raise FetchError(f"{_hashes_path(root)}: the entry for {f.dest!r} is {entry!r:.80}, "
                         "expected {'sha256': '<64 hex digits>', ...}; fix the entry, or delete "
                         f"it and {root / f.dest} to fetch the file again")
    return f"sha256:{sha.lower()}"


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # little/big endian, BigTIFF


def _has_hdf5_signature(path: Path) -> bool:
    """HDF5's signature at byte 0, or at 512, 1024, 2048, ... after a user block."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        at = 0
        while at + len(_HDF5_SIGNATURE) <= size:
            fh.seek(at)
            if fh.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
                return True
            at = 512 if at == 0 else at * 2
    return False


def _format_problem(path: Path, name: str) -> str | None:
    """Why ``path`` cannot be the file ``name`` says it is (by its suffix: HDF5, zip, TIFF,
    a torch checkpoint), or None. A file of no known suffix is not checked. A first download
    is checked so before its hash is trusted and recorded."""
    import zipfile

    suffix = Path(name).suffix.lower()
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if suffix in (".h5", ".hdf", ".hdf5"):
        kind, ok = "an HDF5 file", _has_hdf5_signature(path)
    elif suffix == ".zip":
        kind, ok = "a zip archive", zipfile.is_zipfile(path)
    elif suffix in (".tif", ".tiff"):
        kind, ok = "a TIFF image", head[:4] in _TIFF_SIGNATURES
    elif suffix in (".ckpt", ".pt", ".pth"):  # torch: a zip, or the legacy pickle format
        kind, ok = "a torch checkpoint", head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"
    else:
        return None
    if ok:
        return None
    lowered = head.lower()
    if not head:
        what = "it is empty"
    elif b"<html" in lowered or b"<!doctype" in lowered:
        what = "it is an HTML page: the server sent an error or sign-in page instead of the file"
    else:
        what = f"it starts with {head[:16]!r}"
    return f"not {kind} ({what})"


def _check(path: Path, expected: str | None, what: str) -> None:
    if expected is None:
        return
    alg, want = _split_hash(expected)
    got = _file_hash(path, alg)
    if got != want:
        raise ChecksumError(f"checksum mismatch for {what}: expected {alg} {want}, got {got}")


# -- one file ---------------------------------------------------------------------------------
def _progress(name: str, total: int | None = None, out: TextIO | None = None):
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024,
                file=out or sys.stderr, leave=True, dynamic_ncols=True)


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise FetchError(f"${name}={text!r}: expected a number >= 0")
    return value


def _size_limit(f: RemoteFile) -> tuple[int, str]:
    """The most bytes ``f`` may have, and why (its pinned size, or the ceiling)."""
    if f.size_bytes is not None:
        return f.size_bytes, f"its size is pinned at {f.size_bytes:,} bytes"
    cap = int(_env_number(ENV_MAX_BYTES, MAX_UNPINNED_BYTES))
    return cap, (f"the ceiling for a file of unpinned size is {cap:,} bytes (${ENV_MAX_BYTES} "
                 "raises it)")


class _Refused(FetchError):
    """The server (or the mirror folder) answered, with something this module will not
    follow or accept."""


def _over(what: str, n: int, limit: tuple[int, str], when: str = "after") -> _Refused:
    return _Refused(f"{what}: stopped {when} {n:,} bytes: {limit[1]}")


def _copy_local(src: Path, tmp: Path, name: str, limit: tuple[int, str]) -> None:
    size = src.stat().st_size
    if size > limit[0]:
        raise _over(str(src), size, limit, "at")
    with open(src, "rb") as fin, open(tmp, "wb") as fout, _progress(name, size) as bar:
        while chunk := fin.read(_CHUNK):
            if fout.tell() + len(chunk) > limit[0]:  # the file grew while being copied
                raise _over(str(src), fout.tell() + len(chunk), limit)
            fout.write(chunk)
            bar.update(len(chunk))


def _get(session, url: str):
    """``GET url`` (streamed), following at most :data:`MAX_REDIRECTS` redirects, each to an
    http(s) URL only: a redirect to ``file://`` (or any other scheme) or a loop is refused."""
    from urllib.parse import urljoin, urlsplit

    seen = [url]
    for _ in range(MAX_REDIRECTS + 1):
        r = session.get(seen[-1], stream=True, allow_redirects=False,
                        timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        if not r.is_redirect:
            return r
        target = urljoin(seen[-1], r.headers.get("location", ""))
        r.close()
        if urlsplit(target).scheme.lower() not in ("http", "https"):
            raise _Refused(f"cannot download {url}: the server redirected to {target}, which is "
                           "not an http(s) URL; the redirect was refused")
        if target in seen:
            loop = seen[seen.index(target):] + [target]
            raise _Refused(f"cannot download {url}: the server's redirects go round in a loop "
                           f"({' -> '.join(loop)})")
        seen.append(target)
    raise _Refused(f"cannot download {url}: more than {MAX_REDIRECTS} redirects "
                   f"({' -> '.join(seen[:3])} -> ...)")


def _content_length(r, url: str) -> int | None:
    value = r.headers.get("content-length")
    if value is None:
        return None
    if not value.strip().isdigit():
        raise _Refused(f"cannot download {url}: the server sent an invalid Content-Length "
                       f"header ({value!r:.40}), so this is not a file download")
    return int(value)


class _Pace:
    """The overall deadline and the minimum rate of one download (see :data:`DEADLINE_S`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.deadline_s = _env_number(ENV_DEADLINE, DEADLINE_S)
        self.min_rate = _env_number(ENV_MIN_RATE, MIN_RATE_BYTES_S)
        self.start = self.mark = time.monotonic()
        self.mark_bytes = 0

    def check(self, n_bytes: int) -> None:
        now = time.monotonic()
        if now - self.start > self.deadline_s:
            raise _Refused(f"the download of {self.url} was stopped after {now - self.start:.0f} "
                           f"s ({n_bytes:,} bytes), past its deadline of {self.deadline_s:g} s "
                           f"(${ENV_DEADLINE} changes it)")
        if now - self.mark >= RATE_WINDOW_S:
            rate = (n_bytes - self.mark_bytes) / (now - self.mark)
            if rate < self.min_rate:
                raise _Refused(f"the download of {self.url} was stopped: {rate:,.1f} bytes/s over "
                               f"the last {now - self.mark:.0f} s, below the minimum of "
                               f"{self.min_rate:,.0f} bytes/s (${ENV_MIN_RATE} changes it)")
            self.mark, self.mark_bytes = now, n_bytes


def _http_get(url: str, tmp: Path, name: str, limit: tuple[int, str]) -> None:
    """Stream ``url`` into ``tmp``. The body is read with ``read1``: each read returns as soon
    as any bytes arrive, so the checks after it run however slowly the server sends."""
    import requests

    pace = _Pace(url)
    with requests.Session() as session:
        # a file, not a page: no transparent compression that would inflate what is written
        session.headers["Accept-Encoding"] = "identity"
        with _get(session, url) as r:
            r.raise_for_status()
            total = _content_length(r, url)
            if total is not None and total > limit[0]:
                raise _Refused(f"{url}: the server announces {total:,} bytes, refused before "
                               f"the download: {limit[1]}")
            with open(tmp, "wb") as fout, _progress(name, total) as bar:
                while chunk := r.raw.read1(_CHUNK):
                    if fout.tell() + len(chunk) > limit[0]:  # an endless body, or a bomb
                        raise _over(url, fout.tell() + len(chunk), limit)
                    fout.write(chunk)
                    bar.update(len(chunk))
                    pace.check(fout.tell())
                got = fout.tell()
            if total is not None and got < total:
                raise requests.exceptions.ChunkedEncodingError(
                    f"{got} of the {total} bytes announced")


def _network_error(exc: Exception, origin: str, f: RemoteFile, dest: Path) -> FetchError:
    import requests
    import urllib3

    hint = _by_hand(f, dest)
    origin = _redact(origin)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        r = exc.response
        return FetchError(f"cannot download {origin}: HTTP {r.status_code} {r.reason}. {hint}")
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError,
                        urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError)):
        return FetchError(f"the download of {origin} was cut off before the end "
                          f"({_redact(str(exc))}); "
                          f"nothing was written to {dest}. Run the command again. {hint}")
    if isinstance(exc, requests.ConnectTimeout):
        return FetchError(f"cannot download {origin}: no connection within "
                          f"{CONNECT_TIMEOUT_S:g} s (no network, or the host is down). {hint}")
    if isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError)) \
            or "timed out" in str(exc).lower():
        # a stall while streaming the body comes as a ConnectionError holding "Read timed out"
        return FetchError(f"the download of {origin} stalled (no data for {READ_TIMEOUT_S:g} s); "
                          f"nothing was written to {dest}. Run the command again. {hint}")
    text = _redact(str(exc))
    if "Failed to resolve" in text or "Name or service not known" in text:
        why = "the host name does not resolve (no network, or no DNS)"
    elif "refused" in text.lower():
        why = "connection refused (nothing serves that address)"
    else:
        why = f"{type(exc).__name__}: {text} (no network, or the host is down)"
    return FetchError(f"cannot download {origin}: {why}. {hint}")


def _mkdirs(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; return the ones created (deepest first)."""
    made = []
    p = path
    while not p.exists():
        made.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    return made


def _host_tag() -> str:
    return re.sub(r"\W", "_", socket.gethostname())[:40] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _remove_stale_parts(dest: Path) -> None:
    """Remove the partial downloads of ``dest`` that nobody is writing any more: those whose
    writer (named in the file name, ``.NAME.<host>-<pid>.*.part``) was this machine's process
    and is gone, e.g. killed with SIGKILL, and any untouched for :data:`STALE_PART_S`."""
    named = re.compile(rf"\.{re.escape(dest.name)}\.(?P<host>\w+)-(?P<pid>\d+)\..*\.part")
    for part in dest.parent.glob(f".{glob.escape(dest.name)}.*.part"):
        m = named.fullmatch(part.name)
        try:
            age = time.time() - part.stat().st_mtime
        except FileNotFoundError:  # its writer finished meanwhile
            continue
        dead = bool(m) and m["host"] == _host_tag() and not _alive(int(m["pid"]))
        if dead or age > STALE_PART_S:
            part.unlink(missing_ok=True)
            print(f"removed {part}, a partial download left by an earlier fetch",
                  file=sys.stderr)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while fetching (as Ctrl-C does), so a fetch stopped by
    ``kill`` or a job scheduler removes its partial download on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; its own handler applies
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _fetch_into(src: Callable[[Path], None], dest: Path, expected: str | None,
                what: str) -> None:
    """Write ``dest`` through a temporary file beside it: ``src(tmp)`` fills it, the checksum is
    checked, and only then is it renamed into place. On any failure nothing is left behind,
    not even the folders this call created; stale partial downloads of ``dest`` left by an
    earlier fetch are removed first."""
    created = _mkdirs(dest.parent)
    _remove_stale_parts(dest)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent,
                                    prefix=f".{dest.name}.{_host_tag()}-{os.getpid()}.",
                                    suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        src(tmp)
        _check(tmp, expected, what)
        problem = None if expected else _format_problem(tmp, dest.name)
        if problem:  # no checksum to trust yet: what would be recorded must look right
            raise _Refused(f"{what}: {problem}; its checksum was not recorded")
        apply_umask(tmp)  # mkstemp's 0600 would hide a shared data root from colleagues
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
        if not dest.exists():
            for d in created:  # deepest first; only while empty
                try:
                    d.rmdir()
                except OSError:
                    break


def fetch_file(f: RemoteFile, root: Path) -> Path:
    """``root / f.dest``, downloaded (or copied from the mirror) and verified; a file already
    in place is only checked. Google Drive files without a mirror go through
    :func:`_fetch_gdrive` (called by :func:`fetch`)."""
    import requests
    import urllib3

    dest = root / f.dest
    expected = _expected(root, f)
    if dest.exists():
        try:
            _check(dest, expected, f"{dest} (already in the data root)")
        except ChecksumError as exc:
            raise ChecksumError(f"{exc}. Delete the file to fetch it again.") from None
        if expected is None:
            problem = _format_problem(dest, dest.name)
            if problem:
                raise FetchError(f"{dest} (already in the data root): {problem}; its checksum "
                                 "was not recorded. Delete the file and fetch it again.")
            _record_hash(root, f, dest, None)
        return dest
    origin, local = _origin(f)
    limit = _size_limit(f)
    if origin is None:
        raise FetchError(f"{f.name}: no direct URL. {_by_hand(f, dest)}")
    shown = _redact(origin)  # what messages and hashes.json say: no user or password
    if local:
        src = Path(origin)
        if not src.is_file():
            mirror = _redact(os.environ.get(ENV_MIRROR, ""))
            raise FetchError(f"{ENV_MIRROR}={mirror}: the mirror folder has "
                             f"no file {f.name} ({src} not found). Copy it there, or place it "
                             f"by hand at {dest}, or unset {ENV_MIRROR} to use {f.url}.")
        fill: Callable[[Path], None] = partial(_copy_local, src, name=f.name, limit=limit)
    else:
        fill = partial(_http_get, origin, name=f.name, limit=limit)
    try:
        _fetch_into(fill, dest, expected, shown)
    except ChecksumError as exc:
        raise ChecksumError(f"{exc}; the download was discarded, nothing was written to "
                            f"{dest}. {_by_hand(f, dest)}") from None
    except _Refused as exc:
        raise FetchError(f"{_redact(str(exc))}; nothing was written to {dest}. "
                         f"{_by_hand(f, dest)}") from None
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise _network_error(exc, origin, f, dest) from None
    if f.known_hash is None and expected is None:
        sha = _record_hash(root, f, dest, shown)
        print(f"{f.name}: no published checksum; recorded sha256 {sha} in "
              f"{_hashes_path(root)} (later fetches are checked against it)", file=sys.stderr)
    return dest


def _fetch_gdrive(source: Source, files: list[RemoteFile], root: Path) -> None:
    """The Google Drive folder of ``source`` through gdown (optional), else manual steps."""
    url = f"https://drive.google.com/drive/folders/{source.gdrive_folder}"
    dests = ", ".join(str(root / f.dest) for f in files)
    manual = (f"{source.name}: the files are in a public Google Drive folder, {url}. Either "
              f"install the optional downloader (pip install 'emseg-bench[gdrive]', i.e. gdown) "
              f"and run this command again, or download {', '.join(f.name for f in files)} in "
              f"a browser and place them at {dests}, then run 'python -m bench data fetch "
              f"{source.name}' again to check them and record their checksums; or set "
              f"{ENV_MIRROR} to a URL or folder that serves them.")
    try:
        import gdown
    except ImportError:
        raise FetchError(manual) from None
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".gdrive-") as tmpdir:
        try:
            gdown.download_folder(id=source.gdrive_folder, output=tmpdir, quiet=False)
        except Exception as exc:  # gdown raises many types (quota, HTML instead of a file)
            raise FetchError(f"gdown could not download {url} ({type(exc).__name__}: {exc}). "
                             + manual) from None
        got = {p.name: p for p in Path(tmpdir).rglob("*") if p.is_file()}
        for f in files:
            if f.name not in got:
                raise FetchError(f"the Google Drive folder {url} has no {f.name} (it holds: "
                                 f"{', '.join(sorted(got)) or 'nothing'}). " + manual)
            dest = root / f.dest
            expected = _expected(root, f)
            _fetch_into(partial(_copy_local, got[f.name], name=f.name, limit=_size_limit(f)),
                        dest, expected, url)
            if expected is None:
                _record_hash(root, f, dest, url)


# -- public -----------------------------------------------------------------------------------
def is_present(source: Source, root: Path) -> bool:
    """Whether the files ``source`` provides are in ``root`` (not checksummed: cheap)."""
    wanted = source.made or tuple(f.dest for f in source.files)
    return all((root / p).exists() for p in wanted)


def _licence_notice(source: Source, out: TextIO) -> None:
    if source.restrictive:
        print(f"NOTE - {source.name} is under a restrictive licence: {source.licence}",
              file=out)
    else:
        print(f"{source.name}: licence: {source.licence}", file=out)
    print(f"{source.name}: please cite: {source.citation}", file=out)


def fetch(name: str, data_root: str | Path | None = None, *,
          out: TextIO | None = None) -> list[Path]:
    """Fetch registry entry ``name`` into the data root; return the paths the loaders read.

    Already present and matching files are only checked. Raises :class:`FetchError` (an
    ``OSError``) with what to do when a file cannot be fetched, and :class:`ChecksumError` when
    a download or a file in the data root has the wrong checksum.
    """
    out = out or sys.stderr
    source = get_source(name)
    root = resolve_data_root(data_root)
    with _sigterm_as_interrupt():
        return _fetch_source(source, root, out)


def _fetch_source(source: Source, root: Path, out: TextIO) -> list[Path]:
    if source.made and all((root / p).exists() for p in source.made):
        return [root / p for p in source.made]  # converted already; the downloads may be gone
    pending = [f for f in source.files if not (root / f.dest).exists()]
    if pending:
        _licence_notice(source, out)
    drive = [f for f in pending if f.url is None and _origin(f)[0] is None]
    if drive:
        _fetch_gdrive(source, drive, root)
    paths = [fetch_file(f, root) for f in source.files]
    if source.convert:
        try:
            CONVERSIONS[source.convert](root)
        except Exception as exc:  # any failure: the downloads are not the release they claim
            raise _conversion_failed(source, root, exc) from exc
        return [root / p for p in source.made]
    return paths


def _conversion_failed(source: Source, root: Path, exc: Exception) -> FetchError:
    """Drop the checksums recorded on first download for ``source``'s files (what they
    recorded did not convert, so it is no release to check later downloads against) and say
    which files to delete. Files with a pinned checksum are the release: deleting them would
    not help, so when every file is pinned the message says the conversion is at fault."""
    recorded = [f.dest for f in source.files if f.known_hash is None]
    if recorded and _hashes_path(root).exists():
        _update_hashes(root, lambda files: [files.pop(d, None) for d in recorded])
    head = (f"{source.name}: the downloaded files could not be converted "
            f"({type(exc).__name__}: {_redact(str(exc))}).")
    if not recorded:
        return FetchError(f"{head} Every file matched its pinned checksum, so the downloads are "
                          f"the release and the conversion is at fault; please report this.")
    return FetchError(f"{head} Their checksums, recorded on first download, were removed from "
                      f"{_hashes_path(root)}. Delete {_describe_paths(root, recorded)} and fetch "
                      f"again, from the origin or a mirror that serves the real files.")


def _describe_paths(root: Path, dests: list[str]) -> str:
    """The files, one by one when few; as 'the N files in FOLDER' for a folder holding many."""
    by_folder: dict[Path, list[Path]] = {}
    for dest in dests:
        path = root / dest
        by_folder.setdefault(path.parent, []).append(path)
    parts = []
    for folder, paths in by_folder.items():
        if len(paths) > 3:
            parts.append(f"the {len(paths)} downloaded files in {folder}")
        else:
            parts.extend(str(p) for p in paths)
    return ", ".join(parts)


def resolve_checkpoint(checkpoint: str | None, data_root: str | Path | None = None) -> str | None:
    """``official:NAME`` fetched (or found in the cache) and returned as a file path; any other
    value unchanged, so that the method loads both the same way."""
    if not checkpoint or not str(checkpoint).startswith("official:"):
        return checkpoint
    try:
        source = get_source(checkpoint)
    except KeyError:
        raise KeyError(f"--checkpoint {checkpoint}: unknown official weights; valid: "
                       f"{', '.join(_weights_names())}") from None
    if source.kind != "weights":
        raise ValueError(f"--checkpoint {checkpoint}: {source.name} is a dataset, not weights")
    return str(fetch(source.name, data_root)[0])


def _weights_names() -> list[str]:
    from bench.data.sources import SOURCES

    return [n for n, s in SOURCES.items() if s.kind == "weights"]
