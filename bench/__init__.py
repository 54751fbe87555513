"""Benchmarks and load/fault harness helpers (not part of the services)."""
