"""The import zones of docs/architecture.md §1 and the Python 3.8 floor (JetPack 5)."""
import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PKG = ROOT / "ssd_edge"
HEAVY = ("torch", "torchvision", "onnx", "onnxsim", "onnxruntime", "tensorrt", "cv2", "openvino",
         "pycuda", "cuda")
CORE = ["spec", "priors", "boxes", "nms", "detections", "errors", "fileio", "contract", "labels",
        "preprocess"]

BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in %r:
            raise ImportError('blocked by test: ' + name)
sys.meta_path.insert(0, Block())
""" % (HEAVY,)


def top_level_imports(path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def zone_files():
    files = [PKG / (m + ".py") for m in CORE] + [PKG / "__init__.py"]
    files += sorted((PKG / "runtime").rglob("*.py")) + sorted((PKG / "accel").rglob("*.py"))
    return [f for f in files if f.exists()]


@pytest.mark.parametrize("path", zone_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_and_runtime_modules_import_nothing_heavy_at_top(path):
    heavy = sorted(set(top_level_imports(path)) & set(HEAVY))
    assert not heavy, "%s imports %s at module top (docs/architecture.md §1)" % (path.name, heavy)


def test_core_imports_and_runs_with_heavy_packages_blocked():
    code = BLOCKER + """
import numpy as np
import ssd_edge
from ssd_edge import DetectorSpec, PriorLevel, postprocess, Detections
from ssd_edge import spec, priors, boxes, nms, detections, errors, fileio
s = DetectorSpec(arch="mb1-ssd", labels=("BACKGROUND", "a"), prior_levels=(PriorLevel(3, 100, 60, 105),))
p = s.priors()
sc = np.full((len(p), 2), 0.5, np.float32); sc[0, 1] = 0.9
d = postprocess(sc, np.concatenate([p[:, :2] - p[:, 2:] / 2, p[:, :2] + p[:, 2:] / 2], 1), frame_size=(10, 10))
assert len(d) >= 1
for name in %r:
    assert name not in sys.modules, name
print("ok")
""" % (HEAVY,)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_package_is_python_38_compatible():
    vermin = shutil.which("vermin") or str(pathlib.Path(sys.executable).parent / "vermin")
    if not pathlib.Path(vermin).exists():
        pytest.skip("vermin not installed")
    out = subprocess.run([vermin, "-t=3.8-", "--no-tips", "--violations", "--eval-annotations",
                          "--backport", "dataclasses", str(PKG)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# ------------------------------------------------------------------ ssd_edge's own zones
from .zone_rules import ALLOWED, LAZY, package_modules, violations, zone_of  # noqa: E402

MODULES = package_modules(PKG)


def test_every_module_has_a_zone():
    for name in MODULES:
        assert zone_of(name) in ALLOWED


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_follow_the_matrix(name):
    path = MODULES[name]
    bad = violations(name, path.name == "__init__.py", path.read_text(), set(MODULES))
    assert not bad, "imports against docs/architecture.md's matrix:\n" + "\n".join(bad)


def test_every_listed_lazy_import_still_exists():
    # A stale exception would let a future import through unnoticed.
    from .zone_rules import imports
    for module, target, _ in LAZY:
        path = MODULES[module]
        found = [t for t, _, top in imports(path.read_text(), module,
                                            path.name == "__init__.py", set(MODULES))
                 if not top and (t == target or t.startswith(target + "."))]
        assert found, "%s no longer imports %s; drop it from zone_rules.LAZY" % (module, target)


@pytest.mark.parametrize("module,source,expected", [
    ("ssd_edge.runtime.detector", "from ..export import tensorrt\n", "runtime -> export"),
    ("ssd_edge.runtime.detector", "def f():\n    from ..models import zoo\n", "in a function"),
    ("ssd_edge.export.calib", "from ..runtime.preprocess import Preprocessor\n",
     "export -> runtime"),
    ("ssd_edge.data.video", "from ..cli.common import cli_entry\n", "data -> tools"),
    ("ssd_edge.spec", "import ssd_edge.runtime\n", "core -> runtime"),
    ("ssd_edge.train.trainer", "def f():\n    from ..eval.runner import evaluate_detector\n",
     "train -> tools"),
])
def test_the_zone_check_catches_a_new_cross_zone_import(module, source, expected):
    bad = violations(module, False, source, set(MODULES))
    assert len(bad) == 1 and expected in bad[0]


def test_listed_lazy_imports_pass_only_inside_functions():
    known = set(MODULES)
    lazy = "def f():\n    from ...export.tensorrt import build_engine\n"
    assert violations("ssd_edge.runtime.backends.trt", False, lazy, known) == []
    top = "from ...export.tensorrt import build_engine\n"
    assert violations("ssd_edge.runtime.backends.trt", False, top, known)
