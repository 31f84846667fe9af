"""Type hints on the public API (ssd_edge, Detector, Detections, postprocess, stream,
load_checkpoint, the options dataclasses), checked by mypy with the settings in pyproject.toml."""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _mypy(*args):
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"] + list(args),
                          capture_output=True, text=True, cwd=str(ROOT))


@pytest.fixture(scope="module")
def mypy():
    pytest.importorskip("mypy", reason="mypy not installed (pip install -e '.[dev]')")
    return _mypy


@pytest.mark.slow
def test_public_api_type_checks(mypy):
    out = mypy()
    assert out.returncode == 0, out.stdout + out.stderr


def test_strict_modules_refuse_an_unannotated_function(mypy, tmp_path):
    # The check has teeth: a strict module with one unannotated def fails it.
    probe = tmp_path / "probe.py"
    probe.write_text("def f(x):\n    return x\n")
    out = mypy("--disallow-untyped-defs", "--follow-imports", "silent", str(probe))
    assert out.returncode != 0 and "no-untyped-def" in out.stdout


def test_no_blanket_ignores():
    text = (ROOT / "pyproject.toml").read_text()
    section = text[text.index("[tool.mypy]"):]
    assert "ignore_errors" not in section
    for line in section.splitlines():
        if line.startswith("ignore_missing_imports"):
            continue
        assert not line.startswith(("disable_error_code", "ignore_errors"))
    for path in (ROOT / "ssd_edge").rglob("*.py"):
        assert "type: ignore" not in path.read_text(), path
