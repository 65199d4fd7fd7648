"""Benchmark harness: kubegate against an nginx reverse proxy on 127.0.0.1.

Run ``python bench/run.py`` (throughput/latency/CPU table) or
``python bench/routing.py`` (1 API vs 1,000 APIs routing cost). See
``docs/benchmark.md``. Nothing here is imported by the ``kubegate`` package.
"""
