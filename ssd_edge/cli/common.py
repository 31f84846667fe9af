"""Shared command-line plumbing: user errors become one line on stderr and exit status 2."""
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
