"""Shared command-line plumbing: user errors become one line on stderr and exit status 2."""
import contextlib
import os
import sys

from ..errors import SsdEdgeError, cli_entry  # noqa: F401  (cli_entry lives in the core)
from ..runtime.backends.registry import RECORDS
from ..spec import NmsDefaults

#: the post-processing defaults every CLI shows (a model's own ``spec.nms`` wins at run time).
NMS = NmsDefaults()

#: ``--backend`` choices of every CLI that runs a model: ``auto`` and every registered backend.
BACKEND_CHOICES = ("auto",) + tuple(r.name for r in RECORDS)


def add_threads_flag(p):
    """``--threads N``: every command that runs a model takes it (a robot shares its CPU)."""
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads the model may use (default: the backend's own, one per core)")


def threads_arg(n):
    """The ``--threads`` value checked: None or an int >= 1."""
    if n is not None and n < 1:
        raise SsdEdgeError("expected --threads N with N >= 1, got %d" % n)
    return n


def not_landed(prog, what):
    """Entry point for a command whose implementation has not landed yet."""
    @cli_entry(prog)
    def main(argv=None):
        raise SsdEdgeError("%s is not available yet (%s); see the status table in README.md"
                           % (prog, what))
    return main


@contextlib.contextmanager
def decoder_noise_filtered(prog, report=True):
    """Run the block with libjpeg / libpng / FFmpeg decoder noise kept off stderr
    (:mod:`ssd_edge.stderrfilter`); on leaving it, however it ends, one line says how many such
    messages were dropped (when any were and ``report``). ``SSD_EDGE_DEBUG=1`` shows them all."""
    from ..stderrfilter import filtered_stderr, summary_line
    filt = None
    try:
        with filtered_stderr(enabled=not os.environ.get("SSD_EDGE_DEBUG")) as filt:
            yield filt
    finally:
        line = summary_line(prog, filt) if report and filt is not None else None
        if line:
            print(line, file=sys.stderr)
