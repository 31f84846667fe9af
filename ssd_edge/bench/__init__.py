"""Benchmarks: ``ssd-bench`` and the cross-device suite in ``benchmarks/`` are built from these.

* :mod:`.cases` — :class:`BenchOptions`, the (artifact, backend, batch) cases, opening each;
* :mod:`.runner` — :func:`run_bench`: time every case, return the result document;
* :mod:`.stats` — percentiles and the outlier-trimmed mean;
* :mod:`.environment` — the machine (CPU flags, libraries, GPU, Jetson facts, temperatures);
* :mod:`.memory` — peak RSS per case and torch's CUDA peak;
* :mod:`.pytorch_ssd` — the peer: pytorch-ssd's Predictor, transcribed;
* :mod:`.ratios` — the headline ratios; :mod:`.report` — Markdown and the README block;
  :mod:`.plot` — PNG charts (matplotlib).

The result file's fields are described in ``benchmarks/README.md``.
"""
from .cases import BENCH_BACKENDS, BenchOptions, Case
from .runner import KIND, SCHEMA, run_bench

__all__ = ["BENCH_BACKENDS", "BenchOptions", "Case", "KIND", "SCHEMA", "run_bench"]
