"""cli_entry: one command's logging set-up ends with it, so commands run one after the other in
one process (from Python, from a test) each print with their own prefix and level."""
import logging

from ssd_edge.cli.live import _StderrHandler as _Stderr   # writes to sys.stderr of the moment
from ssd_edge.errors import cli_entry


@cli_entry("first")
def first(argv=None):
    """Like ssd-live: its own handler on the ssd_edge logger, at INFO."""
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("first: %(message)s"))
    logging.getLogger("ssd_edge").addHandler(handler)
    logging.getLogger("ssd_edge").setLevel(logging.INFO)
    logging.getLogger("ssd_edge.runtime").info("backend ort")
    return 0


@cli_entry("second")
def second(argv=None):
    """Like ssd-eval -q: only warnings, through its own handler on the root logger."""
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("second: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("ssd_edge.runtime").info("backend ort")
    logging.getLogger("ssd_edge.runtime").warning("a warning")
    return 0


def test_a_command_does_not_inherit_the_previous_ones_logging(capsys):
    before = [(lg.handlers[:], lg.level, lg.propagate)
              for lg in (logging.getLogger(), logging.getLogger("ssd_edge"))]
    assert first([]) == 0
    assert capsys.readouterr().err == "first: backend ort\n"
    assert second([]) == 0
    err = capsys.readouterr().err
    assert err == "second: a warning\n"
    after = [(lg.handlers[:], lg.level, lg.propagate)
             for lg in (logging.getLogger(), logging.getLogger("ssd_edge"))]
    assert after == before
