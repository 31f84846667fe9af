"""``--threads N`` reaches every backend, checked by the thread count each one really uses:
ONNX Runtime's worker threads (counted in /proc), OpenVINO's compiled-model property, OpenCV's
and PyTorch's process-wide settings. Each case runs in a fresh interpreter (the last two are
process-wide). One thread is asked for: OpenVINO caps the count at the cores there are, and
every backend's own default on a machine of two or more cores is more than one."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.path.join(ROOT, "ssd_edge", "assets")

SCRIPT = r"""
import os, sys
import numpy as np
from ssd_edge import Detector
from ssd_edge.cli.live import build_parser, detector_kwargs
backend, model = sys.argv[1], sys.argv[2]
tasks = lambda: len(os.listdir("/proc/self/task"))
if backend == "ort":   # the first session also starts runtime-wide threads: count from after it
    Detector.load(model, backend="ort", threads=1)
before = tasks()
kw = detector_kwargs(build_parser().parse_args(["--threads", "1", "--backend", backend]))
det = Detector.load(model, **kw)
det(np.zeros((120, 160, 3), np.uint8))
if backend == "ort":
    used = tasks() - before + 1          # workers plus the calling thread
elif backend == "openvino":
    used = int(det.backend.compiled.get_property("INFERENCE_NUM_THREADS"))
elif backend == "opencv":
    import cv2; used = cv2.getNumThreads()
else:
    import torch; used = torch.get_num_threads()
print("THREADS", used)
"""


@pytest.mark.parametrize("backend, module, model", [
    ("ort", "onnxruntime", "shapes-mb2-ssd-lite.onnx"),
    ("openvino", "openvino", "shapes-mb2-ssd-lite.onnx"),
    ("opencv", "cv2", "shapes-mb2-ssd-lite.onnx"),
    ("torch", "torch", "shapes-mb2-ssd-lite.pth"),
])
def test_threads_flag_sets_what_the_backend_uses(backend, module, model):
    pytest.importorskip(module)
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: every backend's default is already 1 thread")
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("needs /proc to count threads")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", SCRIPT, backend, os.path.join(ASSETS, model)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "THREADS 1" in out.stdout, out.stdout + out.stderr[-1000:]


def test_every_command_that_runs_a_model_takes_threads():
    from ssd_edge.cli import bench, detect, eval as eval_cli, export, live
    from ssd_edge.train.options import parse_options
    for mod, argv in ((live, []), (detect, ["x.jpg"]), (eval_cli, ["--dataset", "d"]),
                      (export, ["m.pth"]), (bench, [])):
        assert mod.build_parser().parse_args(argv + ["--threads", "2"]).threads == 2, mod
    assert export.options_from_args(export.build_parser().parse_args(
        ["m.pth", "--threads", "2"])).threads == 2
    assert parse_options(["--datasets", "x", "--threads", "2"]).threads == 2
