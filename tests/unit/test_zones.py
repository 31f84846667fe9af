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
CORE = ["spec", "priors", "boxes", "nms", "detections", "errors", "fileio"]

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
    files += sorted((PKG / "runtime").rglob("*.py")) if (PKG / "runtime").exists() else []
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
