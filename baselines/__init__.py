"""Baseline methods of the CAD paper (2D, superhuman 3D, MALA 3D).

Importing the package registers ``unet2d``, ``superhuman3d`` and ``mala3d``.
"""

from baselines import methods as _methods  # noqa: F401  (registration side effect)
