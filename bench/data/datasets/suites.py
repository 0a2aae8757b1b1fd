"""Suites: one name for several registered datasets (``bench run --dataset SUITE`` runs every
method on each in turn).

- ``real-small``: the small real volumes with dense 3D labels that need no GPU to run on,
  ``lsd_sample`` (ssTEM, ``bench data fetch lsd_sample``) and ``gala_fib`` (FIB-SEM).
"""

from __future__ import annotations

from bench.data.registry import register_suite

register_suite("real-small", ("lsd_sample", "gala_fib"),
               "small real volumes with dense 3D labels: lsd_sample (ssTEM), gala_fib (FIB-SEM)")
