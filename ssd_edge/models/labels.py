"""Moved to :mod:`ssd_edge.labels`; this import path stays an alias of that same module."""
import sys

from .. import labels as _moved

sys.modules[__name__] = _moved
