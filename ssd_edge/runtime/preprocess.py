"""Moved to :mod:`ssd_edge.preprocess`; this import path stays an alias of that same module."""
import sys

from .. import preprocess as _moved

sys.modules[__name__] = _moved
