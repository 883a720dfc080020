"""Benchmarks: gridsim's tracker against Stone Soup and the Cramér-Rao bound (``gridsim bench``)."""

from __future__ import annotations

from grid.app.bench.cli import run_bench

__all__ = ["run_bench"]
