"""The built-in datasets, one module per file layout; each registers its datasets on import.

The registry imports every module of this package on its first lookup, so a new built-in
dataset is one new module here and nothing else.

- :mod:`~bench.data.datasets.phantom`: ``synthetic``, the embedded generated phantom;
- :mod:`~bench.data.datasets.cad_h5`: the CAD code's layout (``*_inputs.h5`` /
  ``*_labels.h5``, key ``main``): ``wafer4``, and the reader the others fall back on;
- :mod:`~bench.data.datasets.cremi`: ``cremiA/B/C``, CAD layout or the official CREMI ``.hdf``;
- :mod:`~bench.data.datasets.snemi`: ``ac3ac4``, CAD layout or the SNEMI3D TIFF stacks for AC4;
- :mod:`~bench.data.datasets.gala`: ``gala_fib``, two CREMI-format files;
- :mod:`~bench.data.datasets.lsd`: ``lsd_sample``, the lsd tutorial's ssTEM sample
  (``bench data fetch lsd_sample`` gets and orders it);
- :mod:`~bench.data.datasets.suites`: ``real-small`` (lsd_sample and gala_fib), a name for
  several datasets;
- :mod:`~bench.data.datasets.spec`: any file given as ``path.h5:raw_key:labels_key`` (not a
  registered name: what ``--dataset`` falls back to).
"""
