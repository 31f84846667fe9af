"""Shared command-line plumbing: user errors become one line on stderr and exit status 2."""
import functools
import os
import sys
import warnings

from ..errors import SsdEdgeError
from ..runtime.backends.registry import RECORDS

#: ``--backend`` choices of every CLI that runs a model: ``auto`` and every registered backend.
BACKEND_CHOICES = ("auto",) + tuple(r.name for r in RECORDS)


def cli_entry(prog):
    """Decorate ``main(argv) -> exit status`` so that user errors print ``prog: error: ...`` and exit 2.

    ``SsdEdgeError`` (and a missing input file) is the user's to fix: one line, no traceback.
    Ctrl-C exits 130 after the command's own cleanup ran. Anything else is a bug and keeps its
    traceback (set ``SSD_EDGE_DEBUG=1`` to see tracebacks for user errors too).
    """
    def wrap(fn):
        @functools.wraps(fn)
        def main(argv=None):
            try:
                previous = warnings.showwarning
                with warnings.catch_warnings():
                    warnings.showwarning = _one_line_warnings(prog, previous)
                    rc = fn(argv)
            except SsdEdgeError as e:
                if os.environ.get("SSD_EDGE_DEBUG"):
                    raise
                print("%s: error: %s" % (prog, e), file=sys.stderr)
                return 2
            except KeyboardInterrupt:
                print("%s: interrupted" % prog, file=sys.stderr)
                return 130
            return rc or 0
        return main
    return wrap


def add_threads_flag(p):
    """``--threads N``: every command that runs a model takes it (a robot shares its CPU)."""
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads the model may use (default: the backend's own, one per core)")


def threads_arg(n):
    """The ``--threads`` value checked: None or an int >= 1."""
    if n is not None and n < 1:
        raise SsdEdgeError("expected --threads N with N >= 1, got %d" % n)
    return n


def _one_line_warnings(prog, previous):
    """A user-facing warning is one ``prog: warning: ...`` line (no source line under it); other
    categories (a library's DeprecationWarning) go where they went before."""
    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, UserWarning):
            print("%s: warning: %s" % (prog, message), file=file or sys.stderr)
        else:
            previous(message, category, filename, lineno, file, line)
    return show


def not_landed(prog, what):
    """Entry point for a command whose implementation has not landed yet."""
    @cli_entry(prog)
    def main(argv=None):
        raise SsdEdgeError("%s is not available yet (%s); see the status table in README.md"
                           % (prog, what))
    return main
