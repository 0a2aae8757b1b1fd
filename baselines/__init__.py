"""Baseline methods of the CAD paper (2D, superhuman 3D, MALA 3D).

Importing the package registers ``unet2d``, ``superhuman3d``, ``mala3d`` and the classical
``rf`` (random-forest pixel classifier).
"""

from baselines import methods as _methods  # noqa: F401  (registration side effect)
from baselines import rf as _rf  # noqa: F401  (registers the classical "rf" method)
