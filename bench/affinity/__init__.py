"""The affinity convention."""
