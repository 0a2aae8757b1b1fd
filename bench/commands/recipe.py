"""``python -m bench recipe show METHOD --profile P``: the resolved recipe, as YAML.

A method's recipe is the YAML file's ``defaults``, then the profile's keys, then the method's
variant (``cad-nofgi`` over ``cad.yaml``), then ``--set`` overrides. This prints the result, so
what a run would train with can be read without training (or reading three mappings by eye).
``python -m bench run`` applies its harness options (``--device``, ``--seed``) on top.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("recipe", help="print a method's resolved training recipe (YAML)",
                            description="Recipes: print what a method trains with.")
    recipe_sub = parser.add_subparsers(dest="recipe_command", metavar="SUBCOMMAND")
    p = recipe_sub.add_parser(
        "show", help="the recipe of METHOD under --profile, with --set overrides, as YAML",
        description="The recipe file's defaults, the profile, the method's variant and the "
                    "--set overrides, resolved and printed as YAML (nothing is built or run).")
    p.add_argument("method", metavar="METHOD", help="a registered method (python -m bench list)")
    p.add_argument("--profile", default="quick", help="smoke, quick or paper (default: quick)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, as for run (repeatable; dotted keys nest)")
    p.set_defaults(func=_cmd_show)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def resolved(method: str, profile: str = "quick",
             overrides: dict[str, Any] | None = None) -> tuple[dict[str, Any], Path | None]:
    """``(recipe, recipe file)`` of the registered ``method`` under ``profile``.

    Raises ``KeyError`` for an unknown method and ``ValueError`` for a method that declares no
    recipe (a class without ``resolved_recipe``, or one registered as a function)."""
    from bench.registry import METHODS

    entry = METHODS.get(method)
    hook = getattr(entry.cls, "resolved_recipe", None)
    if not callable(hook):
        raise ValueError(f"method {method!r} declares no recipe (its class has no "
                         "resolved_recipe classmethod)")
    recipe = hook(profile, overrides or {})
    path = getattr(entry.cls, "recipe_file", None)
    if path is None:  # rf keeps its file in a module constant
        path = getattr(sys.modules.get(entry.cls.__module__), "RECIPE", None)
    return recipe, (Path(path) if path is not None else None)


def _parse_sets(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def render(method: str, profile: str, recipe: dict[str, Any], path: Path | None) -> str:
    """The YAML text ``recipe show`` prints: a comment naming its sources, then the recipe."""
    import yaml

    class Dumper(yaml.SafeDumper):
        """Block style, except that a list of plain values stays on one line ([8, 48, 48])."""

    def represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
        flat = all(not isinstance(v, (list, dict)) for v in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)

    Dumper.add_representer(list, represent_list)
    where = _display(path) if path is not None else "(no file)"
    head = (f"# {method}, profile {profile}: resolved from {where}\n"
            "# python -m bench run sets seed (--seed, default 0) and device (--device) on top\n")
    return head + yaml.dump(recipe, Dumper=Dumper, sort_keys=False, default_flow_style=False,
                            width=100)


def _display(path: Path) -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def _cmd_show(args: argparse.Namespace) -> int:
    recipe, path = resolved(args.method, args.profile, _parse_sets(args.overrides))
    sys.stdout.write(render(args.method, args.profile, recipe, path))
    return 0
