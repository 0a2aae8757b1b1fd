"""Download, verify and cache the real datasets and the official CAD weights.

``python -m bench data fetch NAME`` and ``--checkpoint official:NAME`` come here. The registry
(:mod:`bench.data.sources`) says what to fetch; this module does it safely:

- one cache folder, the *data root*: ``--data-root``, else ``$EMSEG_BENCH_DATA``, else the
  user's cache directory (``pooch.os_cache("emseg-bench")``). Files land in the layout the
  loaders read, so ``bench run --dataset cremiA`` finds them without options;
- ``$EMSEG_BENCH_MIRROR`` (a URL or a local folder) replaces every origin: a file named NAME is
  fetched as ``MIRROR/NAME`` (labs behind a firewall, CI, tests);
- every download streams (pooch's HTTP downloader, a tqdm bar on stderr) into a temporary file
  beside its destination and is renamed into place only once its checksum matches, so an
  interrupted or corrupt download never leaves a file at the final path;
- a file with no published checksum has its sha256 recorded in ``<root>/hashes.json`` on first
  download and is checked against it afterwards; a file already in place is checked, not
  downloaded again (no network needed);
- short connect timeouts: an unreachable host fails in seconds with the URL, the mirror variable
  and the path where the file can be placed by hand.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
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
HASHES_FILE = "hashes.json"
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


def _record_hash(root: Path, f: RemoteFile, path: Path, origin: str | None) -> str:
    sha = _file_hash(path, "sha256")
    files = _read_hashes(root)
    files[f.dest] = {"sha256": sha, "size_bytes": path.stat().st_size, "origin": origin,
                     "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_atomic(_hashes_path(root), json.dumps({"files": files}, indent=1, sort_keys=True))
    return sha


def _expected(root: Path, f: RemoteFile) -> str | None:
    """The pinned checksum, else the one recorded on first download, else None."""
    if f.known_hash:
        return f.known_hash
    entry = _read_hashes(root).get(f.dest)
    return f"sha256:{entry['sha256']}" if entry and entry.get("sha256") else None


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

    class _Bar(tqdm):
        # pooch tests ``if progressbar:``; a bar whose total is not known yet must still count
        def __bool__(self) -> bool:
            return True

    return _Bar(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024,
                file=out or sys.stderr, leave=True, dynamic_ncols=True)


def _copy_local(src: Path, tmp: Path, name: str) -> None:
    size = src.stat().st_size
    with open(src, "rb") as fin, open(tmp, "wb") as fout, _progress(name, size) as bar:
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)
            bar.update(len(chunk))


def _http_get(url: str, tmp: Path, name: str) -> None:
    import pooch

    bar = _progress(name)
    try:
        downloader = pooch.HTTPDownloader(progressbar=bar, chunk_size=_CHUNK,
                                          timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        downloader(url, str(tmp), None)
    finally:
        bar.close()


def _network_error(exc: Exception, origin: str, f: RemoteFile, dest: Path) -> FetchError:
    import requests

    hint = _by_hand(f, dest)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        r = exc.response
        return FetchError(f"cannot download {origin}: HTTP {r.status_code} {r.reason}. {hint}")
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError)):
        return FetchError(f"the download of {origin} was cut off before the end ({exc}); "
                          f"nothing was written to {dest}. Run the command again. {hint}")
    if isinstance(exc, requests.ConnectTimeout):
        return FetchError(f"cannot download {origin}: no connection within "
                          f"{CONNECT_TIMEOUT_S:g} s (no network, or the host is down). {hint}")
    if isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower():
        # a stall while streaming the body comes as a ConnectionError holding "Read timed out"
        return FetchError(f"the download of {origin} stalled (no data for {READ_TIMEOUT_S:g} s); "
                          f"nothing was written to {dest}. Run the command again. {hint}")
    text = str(exc)
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


def _fetch_into(src: Callable[[Path], None], dest: Path, expected: str | None,
                what: str) -> None:
    """Write ``dest`` through a temporary file beside it: ``src(tmp)`` fills it, the checksum is
    checked, and only then is it renamed into place. On any failure nothing is left behind,
    not even the folders this call created."""
    created = _mkdirs(dest.parent)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        src(tmp)
        _check(tmp, expected, what)
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

    dest = root / f.dest
    expected = _expected(root, f)
    if dest.exists():
        try:
            _check(dest, expected, f"{dest} (already in the data root)")
        except ChecksumError as exc:
            raise ChecksumError(f"{exc}. Delete the file to fetch it again.") from None
        if expected is None:
            _record_hash(root, f, dest, None)
        return dest
    origin, local = _origin(f)
    if origin is None:
        raise FetchError(f"{f.name}: no direct URL. {_by_hand(f, dest)}")
    if local:
        src = Path(origin)
        if not src.is_file():
            raise FetchError(f"{ENV_MIRROR}={os.environ.get(ENV_MIRROR)}: the mirror folder has "
                             f"no file {f.name} ({src} not found). Copy it there, or place it "
                             f"by hand at {dest}, or unset {ENV_MIRROR} to use {f.url}.")
        fill: Callable[[Path], None] = lambda tmp: _copy_local(src, tmp, f.name)  # noqa: E731
    else:
        fill = lambda tmp: _http_get(origin, tmp, f.name)  # noqa: E731
    try:
        _fetch_into(fill, dest, expected, origin)
    except ChecksumError as exc:
        raise ChecksumError(f"{exc}; the download was discarded, nothing was written to "
                            f"{dest}. {_by_hand(f, dest)}") from None
    except requests.RequestException as exc:
        raise _network_error(exc, origin, f, dest) from None
    if f.known_hash is None and expected is None:
        sha = _record_hash(root, f, dest, origin)
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
            _fetch_into(lambda tmp, p=got[f.name]: shutil.copyfile(p, tmp), dest, expected, url)
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
        CONVERSIONS[source.convert](root)
        return [root / p for p in source.made]
    return paths


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
