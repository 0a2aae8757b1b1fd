"""emseg-bench: a fair benchmark harness for 3D EM neuron segmentation.

Conventions used everywhere in this package:

- image and label volumes are ``(Z, Y, X)``; affinities are ``(C, Z, Y, X)`` float32 in [0, 1];
- affinity channel order is ``(z, y, x)`` and the value at voxel ``v`` is the affinity of ``v``
  to its predecessor on that axis (``v - e_axis``), the convention of waterz;
- label 0 is background / boundary, never a neuron;
- resolutions are ``(z, y, x)`` in nanometres (``resolution_nm``).
"""

__version__ = "0.1.0"
