"""The README's first screen, after ``make demo``, works as written in a fresh shell.

``make demo`` / ``make test`` made ``.venv``; the commands after it are run exactly as the README
gives them, by ``bash`` under ``env -i`` (no inherited PATH, PYTHONPATH or virtualenv), from an
empty folder: ``source .venv/bin/activate`` must be all it takes to put the commands on PATH.
"""
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ACTIVATE = ROOT / ".venv" / "bin" / "activate"

pytestmark = pytest.mark.slow


def first_screen():
    """The shell lines of the README's first code block, comments stripped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    lines = (line.split("#")[0].strip() for line in block.splitlines())
    return [line for line in lines if line]


def test_readme_first_screen_runs_in_a_fresh_shell(tmp_path):
    venv = ACTIVATE.parent.parent.resolve()
    if not ACTIVATE.is_file() or pathlib.Path(sys.prefix).resolve() != venv:
        pytest.skip("the suite is not running from the clone's .venv (make test makes it)")
    lines = first_screen()
    assert lines[0] == "make demo" and lines[1] == "source .venv/bin/activate"
    assert lines[-1] == "make test"
    # make demo (the install) and make test (this suite) are what is running already.
    commands = [line.replace("ssd_edge/assets/", str(ROOT / "ssd_edge" / "assets") + "/")
                for line in lines[2:-1]]
    script = "set -e\nsource %s\n%s\n" % (ACTIVATE, "\n".join(commands))
    env = {"HOME": str(tmp_path), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    out = subprocess.run(["env", "-i"] + ["%s=%s" % kv for kv in env.items()]
                         + ["bash", "-c", script], cwd=str(tmp_path), capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    written = os.listdir(str(tmp_path / "ssd-detect-out"))
    assert written, "ssd-detect wrote nothing into ssd-detect-out/"
    assert "Traceback" not in out.stderr
