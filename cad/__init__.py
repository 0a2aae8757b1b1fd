"""CAD (cross-dimension affinity distillation, CVPR 2024), re-implemented; see docs/cad.md.

Importing the package registers the methods ``cad``, ``cad-nofgi`` and ``cad-nodistill``.
"""

from cad import methods as _methods  # noqa: F401  (registration side effect)
