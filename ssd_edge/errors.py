"""User-facing errors.

Every problem a user can fix (a bad path, a wrong file, a missing optional package) is raised as
:class:`SsdEdgeError` with one line saying what was expected and what was found; the command-line
tools print that line and exit with status 2 (:func:`cli_entry`). Anything else is a bug and
keeps its traceback.
"""
import contextlib
import functools
import logging
import os
import sys
import warnings


class SsdEdgeError(Exception):
    """A problem the user can fix; ``str(err)`` is one line naming the problem and the fix."""


def missing_extra(package, extra):
    """Return the error for an optional dependency that is not installed.

    Args:
        package: import name that failed, e.g. ``"onnxruntime"``.
        extra: the pip extra that provides it, e.g. ``"ort"``.
    """
    return SsdEdgeError(
        "%s is not installed; install it with: pip install \"ssd-edge[%s]\"" % (package, extra))


def cli_entry(prog):
    """Decorate ``main(argv) -> exit status`` so that user errors print ``prog: error: ...`` and exit 2.

    ``SsdEdgeError`` (and a missing input file) is the user's to fix: one line, no traceback.
    Ctrl-C exits 130 after the command's own cleanup ran; a reader of stdout that leaves
    (``ssd-export --inspect m.onnx | head``) ends it quietly with 141. Python warnings print as
    one ``prog: warning: ...`` line. Anything else is a bug and keeps its traceback (set
    ``SSD_EDGE_DEBUG=1`` to see tracebacks for user errors too). The logging a command sets up
    ends with it (:func:`_own_logging`).
    """
    def wrap(fn):
        @functools.wraps(fn)
        def main(argv=None):
            if not os.environ.get("SSD_EDGE_DEBUG"):
                # OpenCV's own "[ERROR:0@...]" lines would add to the one line the command
                # prints; OpenCV reads this when it is imported (later, lazily).
                os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
            try:
                with warnings.catch_warnings(), _own_logging():
                    warnings.showwarning = _one_line_warnings(prog, warnings.showwarning)
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
                try:
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, sys.stdout.fileno())
                except (OSError, ValueError, AttributeError):
                    pass
                return 141
            return rc or 0
        return main
    return wrap


@contextlib.contextmanager
def _own_logging():
    """Put the root and ``ssd_edge`` loggers back as they were when the command ends.

    Each command sets up its own log lines (``ssd-live: ...`` at INFO, ``ssd-eval: ...`` at
    WARNING). Run in one process one after the other (from Python, from a test), a command
    would otherwise print with the previous one's prefix and level.
    """
    loggers = [logging.getLogger(), logging.getLogger("ssd_edge")]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    try:
        yield
    finally:
        for lg, handlers, level, propagate in saved:
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate


def _one_line_warnings(prog, previous):
    """A warning as one ``prog: warning: ...`` line (no source file, no code line).

    Deprecation warnings speak to developers, not to the command's user: they go to whatever
    showed warnings before (Python hides them outside ``__main__`` unless asked to show them).
    """
    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, (DeprecationWarning, PendingDeprecationWarning)):
            previous(message, category, filename, lineno, file, line)
            return
        print("%s: warning: %s" % (prog, " ".join(str(message).split())),
              file=file or sys.stderr)
    return show
