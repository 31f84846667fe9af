"""Converters that print to the process's stdout/stderr from C++ (pnnx, the LiteRT converter):
their output goes to a log file, whose tail goes into the error when a conversion fails."""
import contextlib
import os
import sys


@contextlib.contextmanager
def output_to_file(path):
    """Send the process's stdout/stderr (pnnx's C++ prints there) to ``path`` for a while."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "wb") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def tail(log, lines=3):
    try:
        with open(log, "r", encoding="utf-8", errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-lines:])
    except OSError:
        return "none"


