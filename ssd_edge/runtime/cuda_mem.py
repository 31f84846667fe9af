"""Moved to :mod:`ssd_edge.accel.cuda_mem`; this import path stays an alias of that same module."""
import sys

from ..accel import cuda_mem as _moved

sys.modules[__name__] = _moved
