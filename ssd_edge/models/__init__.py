"""PyTorch SSD / SSD-Lite nets (pytorch-ssd compatible) and checkpoint import.

``ssd_edge.models.specs`` (the prior tables and :func:`default_spec`) needs no torch; the other
names import torch when first used, so ``from ssd_edge.models.specs import default_spec`` stays
light enough for the runtime zone.

* :func:`load_checkpoint` / :func:`save_checkpoint` / :func:`read_labels` — checkpoints.
* :func:`build_model` (spec → ``nn.Module``), :func:`build_spec` (any resolution),
  :func:`default_spec` (300, no torch), :data:`ARCHS`.
"""
import importlib

from .specs import ARCHS, default_spec

_LAZY = {
    "build_model": "zoo", "build_spec": "zoo", "build_layers": "zoo",
    "measure_map_sizes": "zoo",
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "read_labels": "labels", "detect_arch": "detect", "SSD": "ssd",
}

__all__ = ["ARCHS", "default_spec"] + sorted(_LAZY)


def __getattr__(name):
    # PEP 562: import torch-dependent modules only when one of their names is asked for.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    return getattr(importlib.import_module("." + module, __name__), name)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
