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
            shown = warnings.showwarning
            warnings.showwarning = functools.partial(_one_line_warning, prog, shown)
            try:
                return _run(fn, argv)
            finally:
                warnings.showwarning = shown

        def _run(fn, argv):
            if not os.environ.get("SSD_EDGE_DEBUG"):
                # OpenCV's own "[ERROR:0@...]" lines would add to the one line
                # the command prints; read by OpenCV when it is imported (later, lazily).
                os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
            try:
                rc = fn(argv)
            except SsdEdgeError as e:
                if os.environ.get("SSD_EDGE_DEBUG"):
                    raise
                print("%s: error: %s" % (prog, e), file=sys.stderr)
                return 2
            except KeyboardInterrupt:
                print("%s: interrupted" % prog, file=sys.stderr)
                return 130
            except BrokenPipeError:
                # The reader of stdout left (``ssd-export --inspect m.onnx | head``): stop
                # quietly, as other command-line tools do; later flushes go nowhere.
                try:
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, sys.stdout.fileno())
                except (OSError, ValueError, AttributeError):
                    pass
                return 141
            return rc or 0
        return main
    return wrap


def _one_line_warning(prog, previous, message, category, filename, lineno, file=None, line=None):
    """A Python warning as ``prog: warning: ...`` on one line (no source file, no code line).

    Deprecation warnings speak to developers, not to the command's user: they go to whatever
    showed warnings before (Python hides them outside ``__main__`` unless asked to show them).
    """
    if issubclass(category, (DeprecationWarning, PendingDeprecationWarning)):
        previous(message, category, filename, lineno, file, line)
        return
    text = " ".join(str(message).split())
    print("%s: warning: %s" % (prog, text), file=file or sys.stderr)


def not_landed(prog, what):
    """Entry point for a command whose implementation has not landed yet."""
    @cli_entry(prog)
    def main(argv=None):
        raise SsdEdgeError("%s is not available yet (%s); see the status table in README.md"
                           % (prog, what))
    return main
