"""The repository stands alone: no document or code path points outside it, every docs/ file
named exists, and the docs agree with the code on which JetPack lines are supported."""
import os
import re

from ssd_edge.doctor import jetpack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEXT = (".py", ".md", ".sh", ".cpp", ".h", ".service", ".toml", ".cfg", ".txt", ".json")
SKIP_DIRS = {".git", ".venv", "build", "__pycache__", ".pytest_cache", "node_modules"}


def text_files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")
                   and not d.startswith(".venv")]      # .venv-triton, .venv-mobile ...
        rel = os.path.relpath(folder, ROOT)
        if rel.startswith(os.path.join("benchmarks", "results")):
            continue
        for name in files:
            if name.endswith(TEXT):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    yield os.path.relpath(path, ROOT), f.read()


OUTSIDE = re.compile(r"DESIGN\.md|\.\./shared|/work/shared|shared/reference")


def test_nothing_points_outside_the_repository():
    """Only tests may read the optional real-data folder (and skip cleanly without it);
    benchmark scripts take it as ``--real DIR``."""
    bad = []
    for rel, text in text_files():
        for m in OUTSIDE.finditer(text):
            if rel.startswith("tests" + os.sep) and "shared/real" in text[m.start():m.end() + 6]:
                continue
            if rel == os.path.join("tests", "unit", "test_standalone.py"):
                continue
            bad.append("%s: %s" % (rel, text[max(0, m.start() - 30):m.end() + 30].strip()))
    assert not bad, "\n".join(bad)


def test_every_docs_file_named_exists():
    named = set()
    for _, text in text_files():
        for line in text.splitlines():
            if "onnx-tensorrt" not in line:       # its own docs/operators.md, cited by name
                named.update(re.findall(r"\bdocs/([\w-]+\.md)", line))
    missing = sorted(n for n in named if not os.path.isfile(os.path.join(ROOT, "docs", n)))
    assert not missing and "architecture.md" in named, missing


def test_docs_agree_on_the_oldest_supported_jetpack():
    assert not jetpack.LINES["5.0"].supported and jetpack.LINES["5.1"].supported
    readme = open(os.path.join(ROOT, "jetson", "README.md"), encoding="utf-8").read()
    row = next(ln for ln in readme.splitlines() if ln.startswith("| 5.0.2 |"))
    assert "not supported" in row
    for rel in ("README.md", os.path.join("docs", "tensorrt.md")):
        text = open(os.path.join(ROOT, rel), encoding="utf-8").read()
        for m in re.finditer(r"5\.0\.2", text):
            around = text[max(0, m.start() - 200):m.end() + 200]
            assert "must support" not in around, (rel, around)
