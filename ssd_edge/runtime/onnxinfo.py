"""Moved to :mod:`ssd_edge.onnxinfo`; this import path stays an alias of that same module."""
import sys

from .. import onnxinfo as _moved

sys.modules[__name__] = _moved
