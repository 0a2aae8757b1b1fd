"""Baseline methods of the CAD paper (2D, superhuman 3D, MALA 3D).

Importing the package registers ``unet2d``, ``superhuman3d``, ``mala3d``, the classical
``rf`` (random-forest pixel classifier) and the null controls (family ``control``: ``random``,
``intensity``, ``membrane``, ``rolled``, ``shuffled``; :mod:`baselines.controls`).
"""

from baselines import controls as _controls  # noqa: F401  (registers the null controls)
from baselines import methods as _methods  # noqa: F401  (registration side effect)
from baselines import rf as _rf  # noqa: F401  (registers the classical "rf" method)
