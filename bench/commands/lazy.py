"""Sub-commands whose module is imported only when that sub-command is parsed.

``python -m bench --help`` lists every command with its one-line help, which needs no command
module; building each command's options imports its module (and, for ``perf``, the benchmark
module of each target), which used to import torch and every network before any help appeared.
:class:`LazySubParsers` keeps a placeholder parser per name and fills it on first use.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

#: called with (command path, parser) for every parser once its options are added
Finisher = Callable[[str, argparse.ArgumentParser], None]


class LazySubParsers(argparse._SubParsersAction):
    """``add_subparsers(action=LazySubParsers)``: sub-parsers filled in on first use.

    :meth:`add_lazy` registers a name, its help line and a loader; the loader receives this
    action and calls ``add_parser(name, ...)`` as an eager ``register`` would, which then
    returns the placeholder (with its description set) instead of adding a second parser.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaders: dict[str, Callable[[LazySubParsers], None]] = {}
        self._filling: str | None = None
        #: the command path of the parser holding this action ("" for the main parser)
        self.path = ""
        self.finish: Finisher | None = None

    def add_lazy(self, name: str, help: str, load: Callable[[LazySubParsers], None]) -> None:
        """A sub-command listed at once and built by ``load(self)`` when first parsed."""
        self.add_parser(name, help=help)
        self._loaders[name] = load

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name != self._filling:
            return super().add_parser(name, **kwargs)
        parser = self._name_parser_map[name]
        if "help" in kwargs:  # the loaded module's words win (tests check they agree)
            for choice in self._choices_actions:
                if choice.dest == name:
                    choice.help = kwargs.pop("help")
        for key, value in kwargs.items():
            if key not in ("description", "epilog"):
                raise TypeError(f"a lazily built sub-command cannot take {key}=")
            setattr(parser, key, value)
        return parser

    def load(self, name: str) -> argparse.ArgumentParser:
        """The parser of ``name`` with its options (imports its module on the first call)."""
        loader = self._loaders.pop(name, None)
        parser = self._name_parser_map[name]
        if loader is None:
            return parser
        self._filling = name
        try:
            loader(self)
        finally:
            self._filling = None
        path = f"{self.path} {name}".strip()
        if self.finish is not None:
            for child_path, child in [(path, parser), *walk(parser, path, load=False)]:
                self.finish(child_path, child)
        for child_path, child in [(path, parser), *walk(parser, path, load=False)]:
            for action in child._actions:  # nested lazy commands finish the same way
                if isinstance(action, LazySubParsers):
                    action.path, action.finish = child_path, self.finish
        return parser

    def load_all(self) -> None:
        for name in list(self._loaders):
            self.load(name)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if values and values[0] in self._loaders:
            self.load(values[0])
        super().__call__(parser, namespace, values, option_string)


def walk(parser: argparse.ArgumentParser, path: str = "", load: bool = True
         ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every sub-command parser below ``parser`` with its path (``"perf infer"``), building
    the lazy ones first unless ``load`` is false (then their placeholders are skipped)."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        if isinstance(action, LazySubParsers):
            if load:
                action.load_all()
            names = [n for n in action.choices if n not in action._loaders]
        else:
            names = list(action.choices)
        for name in names:
            child_path = f"{path} {name}".strip()
            child = action.choices[name]
            yield child_path, child
            yield from walk(child, child_path, load)
