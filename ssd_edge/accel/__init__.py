"""Accelerator plumbing both the runtime and the engine builder use (docs/architecture.md §1).

* :mod:`.trt_compat`: every TensorRT feature probe (names differ across 8.5 → 10 → 11);
* :mod:`.cuda_mem`: device memory through cuda-python or PyCUDA.

Stdlib and numpy at module top; ``tensorrt``, ``cuda`` and ``pycuda`` only inside the functions
that need them, so importing this package is free on a machine without a GPU.
"""
