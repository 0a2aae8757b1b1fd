"""Training machinery shared by every method: recipes, patch sampling, label targets,
augmentation, the resumable loop, generic losses, the 2D and 3D step functions, the
recipe-driven base method and distributed data parallel."""
