"""How verdicts are printed: one line each for people, one JSON document for scripts.

Line format: ``<status padded to 4>  <check>: <finding>[ — fix: <fix>]``.
JSON (``schema`` 1)::

    {"schema": 1, "tool": "ssd-doctor", "ok": bool,
     "counts": {"ok": int, "warn": int, "fail": int},
     "checks": [{"check": str, "status": "ok"|"warn"|"fail", "finding": str,
                 "fix": str | null, "data": {...}}]}

Exit status: 0 when no check failed (warnings allowed), 1 when any check failed.
"""
import json

from .core import FAIL, STATUSES

SCHEMA_VERSION = 1


def format_line(verdict, dash="\u2014"):
    line = "%-4s  %s: %s" % (verdict.status, verdict.check, verdict.finding)
    if verdict.fix:
        line += " %s fix: %s" % (dash, verdict.fix)
    return line


def to_json(verdicts):
    counts = {s: sum(1 for v in verdicts if v.status == s) for s in STATUSES}
    return json.dumps({"schema": SCHEMA_VERSION, "tool": "ssd-doctor", "ok": counts[FAIL] == 0,
                       "counts": counts, "checks": [v.to_dict() for v in verdicts]},
                      indent=2, default=str)


def exit_status(verdicts):
    return 1 if any(v.status == FAIL for v in verdicts) else 0
