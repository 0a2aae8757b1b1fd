"""Throughput benchmarks, one module per target (``python -m bench perf TARGET``)."""
