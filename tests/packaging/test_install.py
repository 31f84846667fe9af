"""What `make test` / `make demo` do on a fresh machine: the PyTorch install step and the package build.

The PyTorch CPU index is unreachable from the machines these tests run on, so the index-then-fallback
order is checked with a stand-in interpreter (a shell script that records the pip calls it gets and
answers like an unreachable index); the real download is not testable here.
"""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE_PY = """#!/bin/sh
# Stand-in interpreter: no torch importable; pip calls recorded; the CPU index "unreachable".
if [ "$1" = "-c" ]; then exit 1; fi
echo "$@" >> "{log}"
case "$*" in *--index-url*) exit 1;; esac
exit 0
"""


def _make(*args, **env):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT)] + list(args),
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, **env))


def test_torch_cpu_index_first_then_default_index(tmp_path):
    log = tmp_path / "pip.log"
    fake = tmp_path / "python"
    fake.write_text(FAKE_PY.format(log=log))
    fake.chmod(0o755)
    run = _make("torch", "PY=%s" % fake, "TORCH_CPU=torch==9.9.9")
    assert run.returncode == 0, run.stderr
    calls = log.read_text().splitlines()
    assert len(calls) == 2, calls
    first, second = calls
    assert "--index-url https://download.pytorch.org/whl/cpu" in first
    assert "--retries 0" in first and "--timeout 10" in first
    assert "--index-url" not in second and "torch==9.9.9" in second
    assert "installing torch==9.9.9 from the default index" in run.stdout


def test_torch_present_installs_nothing(tmp_path):
    pytest.importorskip("torch")
    run = _make("torch", "PY=%s" % sys.executable, "TORCH_INDEX=http://127.0.0.1:9/none")
    assert run.returncode == 0 and run.stdout.strip() == "", run.stdout + run.stderr


@pytest.mark.slow
def test_build_has_no_deprecation_warning_and_ships_license(tmp_path):
    pytest.importorskip("setuptools")
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300,
                         cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout + run.stderr
    assert "deprecat" not in out.lower(), out[-3000:]
    wheel = next(tmp_path.glob("ssd_edge-*.whl"))
    names = zipfile.ZipFile(str(wheel)).namelist()
    assert any(n.endswith("/licenses/LICENSE") or n.endswith("/LICENSE") for n in names), names
    assert "MIT License" in (ROOT / "LICENSE").read_text()


@pytest.mark.slow
def test_editable_install_prints_no_setuptools_warning(tmp_path):
    """What the README's ``pip install -e`` (and ``make``) print, in a throwaway venv
    (needs the package index for the build's setuptools)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=300)
    # build isolation, as a user's pip does: the newest setuptools this Python can run
    run = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps",
                          "-e", str(ROOT)], capture_output=True, text=True,
                         timeout=600, cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout + run.stderr
    for word in ("deprecat", "BuildBackendWarning", "SetuptoolsWarning"):
        assert word.lower() not in out.lower(), out[-3000:]
    check = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import importlib.util, os; "
                            "print(os.path.dirname(importlib.util.find_spec('ssd_edge').origin))"],
                           capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert check.stdout.strip() == str(ROOT / "ssd_edge"), check.stdout + check.stderr
