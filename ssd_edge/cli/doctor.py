"""ssd-doctor: check this machine for ssd-edge (Jetson or desktop) and say what to fix.

    ssd-doctor [--json] [--engine-dir DIR]

One verdict per line, ``ok|warn|fail  <check>: <finding> [— fix: ...]``; ``--json`` prints one
JSON document instead (schema in ssd_edge/doctor/report.py). Exit status 0 when nothing failed
(warnings allowed), 1 when any check failed, 2 on a usage error.
"""
import argparse
import os
import sys

from .common import cli_entry


def _parser():
    p = argparse.ArgumentParser(prog="ssd-doctor", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON document for scripts")
    p.add_argument("--engine-dir", default=".", metavar="DIR",
                   help="folder where engines will be built (its free space is checked)")
    p.add_argument("--root", default="/", help=argparse.SUPPRESS)  # fake filesystem for tests
    return p


def _dash():
    # "—" unless stdout cannot encode it (LANG=C under systemd or a bare ssh session).
    try:
        "\u2014".encode(sys.stdout.encoding or "ascii")
        return "\u2014"
    except (UnicodeEncodeError, LookupError):
        return "--"


@cli_entry("ssd-doctor")
def main(argv=None):
    args = _parser().parse_args(argv)
    from ..doctor import Env, exit_status, format_line, run_checks, to_json

    verdicts = run_checks(Env(root=args.root, engine_dir=args.engine_dir))
    try:
        if args.json:
            print(to_json(verdicts))
        else:
            dash = _dash()
            for v in verdicts:
                print(format_line(v, dash))
        sys.stdout.flush()
    except BrokenPipeError:
        # `ssd-doctor | head`: the reader left; stop quietly (and keep Python's exit flush quiet).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return exit_status(verdicts)


if __name__ == "__main__":
    sys.exit(main())
