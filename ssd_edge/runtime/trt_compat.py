"""Moved to :mod:`ssd_edge.accel.trt_compat`; this import path stays an alias of that same module."""
import sys

from ..accel import trt_compat as _moved

sys.modules[__name__] = _moved
