"""``python -m bench data {list,check,preview,fetch}``."""

from __future__ import annotations

import argparse
from pathlib import Path


def _origin_text(source) -> str:
    if source.gdrive_folder:
        return f"Google Drive folder https://drive.google.com/drive/folders/{source.gdrive_folder}"
    hosts = sorted({f.url.rsplit("/", 1)[0] + "/" for f in source.files if f.url})
    return ", ".join(hosts)


def _print_source(source, root: Path, indent: str = "  ", also: tuple[str, ...] = ()) -> None:
    """``also``: other files that provide the same dataset (the CAD layout)."""
    from bench.data.fetch import is_present

    present = is_present(source, root) or bool(also) and all((root / f).exists() for f in also)
    state = "present" if present else f"not present (python -m bench data fetch {source.name})"
    print(f"{indent}fetch: {state}")
    print(f"{indent}source: {_origin_text(source)}")
    print(f"{indent}size: {source.size_text()}")
    print(f"{indent}licence: {source.licence}")


def _cmd_list(args: argparse.Namespace) -> int:
    from bench.data import list_datasets
    from bench.data.fetch import resolve_data_root
    from bench.data.sources import SOURCES

    root = resolve_data_root(args.data_root)
    print(f"data root: {root} (--data-root, else $EMSEG_BENCH_DATA, else the user cache folder)")
    for info in list_datasets():
        res = "x".join(f"{r:g}" for r in info.resolution_nm)
        print(f"{info.name}: {info.description}")
        print(f"  resolution (z,y,x) nm: {res}")
        for split, desc in info.splits.items():
            print(f"  {split:<5}: {desc}")
        files = ", ".join(info.expected_files) if info.expected_files else "(embedded)"
        print(f"  files under --data-root: {files}")
        if info.alternatives:
            print(f"  also accepted: {', '.join(info.alternatives)}")
        for name in info.sources:
            _print_source(SOURCES[name], root, also=info.expected_files)
    from bench.data.registry import suites

    for name, (members, text) in suites().items():
        print(f"{name}: suite ({text}); bench run --dataset {name} runs on each of "
              f"{', '.join(members)}")
    print("any file: path.h5:raw_key:labels_key (also .zarr; path.hdf alone = CREMI format; "
          "raw.tif:labels.tif); a relative path is looked up in the data root")
    listed = {n for info in list_datasets() for n in info.sources}
    extra = [s for s in SOURCES.values() if s.kind == "dataset" and s.name not in listed]
    if extra:
        print("more real data (bench data fetch NAME, then use as a file spec):")
        for source in extra:
            print(f"{source.name}: {source.notes}")
            _print_source(source, root)
    print("official CAD weights (--checkpoint official:NAME fetches them):")
    for source in (s for s in SOURCES.values() if s.kind == "weights"):
        print(f"{source.name}")
        _print_source(source, root)
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from bench.data.fetch import fetch, resolve_data_root
    from bench.data.sources import get_source

    for name in args.names:  # every name is checked before the first download
        get_source(name)
    root = resolve_data_root(args.data_root)
    for name in args.names:
        paths = fetch(name, root)
        print(f"{name}: ready in {root}")
        for p in paths:
            print(f"  {p}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from bench.data import check_data_root
    from bench.data.fetch import resolve_data_root

    root = resolve_data_root(args.data_root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} is not a directory (--data-root, else "
                                "$EMSEG_BENCH_DATA, else the cache folder 'data fetch' fills)")
    n_ok = n_bad = 0
    for entry in check_data_root(root):
        n_bad += bool(entry["error"]) and not entry["missing"]
        status = "OK     " if entry["ok"] else "MISSING" if entry["missing"] else "ERROR  "
        print(f"{status} {entry['name']}")
        n_ok += entry["ok"]
        for vname, v in entry["volumes"].items():
            lab = v["labels"]
            res = "x".join(f"{r:g}" for r in v["resolution_nm"])
            print(f"    {vname}: raw {v['raw']['shape']} {v['raw']['dtype']}, labels "
                  f"{'none' if lab is None else str(lab['shape']) + ' ' + lab['dtype']}, "
                  f"resolution {res} nm")
        if entry["ok"]:
            print(f"    splits: {entry['splits']}  hash {entry['split_hash']}")
        elif entry["error"]:
            print(f"    {entry['error']}")
        for w in entry["warnings"]:
            print(f"    warning: {w}")
    print(f"{n_ok} of the real datasets found under {root}; 'synthetic' is always available")
    if n_bad:
        print(f"{n_bad} dataset(s) present but unreadable (ERROR above)")
        return 1
    return 0


def _cmd_preview(args: argparse.Namespace) -> int:
    from bench.data import load_dataset
    from bench.data.preview import preview_volume

    ds = load_dataset(args.name, data_root=args.data_root, profile=args.profile, seed=args.seed)
    split = args.split
    vol = ds.split(split) if split else next(iter(ds.volumes.values()))
    out = Path(args.out or f"{args.name.replace('/', '_').replace(':', '_')}_preview.png")
    preview_volume(vol, out, title=f"{args.name} ({split or 'whole volume'}, "
                   f"{'x'.join(map(str, vol.shape))} voxels)")
    print(f"wrote {out}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="list, fetch, check and preview datasets",
                                   description="Datasets: list them, fetch them, check a "
                                               "data root, write a preview PNG.")
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    p = sub.add_parser("list", help="datasets, their splits and expected files, and whether "
                                    "each is present in the data root (source, size, licence)")
    p.add_argument("--data-root", help="data root (default: $EMSEG_BENCH_DATA, else the user "
                                       "cache folder)")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser(
        "fetch", help="download real datasets or official weights into the data root",
        description="Download, verify (checksum) and convert datasets into the layout the "
                    "loaders read, in the data root. $EMSEG_BENCH_MIRROR (a URL or a folder) "
                    "replaces every origin: a file NAME is fetched as MIRROR/NAME.")
    p.add_argument("names", nargs="+", metavar="NAME",
                   help="cremiA, cremiB, cremiC, wafer4, ac3ac4, snemi3d, isbi2012, or "
                        "official:wafer4|CremiA|CremiB|CremiC|AC34 (see 'data list')")
    p.add_argument("--data-root", help="data root (default: $EMSEG_BENCH_DATA, else the user "
                                       "cache folder)")
    p.set_defaults(func=_cmd_fetch)
    p = sub.add_parser("check", help="what is found under --data-root (shapes, dtypes, "
                                     "resolution)")
    p.add_argument("--data-root", help="folder with the real datasets (default: "
                                       "$EMSEG_BENCH_DATA, else the user cache folder)")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("preview", help="PNG of a few sections and their labels")
    p.add_argument("name", help="dataset name or file spec (see 'data list')")
    p.add_argument("--out", help="output PNG (default NAME_preview.png)")
    p.add_argument("--profile", default="quick", help="synthetic size: smoke, quick, paper")
    p.add_argument("--seed", type=int, default=0, help="synthetic seed")
    p.add_argument("--split", choices=("train", "val", "test"), help="preview one split only")
    p.add_argument("--data-root", help="folder with the real datasets")
    p.set_defaults(func=_cmd_preview)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
