"""The method and post-processor registries with the project's own entries in them.

:mod:`bench.registries` holds the registries that the method packages register into; this
module, one layer above ``baselines``, ``cad`` and ``bench.segment``, imports those packages on
the first lookup (so a plain ``import bench.registry`` stays cheap), where the layers contract
sees it. Everything callers and outside plugins used from here is re-exported:
:func:`register_method`, :func:`create_method`, :data:`METHODS`, :data:`POSTPROCESSORS`, ...
"""

from __future__ import annotations

from bench.registries import (
    DEFAULT_FAMILY_COLOR,
    METHODS,
    POSTPROCESSORS,
    Entry,
    Registry,
    check_overrides,
    config_file_overrides,
    create_method,
    family_colors,
    list_methods,
    method_class,
    register_method,
    register_postprocessor,
)

__all__ = ["DEFAULT_FAMILY_COLOR", "METHODS", "POSTPROCESSORS", "Entry", "Registry",
           "check_overrides", "config_file_overrides", "create_method", "family_colors",
           "list_methods", "method_class", "register_method", "register_postprocessor"]


def _import_methods() -> None:
    import baselines  # noqa: F401  (each package registers its methods on import)
    import cad  # noqa: F401


def _import_postprocessors() -> None:
    import bench.segment  # noqa: F401


METHODS.add_builtins(_import_methods, ("baselines", "cad"))
POSTPROCESSORS.add_builtins(_import_postprocessors, ("bench.segment",))
