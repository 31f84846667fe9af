"""Shared command-line plumbing: user errors become one line on stderr and exit status 2."""
from ..errors import SsdEdgeError, cli_entry  # noqa: F401  (cli_entry lives in the core)
from ..runtime.backends.registry import RECORDS
from ..spec import NmsDefaults

#: the post-processing defaults every CLI shows (a model's own ``spec.nms`` wins at run time).
NMS = NmsDefaults()

#: ``--backend`` choices of every CLI that runs a model: ``auto`` and every registered backend.
BACKEND_CHOICES = ("auto",) + tuple(r.name for r in RECORDS)


def not_landed(prog, what):
    """Entry point for a command whose implementation has not landed yet."""
    @cli_entry(prog)
    def main(argv=None):
        raise SsdEdgeError("%s is not available yet (%s); see the status table in README.md"
                           % (prog, what))
    return main
